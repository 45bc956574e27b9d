"""Faults: validation of records and options, scoping, percentages, expiry on the clock."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshctl.core.context import CALLER_HEADER
from meshctl.core.faults import (
    MAX_TTL,
    Fault,
    FaultError,
    Injection,
    Instance,
    ServerFaults,
    applies,
    decide,
    describe,
    fault_from_options,
    header_map,
    parse_fault,
)
from meshctl.testing.clock import T0, FakeClock

ME = Instance("analytics-3f2a9c1d", "0.2.0", "eu-1")


def fault(**changes: Any) -> Fault:
    base = Fault(
        id="f1", service="analytics", created_at=T0, expires_at=T0 + 60, abort="UNAVAILABLE"
    )
    return replace(base, **changes)


class Rolls(random.Random):
    """An rng whose ``random()`` answers the given rolls in turn."""

    def __init__(self, *rolls: float) -> None:
        super().__init__(0)
        self.rolls = list(rolls)

    def random(self) -> float:
        return self.rolls.pop(0)


# -- scoping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "hits"),
    [
        ({}, True),
        ({"method": "ProcessDetections"}, True),
        ({"method": "GenerateReport"}, False),
        ({"instance": "analytics-3f"}, True),
        ({"instance": "analytics-3f2a9c1d"}, True),
        ({"instance": "analytics-9"}, False),
        ({"version": "0.2.0"}, True),
        ({"version": "0.1.0"}, False),
        ({"zone": "eu-1"}, True),
        ({"zone": "us-1"}, False),
        ({"caller": "streaming"}, True),
        ({"caller": "alert"}, False),
        ({"headers": (("x-canary", "1"),)}, True),
        ({"headers": (("x-canary", "2"),)}, False),
        ({"headers": (("x-canary", "1"), ("x-missing", "1"))}, False),
        ({"method": "ProcessDetections", "version": "0.2.0", "caller": "streaming"}, True),
        ({"method": "ProcessDetections", "version": "0.1.0", "caller": "streaming"}, False),
    ],
)
def test_a_fault_applies_only_within_its_scope(scope: dict[str, Any], hits: bool) -> None:
    headers = {CALLER_HEADER: "streaming", "x-canary": "1"}
    assert applies(fault(**scope), "ProcessDetections", ME, headers, T0) is hits


def test_a_scoped_fault_misses_an_instance_that_does_not_say_its_version_or_zone() -> None:
    anonymous = Instance("analytics-1")
    assert not applies(fault(version="0.2.0"), "M", anonymous, {}, T0)
    assert not applies(fault(zone="eu-1"), "M", anonymous, {}, T0)
    assert not applies(fault(caller="streaming"), "M", anonymous, {}, T0)


def test_a_fault_ends_exactly_at_its_expiry() -> None:
    f = fault()
    assert applies(f, "M", ME, {}, T0 + 59.999)
    assert not applies(f, "M", ME, {}, T0 + 60)
    assert not applies(f, "M", ME, {}, T0 + 3600)


@given(
    st.floats(min_value=T0 - 1e6, max_value=T0 + 1e6), st.floats(min_value=0.001, max_value=MAX_TTL)
)
def test_no_fault_applies_at_or_after_its_expiry(now: float, ttl: float) -> None:
    f = fault(expires_at=T0 + ttl)
    assert applies(f, "M", ME, {}, now) is (now < T0 + ttl)


def test_header_names_are_matched_without_case_and_bytes_are_read() -> None:
    headers = header_map([(b"X-Canary", b"1"), ("x-canary", "2"), (CALLER_HEADER, "alert")])
    assert headers == {"x-canary": "1", CALLER_HEADER: "alert"}  # the first of repeats


# -- decisions -------------------------------------------------------------------------


def test_percent_hits_the_rolls_below_it() -> None:
    half = fault(percent=50)
    assert decide([half], "M", ME, {}, T0, Rolls(0.49)) == Injection(0.0, "UNAVAILABLE")
    assert decide([half], "M", ME, {}, T0, Rolls(0.5)) is None


def test_about_half_the_calls_are_hit_at_fifty_percent() -> None:
    rng = random.Random(7)
    hits = sum(decide([fault(percent=50)], "M", ME, {}, T0, rng) is not None for _ in range(10_000))
    assert 4_800 < hits < 5_200


def test_a_full_fault_rolls_nothing() -> None:
    assert decide([fault()], "M", ME, {}, T0, Rolls()) == Injection(0.0, "UNAVAILABLE")


def test_delays_add_up_and_the_first_abort_names_the_status() -> None:
    faults = [
        fault(id="a", abort=None, delay=0.2),
        fault(id="b", abort="503", delay=None),  # an HTTP fault: ServerFaults keeps it apart
        fault(id="c", abort="INTERNAL", delay=0.1),
    ]
    injection = decide(faults, "M", ME, {}, T0, Rolls())
    assert injection is not None and injection.abort == "503"
    assert injection.delay == pytest.approx(0.3)


def test_jitter_varies_the_delay_within_its_bounds() -> None:
    rng = random.Random(3)
    f = fault(abort=None, delay=0.2, jitter=0.05)
    delays = [decide([f], "M", ME, {}, T0, rng).delay for _ in range(1000)]  # type: ignore[union-attr]
    assert 0.15 <= min(delays) < 0.16 and 0.24 < max(delays) <= 0.25


def test_faults_out_of_scope_or_expired_leave_a_call_alone() -> None:
    faults = [fault(method="Other"), fault(expires_at=T0 + 1)]
    assert decide(faults, "M", ME, {}, T0 + 1, Rolls()) is None


def test_server_faults_keep_their_service_and_kind_and_expire_on_the_clock() -> None:
    clock = FakeClock()
    server = ServerFaults("analytics", "grpc", clock=clock, rng=Rolls())
    assert not server.faults and server.decide("M", {}) is None
    server.instance = ME
    server.load(
        {
            "analytics": (fault(id="g"), fault(id="h", abort="503")),
            "auth": (fault(id="other", service="auth"),),
        }
    )
    assert [f.id for f in server.faults] == ["g"]  # HTTP codes are not for a gRPC server
    assert server.decide("M", {}) == Injection(0.0, "UNAVAILABLE")
    clock.advance(60)
    assert server.decide("M", {}) is None  # expired, though still loaded

    http = ServerFaults("auth", "http", clock=clock)
    http.load({"auth": (fault(id="x", abort="UNAVAILABLE"), fault(id="y", abort="503"),
                        fault(id="z", abort=None, delay=0.1))})  # fmt: skip
    assert [f.id for f in http.faults] == ["y", "z"]


# -- records and options ---------------------------------------------------------------


def test_a_record_reads_back_as_the_same_fault() -> None:
    f = fault(delay=0.2, jitter=0.05, percent=20, method="M", instance="analytics-3",
              version="0.2.0", zone="eu-1", caller="streaming",
              headers=(("x-a", "1"),))  # fmt: skip
    assert parse_fault(f.record()) == f
    assert parse_fault(fault().record()) == fault()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"abort": None}, "needs a delay, an abort or both"),
        ({"percent": 0}, "percent must be more than 0"),
        ({"percent": 101}, "percent must be more than 0"),
        ({"percent": "50"}, "percent must be a number"),
        ({"abort": "SLOW"}, "unknown abort code 'SLOW'"),
        ({"abort": "302"}, "an HTTP code must be 4xx or 5xx"),
        ({"abort": "OK"}, "unknown abort code 'OK'"),
        ({"delay": -1}, "delay must be a number of seconds"),
        ({"delay": 0.1, "jitter": 0.2}, "jitter must not exceed the delay"),
        ({"expires_at": T0}, "must expire after it is made"),
        ({"expires_at": T0 + MAX_TTL + 1}, "within 24h"),
        ({"created_at": "yesterday"}, "created_at must be a number"),
        ({"id": ""}, "id must be a non-empty string"),
        ({"service": None}, "service must be a non-empty string"),
        ({"method": 7}, "method must be a non-empty string"),
        ({"headers": ["x"]}, "headers must be an object"),
        ({"headers": {"x-a": 1}}, "headers.x-a must be a non-empty string"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_a_bad_record_is_refused_naming_the_part(change: dict[str, Any], message: str) -> None:
    record = {**fault().record(), **change}
    with pytest.raises(FaultError, match=message):
        parse_fault(record)


@pytest.mark.parametrize("record", [None, [], "fault", 7])
def test_a_record_must_be_an_object(record: Any) -> None:
    with pytest.raises(FaultError, match="must be a JSON object"):
        parse_fault(record)


def test_options_make_a_fault_lasting_its_ttl() -> None:
    f = fault_from_options(
        "analytics", now=T0, ttl="2m", delay="200ms", jitter="50ms", abort="unavailable",
        percent=20, headers=["X-Canary=1"], method="ProcessDetections", version="0.2.0",
        instance="", caller=None,
    )  # fmt: skip
    assert (f.expires_at, f.delay, f.jitter, f.abort, f.percent) == (T0 + 120, 0.2, 0.05,
                                                                     "UNAVAILABLE", 20)  # fmt: skip
    assert (f.method, f.version, f.instance, f.headers) == (
        "ProcessDetections", "0.2.0", None, (("x-canary", "1"),),
    )  # fmt: skip
    assert len(f.id) == 8
    assert fault_from_options("auth", now=T0, abort="503").expires_at == T0 + 300  # default 5m
    assert describe(f) == (
        "method=ProcessDetections version=0.2.0 x-canary=1",
        "delay 200ms±50ms, abort UNAVAILABLE on 20%",
    )
    assert describe(fault()) == ("every call", "abort UNAVAILABLE on 100%")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs a delay, an abort or both"),
        ({"abort": "NOPE"}, "unknown abort code 'NOPE'"),
        ({"abort": "200"}, "an HTTP code must be 4xx or 5xx"),
        ({"delay": "fast"}, "--delay: invalid duration 'fast'"),
        ({"delay": "1s", "jitter": "2s"}, "jitter must not exceed the delay"),
        ({"jitter": "1s", "abort": "INTERNAL"}, "--jitter needs --delay"),
        ({"abort": "INTERNAL", "ttl": "0s"}, "--for 0s: a fault lasts more than 0s"),
        ({"abort": "INTERNAL", "ttl": "25h"}, "at most 24h"),
        ({"abort": "INTERNAL", "ttl": "soon"}, "--for: invalid duration"),
        ({"abort": "INTERNAL", "percent": 0}, "percent must be more than 0"),
        ({"abort": "INTERNAL", "percent": 150}, "at most 100"),
        ({"abort": "INTERNAL", "percent": float("nan")}, "percent must be"),
        ({"abort": "INTERNAL", "headers": ["x-canary"]}, "invalid header 'x-canary'"),
        ({"abort": "INTERNAL", "headers": ["=1"]}, "invalid header '=1'"),
    ],
)
def test_bad_options_are_refused_naming_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        fault_from_options("analytics", now=T0, **options)
