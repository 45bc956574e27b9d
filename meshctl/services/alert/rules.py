"""Pure alert policy: severities, which channels a severity uses, and retry backoff."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from meshctl.proto.its.v1 import common_pb2 as pb

SEVERITIES = ("low", "medium", "high", "critical")
CHANNELS = ("webhook", "email", "sms")

# A violation without a severity of its own gets one from its type.
_VIOLATION_SEVERITY: dict[int, str] = {
    pb.VIOLATION_TYPE_WRONG_WAY: "critical",
    pb.VIOLATION_TYPE_RED_LIGHT: "high",
    pb.VIOLATION_TYPE_SPEEDING: "medium",
    pb.VIOLATION_TYPE_ILLEGAL_TURN: "medium",
    pb.VIOLATION_TYPE_ILLEGAL_PARKING: "low",
}
_SEVERITY_NAMES: dict[int, str] = {
    pb.SEVERITY_LOW: "low",
    pb.SEVERITY_MEDIUM: "medium",
    pb.SEVERITY_HIGH: "high",
    pb.SEVERITY_CRITICAL: "critical",
}
SEVERITY_VALUES: dict[str, int] = {name: value for value, name in _SEVERITY_NAMES.items()}

DEFAULT_ROUTES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "low": ("webhook",),
        "medium": ("webhook", "email"),
        "high": ("webhook", "email", "sms"),
        "critical": ("webhook", "email", "sms"),
    }
)


def severity_name(value: int) -> str | None:
    """``SEVERITY_HIGH`` → ``"high"``; None for unspecified or unknown values."""
    return _SEVERITY_NAMES.get(value)


def violation_severity(severity: int, violation_type: int) -> str:
    """The violation's own severity, else one derived from its type (medium if unknown)."""
    return severity_name(severity) or _VIOLATION_SEVERITY.get(violation_type, "medium")


def anomaly_severity(severity: int, z_score: float) -> str:
    """The anomaly's own severity, else one derived from how far off the baseline it is."""
    if named := severity_name(severity):
        return named
    distance = abs(z_score)
    return "critical" if distance >= 6 else "high" if distance >= 4 else "medium"


@dataclass(frozen=True, slots=True)
class SeverityRules:
    """Which channels an alert of each severity goes to."""

    routes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_ROUTES)

    def __post_init__(self) -> None:
        for severity, channels in self.routes.items():
            if severity not in SEVERITIES:
                raise ValueError(f"unknown severity {severity!r} in alert routes")
            unknown = set(channels) - set(CHANNELS)
            if unknown:
                raise ValueError(f"unknown channels {sorted(unknown)} for severity {severity}")

    def channels_for(self, severity: str) -> tuple[str, ...]:
        return self.routes.get(severity, ())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter and a bound on attempts.

    Args:
        max_attempts: attempts (the first included) before a delivery fails for good.
        base_delay: seconds before the first retry.
        max_delay: cap on any one delay.
        pending_timeout: a pending delivery this old was interrupted (say by a
            restart) and becomes due for retry.
    """

    max_attempts: int = 5
    base_delay: float = 30.0
    max_delay: float = 3600.0
    pending_timeout: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay <= 0 or self.max_delay < self.base_delay:
            raise ValueError("retry policy needs max_attempts >= 1 and 0 < base_delay <= max_delay")

    def next_attempt_at(self, attempts: int, now: float, rng: Callable[[], float]) -> float | None:
        """When to try again after ``attempts`` failed attempts; None once they are used up.

        The delay doubles per attempt up to ``max_delay``; "equal jitter" keeps it
        between half and all of that, so retries of many deliveries spread out.
        """
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempts - 1))
        return now + ceiling * (0.5 + 0.5 * rng())
