"""``meshctl config``: see the effective settings and manage the config file's contexts."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from meshctl.cli.output import OutputFormat, OutputOption, emit
from meshctl.cli.runner import state
from meshctl.core.secrets import redact_settings

app = typer.Typer(
    help="Show the effective settings and manage the config file's contexts.",
    no_args_is_help=True,
)


@app.command("view")
def view(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show the effective settings and where each value comes from.

    Sources: flag, env, config:NAME (a config-file context), up (the mesh
    started by `meshctl up`) or default.
    """
    resolved = state(ctx).resolve()
    values = redact_settings(resolved.settings.model_dump())
    rows = [
        {"key": key, "value": values[key], "source": resolved.sources[key]}
        for key in sorted(values)
    ]
    emit(rows, output, columns=("key", "value", "source"))


@app.command("get-contexts")
def get_contexts(output: OutputOption = OutputFormat.TABLE) -> None:
    """List the config file's contexts; the current one is marked."""
    from meshctl.config import config_path, load_config

    config = load_config(config_path())
    rows: list[dict[str, Any]] = [
        {"name": name, "current": name == config.current_context, **values}
        for name, values in sorted(config.contexts.items())
    ]
    emit(rows, output, columns=("name", "current", "redis_url", "kafka_bootstrap", "prefix"))


@app.command("use-context")
def use_context(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The context to make current.")],
) -> None:
    """Make NAME the current context of the config file."""
    from meshctl.config import config_path, load_config, save_config, select_context

    path = config_path()
    config = load_config(path)
    config.current_context = select_context(config, name, path)
    save_config(path, config)
    typer.echo(f"Switched to context {name!r}.")


@app.command("set")
def set_value(
    key: Annotated[str, typer.Argument(metavar="KEY", help="A setting, e.g. redis_url or prefix.")],
    value: Annotated[str, typer.Argument(metavar="VALUE", help="Its value.")],
    context: Annotated[
        str | None,
        typer.Option("--context", help="Context to change (default: the current one)."),
    ] = None,
) -> None:
    """Set KEY to VALUE in a context of the config file, creating the context if need be.

    With no context given and none current, the context "default" is
    created and made current.
    """
    from meshctl.config import config_path, load_config, save_config, validate_setting

    path = config_path()
    config = load_config(path)
    name = context or config.current_context or "default"
    config.contexts.setdefault(name, {})[key] = validate_setting(key, value)
    if config.current_context is None:
        config.current_context = name
    save_config(path, config)
    typer.echo(f"Set {key} in context {name!r}.")
