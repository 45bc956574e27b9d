"""Reference implementations of the platform's core services."""
