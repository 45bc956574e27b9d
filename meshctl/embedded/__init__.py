"""The embedded mesh: a local registry, broker and the four services under one supervisor."""
