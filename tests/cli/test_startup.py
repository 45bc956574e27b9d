"""``meshctl --help`` stays fast: importing the app pulls in nothing heavy."""

from __future__ import annotations

import subprocess
import sys

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
