import sys
from pathlib import Path

from meshctl.config import pid_alive
from meshctl.embedded.plan import ProcessSpec, RestartPolicy
from meshctl.embedded.supervisor import Supervisor
from meshctl.testing import FakeClock


def python(name: str, code: str) -> ProcessSpec:
    return ProcessSpec(name=name, service=name, argv=(sys.executable, "-c", code), env={"X": "1"})


SLEEPER = "import os, time; print('up', os.environ['X'], flush=True); time.sleep(60)"
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    "print('ready', flush=True); time.sleep(60)"
)


def wait_for_log(path: Path, text: str) -> None:
    while text not in (path.read_text() if path.exists() else ""):
        pass


def test_stop_terminates_children_and_kills_stubborn_ones(tmp_path: Path):
    sup = Supervisor(
        [python("a", SLEEPER), python("b", STUBBORN)],
        tmp_path,
        grace=0.5,
        report=lambda _: None,
    )
    sup.start()
    pids = sup.pids()
    assert set(pids) == {"a", "b"}
    wait_for_log(tmp_path / "a.log", "up 1")
    wait_for_log(tmp_path / "b.log", "ready")
    sup.stop()
    assert not any(pid_alive(pid) for pid in pids.values())
    assert sup.pids() == {}


def test_a_dying_child_is_restarted_with_backoff_then_given_up(tmp_path: Path):
    clock = FakeClock(0.0)
    reports: list[str] = []
    policy = RestartPolicy(initial=1, factor=2, max_restarts=2)
    sup = Supervisor(
        [python("crash", "print('boom', flush=True); raise SystemExit(3)")],
        tmp_path,
        policy=policy,
        clock=clock,
        report=reports.append,
    )
    sup.start()
    child = sup.children[0]

    def wait_exit() -> None:
        assert child.process is not None
        child.process.wait()

    wait_exit()
    sup.poll()
    assert reports[-1] == "crash exited with 3; restarting in 1s"
    assert child.process is None
    clock.now = 0.9
    sup.poll()
    assert child.process is None, "not before its backoff is over"
    clock.now = 1.0
    sup.poll()
    assert reports[-1].startswith("crash restarted (pid ")
    wait_exit()
    clock.now = 1.5
    sup.poll()
    assert reports[-1] == "crash exited with 3; restarting in 2s"
    clock.now = 3.5
    sup.poll()
    wait_exit()
    sup.poll()
    assert child.gave_up
    assert "giving up after 2 restarts" in reports[-1]
    assert child.exit_codes == [3, 3, 3]
    assert sup.log_tail(child).splitlines() == ["boom"] * 3
    sup.stop()


def test_exited_lists_children_that_died_on_start(tmp_path: Path):
    sup = Supervisor(
        [python("ok", SLEEPER), python("bad", "raise SystemExit(1)")], tmp_path, grace=1
    )
    sup.start()
    bad = sup.children[1]
    assert bad.process is not None
    bad.process.wait()
    assert [c.spec.name for c in sup.exited()] == ["bad"]
    sup.stop()
