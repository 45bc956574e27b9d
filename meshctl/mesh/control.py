"""The mesh's control plane in Redis: client reports out, breaker commands in.

Every mesh client publishes a report (its breakers and call statistics)
about once a second; ``meshctl breakers`` and ``meshctl top`` read every live
client's report in one round trip. Commands (reset, force_open, close,
disable) go out on a pub/sub channel; each client applies them to its own
breakers and answers with what changed on a per-command list, so the sender
can confirm the effect.

Keys under the registry prefix ``P``:

    P:clients            hash  client_id -> report JSON
    P:clients:expiry     zset  client_id -> expiry (Redis server clock)
    P:control            pub/sub channel of command JSON
    P:control:ack:<id>   list  one JSON answer per client, expires after a minute
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from meshctl.mesh.breakers import ACTIONS, BreakerBook
from meshctl.registry.connection import describe, translated
from meshctl.registry.keys import registry_key
from meshctl.registry.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

REPORT_TTL = 5.0

# Store a report and its expiry atomically, stamped by the server's clock.
_PUBLISH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1
"""

# Live reports only; lapsed ones are removed on the way.
_READ = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #dead > 0 then
  redis.call('HDEL', KEYS[1], unpack(dead))
  redis.call('ZREM', KEYS[2], unpack(dead))
end
local live = redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf')
if #live == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(live))
"""


def _keys(prefix: str) -> list[str]:
    return [registry_key(prefix, "clients"), registry_key(prefix, "clients", "expiry")]


def control_channel(prefix: str) -> str:
    return registry_key(prefix, "control")


def ack_key(prefix: str, command_id: str) -> str:
    return registry_key(prefix, "control", "ack", command_id)


async def read_reports(redis: aioredis.Redis, prefix: str) -> list[dict[str, Any]]:
    """Every live client's report; a report that does not parse is skipped with a warning."""
    with translated(describe(redis)):
        raw = await redis.eval(_READ, 2, *_keys(prefix))
    reports = []
    for item in raw or ():
        if item is None:
            continue
        try:
            report = json.loads(item)
        except ValueError:
            logger.warning("skipping a client report that is not JSON under %s", prefix)
            continue
        if isinstance(report, dict) and "client_id" in report:
            reports.append(report)
        else:
            logger.warning("skipping a malformed client report under %s", prefix)
    return reports


def validate_command(action: str, service: str | None, instance_id: str | None) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown breaker action {action!r}; one of {', '.join(ACTIONS)}")
    if instance_id and not service:
        raise ValueError("an instance id needs its service")


async def send_command(
    redis: aioredis.Redis,
    prefix: str,
    action: str,
    *,
    service: str | None = None,
    instance_id: str | None = None,
    client_id: str | None = None,
    wait: float = 2.0,
) -> list[dict[str, Any]]:
    """Broadcast a breaker command and gather the clients' answers.

    Returns one ``{client_id, name, changes}`` per client that answered within
    ``wait`` seconds (every client that received the command answers, even
    when nothing changed).
    """
    validate_command(action, service, instance_id)
    command_id = uuid.uuid4().hex
    command = {
        "id": command_id,
        "action": action,
        "service": service,
        "instance_id": instance_id,
        "client_id": client_id,
    }
    url = describe(redis)
    with translated(url):
        receivers = int(await redis.publish(control_channel(prefix), json.dumps(command)))
        answers: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while len(answers) < receivers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            item = await redis.blpop([ack_key(prefix, command_id)], timeout=max(remaining, 0.01))
            if item is None:
                break
            try:
                answers.append(json.loads(item[1]))
            except ValueError:
                logger.warning("skipping an answer that is not JSON for command %s", command_id)
        await redis.delete(ack_key(prefix, command_id))
    return answers


class ControlPlane:
    """Runs a mesh client's side of the control plane in background tasks.

    Args:
        redis: client of the registry's Redis.
        prefix: the registry key prefix.
        name: the client's mesh name (its service, when a service owns it).
        breakers: the breakers to report and steer.
        stats: returns the statistics part of the report.
        interval: seconds between reports.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        name: str,
        breakers: BreakerBook,
        stats: Callable[[], dict[str, Any]],
        *,
        interval: float = 1.0,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.name = name
        self.breakers = breakers
        self._stats = stats
        self.interval = interval
        self.client_id = f"{name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.started_at = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        breakers.add_listener(lambda *_: self._wake.set())

    def report(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "published_at": time.time(),
            "breakers": self.breakers.snapshots(),
            **self._stats(),
        }

    async def publish(self) -> None:
        """Store this client's report now (also done every ``interval`` and on state changes)."""
        keys = _keys(self.prefix)
        ttl = max(REPORT_TTL, self.interval * 3)
        with translated(describe(self.redis)):
            await self.redis.eval(
                _PUBLISH, 2, *keys, self.client_id, json.dumps(self.report()), str(ttl)
            )

    async def handle(self, raw: bytes | str) -> dict[str, Any] | None:
        """Apply one command message; returns the answer it sent, or None if not for us."""
        try:
            command = json.loads(raw)
            action = command["action"]
            service, instance_id = command.get("service"), command.get("instance_id")
            validate_command(action, service, instance_id)
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed control command: %r", raw)
            return None
        target = command.get("client_id")
        if target and target not in (self.client_id, self.name):
            return None
        changes = self.breakers.apply(action, service, instance_id)
        answer = {"client_id": self.client_id, "name": self.name, "changes": changes}
        key = ack_key(self.prefix, str(command.get("id")))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(answer))
            pipe.expire(key, 60)
            await pipe.execute()
        self._wake.set()  # the publish loop, the report's only writer, shows the change now
        return answer

    async def _publish_loop(self) -> None:
        while True:
            try:
                await self.publish()
            except Exception as exc:  # keep serving calls while Redis is away
                logger.warning("could not publish mesh client report: %s", exc)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass

    async def _command_loop(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(control_channel(self.prefix))
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self.handle(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("control channel lost (%s); resubscribing", exc)
                await asyncio.sleep(1.0)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="mesh-control-publish"),
            asyncio.create_task(self._command_loop(), name="mesh-control-commands"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)
        try:
            keys = _keys(self.prefix)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(keys[0], self.client_id)
                pipe.zrem(keys[1], self.client_id)
                await pipe.execute()
        except Exception as exc:
            logger.debug("could not withdraw the client report: %s", exc)
