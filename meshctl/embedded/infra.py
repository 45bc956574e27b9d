"""Keep ``meshctl up``'s embedded registry and broker running, as the supervisor keeps the services.

Each is checked whenever the supervisor polls its children. One that died is
logged and started again on the same port (empty: the services register
again and the event bus sends what it spooled), after the same backoff as a
service (``RestartBudget``); past the budget it is logged once and left down,
and ``meshctl check`` shows it unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from meshctl.embedded.plan import RestartBudget
from meshctl.errors import MeshError

Report = Callable[[str], None]


@dataclass(slots=True)
class Watched:
    """One piece of infrastructure: how to tell it runs, and how to start it again."""

    name: str
    address: str
    running: Callable[[], bool]
    restart: Callable[[], object]
    budget: RestartBudget = field(default_factory=RestartBudget)
    started_at: float = field(default_factory=time.monotonic)
    due: float | None = None  # when to try again, once seen dead
    given_up: bool = False


class InfraWatch:
    """Restarts watched infrastructure that died; see the module docstring."""

    def __init__(self, report: Report, clock: Callable[[], float] = time.monotonic) -> None:
        self.report = report
        self.clock = clock
        self.watched: list[Watched] = []

    def watch(
        self, name: str, address: str, running: Callable[[], bool], restart: Callable[[], object]
    ) -> None:
        self.watched.append(Watched(name, address, running, restart, started_at=self.clock()))

    def poll(self) -> None:
        for item in self.watched:
            if item.given_up or (item.due is None and item.running()):
                continue
            now = self.clock()
            if item.due is None:
                delay = item.budget.on_exit(item.started_at, now)
                if delay is None:
                    item.given_up = True
                    self.report(f"{item.name} at {item.address} exited again; not restarting it")
                    continue
                item.due = now + delay
                self.report(f"{item.name} at {item.address} exited; restarting it in {delay:g}s")
            if now < item.due:
                continue
            item.due, item.started_at = None, now
            try:
                item.restart()
            except MeshError as exc:
                self.report(f"{item.name} did not restart: {exc}")
                continue
            self.report(f"{item.name} restarted at {item.address} (empty)")
