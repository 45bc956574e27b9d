"""How every command runs: shared state, asyncio, and errors turned into exit codes.

The root group's ``invoke`` is the one place errors are caught, so no command
repeats a try/except and a command group added later gets the same
behaviour. An error becomes one ``error: ...`` line on stderr (plus a
``hint: ...`` line where one helps), and the exit code says what went wrong:

    0  ok
    1  the checked thing failed (and any unexpected error)
    2  bad usage or bad input          (InvalidRequestError)
    3  infrastructure unreachable      (InfrastructureError)

The traceback is printed only under ``--debug``.
"""

from __future__ import annotations

import traceback
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from meshctl.errors import BrokerUnavailableError, MeshError, RegistryUnavailableError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings, ResolvedSettings
    from meshctl.transport.tls import TlsFiles

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

REGISTRY_HINT = "start one with `meshctl up`, or point at yours with --redis-url or MESH_REDIS_URL"


@dataclass(slots=True)
class CliState:
    """What the root options chose; settings are resolved on first use only."""

    debug: bool = False
    context: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _resolved: ResolvedSettings[MeshSettings] | None = None

    def resolve(self) -> ResolvedSettings[MeshSettings]:
        """The effective settings with the layer each value came from."""
        if self._resolved is None:
            from meshctl.config import resolve_settings

            self._resolved = resolve_settings(self.overrides, context=self.context)
        return self._resolved

    def tls(self) -> TlsFiles | None:
        """The certificate the settings give this command for mTLS endpoints, if any."""
        from meshctl.transport.tls import tls_files

        return tls_files(self.resolve().settings)


def state(ctx: typer.Context) -> CliState:
    """The state the root callback left for this command (a default one if none)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's async body to completion; errors reach the root handler."""
    import asyncio  # not at module level: it costs start-up time every command pays

    return asyncio.run(coro)


def fail(message: str, *, hint: str | None = None, code: int = EXIT_FAILED) -> NoReturn:
    """Stop the command with one error line (and a hint), exiting with ``code``."""
    report(message, hint)
    raise typer.Exit(code)


def report(message: str, hint: str | None = None) -> None:
    """Print ``error: message`` (and ``hint: ...``) on stderr."""
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)


def hint_for(exc: BaseException) -> str | None:
    """A next step for the operator, where there is an obvious one."""
    explicit = getattr(exc, "hint", None)
    if isinstance(explicit, str):
        return explicit
    if isinstance(exc, RegistryUnavailableError):
        return REGISTRY_HINT
    if isinstance(exc, BrokerUnavailableError):
        return "start one with `meshctl up`, or point at yours with --kafka or MESH_KAFKA_BOOTSTRAP"
    return None


def exit_code_for(exc: BaseException) -> int:
    """The exit code an error ends the command with."""
    if isinstance(exc, MeshError):
        return exc.exit_code
    return EXIT_FAILED


def describe(exc: BaseException) -> str:
    """One line saying what went wrong."""
    text = " ".join(str(exc).split())
    if isinstance(exc, MeshError):
        return text or type(exc).__name__
    return f"unexpected {type(exc).__name__}" + (f": {text}" if text else "")


class MeshGroup(TyperGroup):
    """The root command group: translates every error escaping a command."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors and deliberate exits keep typer's own handling
        except Exception as exc:
            debug = isinstance(ctx.obj, CliState) and ctx.obj.debug
            if debug:
                traceback.print_exc()
            hint = hint_for(exc)
            if not debug and not isinstance(exc, MeshError):
                hint = hint or "run again with --debug to see the traceback"
            report(describe(exc), hint)
            raise typer.Exit(exit_code_for(exc)) from None
