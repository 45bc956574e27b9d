"""``meshctl demo``'s parts: the throwaway mesh, the story told on it, and its report.

``mesh`` and ``scenario`` do the I/O; ``report`` and ``render`` are pure.
"""
