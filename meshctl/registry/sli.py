"""Service-level objectives in Redis: the SLOs, and what servers served per minute and hour.

Each service instance adds what it served since its last flush to the current
minute's and hour's bucket of its service (``P:sli:S:m:<minute>``,
``P:sli:S:h:<hour>``; layout in ``keys.py``), so buckets hold the sum over
every instance, including ones gone since. A flush Redis did not take is
carried into the next: nothing served is lost to an outage, only placed in a
later bucket. Minute buckets serve the burn-rate lookbacks (up to 6 h), hour
buckets the SLO window (up to ``MAX_WINDOW``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.core.slo import (
    LATENCY_EDGES,
    LOOKBACKS,
    SliCounts,
    Slo,
    SloError,
    SloStatus,
    evaluate,
    served_counts,
    slo_label,
    total,
)
from meshctl.core.stats import MethodStats
from meshctl.registry.keys import sli_key, slos_key
from meshctl.registry.problems import brief
from meshctl.registry.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MINUTE, HOUR = 60, 3600
KEEP = {"m": 7 * HOUR, "h": 32 * 24 * HOUR}
"""Seconds each resolution's buckets live: beyond the longest lookback and ``MAX_WINDOW``."""
MAX_WINDOW = 31 * 24 * HOUR
FLUSH_INTERVAL = 5.0


def _fields(method: str, counts: SliCounts) -> dict[str, int]:
    fields = {f"{method}|total": counts.total, f"{method}|failed": counts.failed}
    fields.update({f"{method}|w{i}": n for i, n in enumerate(counts.within) if n})
    return fields


def parse_bucket(raw: Mapping[bytes | str, bytes | str], method: str | None) -> SliCounts:
    """One bucket's counts, of one method or all; fields that are not counts are skipped."""
    counts = SliCounts()
    for key, value in raw.items():
        name = key.decode(errors="replace") if isinstance(key, bytes) else key
        who, _, kind = name.rpartition("|")
        if method is not None and who != method:
            continue
        try:
            n = int(value)
        except ValueError:
            continue
        if kind == "total":
            counts.total += n
        elif kind == "failed":
            counts.failed += n
        elif kind.startswith("w") and kind[1:].isdigit() and int(kind[1:]) < len(LATENCY_EDGES):
            counts.within[int(kind[1:])] += n
    return counts


class SliRecorder(AsyncLifecycle):
    """Adds what one instance served to its service's buckets every ``interval`` seconds."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        service: str,
        served: MethodStats,
        *,
        interval: float = FLUSH_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.prefix, self.service, self.served = redis, prefix, service, served
        self.interval = interval
        self._clock = clock
        self._flushed: dict[str, SliCounts] = {}
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def flush(self) -> None:
        """Add what was served since the last flush Redis took; raises RedisError."""
        current = served_counts(self.served)
        deltas = {
            method: counts.minus(self._flushed.get(method, SliCounts()))
            for method, counts in current.items()
        }
        deltas = {method: d for method, d in deltas.items() if not d.empty}
        if not deltas:
            return
        now = self._clock()
        pipe = self.redis.pipeline(transaction=False)
        for resolution, size in (("m", MINUTE), ("h", HOUR)):
            key = sli_key(self.prefix, self.service, resolution, int(now // size))
            for method, delta in deltas.items():
                for field, n in _fields(method, delta).items():
                    pipe.hincrby(key, field, n)
            pipe.expire(key, KEEP[resolution])
        # Not reached: raises, and the next flush carries the counts. Reached: counted,
        # except in a key someone overwrote with another type, which is reported and skipped
        # rather than counted twice by carrying what the other keys took.
        replies = await pipe.execute(raise_on_error=False)
        self._flushed = current
        errors = [r for r in replies if isinstance(r, Exception)]
        if errors:
            log.warning(
                "%d SLI counts of %s not recorded: %s", len(errors), self.service, errors[0]
            )

    async def _attempt(self) -> None:
        try:
            await self.flush()
        except (RedisError, OSError) as exc:
            if not self._failing:
                log.warning(
                    "could not record %s's SLIs, will carry them over: %s", self.service, exc
                )
            self._failing = True
        else:
            self._failing = False

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._attempt()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"sli-{self.service}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self._attempt()  # what was served since the last flush


async def read_counts(
    redis: Redis, prefix: str, slo: Slo, now: float
) -> tuple[SliCounts, dict[float, SliCounts]]:
    """The counts of ``slo``'s whole window and of each lookback in ``LOOKBACKS``, up to
    ``now`` (the current bucket included, so each is up to one bucket longer)."""
    if slo.window > MAX_WINDOW:
        raise SloError(f"windows up to {MAX_WINDOW // 86400} days are kept")
    hour, minute = int(now // HOUR), int(now // MINUTE)
    hours = range(hour - math.ceil(slo.window / HOUR) + 1, hour + 1)
    minutes = range(minute - math.ceil(max(LOOKBACKS) / MINUTE) + 1, minute + 1)
    pipe = redis.pipeline(transaction=False)
    for h in hours:
        pipe.hgetall(sli_key(prefix, slo.service, "h", h))
    for m in minutes:
        pipe.hgetall(sli_key(prefix, slo.service, "m", m))
    raws = await pipe.execute(raise_on_error=False)
    buckets = [
        parse_bucket(raw, slo.method) if isinstance(raw, dict) else SliCounts() for raw in raws
    ]
    by_minute = buckets[len(hours) :]
    lookbacks = {
        seconds: total(by_minute[len(by_minute) - math.ceil(seconds / MINUTE) :])
        for seconds in LOOKBACKS
    }
    return total(buckets[: len(hours)]), lookbacks


async def save_slo(redis: Redis, prefix: str, slo: Slo) -> bool:
    """Store ``slo``; True when it replaced one for the same service and method."""
    if slo.window > MAX_WINDOW:
        raise SloError(f"--window must be at most {MAX_WINDOW // 86400}d: hour buckets are kept "
                       f"{KEEP['h'] // 86400} days")  # fmt: skip
    added = await redis.hset(slos_key(prefix), slo_label(slo), json.dumps(slo.to_json()))
    return added == 0


async def delete_slo(redis: Redis, prefix: str, service: str, method: str | None) -> bool:
    return bool(await redis.hdel(slos_key(prefix), f"{service}/{method}" if method else service))


async def load_slos(redis: Redis, prefix: str) -> tuple[list[Slo], list[str]]:
    """Every stored SLO, and one line per record that is not one (skipped)."""
    slos, problems = [], []
    raw: dict[Any, Any] = await redis.hgetall(slos_key(prefix))
    for key, value in sorted(raw.items()):
        name = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
        try:
            slos.append(Slo.from_json(json.loads(value)))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"SLO {name!r} is not valid ({exc}): {brief(value)}")
    return slos, problems


async def read_statuses(
    redis: Redis, prefix: str, now: float, service: str | None = None
) -> tuple[list[SloStatus], list[str]]:
    """The status at ``now`` of every stored SLO (of ``service``, if given), and one line
    per record skipped: ``slo status``, ``check`` and ``top`` see the same figures."""
    slos, problems = await load_slos(redis, prefix)
    statuses = []
    for slo in slos:
        if service is not None and slo.service != service:
            continue
        try:
            window, lookbacks = await read_counts(redis, prefix, slo, now)
        except SloError as exc:  # a record written by hand, with a window not kept
            problems.append(f"SLO {slo_label(slo)!r} cannot be measured: {exc}")
            continue
        statuses.append(evaluate(slo, window, lookbacks))
    return statuses, problems
