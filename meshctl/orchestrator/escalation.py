"""The alert-escalation workflow: deliver, wait for an acknowledgement, retry, escalate.

Rules: tiers climb the severity ladder from the alert's severity (low →
medium → high → critical); the alert service's severity rules pick each
tier's channels (or the policy names them), so a higher tier reaches more
channels. Each tier waits ``ack_timeout`` for an acknowledgement of any alert
of the chain, polling every ``poll_interval``. Acknowledged: publish
``alert.acknowledged`` and stop (completed). Not acknowledged: retry the
tier's failed deliveries, then raise the next tier's alert and publish
``alert.escalated``. Still unacknowledged after the last tier: degraded, with
the final status ``escalated`` (or ``unacknowledged`` when there was no tier
to escalate to).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshctl.errors import InvalidRequestError
from meshctl.orchestrator.camera_frame import FAILED, judge_alert
from meshctl.orchestrator.model import (
    Call,
    Command,
    Concurrently,
    Flow,
    Now,
    Outcome,
    Publish,
    Record,
    Reply,
    Sleep,
    StepResult,
    Verdict,
)
from meshctl.orchestrator.registry import Parameter, WorkflowSpec, choice, parse_duration, register

SEVERITIES = ("low", "medium", "high", "critical")
CHANNELS = ("webhook", "email", "sms")
ACKNOWLEDGED = "ALERT_STATUS_ACKNOWLEDGED"
Alert = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Timings and tiers of an escalation.

    Args:
        ack_timeout: seconds each tier waits for an acknowledgement.
        poll_interval: seconds between looks at the alerts.
        ladder: the severities tiers climb, lowest first.
        channels: channels to use per severity; a severity not named here
            leaves the choice to the alert service's severity rules.
    """

    ack_timeout: float = 30.0
    poll_interval: float = 1.0
    ladder: tuple[str, ...] = SEVERITIES
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ack_timeout <= 0 or self.poll_interval <= 0:
            raise ValueError("ack_timeout and poll_interval must be positive")
        if not self.ladder or set(self.ladder) - set(SEVERITIES):
            raise ValueError(f"the ladder must be made of {', '.join(SEVERITIES)}")
        for severity, channels in self.channels.items():
            if severity not in SEVERITIES or set(channels) - set(CHANNELS):
                raise ValueError(f"bad channels {channels!r} for severity {severity!r}")

    def tiers(self, severity: str) -> tuple[str, ...]:
        """The severities of the tiers, starting at ``severity``."""
        if severity not in self.ladder:
            raise InvalidRequestError(
                f"unknown severity {severity!r} (one of {', '.join(self.ladder)})"
            )
        return self.ladder[self.ladder.index(severity) :]

    def request(self, severity: str, title: str, message: str, **extra: Any) -> dict[str, Any]:
        """A SendAlert request for one tier."""
        request: dict[str, Any] = {
            "severity": f"SEVERITY_{severity.upper()}",
            "title": title,
            "message": message,
        }
        if chosen := self.channels.get(severity):
            request["channels"] = [f"ALERT_CHANNEL_{c.upper()}" for c in chosen]
        return {**request, **extra}


def channels_of(alert: Alert) -> list[str]:
    """The alert's channels as lower-case names."""
    return [str(c).removeprefix("ALERT_CHANNEL_").lower() for c in alert.get("channels") or []]


def severity_of(alert: Alert) -> str:
    return str(alert.get("severity", "")).removeprefix("SEVERITY_").lower()


def judge_retry(data: Mapping[str, Any]) -> Verdict:
    """Ok when every retried delivery went out; skipped when none was due yet."""
    summary = {k: data.get(k, 0) for k in ("retried", "succeeded", "still_failing")}
    if not summary["retried"]:
        return Verdict("skipped", summary, "no failed delivery is due for retry yet")
    if summary["still_failing"]:
        return Verdict("degraded", summary, f"{summary['still_failing']} deliveries still failing")
    return Verdict("ok", summary)


def await_ack(
    chain: Sequence[str], policy: EscalationPolicy, tier: int
) -> Generator[Command, Any, tuple[Alert | None, dict[str, Alert]]]:
    """Poll the chain's alerts until one is acknowledged or the tier's time is up."""
    started: float = yield Now()
    polls, error = 0, None
    latest: dict[str, Alert] = {}
    while True:
        replies: tuple[Reply, ...] = yield Concurrently(
            tuple(
                Call(f"look at alert {a}", "alert", "GetAlert", {"alert_id": a}, quiet=True)
                for a in chain
            )
        )
        polls += 1
        for alert_id, reply in zip(chain, replies, strict=True):
            if reply.data is None:
                error = reply.step.error
            else:
                latest[alert_id] = reply.data.get("alert") or {}
        acked = next((a for a in latest.values() if a.get("status") == ACKNOWLEDGED), None)
        waited = (yield Now()) - started
        if acked is not None or waited >= policy.ack_timeout:
            break
        yield Sleep(min(policy.poll_interval, policy.ack_timeout - waited))
    late = f"not acknowledged within {policy.ack_timeout:g}s" + (f" ({error})" if error else "")
    summary = {"polls": polls, "acknowledged_by": acked.get("acknowledged_by") if acked else None}
    yield Record(
        StepResult(
            f"await acknowledgement (tier {tier})",
            "alert",
            "GetAlert",
            "ok" if acked is not None else "degraded",
            duration=waited,
            error=None if acked is not None else late,
            summary=summary,
        )
    )
    return acked, latest


def alert_escalation_flow(
    alert_id: str | None,
    severity: str | None,
    policy: EscalationPolicy,
    *,
    title: str = "Operator alert",
) -> Flow:
    """Escalate ``alert_id`` (or a new alert of ``severity``); see the module docstring.

    Raises:
        InvalidRequestError: ``severity`` is not on the policy's ladder.
    """
    if severity is not None:
        policy.tiers(severity)
    return _escalate(alert_id, severity, policy, title)


def _escalate(
    alert_id: str | None, severity: str | None, policy: EscalationPolicy, title: str
) -> Flow:
    if alert_id:
        first = yield Call("get alert", "alert", "GetAlert", {"alert_id": alert_id})
    else:
        severity = severity or "high"
        message = f"{severity} alert raised by the alert-escalation workflow"
        request = policy.request(severity, title, message)
        first = yield Call(
            f"send alert ({severity})", "alert", "SendAlert", request, judge=judge_alert
        )
    if first.data is None:
        return Outcome("failed", f"failed: alert: {first.step.error}")
    root: Alert = first.data.get("alert") or {}
    tiers = policy.tiers(severity or severity_of(root))
    chain = [str(root.get("alert_id"))]
    output: dict[str, Any] = {"alert_id": chain[0], "alerts": chain, "tier": 0}
    alert = root
    for tier, level in enumerate(tiers):
        if tier:
            extra = {
                "camera_id": root.get("camera_id", ""),
                "metadata": {"escalation_of": chain[0], "tier": str(tier)},
            }
            request = policy.request(
                level,
                f"[escalated to {level}] {root.get('title', title)}",
                str(root.get("message") or title),
                **extra,
            )
            reply = yield Call(
                f"escalate to {level}", "alert", "SendAlert", request, judge=judge_alert
            )
            if reply.data is None:
                return Outcome(
                    "failed", f"failed: escalation to {level}: {reply.step.error}", output
                )
            alert = reply.data.get("alert") or {}
            chain.append(str(alert.get("alert_id")))
            output["tier"] = tier
            yield Publish(
                "alert.escalated",
                {
                    "alert_id": chain[0],
                    "escalation_id": chain[-1],
                    "tier": tier,
                    "severity": level,
                    "channels": channels_of(alert),
                },
            )
        output.update(severity=level, channels=channels_of(alert))
        acked, latest = yield from await_ack(chain, policy, tier)
        if acked is not None:
            by = acked.get("acknowledged_by", "")
            yield Publish(
                "alert.acknowledged",
                {
                    "alert_id": chain[0],
                    "acknowledged_alert": acked.get("alert_id"),
                    "acknowledged_by": by,
                    "tier": tier,
                },
            )
            return Outcome(
                "completed", f"acknowledged by {by}", {**output, "final_status": "acknowledged"}
            )
        alert = latest.get(chain[-1], alert)
        if any(d.get("status") == FAILED for d in alert.get("deliveries") or []):
            yield Call(
                f"retry failed deliveries (tier {tier})",
                "alert",
                "RetryFailedAlerts",
                {"alert_id": chain[-1]},
                judge=judge_retry,
            )
    final = "escalated" if len(tiers) > 1 else "unacknowledged"
    return Outcome(
        "degraded",
        f"degraded: {final}, not acknowledged at {tiers[-1]}",
        {**output, "final_status": final},
    )


def _build(params: Mapping[str, Any]) -> Flow:
    try:
        policy = EscalationPolicy(params["ack-timeout"], params["poll-interval"])
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    return alert_escalation_flow(
        params["alert-id"], params["severity"], policy, title=params["title"]
    )


ALERT_ESCALATION = register(
    WorkflowSpec(
        name="alert-escalation",
        description="Deliver an alert, wait for an acknowledgement, retry, escalate tier by tier.",
        parameters=(
            Parameter("alert-id", "Alert to escalate (default: raise a new one with SendAlert)."),
            Parameter(
                "severity",
                "Starting severity: low, medium, high or critical (default: the alert's, or high).",
                choice(*SEVERITIES),
            ),
            Parameter(
                "ack-timeout",
                "How long each tier waits for an acknowledgement, e.g. 30s.",
                parse_duration,
                30.0,
            ),
            Parameter(
                "poll-interval",
                "How often to look for an acknowledgement, e.g. 1s.",
                parse_duration,
                1.0,
            ),
            Parameter("title", "Title of a new alert.", str, "Operator alert"),
        ),
        build=_build,
    )
)
