import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshctl.embedded.contextfile import (
    ProcessRecord,
    UpContext,
    context_path,
    pid_alive,
    read_context,
    remove_context,
    write_context,
)


def make(pid: int = 123) -> UpContext:
    return UpContext(
        redis_url="redis://127.0.0.1:1/0",
        kafka_bootstrap="127.0.0.1:2",
        database_url=None,
        prefix="mesh",
        pid=pid,
        started_at=1.5,
        run_dir="/tmp/run",
        processes=(ProcessRecord("auth-1", "auth", 77),),
    )


def test_path_follows_xdg_state_home(tmp_path: Path):
    assert context_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "meshctl" / "up.json"
    assert context_path({}).parts[-4:] == (".local", "state", "meshctl", "up.json")


def test_round_trip_through_the_file(tmp_path: Path):
    path = tmp_path / "a" / "up.json"
    write_context(make(), path)
    assert read_context(path) == make()
    assert list(path.parent.iterdir()) == [path], "no temporary file left behind"


def test_missing_file_reads_as_none(tmp_path: Path):
    assert read_context(tmp_path / "nope.json") is None


@pytest.mark.parametrize("text", ["", "[]", "{}", '{"pid": "x"}', "not json"])
def test_garbage_is_a_value_error(tmp_path: Path, text: str):
    path = tmp_path / "up.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="malformed context file"):
        read_context(path)


def test_remove_only_own_file(tmp_path: Path):
    path = tmp_path / "up.json"
    write_context(make(pid=5), path)
    remove_context(path, pid=6)
    assert path.exists()
    remove_context(path, pid=5)
    assert not path.exists()
    remove_context(path)  # already gone: no error


def test_pid_alive_tells_live_from_gone_and_zombie():
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    # Not reaped yet: a zombie counts as gone.
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
        pass
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid)
