"""Fixtures for the command's tests: an isolated home for config and state files."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from meshctl.cli.app import app
from meshctl.testing import Platform, closed_port


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Config and state directories of the test's own; no MESH_* variables leak in."""
    for name in list(os.environ):
        if name.startswith("MESH_") and name != "MESH_TEST_REDIS_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """Where the config file of the test lives (not created)."""
    return tmp_path / "config" / "meshctl" / "config.toml"


class Meshctl:
    """Runs ``meshctl`` in-process against the test's Redis prefix."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.runner = CliRunner()
        self.base = ["--redis-url", redis_url, "--prefix", prefix]

    def __call__(self, *args: str, isolated: bool = True):
        return self.runner.invoke(app, [*self.base, *args] if isolated else list(args))


@pytest.fixture
def meshctl(redis_url: str, key_prefix: str) -> Iterator[Meshctl]:
    """``meshctl`` bound to the real Redis and a prefix only this test uses (cleaned up).

    Synchronous, unlike ``redis_client``: the commands run their own event loop.
    """
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.RedisError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"real Redis at {redis_url} is not reachable: {exc}")
    yield Meshctl(redis_url, key_prefix)
    keys = list(client.scan_iter(match=f"{key_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def meshctl_without_redis() -> Meshctl:
    """``meshctl`` pointed at a loopback Redis address nothing listens on."""
    return Meshctl(f"redis://127.0.0.1:{closed_port()}/0", "unused")


@pytest.fixture
def cli(
    platform: Platform,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Meshctl:
    """``meshctl`` bound to the platform's Redis prefix, the broker and this test's topics."""
    monkeypatch.setenv("MESH_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    command = Meshctl(platform.settings.redis_url, platform.settings.prefix)
    command.base += ["--kafka", kafka_bootstrap]
    return command


async def invoke(cli: Meshctl, *args: str) -> Any:
    """Run the command in a thread: the services answer on this test's event loop."""
    return await asyncio.to_thread(cli, *args)
