"""The mesh's span store: finished spans kept in Redis for a while, for ``meshctl trace``.

Writes never touch the request path: ``add`` queues a record and returns; a
background task writes the queue in one call every ``interval`` seconds or
as soon as ``batch`` records wait. When Redis is down or slow, records are
dropped and counted (``dropped``), never retried at a call's expense; a full
queue drops new records the same way. A process keeps at most
``traces_per_second`` new traces a second (a load test's thousands of
requests a second would fill Redis): the spans of a trace it kept are all
kept, those of others counted in ``over_rate``.

Each trace is a list under ``P:trace:<trace_id>`` holding its first
``max_spans`` records, and each correlation id a set of its trace ids (a
correlation id is not a trace id: a request keeps its correlation id across a
hop that restarts the trace); both expire ``ttl`` seconds after the trace's
last write. See ``keys.py`` for the layout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from meshctl.core.spans import SpanRecord
from meshctl.registry.connection import connect, describe, translated
from meshctl.registry.keys import correlation_traces_key, trace_key
from meshctl.registry.tasks import cancel_and_wait

log = logging.getLogger(__name__)

DEFAULT_TTL = 900.0  # seconds: long enough to look at a request just made
MAX_SPANS = 1000  # per trace: a runaway trace does not fill Redis
KEPT_TRACES = 4096  # trace ids remembered as kept: a trace's late spans still go in
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


class SpanStore:
    """Writes span records to Redis in batches, off the request path.

    Args:
        redis: a client (shared, the caller closes it) or a URL.
        prefix: the registry's key prefix.
        ttl: seconds a trace is kept after its last span was written.
        max_spans: records kept per trace at most.
        interval: seconds between writes.
        batch: queued records that trigger a write at once.
        queue_limit: records queued at most; more are dropped.
        traces_per_second: new traces kept a second at most (bursts of as many).
        clock: monotonic seconds, for the rate.
    """

    def __init__(
        self,
        redis: aioredis.Redis | str,
        prefix: str,
        *,
        ttl: float = DEFAULT_TTL,
        max_spans: int = MAX_SPANS,
        interval: float = 0.5,
        batch: int = 256,
        queue_limit: int = 10_000,
        traces_per_second: float = 100.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis, self._owned = connect(redis)
        self.prefix = prefix
        self.ttl = max(1, round(ttl))
        self.max_spans = max_spans
        self.interval = interval
        self.batch = batch
        self.queue_limit = queue_limit
        self.written = 0
        self.dropped = 0
        self.over_rate = 0
        self.rate = traces_per_second
        self._clock = clock
        self._tokens = traces_per_second
        self._refilled = clock()
        self._kept: OrderedDict[str, None] = OrderedDict()  # recently kept trace ids
        self._queue: deque[SpanRecord] = deque()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._append = self.redis.register_script(APPEND)

    def add(self, record: SpanRecord) -> None:
        """Queue ``record`` for the next write; never blocks, never raises."""
        if not self._keeps(record.trace_id):
            self.over_rate += 1
            return
        if len(self._queue) >= self.queue_limit:
            self.dropped += 1
            return
        self._queue.append(record)
        if len(self._queue) == self.batch and self._loop is not None:
            # Spans may end on another thread's loop (a process serving from several).
            self._loop.call_soon_threadsafe(self._wake.set)

    def _keeps(self, trace_id: str) -> bool:
        """Whether the trace is kept: one kept before, or a new one within the rate."""
        if trace_id in self._kept:
            self._kept.move_to_end(trace_id)
            return True
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        self._kept[trace_id] = None
        if len(self._kept) > KEPT_TRACES:
            self._kept.popitem(last=False)
        return True

    async def start(self) -> SpanStore:
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._run(), name="span-store")
        return self

    async def aclose(self, timeout: float = 2.0) -> None:
        """Stop writing in the background; write what is queued (within ``timeout``)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        try:
            async with asyncio.timeout(timeout):
                await self.flush()
        except TimeoutError:
            self._drop(len(self._queue))
        if self._owned:
            await self.redis.aclose()

    async def __aenter__(self) -> SpanStore:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> int:
        """Write every queued record now; returns how many were written (0 when dropped)."""
        records = list(self._queue)
        self._queue.clear()
        if not records:
            return 0
        try:
            await self._write(records)
        except (RedisError, OSError) as exc:
            self._drop(len(records), exc)
            return 0
        self.written += len(records)
        return len(records)

    def _drop(self, count: int, exc: BaseException | None = None) -> None:
        if count:
            self.dropped += count
            log.debug("span store dropped %d spans: %s", count, exc)

    async def _write(self, records: Iterable[SpanRecord]) -> None:
        traces: dict[str, list[str]] = {}
        indexed: set[tuple[str, str]] = set()
        for record in records:
            traces.setdefault(record.trace_id, []).append(
                json.dumps(record.to_json(), separators=(",", ":"))
            )
            if record.correlation_id:
                indexed.add((record.correlation_id, record.trace_id))
        keys = [trace_key(self.prefix, t) for t in traces]
        keys += [correlation_traces_key(self.prefix, c) for c, _ in indexed]
        args: list[str | int] = [self.ttl, self.max_spans, len(traces)]
        args += [len(spans) for spans in traces.values()]
        args += [span for spans in traces.values() for span in spans]
        args += [t for _, t in indexed]
        await self._append(keys=keys, args=args)


# One call per write whatever the batch: a pipeline of five commands a span cost
# the writing process about 100 us a span.
APPEND = """
local ttl, max, traces = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local at = 4 + traces
for t = 1, traces do
  local n = tonumber(ARGV[3 + t])
  local room = math.min(n, max - redis.call('LLEN', KEYS[t]))
  if room > 0 then
    redis.call('RPUSH', KEYS[t], unpack(ARGV, at, at + room - 1))
  end
  redis.call('EXPIRE', KEYS[t], ttl)
  at = at + n
end
for k = traces + 1, #KEYS do
  redis.call('SADD', KEYS[k], ARGV[at])
  redis.call('EXPIRE', KEYS[k], ttl)
  at = at + 1
end
"""
"""KEYS: the traces' lists, then one index set per (correlation id, trace id);
ARGV: ttl, max spans, the number of traces, each trace's span count, the spans,
then the index sets' trace ids."""


async def read_spans(redis: aioredis.Redis, prefix: str, ident: str) -> list[SpanRecord]:
    """The stored spans of correlation id (or trace id) ``ident``; [] when none are kept.

    A record that does not parse is skipped. Raises RegistryUnavailableError.
    """
    with translated(describe(redis)):
        trace_ids = sorted(await redis.smembers(correlation_traces_key(prefix, ident)))
        if not trace_ids and _TRACE_ID.fullmatch(ident):
            trace_ids = [ident.encode()]
        if not trace_ids:
            return []
        async with redis.pipeline(transaction=False) as pipe:
            for trace_id in trace_ids:
                pipe.lrange(trace_key(prefix, _text(trace_id)), 0, -1)
            lists = await pipe.execute()
    records = []
    for raw in (item for items in lists for item in items):
        try:
            records.append(SpanRecord.from_json(json.loads(raw)))
        except ValueError:
            log.debug("skipped a span record that does not parse: %r", raw[:80])
    return records


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
