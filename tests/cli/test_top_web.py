"""``meshctl top --web``: what it hands each tab's process, and the mistakes it refuses."""

from __future__ import annotations

import shlex
import socket

import pytest

from meshctl.cli.top_web import app_command, is_loopback, settings_environment
from meshctl.config import MeshSettings


def test_each_tab_resolves_the_settings_top_was_started_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = MeshSettings(redis_url="redis://:pw@10.0.0.5:6380/2", prefix="prod")
    env = settings_environment(settings)
    assert env["MESH_REDIS_URL"] == "redis://:pw@10.0.0.5:6380/2"
    assert env["MESH_PREFIX"] == "prod"
    assert "MESH_KAFKA_BOOTSTRAP" not in env  # unset stays unset, not the string "None"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert MeshSettings() == settings


def test_the_tab_command_carries_no_settings() -> None:
    argv = shlex.split(app_command(0.5, python="/opt/py bin/python"))
    assert argv == ["/opt/py bin/python", "-m", "meshctl", "top", "--interval", "0.5"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("ops.example.com", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_once_and_web_are_refused_together(meshctl) -> None:
    result = meshctl("top", "--once", "--web")
    assert result.exit_code == 2
    assert "--once and --web cannot be combined" in result.output


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_a_port_out_of_range_is_refused(meshctl, port: str) -> None:
    result = meshctl("top", "--web", "--port", port)
    assert result.exit_code == 2
    assert "--port must be between 1 and 65535" in result.output


def test_a_port_in_use_is_refused_before_serving(meshctl) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = meshctl("top", "--web", "--port", str(port))
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


def test_an_unresolvable_host_is_refused(meshctl) -> None:
    result = meshctl("top", "--web", "--host", "no-such-host.invalid")
    assert result.exit_code == 2
    assert "does not resolve" in result.output
