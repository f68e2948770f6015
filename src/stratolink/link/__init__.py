"""stratolink.link."""
