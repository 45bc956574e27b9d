"""InfraWatch: dead infrastructure is logged, restarted after a backoff, left past its budget."""

from __future__ import annotations

from meshctl.embedded.infra import InfraWatch
from meshctl.embedded.plan import RestartPolicy
from meshctl.errors import BrokerUnavailableError
from meshctl.testing import FakeClock


class Broker:
    def __init__(self) -> None:
        self.up, self.starts, self.fail_next = True, 0, False

    def start(self) -> None:
        if self.fail_next:
            self.fail_next = False
            raise BrokerUnavailableError("port taken")
        self.up, self.starts = True, self.starts + 1


def test_a_dead_broker_is_restarted_after_its_backoff_and_given_up_past_the_budget() -> None:
    clock, broker = FakeClock(100.0), Broker()
    lines: list[str] = []
    watch = InfraWatch(lines.append, clock=clock)
    watch.watch("broker", "127.0.0.1:9092", lambda: broker.up, broker.start)
    watch.watched[0].budget.policy = RestartPolicy(initial=1.0, max_restarts=2, stable_after=30)
    watch.poll()
    assert lines == [] and broker.starts == 0  # running: nothing to do

    broker.up = False
    watch.poll()
    assert lines == ["broker at 127.0.0.1:9092 exited; restarting it in 1s"]
    watch.poll()
    assert broker.starts == 0  # not before the backoff
    clock.advance(1)
    broker.fail_next = True
    watch.poll()
    assert lines[-1] == "broker did not restart: port taken" and not broker.up
    watch.poll()  # seen dead again: the next backoff doubles
    assert lines[-1] == "broker at 127.0.0.1:9092 exited; restarting it in 2s"
    clock.advance(2)
    watch.poll()
    assert broker.up and broker.starts == 1
    assert lines[-1] == "broker restarted at 127.0.0.1:9092 (empty)"

    broker.up = False  # dies again at once: the budget of two restarts is spent
    watch.poll()
    assert lines[-1] == "broker at 127.0.0.1:9092 exited again; not restarting it"
    clock.advance(60)
    watch.poll()
    assert broker.starts == 1 and len(lines) == 5  # and nothing more is said
