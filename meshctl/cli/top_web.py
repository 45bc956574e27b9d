"""``meshctl top --web``: the same Textual app, served to browsers by textual-serve.

textual-serve starts one ``meshctl top`` process per browser tab and relays
its terminal over a websocket, so there is no second UI to keep in step. The
child process resolves its settings from ``MESH_*`` variables that carry the
parent's effective settings, so flags and contexts given to ``top --web``
hold in every tab.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
import sys
from typing import TYPE_CHECKING

from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings

DEFAULT_PORT = 8470


def settings_environment(settings: MeshSettings) -> dict[str, str]:
    """The ``MESH_*`` variables that make a child resolve exactly ``settings``."""
    return {
        f"MESH_{name.upper()}": str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


def app_command(interval: float, python: str = sys.executable) -> str:
    """The command textual-serve runs for each browser tab."""
    return shlex.join([python, "-m", "meshctl", "top", "--interval", repr(interval)])


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another process holds, before textual-serve prints its banner."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidRequestError(f"--host {host!r} does not resolve: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InvalidRequestError(
                f"cannot listen on {host}:{port}: {exc.strerror}; choose another with --port"
            ) from exc


def serve(
    settings: MeshSettings,
    *,
    host: str,
    port: int,
    interval: float,
    public_url: str | None = None,
) -> None:
    """Serve ``meshctl top`` on ``host:port`` until interrupted."""
    from textual_serve.server import Server

    if not 0 < port < 65536:
        raise InvalidRequestError(f"--port must be between 1 and 65535, not {port}")
    check_port_free(host, port)
    # textual-serve hands its own environment to every app process it starts.
    os.environ.update(settings_environment(settings))
    if not is_loopback(host):
        print(
            f"warning: {host} is not a loopback address: anyone who can reach it can reset "
            "and open breakers; put it behind a proxy that authenticates (docs/top.md)",
            file=sys.stderr,
        )
    Server(
        app_command(interval), host=host, port=port, title="meshctl top", public_url=public_url
    ).serve()
