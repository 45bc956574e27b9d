"""``meshctl config``: effective settings with sources, contexts, atomic writes."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import yaml
from typer.testing import CliRunner

from meshctl.cli.app import app

runner = CliRunner()

CONFIG = """current-context = "local"

[contexts.local]
prefix = "from-file"

[contexts.prod]
redis_url = "redis://prod:6379/0"
kafka_bootstrap = "prod:9092"
"""


def write(config_file: Path, text: str = CONFIG) -> None:
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(text)


def view(*args: str, env: dict[str, str] | None = None) -> dict[str, dict[str, object]]:
    result = runner.invoke(app, [*args, "config", "view", "-o", "json"], env=env)
    assert result.exit_code == 0, result.output
    return {row["key"]: row for row in json.loads(result.stdout)}


def test_view_shows_value_and_source_of_each_layer(config_file):
    write(config_file)
    rows = view("--redis-url", "redis://flag:1/0", env={"MESH_KAFKA_BOOTSTRAP": "env:9092"})
    assert rows["redis_url"] == {"key": "redis_url", "value": "redis://flag:1/0", "source": "flag"}
    assert rows["kafka_bootstrap"]["source"] == "env"
    assert rows["prefix"] == {"key": "prefix", "value": "from-file", "source": "config:local"}
    assert rows["topic_prefix"]["source"] == "default"


def test_view_hides_passwords_in_urls(config_file):
    env = {"MESH_REDIS_URL": "redis://:hunter2@10.0.0.5:6379/0",
           "MESH_DATABASE_URL": "postgresql+asyncpg://its:hunter2@db/its"}  # fmt: skip
    rows = view(env=env)
    assert rows["redis_url"]["value"] == "redis://:***@10.0.0.5:6379/0"
    assert rows["database_url"]["value"] == "postgresql+asyncpg://its:***@db/its"
    table = runner.invoke(app, ["config", "view"], env=env)
    assert "hunter2" not in table.stdout


def test_context_flag_and_env_select_a_context(config_file):
    write(config_file)
    assert view("--context", "prod")["redis_url"]["value"] == "redis://prod:6379/0"
    assert view(env={"MESH_CONTEXT": "prod"})["kafka_bootstrap"]["source"] == "config:prod"


def test_view_table_and_yaml(config_file):
    write(config_file)
    table = runner.invoke(app, ["config", "view"])
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split() == ["KEY", "VALUE", "SOURCE"]
    assert "prefix" in table.stdout and "config:local" in table.stdout
    assert "\x1b[" not in table.stdout
    data = yaml.safe_load(runner.invoke(app, ["config", "view", "-o", "yaml"]).stdout)
    assert {"key": "prefix", "value": "from-file", "source": "config:local"} in data


def test_malformed_config_file_exits_2_with_file_and_line(config_file):
    write(config_file, 'current-context = "a"\n\n[contexts.a\nprefix = "x"\n')
    result = runner.invoke(app, ["config", "view"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config_file}:3: invalid TOML")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


def test_unknown_context_exits_2_with_a_hint(config_file):
    write(config_file)
    result = runner.invoke(app, ["--context", "nope", "config", "view"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: no context named 'nope' in {config_file} (known: local, prod)",
        "hint: list them with `meshctl config get-contexts`",
    ]


def test_get_contexts_marks_the_current_one(config_file):
    write(config_file)
    result = runner.invoke(app, ["config", "get-contexts", "-o", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"name": "local", "current": True, "prefix": "from-file"},
        {
            "name": "prod",
            "current": False,
            "redis_url": "redis://prod:6379/0",
            "kafka_bootstrap": "prod:9092",
        },
    ]
    table = runner.invoke(app, ["config", "get-contexts"]).stdout.splitlines()
    assert table[0].split() == ["NAME", "CURRENT", "REDIS", "URL", "KAFKA", "BOOTSTRAP", "PREFIX"]
    assert table[1].split()[:2] == ["local", "yes"]


def test_use_context_switches_and_refuses_unknown(config_file):
    write(config_file)
    result = runner.invoke(app, ["config", "use-context", "prod"])
    assert result.exit_code == 0, result.output
    assert tomllib.loads(config_file.read_text())["current-context"] == "prod"
    bad = runner.invoke(app, ["config", "use-context", "nope"])
    assert bad.exit_code == 2 and "no context named 'nope'" in bad.stderr
    assert tomllib.loads(config_file.read_text())["current-context"] == "prod"


def test_set_creates_file_and_context_then_updates_named_context(config_file):
    assert runner.invoke(app, ["config", "set", "redis_url", "redis://a:1/0"]).exit_code == 0
    assert tomllib.loads(config_file.read_text()) == {
        "current-context": "default",
        "contexts": {"default": {"redis_url": "redis://a:1/0"}},
    }
    result = runner.invoke(app, ["config", "set", "default_timeout", "2.5", "--context", "ci"])
    assert result.exit_code == 0, result.output
    data = tomllib.loads(config_file.read_text())
    assert data["contexts"]["ci"] == {"default_timeout": 2.5}
    assert data["current-context"] == "default"
    assert view("--context", "ci")["default_timeout"]["value"] == 2.5


def test_set_refuses_unknown_key_and_bad_value(config_file):
    bad_key = runner.invoke(app, ["config", "set", "colour", "red"])
    assert bad_key.exit_code == 2
    assert bad_key.stderr.startswith("error: unknown setting 'colour'\nhint: settings: ")
    bad_value = runner.invoke(app, ["config", "set", "default_timeout", "soon"])
    assert bad_value.exit_code == 2 and "invalid default_timeout 'soon'" in bad_value.stderr
    assert not config_file.exists()


def test_bad_output_format_is_usage_error():
    result = runner.invoke(app, ["config", "view", "-o", "xml"])
    assert result.exit_code == 2
    assert "xml" in result.output
