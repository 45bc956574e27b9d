"""Call statistics: counters and HDR latency histograms per endpoint or service.

Latencies are recorded in microseconds in an HdrHistogram (1 µs to 10 min,
3 significant figures), which keeps percentiles exact to 0.1 % in constant
memory and can be encoded, shipped and merged (across mesh clients or load
generator workers). The call statistics a client keeps per endpoint use 2
significant figures (1 %), since a client may hold thousands of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

_LOWEST_US = 1
_HIGHEST_US = 600_000_000
_SIG_FIGS = 3
_ENDPOINT_SIG_FIGS = 2
PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)


class LatencyHistogram:
    """Latencies in seconds, stored as microseconds in an HdrHistogram."""

    # hdrh computes the mean by walking every bucket in Python (~150 ms for a busy
    # histogram, blocking the event loop each report), so the sum is kept here;
    # None after a corrected recording or a decode, where hdrh's walk is the truth.
    __slots__ = ("_h", "_sum_us")

    def __init__(self, significant_figures: int = _SIG_FIGS, *, word_size: int = 8) -> None:
        self._h = HdrHistogram(_LOWEST_US, _HIGHEST_US, significant_figures, word_size=word_size)
        self._sum_us: int | None = 0

    def record(self, seconds: float) -> None:
        us = min(max(int(seconds * 1_000_000), _LOWEST_US), _HIGHEST_US)
        self._h.record_value(us)
        if self._sum_us is not None:
            self._sum_us += us

    def record_corrected(self, seconds: float, expected_interval: float) -> None:
        """Record and back-fill the samples a stalled closed loop would have missed."""
        us = min(max(int(seconds * 1_000_000), _LOWEST_US), _HIGHEST_US)
        self._h.record_corrected_value(us, max(1, int(expected_interval * 1_000_000)))
        self._sum_us = None

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile(self, p: float) -> float:
        """The latency at percentile ``p`` (0-100) in seconds; 0.0 when empty."""
        return float(self._h.get_value_at_percentile(p)) / 1_000_000 if self.count else 0.0

    def min(self) -> float:
        return float(self._h.get_min_value()) / 1_000_000 if self.count else 0.0

    def max(self) -> float:
        return float(self._h.get_max_value()) / 1_000_000 if self.count else 0.0

    def mean(self) -> float:
        count = self.count
        if not count:
            return 0.0
        if self._sum_us is not None:
            return self._sum_us / count / 1_000_000
        return float(self._h.get_mean_value()) / 1_000_000

    def counts_up_to(self, edges: Sequence[float]) -> list[int]:
        """Per ascending edge (seconds): latencies above the previous edge and up to this one."""
        limits = [int(edge * 1_000_000) for edge in edges]
        counts = [0] * len(limits)
        index = 0
        for item in self._h.get_recorded_iterator():
            while index < len(limits) and item.value_iterated_to > limits[index]:
                index += 1
            if index == len(limits):
                break
            counts[index] += item.count_at_value_iterated_to
        return counts

    def merge(self, other: LatencyHistogram) -> None:
        self._h.add(other._h)
        if self._sum_us is not None and other._sum_us is not None:
            self._sum_us += other._sum_us
        else:
            self._sum_us = None

    def reset(self) -> None:
        self._h.reset()
        self._sum_us = 0

    def encode(self) -> str:
        """A compact base64 form (HdrHistogram's standard encoding)."""
        return self._h.encode().decode("ascii")  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, data: str | bytes) -> LatencyHistogram:
        """Rebuild from :meth:`encode`; raises ValueError on garbage."""
        hist = cls()
        try:
            hist._h = HdrHistogram.decode(data.encode() if isinstance(data, str) else data)
        except Exception as exc:  # hdrh raises assorted errors on bad input
            raise ValueError(f"not an encoded histogram: {exc}") from None
        hist._sum_us = None
        return hist

    def summary_ms(self) -> dict[str, float]:
        """min/mean/max and the standard percentiles, in milliseconds."""
        out = {"min": self.min() * 1000, "mean": self.mean() * 1000, "max": self.max() * 1000}
        # One pass over the buckets for all percentiles, not one pass each.
        values = self._h.get_percentile_to_value_dict(list(PERCENTILES)) if self.count else {}
        for p in PERCENTILES:
            out[f"p{p:g}"] = values.get(p, 0) / 1000
        return {k: round(v, 3) for k, v in out.items()}


class CallStats:
    """What one client saw of one target: counts, errors by kind, in-flight calls, latencies.

    ``interval`` holds only the calls since the last :meth:`snapshot` with
    ``reset_interval=True``, so a viewer can show current p99 next to the total.
    """

    __slots__ = ("requests", "failures", "active", "errors", "latency", "interval")

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.active = 0
        self.errors: dict[str, int] = {}
        # A client keeps one CallStats per endpoint it has called: at 3 significant
        # figures that is 340 KB each (340 MB for 1,000 instances); at 2 (1 % error)
        # 38 KB. The interval histogram is reset every report, so 32-bit counts do.
        self.latency = LatencyHistogram(_ENDPOINT_SIG_FIGS)
        self.interval = LatencyHistogram(_ENDPOINT_SIG_FIGS, word_size=4)

    def start(self) -> None:
        self.active += 1

    def finish(
        self, latency: float, error_kind: str | None = None, *, failed: bool | None = None
    ) -> None:
        """One call ended after ``latency`` seconds; ``error_kind`` names its error, if any.

        An error is a failure unless ``failed`` says otherwise: a server counts the
        callers' mistakes (NOT_FOUND, HTTP 404) among its errors, not its failures.
        """
        self.active -= 1
        self.requests += 1
        if error_kind is not None:
            self.errors[error_kind] = self.errors.get(error_kind, 0) + 1
        if error_kind is not None if failed is None else failed:
            self.failures += 1
        self.latency.record(latency)
        self.interval.record(latency)

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def snapshot(self, *, reset_interval: bool = False) -> dict[str, Any]:
        """A JSON-ready view; cumulative counters let a viewer derive rates from two snapshots."""
        data: dict[str, Any] = {
            "requests": self.requests,
            "failures": self.failures,
            "error_rate": round(self.error_rate, 6),
            "active": self.active,
            "errors": dict(self.errors),
            "latency_ms": self.latency.summary_ms(),
            "interval": {"requests": self.interval.count, **self.interval.summary_ms()},
        }
        if reset_interval:
            self.interval.reset()
        return data


class MethodStats:
    """What one service instance served, per method (``CallStats`` each, made on first use)."""

    __slots__ = ("methods", "callers")

    MAX_CALLERS = 256
    """Callers counted by name; any more (names come from callers) count as ``other``."""

    def __init__(self) -> None:
        self.methods: dict[str, CallStats] = {}
        self.callers: dict[str, list[int]] = {}  # caller -> [requests, failures]

    def called_by(self, caller: str, failed: bool) -> None:
        """One request from the mesh client named ``caller`` ended."""
        counts = self.callers.get(caller)
        if counts is None:
            if len(self.callers) >= self.MAX_CALLERS:
                caller = "other"
            counts = self.callers.setdefault(caller, [0, 0])
        counts[0] += 1
        counts[1] += failed

    def callers_snapshot(self) -> dict[str, dict[str, int]]:
        """Requests and failures by calling client, since the instance started."""
        return {c: {"requests": n, "failures": f} for c, (n, f) in list(self.callers.items())}

    def of(self, method: str) -> CallStats:
        stats = self.methods.get(method)
        if stats is None:  # not setdefault: a CallStats allocates two histograms
            stats = self.methods[method] = CallStats()
        return stats

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every method's snapshot, starting the next interval."""
        return {
            method: stats.snapshot(reset_interval=True)
            for method, stats in list(self.methods.items())
        }
