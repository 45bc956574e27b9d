import os
import subprocess
import sys
from pathlib import Path

from meshctl.config import pid_alive
from meshctl.embedded.state import new_run_dir


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
