import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshctl.config import pid_alive
from meshctl.embedded.state import admin_password, known_admin_password, new_run_dir
from meshctl.samples import sample_request


def test_pid_alive_tells_live_from_gone_and_zombie():
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    # Not reaped yet: a zombie counts as gone.
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
        pass
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid)


def test_run_dirs_live_under_the_state_dir(tmp_path: Path):
    run = new_run_dir(tmp_path, now=0)
    assert run.is_dir()
    assert run.parent == tmp_path / "runs"
    assert run.name.endswith(f"-{os.getpid()}")


def test_admin_password_is_generated_once_private_and_kept(tmp_path: Path):
    state = tmp_path / "state"
    password, where = admin_password(state, {})
    path = state / "admin-password"
    assert where == str(path)
    assert len(password) >= 20
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert admin_password(state, {}) == (password, where)  # the next mesh has the same
    assert known_admin_password(state, {}) == password


def test_admin_password_from_the_environment_wins_and_writes_nothing(tmp_path: Path):
    env = {"MESH_ADMIN_PASSWORD": "given-one"}
    assert admin_password(tmp_path, env) == ("given-one", "MESH_ADMIN_PASSWORD")
    assert not (tmp_path / "admin-password").exists()
    assert known_admin_password(tmp_path, {}) is None
    assert known_admin_password(tmp_path, env) == "given-one"


def test_login_sample_has_the_generated_password_or_says_where_it_will_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.delenv("MESH_ADMIN_PASSWORD", raising=False)
    before = sample_request("auth", "login")
    assert before is not None and before["username"] == "admin"
    assert str(tmp_path / "meshctl" / "admin-password") in before["password"]
    password, _ = admin_password(tmp_path / "meshctl", {})
    assert sample_request("auth", "login") == {"username": "admin", "password": password}
