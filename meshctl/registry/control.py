"""The mesh's control plane in Redis: client reports out, breaker commands in.

Every mesh client publishes a report (its breakers and call statistics)
about once a second; ``meshctl breakers`` and ``meshctl top`` read every live
client's report in one round trip. Commands (``ACTIONS``) go out on a pub/sub
channel; each client applies them to its own breakers and answers with what
changed on a per-command list, so the sender can confirm the effect.

A command for a whole service (no instance, no one client) also leaves a
mark: ``force_open`` sets it, any other action clears it. Discovery returns
the mark with the service's instances, so a client that starts later, or a
one-shot ``meshctl call``, obeys the operator without another read.

The key names are in ``keys.py``; this module is their only reader and writer.
What is read back is checked (``reports.py``) before anyone uses or logs it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis

from meshctl.registry.connection import describe, translated
from meshctl.registry.keys import ack_key, control_channel, forced_key, report_keys
from meshctl.registry.problems import Problem, ProblemLog, brief, from_script
from meshctl.registry.reports import MAX_REPORT_BYTES, SERVER_ROLE, check_message, check_report
from meshctl.registry.scripts import PRELUDE

logger = logging.getLogger(__name__)

ACTIONS = ("reset", "force_open", "close", "disable")
"""What a breaker command can ask of every client's breakers."""

REPORT_TTL = 5.0
"""Seconds a report lives at least without being published again."""

ACK_TTL = 60
"""Seconds an answer list lives, so a sender that gave up leaves nothing behind."""

MAX_REPORT_TTL = 3600.0
"""Longest a report may live; later expiry scores are junk and removed."""

# Store a report and its expiry atomically, stamped by the server's clock; the
# writer replaces a key of the wrong type.
PUBLISH_REPORT = (
    PRELUDE
    + """
repair(KEYS, {'hash', 'zset'}, {})
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], fmt(clock() + tonumber(ARGV[3])), ARGV[1])
return 1
"""
)

# Remove one report and its expiry; keys of the wrong type are left to the reader,
# which reports them.
WITHDRAW_REPORT = (
    PRELUDE
    + """
local problems = {}
if typed(KEYS[1], 'hash', problems) then redis.call('HDEL', KEYS[1], ARGV[1]) end
if typed(KEYS[2], 'zset', problems) then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
"""
)

# Live reports only, oversized ones left out; lapsed ones and junk expiry scores
# are removed on the way. -> {reports, problems}
READ_REPORTS = (
    PRELUDE
    + f"local MAX_REPORT_TTL, MAX_REPORT = {MAX_REPORT_TTL}, {MAX_REPORT_BYTES}\n"
    + """
local problems = {}
if not (typed(KEYS[1], 'hash', problems) and typed(KEYS[2], 'zset', problems)) then
  return {{}, problems}
end
local now = clock()
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', fmt(now))
local junk = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. fmt(now + MAX_REPORT_TTL), '+inf')
for _, id in ipairs(junk) do
  problem(problems, KEYS[2], id, 'expiry is no time a report TTL gives; removed')
  dead[#dead + 1] = id
end
forget(KEYS[2], {KEYS[1]}, dead)
local live = redis.call('ZRANGE', KEYS[2], 0, -1)
local reports = hmget(KEYS[1], live)
for i, report in ipairs(reports) do
  if report and #report > MAX_REPORT then
    problem(problems, KEYS[1], live[i], 'report of ' .. #report .. ' bytes')
    reports[i] = false
  end
end
return {reports, problems}
"""
)

# Update the forced mark and broadcast the command atomically; the sender
# replaces a mark of the wrong type. KEYS: forced marks. ARGV: what to do with
# the mark ('set', 'clear', 'clear_all' or ''), service, mark JSON, channel,
# command JSON -> how many clients received the command
SEND_COMMAND = (
    PRELUDE
    + """
repair(KEYS, {'hash'}, {})
if ARGV[1] == 'set' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
elseif ARGV[1] == 'clear' then redis.call('HDEL', KEYS[1], ARGV[2])
elseif ARGV[1] == 'clear_all' then redis.call('DEL', KEYS[1]) end
return redis.call('PUBLISH', ARGV[4], ARGV[5])
"""
)


class Reports(list[dict[str, Any]]):
    """Live reports, and the ones skipped (``problems``).

    Mesh clients report their breakers and what they saw of their callees;
    service instances (``role`` ``"server"``) what they served.
    """

    def __init__(self, reports: Iterable[dict[str, Any]], problems: list[Problem]) -> None:
        super().__init__(reports)
        self.problems = problems

    @property
    def clients(self) -> list[dict[str, Any]]:
        return [r for r in self if r.get("role") != SERVER_ROLE]

    @property
    def servers(self) -> list[dict[str, Any]]:
        return [r for r in self if r.get("role") == SERVER_ROLE]


_problem_log = ProblemLog()


def parse_reports(reply: Sequence[Any] | None, prefix: str) -> Reports:
    """Client reports from ``READ_REPORTS``' reply; bad ones are skipped and listed."""
    raw, script_problems = reply or ((), ())
    problems = from_script(script_problems)
    hash_key = report_keys(prefix)[0]
    reports = []
    for item in raw:
        if item is None:
            continue
        try:
            reports.append(check_report(item))
        except ValueError as exc:
            problems.append(Problem(hash_key, "", str(exc)))
    _problem_log.report(problems)
    return Reports(reports, problems)


async def read_reports(redis: aioredis.Redis, prefix: str) -> Reports:
    """Every live client's report, in one round trip."""
    with translated(describe(redis)):
        reply = await redis.eval(READ_REPORTS, 2, *report_keys(prefix))
    return parse_reports(reply, prefix)


def validate_command(action: str, service: str | None, instance_id: str | None) -> None:
    """Raise ValueError for a command no client would accept."""
    if action not in ACTIONS:
        raise ValueError(f"unknown breaker action {action!r}; one of {', '.join(ACTIONS)}")
    if instance_id and not service:
        raise ValueError("an instance id needs its service")


def parse_command(raw: bytes | str) -> dict[str, Any] | None:
    """A command message as sent by ``send_command``, or None (and a warning) if malformed."""
    try:
        command = check_message(raw, "command")
        validate_command(command["action"], command.get("service"), command.get("instance_id"))
    except ValueError as exc:
        logger.warning("ignoring a malformed control command (%s): %s", exc, brief(raw))
        return None
    return command


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

    A command for a whole service (or, but for ``force_open``, every
    service) from no particular client updates the forced mark in the same
    script as the broadcast.

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
    mark = ""
    if not instance_id and not client_id:
        if action == "force_open" and service:
            mark = "set"
        elif service:
            mark = "clear"
        elif action != "force_open":
            mark = "clear_all"
    args = [mark, service or "", json.dumps({"at": time.time()}), control_channel(prefix)]
    with translated(describe(redis)):
        receivers = int(
            await redis.eval(SEND_COMMAND, 1, forced_key(prefix), *args, json.dumps(command))
        )
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
                answers.append(check_message(item[1], "answer"))
            except ValueError as exc:
                logger.warning("skipping an answer to command %s: %s", command_id, exc)
        await redis.delete(ack_key(prefix, command_id))
    return answers


class ControlChannel:
    """A mesh client's Redis side of the control plane: its report, the commands, its answers.

    Args:
        redis: client of the registry's Redis.
        prefix: the registry key prefix.
    """

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.url = describe(redis)

    async def publish_report(self, client_id: str, report: dict[str, Any], ttl: float) -> None:
        """Store the client's report, alive for ``ttl`` seconds unless published again."""
        with translated(self.url):
            await self.redis.eval(
                PUBLISH_REPORT,
                2,
                *report_keys(self.prefix),
                client_id,
                json.dumps(report),
                str(min(ttl, MAX_REPORT_TTL)),
            )

    async def withdraw_report(self, client_id: str) -> None:
        """Remove the client's report (it is stopping)."""
        with translated(self.url):
            await self.redis.eval(WITHDRAW_REPORT, 2, *report_keys(self.prefix), client_id)

    async def answer(self, command_id: str, answer: dict[str, Any]) -> None:
        """Tell the command's sender what this client changed."""
        key = ack_key(self.prefix, command_id)
        with translated(self.url):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, json.dumps(answer))
                pipe.expire(key, ACK_TTL)
                await pipe.execute()

    async def commands(
        self, subscribed: Callable[[], None] = lambda: None
    ) -> AsyncIterator[bytes | str]:
        """Raw command messages as they arrive; ends only with an error or a cancellation.

        ``subscribed`` is called once Redis confirms the subscription: from then
        on no command is missed.
        """
        with translated(self.url):
            async with self.redis.pubsub() as pubsub:
                await pubsub.subscribe(control_channel(self.prefix))
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        yield message["data"]
                    elif message.get("type") == "subscribe":
                        subscribed()
