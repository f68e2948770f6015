"""stratolink.flight."""
