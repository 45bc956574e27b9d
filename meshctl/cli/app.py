"""The root ``meshctl`` typer app; command groups are added from their own modules.

Heavy libraries (grpc, aiokafka, textual, pydantic-settings, redis) are
imported inside command bodies so that ``meshctl --help`` stays instant.
"""

from __future__ import annotations

from typing import Annotated

import typer

from meshctl._version import __version__
from meshctl.cli.alerts import app as alerts_app
from meshctl.cli.breakers import app as breakers_app
from meshctl.cli.call import call
from meshctl.cli.certs import app as certs_app
from meshctl.cli.check import check
from meshctl.cli.config_cmd import app as config_app
from meshctl.cli.demo import demo
from meshctl.cli.describe import describe
from meshctl.cli.events import app as events_app
from meshctl.cli.fault import app as fault_app
from meshctl.cli.loadtest import loadtest
from meshctl.cli.prometheus import app as prometheus_app
from meshctl.cli.route import app as route_app
from meshctl.cli.runner import CliState, MeshGroup
from meshctl.cli.serve import serve
from meshctl.cli.services import app as services_app
from meshctl.cli.slo import app as slo_app
from meshctl.cli.top import top
from meshctl.cli.trace import trace
from meshctl.cli.up import down, up
from meshctl.cli.workflow import app as workflow_app

app = typer.Typer(
    name="meshctl",
    cls=MeshGroup,
    help="Operate a service mesh: discover, call, break, trace, load-test and watch it.",
    no_args_is_help=True,
    # Subcommands inherit -h from the root context.
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(config_app, name="config")
app.add_typer(services_app, name="services")
app.add_typer(workflow_app, name="workflow")
app.command()(up)
app.command()(down)
app.command()(serve)
app.command()(loadtest)
app.add_typer(breakers_app, name="breakers")
app.add_typer(events_app, name="events")
app.add_typer(alerts_app, name="alerts")
app.add_typer(prometheus_app, name="prometheus")
app.add_typer(slo_app, name="slo")
app.add_typer(route_app, name="route")
app.add_typer(fault_app, name="fault")
app.add_typer(certs_app, name="certs")
app.command()(call)
app.command()(trace)
app.command()(describe)
app.command()(check)
app.command()(top)
app.command()(demo)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"meshctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print meshctl's version and exit.",
        ),
    ] = False,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            envvar="MESH_CONTEXT",
            help="Config-file context to use instead of its current-context.",
        ),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="Redis registry URL (redis://host:port/db).")
    ] = None,
    kafka: Annotated[
        str | None, typer.Option("--kafka", help="Kafka bootstrap servers (host:port[,...]).")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Key prefix of the mesh in Redis.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Operate a service mesh: discover, call, break, trace, load-test and watch it.

    Settings come from flags, then MESH_* environment variables, then the
    config file's context, then the mesh started by `meshctl up`, then defaults.
    """
    overrides = {"redis_url": redis_url, "kafka_bootstrap": kafka, "prefix": prefix}
    ctx.obj = CliState(debug=debug, context=context, overrides=overrides)


@app.command()
def version() -> None:
    """Print meshctl's version."""
    typer.echo(f"meshctl {__version__}")


def main() -> None:
    app(prog_name="meshctl")
