"""The root ``meshctl`` typer app; command groups are added from their own modules.

Heavy libraries (grpc, aiokafka, textual) are imported inside command bodies
so that ``meshctl --help`` stays instant.
"""

from __future__ import annotations

import typer

from meshctl._version import __version__

app = typer.Typer(
    name="meshctl",
    help="Operate a service mesh: discover, call, break, trace, load-test and watch it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Operate a service mesh: discover, call, break, trace, load-test and watch it."""


@app.command()
def version() -> None:
    """Print meshctl's version."""
    typer.echo(f"meshctl {__version__}")


def main() -> None:
    app()
