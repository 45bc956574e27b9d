"""What a load test does: target, load model, length, data; validated on construction."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.errors import InvalidRequestError
from meshctl.loadtest.schedule import Schedule
from meshctl.loadtest.template import Template, TemplateContext
from meshctl.samples import sample_request

RequestSource = Callable[[int], Any]


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """One load test. Closed loop (``concurrency`` callers) unless ``schedule`` is set.

    Args:
        service: the service to call.
        method: its method (``Method``, ``Service/Method`` or an HTTP route name).
        concurrency: closed loop: callers (all workers together), each sending its next
            request when the last one ends.
        schedule: open loop: requests sent at the schedule's times, whatever the replies.
        duration: seconds of measured load; ``None`` with ``requests`` set.
        requests: stop after this many requests (all workers together).
        warmup: seconds of load before measuring, excluded from the results.
        max_in_flight: open loop: most requests outstanding per worker at once.
        timeout: seconds per call.
        direct: bypass the mesh: a bare gRPC (or HTTP) call to one endpoint.
        strategy: the mesh's load-balancing strategy for these calls (None: the
            client's default); not with ``direct``.
        template: request data template (see ``meshctl.loadtest.template``).
        lines: requests to cycle through, instead of a template.
        workers: processes generating load side by side.
    """

    service: str
    method: str
    concurrency: int = 1
    schedule: Schedule | None = None
    duration: float | None = None
    requests: int | None = None
    warmup: float = 0.0
    max_in_flight: int = 1000
    timeout: float = 10.0
    direct: bool = False
    strategy: LoadBalancingStrategy | None = None
    template: str | None = None
    lines: tuple[Any, ...] | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if self.duration is None and self.requests is None:
            raise InvalidRequestError("say how long to run: --duration or -n")
        checks = (
            (
                self.duration is None or (self.duration > 0 and math.isfinite(self.duration)),
                "--duration must be positive",
            ),
            (self.requests is None or self.requests > 0, "-n must be positive"),
            (self.concurrency > 0, "--concurrency must be positive"),
            (self.warmup >= 0, "--warmup must not be negative"),
            (self.max_in_flight > 0, "--max-in-flight must be positive"),
            (self.timeout > 0, "--timeout must be positive"),
            (self.workers > 0, "--workers must be positive"),
            (self.template is None or self.lines is None, "give -d or --data-file, not both"),
            (
                self.strategy is None or not self.direct,
                "--strategy balances calls through the mesh; --direct bypasses it",
            ),
            (
                self.schedule is not None or self.concurrency >= self.workers,
                "--concurrency must be at least --workers (callers are split among workers)",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise InvalidRequestError(message)
        if self.template is not None:
            Template.compile(self.template)

    @property
    def open_loop(self) -> bool:
        return self.schedule is not None

    @property
    def length(self) -> float:
        """Seconds the measured phase may last (infinite when only ``requests`` bounds it)."""
        return self.duration if self.duration is not None else math.inf

    def share(self, worker: int, total: int) -> int:
        """Worker ``worker``'s part of ``total`` split as evenly as possible."""
        return total // self.workers + (1 if worker < total % self.workers else 0)

    def source(self, worker: int) -> RequestSource:
        """Request ``n``'s data, for one worker."""
        if self.template is not None:
            template = Template.compile(self.template)
            ctx = TemplateContext(worker=worker, rng=random.Random())

            def render(n: int) -> Any:
                ctx.n = n
                return template.render(ctx)

            return render
        if self.lines is not None:
            lines = self.lines
            return lambda n: lines[n % len(lines)]
        service, method = self.service, self.method
        return lambda _n: sample_request(service, method)
