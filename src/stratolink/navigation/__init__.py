"""stratolink.navigation."""
