"""Severity rules, backoff, request checks and the dispatcher with injected channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshctl.errors import InvalidRequestError
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.alert import validation as v
from meshctl.services.alert.channels import DeliveryError, Notification
from meshctl.services.alert.dispatch import Dispatcher
from meshctl.services.alert.rules import (
    RetryPolicy,
    SeverityRules,
    anomaly_severity,
    violation_severity,
)
from meshctl.services.alert.storage import AlertRow, AlertStore
from meshctl.services.db import create_engine, create_tables, session_factory
from meshctl.testing import FakeClock


def test_default_routes_grow_with_severity() -> None:
    rules = SeverityRules()
    assert rules.channels_for("low") == ("webhook",)
    assert rules.channels_for("medium") == ("webhook", "email")
    assert rules.channels_for("critical") == ("webhook", "email", "sms")


def test_routes_are_configurable_and_checked() -> None:
    assert SeverityRules({"low": ("sms",)}).channels_for("high") == ()
    with pytest.raises(ValueError, match="unknown severity"):
        SeverityRules({"urgent": ("sms",)})
    with pytest.raises(ValueError, match="unknown channels"):
        SeverityRules({"low": ("pager",)})


def test_violation_severity_prefers_its_own_then_its_type() -> None:
    assert violation_severity(pb.SEVERITY_LOW, pb.VIOLATION_TYPE_WRONG_WAY) == "low"
    assert violation_severity(0, pb.VIOLATION_TYPE_WRONG_WAY) == "critical"
    assert violation_severity(0, pb.VIOLATION_TYPE_ILLEGAL_PARKING) == "low"
    assert violation_severity(0, 0) == "medium"


@pytest.mark.parametrize(("z", "expected"), [(3, "medium"), (-4, "high"), (6.5, "critical")])
def test_anomaly_severity_grows_with_distance_from_baseline(z: float, expected: str) -> None:
    assert anomaly_severity(0, z) == expected
    assert anomaly_severity(pb.SEVERITY_LOW, z) == "low"


def test_backoff_doubles_up_to_the_cap_then_gives_up() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay=10, max_delay=50)
    delays = [policy.next_attempt_at(n, 0.0, lambda: 1.0) for n in range(1, 7)]
    assert delays == [10, 20, 40, 50, 50, None]


@given(
    attempts=st.integers(min_value=1, max_value=40),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_backoff_jitter_stays_between_half_and_all_of_the_delay(
    attempts: int, jitter: float
) -> None:
    policy = RetryPolicy(max_attempts=50, base_delay=1, max_delay=1000)
    delay = policy.next_attempt_at(attempts, 0.0, lambda: jitter)
    ceiling = min(1000.0, 2.0 ** (attempts - 1))
    assert delay is not None and ceiling / 2 <= delay <= ceiling


def test_retry_policy_is_checked() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=10, max_delay=5)


@pytest.mark.parametrize(
    ("channel", "address", "ok"),
    [
        ("email", "ops@example.com", True),
        ("email", "ops@", False),
        ("sms", "+1 555 0100", True),
        ("sms", "call me", False),
        ("webhook", "https://hooks.example.com/x", True),
        ("webhook", "ftp://example.com", False),
    ],
)
def test_addresses_are_checked_per_channel(channel: str, address: str, ok: bool) -> None:
    if ok:
        assert v.check_address(channel, address, "f") == address
    else:
        with pytest.raises(InvalidRequestError, match="^f: "):
            v.check_address(channel, address, "f")


def test_default_recipients_parse_by_channel() -> None:
    parsed = v.parse_default_recipients(["a@b.io", "sms:+15550100", "webhook:http://h/x"])
    assert parsed == {"email": ["a@b.io"], "sms": ["+15550100"], "webhook": ["http://h/x"]}


def test_targets_prefer_request_recipients_and_skip_or_refuse_missing_ones() -> None:
    defaults = {"email": ["d@x.io"], "webhook": ["http://h/x"]}
    explicit = {"email": ["e@x.io"]}
    targets = v.resolve_targets(["webhook", "email", "sms"], explicit, defaults, strict=False)
    assert targets == [("webhook", "http://h/x"), ("email", "e@x.io")]
    with pytest.raises(InvalidRequestError, match="^recipients: no recipient for the sms"):
        v.resolve_targets(["sms"], explicit, defaults, strict=True)


class ScriptedChannel:
    """A channel whose outcomes the test sets; records what it was asked to send."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[tuple[str, str]] = []

    async def send(self, notification: Notification, recipient: str) -> None:
        self.sent.append((notification.alert_id, recipient))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AlertStore]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'alerts.db'}")
    await create_tables(engine)
    yield AlertStore(session_factory(engine))
    await engine.dispose()


async def stored_alert(store: AlertStore, dispatcher: Dispatcher, channel: str) -> AlertRow:
    row = AlertRow(
        alert_id="a1",
        severity="high",
        status="open",
        title="t",
        message="m",
        source="manual",
        source_id="a1",
        camera_id="",
        channels=[channel],
        created_at=0.0,
        correlation_id="",
        extra={},
        acknowledged_by="",
        acknowledgement_note="",
        deliveries=dispatcher.plan("a1", [(channel, "http://h/x")]),
    )
    assert await store.insert(row)
    return row


async def test_delivery_fails_for_good_after_the_last_attempt(store: AlertStore) -> None:
    clock = FakeClock(0)
    channel = ScriptedChannel(DeliveryError("down"), DeliveryError("down"), DeliveryError("x"))
    policy = RetryPolicy(max_attempts=3, base_delay=10, max_delay=100)
    dispatcher = Dispatcher(store, {"webhook": channel}, policy, clock, rng=lambda: 1.0)
    row = await stored_alert(store, dispatcher, "webhook")
    await dispatcher.deliver(row, row.deliveries)
    for _ in range(2):
        clock.advance(1000)
        outcome = await dispatcher.retry_due(None, 0)
        assert outcome.still_failing == 1
    (delivery,) = outcome.alerts[0].deliveries
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    clock.advance(10_000)
    assert (await dispatcher.retry_due(None, 0)).retried == 0
    assert len(channel.sent) == 3


async def test_unexpected_channel_errors_and_missing_channels_are_recorded(
    store: AlertStore,
) -> None:
    dispatcher = Dispatcher(
        store, {"webhook": ScriptedChannel(RuntimeError("bug"))}, RetryPolicy(), FakeClock()
    )
    row = await stored_alert(store, dispatcher, "webhook")
    await dispatcher.deliver(row, row.deliveries)
    stored = await store.get("a1")
    assert stored is not None and stored.deliveries[0].last_error == "RuntimeError: bug"
    empty = Dispatcher(store, {}, RetryPolicy(), FakeClock())
    await empty.deliver(row, row.deliveries)
    assert row.deliveries[0].last_error == "the webhook channel is not configured"


async def test_pending_delivery_interrupted_by_a_restart_becomes_due(store: AlertStore) -> None:
    clock = FakeClock(0)
    channel = ScriptedChannel()
    policy = RetryPolicy(pending_timeout=120)
    dispatcher = Dispatcher(store, {"webhook": channel}, policy, clock)
    await stored_alert(store, dispatcher, "webhook")  # stored, never attempted
    assert (await dispatcher.retry_due(None, 0)).retried == 0
    clock.advance(120)
    assert (await dispatcher.retry_due(None, 0)).succeeded == 1
