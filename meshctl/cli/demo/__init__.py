"""``meshctl demo``: the command and its parts.

``command`` is the typer command; ``mesh`` (the throwaway mesh) and
``scenario`` (the story told on it) do the I/O; ``report`` and ``render``
are pure.
"""

from meshctl.cli.demo.command import demo

__all__ = ["demo"]
