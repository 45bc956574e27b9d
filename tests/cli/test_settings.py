"""Layered settings: each layer beats the next; bad files are clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meshctl.cli.app import app
from meshctl.config import (
    ConfigFile,
    ConfigFileError,
    UpContext,
    load_config,
    parse_config,
    read_up_context,
    remove_up_context,
    resolve_settings,
    save_config,
    to_toml,
    up_state_path,
    validate_setting,
    write_up_context,
)
from meshctl.services.base import ServiceSettings
from meshctl.services.launch import main

CONFIG = """
current-context = "local"

[contexts.local]
redis_url = "redis://file:1/0"
kafka_bootstrap = "file:9092"
prefix = "from-file"
topic_prefix = "file-topics"

[contexts.other]
prefix = "other-prefix"
"""


@pytest.fixture
def layered(config_file: Path) -> None:
    """Every layer sets something: up < config < env < flag."""
    config_file.parent.mkdir(parents=True)
    config_file.write_text(CONFIG)
    write_up_context(
        UpContext(
            settings={
                "redis_url": "redis://up:1/0",
                "kafka_bootstrap": "up:9092",
                "prefix": "from-up",
                "topic_prefix": "up-topics",
                "database_url": "sqlite+aiosqlite:///up.db",
            }
        )
    )


def test_each_layer_beats_the_next(layered, monkeypatch):
    monkeypatch.setenv("MESH_REDIS_URL", "redis://env:1/0")
    monkeypatch.setenv("MESH_KAFKA_BOOTSTRAP", "env:9092")
    resolved = resolve_settings({"redis_url": "redis://flag:1/0", "prefix": None})
    s = resolved.settings
    assert s.redis_url == "redis://flag:1/0"  # flag > env
    assert s.kafka_bootstrap == "env:9092"  # env > config
    assert s.topic_prefix == "file-topics"  # config > up
    assert s.database_url == "sqlite+aiosqlite:///up.db"  # up > default
    assert s.default_timeout == 30.0
    assert resolved.sources == {
        "redis_url": "flag",
        "kafka_bootstrap": "env",
        "kafka_partitions": "default",
        "kafka_replication_factor": "default",
        "kafka_min_insync_replicas": "default",
        "prefix": "config:local",
        "topic_prefix": "config:local",
        "trace_store": "default",
        "zone": "default",
        "database_url": "up",
        "client_name": "default",
        "default_timeout": "default",
        **dict.fromkeys(
            ["tls", "tls_ca", "tls_cert", "tls_key", "tls_trust_domain", "tls_cert_hours"],
            "default",
        ),
    }
    assert resolved.context == "local"


def test_context_argument_overrides_current_context(layered):
    resolved = resolve_settings({}, context="other")
    assert resolved.settings.prefix == "other-prefix"
    assert resolved.sources["prefix"] == "config:other"
    assert resolved.settings.topic_prefix == "up-topics"


def test_unknown_context_is_bad_input(layered):
    with pytest.raises(ConfigFileError, match="no context named 'nope'.*known: local, other"):
        resolve_settings({}, context="nope")


def test_defaults_without_any_file():
    resolved = resolve_settings({})
    assert resolved.settings.redis_url == "redis://127.0.0.1:6379/0"
    assert set(resolved.sources.values()) == {"default"}
    assert resolved.context is None


def test_invalid_value_names_key_and_layer(monkeypatch):
    monkeypatch.setenv("MESH_DEFAULT_TIMEOUT", "soon")
    with pytest.raises(ConfigFileError, match=r"invalid default_timeout \(from env\)"):
        resolve_settings({})


def test_up_context_of_a_dead_process_is_ignored():
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    write_up_context(UpContext(settings={"prefix": "stale"}, pid=int(dead.stdout)))
    assert resolve_settings({}).settings.prefix == "mesh"


def test_up_context_round_trips_and_is_removed():
    ctx = UpContext(settings={"prefix": "p"}, services={"auth": "127.0.0.1:8000"})
    path = write_up_context(ctx)
    assert path == up_state_path()
    assert path.parent.name == "meshctl" and path.name == "up.json"
    assert read_up_context() == ctx
    remove_up_context()
    assert read_up_context() is None


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "[]",
        '{"version": 2}',
        '{"version": 1, "pid": 1, "settings": {"colour": "red"}}',
        '{"version": 1, "pid": "x", "settings": {}}',
    ],
)
def test_malformed_up_context_is_a_clear_error(raw):
    up_state_path().parent.mkdir(parents=True)
    up_state_path().write_text(raw)
    with pytest.raises(ConfigFileError, match="up.json"):
        read_up_context()


def test_state_path_defaults_under_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert up_state_path() == tmp_path / ".local" / "state" / "meshctl" / "up.json"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('current-context = "a"\n[contexts.a]\nprefix = \n', r"cfg\.toml:3: invalid TOML"),
        ("colour = 1\n", "unknown top-level key 'colour'"),
        ("[contexts.a]\ncolour = 'x'\n", r"unknown setting 'colour' in \[contexts\.a\]"),
        ("[contexts.a]\nprefix = true\n", "must be a string or a number"),
        ("contexts = 1\n", "contexts must be a table"),
        ("current-context = 3\n", "current-context must be a string"),
    ],
)
def test_config_file_errors_say_where(text, message):
    with pytest.raises(ConfigFileError, match=message):
        parse_config(text, source="cfg.toml")


def test_config_round_trips_through_toml_with_odd_names(tmp_path):
    config = ConfigFile(
        current_context="prod eu",
        contexts={"prod eu": {"redis_url": 'redis://"q"\\:1/0', "default_timeout": 2.5}, "a": {}},
    )
    path = tmp_path / "sub" / "config.toml"
    save_config(path, config)
    assert load_config(path) == config
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left
    assert to_toml(ConfigFile()) == "\n"


def test_validate_setting_types_and_refuses(tmp_path):
    assert validate_setting("default_timeout", "2.5") == 2.5
    assert validate_setting("prefix", "p") == "p"
    with pytest.raises(ConfigFileError, match="unknown setting 'colour'"):
        validate_setting("colour", "red")
    with pytest.raises(ConfigFileError, match="invalid default_timeout 'soon'"):
        validate_setting("default_timeout", "soon")


class ServeSpy:
    """Stands in for ``run_service``: records the settings a service would run with."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, ServiceSettings, dict[str, Any]]] = []
        monkeypatch.setattr("meshctl.services.launch.run_service", self.run_service)

    async def run_service(self, name: str, settings: ServiceSettings, **options: Any) -> None:
        self.calls.append((name, settings, options))

    def serve(self, *args: str, env: dict[str, str] | None = None) -> ServiceSettings:
        result = CliRunner().invoke(app, [*args[:-1], "serve", args[-1]], env=env)
        assert result.exit_code == 0, result.output
        return self.calls[-1][1]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ServeSpy:
    return ServeSpy(monkeypatch)


def test_serve_takes_the_config_file_context(spy, config_file):
    config_file.parent.mkdir(parents=True)
    config_file.write_text(CONFIG)
    settings = spy.serve("analytics")
    assert isinstance(settings, ServiceSettings)
    assert (settings.redis_url, settings.prefix) == ("redis://file:1/0", "from-file")
    assert settings.topic_prefix == "file-topics"
    assert spy.serve("--context", "other", "analytics").prefix == "other-prefix"


def test_serve_takes_the_up_context_below_the_config_file(spy, config_file):
    write_up_context(UpContext(settings={"redis_url": "redis://up:1/0", "prefix": "from-up"}))
    settings = spy.serve("alert")
    assert (settings.redis_url, settings.prefix) == ("redis://up:1/0", "from-up")
    config_file.parent.mkdir(parents=True)
    config_file.write_text(CONFIG)
    assert spy.serve("alert").prefix == "from-file"


def test_serve_flags_and_env_beat_the_files(spy, layered):
    env = {"MESH_REDIS_URL": "redis://env:1/0", "MESH_PREFIX": "env-prefix"}
    settings = spy.serve("auth", env=env)
    assert (settings.redis_url, settings.prefix) == ("redis://env:1/0", "env-prefix")
    settings = spy.serve("--prefix", "root-flag", "auth", env=env)
    assert settings.prefix == "root-flag"
    result = CliRunner().invoke(
        app, ["serve", "auth", "--registry", "redis://flag:1/0", "--prefix", "p", "--port", "0"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    name, settings, options = spy.calls[-1]
    assert (name, settings.redis_url, settings.prefix) == ("auth", "redis://flag:1/0", "p")
    assert options["port"] == 0


def test_serve_reads_service_options_from_env(spy, monkeypatch):
    monkeypatch.setenv("MESH_AUTH_DEV_MODE", "true")
    monkeypatch.setenv("MESH_SPEED_LIMITS_KMH", '{"cam-7": 30}')
    settings = spy.serve("analytics")
    assert settings.auth_dev_mode is True
    assert settings.speed_limits_kmh == {"cam-7": 30.0}


def test_serve_reports_a_bad_setting_as_bad_input(spy, monkeypatch):
    monkeypatch.setenv("MESH_ANOMALY_WINDOW_SECONDS", "-1")
    result = CliRunner().invoke(app, ["serve", "analytics"])
    assert result.exit_code == 2
    assert "invalid anomaly_window_seconds (from env)" in result.output
    assert spy.calls == []


def test_python_m_service_uses_the_same_layers(spy, layered, monkeypatch, capsys):
    assert main("streaming", ["--port", "0"]) == 0
    name, settings, options = spy.calls[-1]
    assert name == "streaming"
    assert (settings.redis_url, settings.prefix) == ("redis://file:1/0", "from-file")
    assert options == {"host": "127.0.0.1", "port": 0, "advertise_host": None, "grace": 5.0}
    monkeypatch.setenv("MESH_CONTEXT", "other")
    assert main("streaming", ["--registry", "redis://flag:1/0"]) == 0
    _, settings, options = spy.calls[-1]
    assert (settings.redis_url, settings.prefix) == ("redis://flag:1/0", "other-prefix")
    assert options["port"] == 50051
    assert main("streaming", ["--context", "nope"]) == 2
    assert "error: no context named 'nope'" in capsys.readouterr().err
