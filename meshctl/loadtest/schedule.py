"""Durations and open-loop send schedules: when each request is meant to go out.

A schedule maps elapsed seconds to a request rate and answers the inverse
question the generator asks: at what offset is request ``n`` due. Syntax:

    30s, 500ms, 2m, 1h, 1.5s     durations (a bare number is seconds)
    --rps 500                    constant 500 requests/s
    --ramp 100:1000:30s          linear 100 → 1000 rps over 30 s, then hold 1000
    --ramp step:100,200,400@10s  100 rps for 10 s, then 200, then 400 (held)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from meshctl.core import units
from meshctl.errors import InvalidRequestError


def parse_duration(text: str) -> float:
    """Seconds from ``30s``, ``500ms``, ``2m``, ``1h`` or a bare number of seconds."""
    try:
        return units.parse_duration(text)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None


def _positive_rate(text: str, spec: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not rate > 0 or math.isinf(rate):
        raise InvalidRequestError(f"invalid rate {text!r} in {spec!r}: expected a positive number")
    return rate


@dataclass(frozen=True, slots=True)
class Schedule:
    """Piecewise-linear rate over time: ``points`` are (seconds, rps), the last rate held.

    Rates between two points change linearly; a step is two points at the same time.
    """

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not self.points or self.points[0][0] != 0:
            raise ValueError("a schedule starts at time 0")
        times = [t for t, _ in self.points]
        if times != sorted(times) or any(r < 0 for _, r in self.points):
            raise ValueError("schedule times must not decrease and rates must not be negative")
        if self.points[-1][1] <= 0:
            raise ValueError("a schedule must end on a positive rate")

    @classmethod
    def constant(cls, rps: float) -> Schedule:
        return cls(((0.0, rps),))

    def rate_at(self, t: float) -> float:
        """Requests per second at ``t`` seconds."""
        prev_t, prev_r = self.points[0]
        for time, rate in self.points[1:]:
            if t < time:
                return prev_r + (rate - prev_r) * (t - prev_t) / (time - prev_t)
            prev_t, prev_r = time, rate
        return prev_r

    def count_by(self, t: float) -> float:
        """Requests due in ``[0, t)``: the integral of the rate."""
        total = 0.0
        prev_t, prev_r = self.points[0]
        for time, rate in self.points[1:]:
            end = min(t, time)
            if end > prev_t:
                end_rate = prev_r + (rate - prev_r) * (end - prev_t) / (time - prev_t)
                total += (end - prev_t) * (prev_r + end_rate) / 2
            if t <= time:
                return total
            prev_t, prev_r = time, rate
        return total + max(t - prev_t, 0.0) * prev_r

    def offsets(
        self, duration: float, *, limit: int | None = None, start: int = 0, stride: int = 1
    ) -> Iterator[float]:
        """Intended send offsets (seconds) of requests ``start, start+stride, ...``.

        Request ``n`` is due when ``n`` requests' worth of rate has elapsed, so
        ``stride`` workers taking every ``stride``-th request share one schedule.
        """
        segments = self._segments()
        index, n = 0, start
        while limit is None or n < limit:
            while index + 1 < len(segments) and n >= segments[index + 1][1]:
                index += 1
            offset = _solve(segments[index], n)
            if offset >= duration:
                return
            yield offset
            n += stride

    def _segments(self) -> list[tuple[float, float, float, float]]:
        """Per piece: (start time, requests due before it, start rate, slope)."""
        out: list[tuple[float, float, float, float]] = []
        pieces = [*self.points, (math.inf, self.points[-1][1])]
        for (t0, r0), (t1, r1) in zip(pieces, pieces[1:], strict=False):
            if t1 == t0:
                continue  # a step: zero-length piece
            slope = 0.0 if math.isinf(t1) else (r1 - r0) / (t1 - t0)
            out.append((t0, self.count_by(t0), r0, slope))
        return out


def _solve(segment: tuple[float, float, float, float], n: float) -> float:
    """The time at which request ``n`` falls due within one linear piece."""
    t0, due, rate, slope = segment
    need = n - due  # requests to go within this piece: rate*x + slope*x²/2 = need
    if need <= 0:
        return t0
    if slope == 0:
        return t0 + need / rate if rate > 0 else math.inf
    disc = rate * rate + 2 * slope * need
    if disc < 0:
        return math.inf  # a falling rate that reaches zero before request n
    return t0 + (math.sqrt(disc) - rate) / slope


def parse_ramp(spec: str) -> Schedule:
    """A schedule from ``FROM:TO:OVER`` (linear) or ``step:R1,R2,...@EVERY``."""
    text = spec.strip()
    if text.startswith("step:"):
        rates_text, sep, every_text = text[5:].partition("@")
        if not sep:
            raise InvalidRequestError(f"invalid ramp {spec!r}: expected step:R1,R2,...@DURATION")
        every = parse_duration(every_text)
        rates = [_positive_rate(r.strip(), spec) for r in rates_text.split(",")]
        if every <= 0:
            raise InvalidRequestError(f"invalid ramp {spec!r}: the step must be longer than 0")
        points: list[tuple[float, float]] = [(0.0, rates[0])]
        for i, rate in enumerate(rates[1:], start=1):
            points += [(i * every, rates[i - 1]), (i * every, rate)]
        return Schedule(tuple(points))
    parts = text.split(":")
    if len(parts) != 3:
        raise InvalidRequestError(
            f"invalid ramp {spec!r}: expected FROM:TO:DURATION (e.g. 100:1000:30s) "
            "or step:R1,R2,...@DURATION"
        )
    low, high = _positive_rate(parts[0], spec), _positive_rate(parts[1], spec)
    over = parse_duration(parts[2])
    if over <= 0:
        return Schedule.constant(high)
    return Schedule(((0.0, low), (over, high)))
