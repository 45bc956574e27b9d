"""``meshctl --help`` stays fast: importing the app pulls in nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from meshctl._version import __version__
from meshctl.cli.app import app

HEAVY = ("grpc", "aiokafka", "textual", "sqlalchemy", "fastapi", "pydantic_settings", "redis")


def test_importing_the_app_imports_no_heavy_library():
    code = f"import sys, meshctl.cli.app\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []


def test_help_runs_and_lists_the_command_groups():
    done = subprocess.run(
        [sys.executable, "-m", "meshctl", "--help"], capture_output=True, text=True, check=True
    )
    assert "services" in done.stdout and "config" in done.stdout
    assert "\x1b[" not in done.stdout


@pytest.mark.parametrize("args", [["--version"], ["version"]])
def test_version_is_an_option_and_a_command(args):
    done = subprocess.run([sys.executable, "-m", "meshctl", *args], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"meshctl {__version__}\n", "")


@pytest.mark.parametrize("command", [[], ["breakers", "reset"], ["call"], ["services", "list"]])
def test_dash_h_is_help_on_the_root_and_every_subcommand(command):
    short = CliRunner().invoke(app, [*command, "-h"])
    assert short.exit_code == 0, short.output
    assert short.stdout == CliRunner().invoke(app, [*command, "--help"]).stdout
    assert short.stdout.startswith("Usage: meshctl")
