"""stratolink.sim."""
