"""stratolink.ground."""
