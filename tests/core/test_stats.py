import json

import pytest

from meshctl.core.stats import CallStats, LatencyHistogram, MethodStats


def test_percentiles_of_known_distribution():
    hist = LatencyHistogram()
    for ms in range(1, 1001):  # 1 ms .. 1000 ms
        hist.record(ms / 1000)
    assert hist.count == 1000
    assert hist.percentile(50) == pytest.approx(0.5, rel=0.002)
    assert hist.percentile(99) == pytest.approx(0.99, rel=0.002)
    assert hist.min() == pytest.approx(0.001, rel=0.002)
    assert hist.max() == pytest.approx(1.0, rel=0.002)


def test_empty_histogram_reports_zeros():
    assert LatencyHistogram().summary_ms()["p99"] == 0.0


def test_encode_decode_merge():
    a, b = LatencyHistogram(), LatencyHistogram()
    for _ in range(90):
        a.record(0.001)
    for _ in range(10):
        b.record(0.1)
    merged = LatencyHistogram.decode(a.encode())
    merged.merge(LatencyHistogram.decode(b.encode()))
    assert merged.count == 100
    assert merged.percentile(50) == pytest.approx(0.001, rel=0.002)
    assert merged.percentile(95) == pytest.approx(0.1, rel=0.002)


def test_decode_garbage_raises_value_error():
    with pytest.raises(ValueError):
        LatencyHistogram.decode("definitely not a histogram")


def test_corrected_recording_backfills_a_stall():
    hist = LatencyHistogram()
    hist.record_corrected(1.0, expected_interval=0.1)  # one 1 s stall at 10 req/s
    assert hist.count == 10
    assert hist.percentile(50) == pytest.approx(0.5, rel=0.25)


def test_call_stats_counts_and_interval_reset():
    stats = CallStats()
    for i in range(10):
        stats.start()
        stats.finish(0.002, "UNAVAILABLE" if i % 5 == 0 else None)
    snap = stats.snapshot(reset_interval=True)
    json.dumps(snap)
    assert snap["requests"] == 10 and snap["failures"] == 2 and snap["active"] == 0
    assert snap["errors"] == {"UNAVAILABLE": 2}
    assert snap["error_rate"] == 0.2
    assert snap["interval"]["requests"] == 10
    assert stats.snapshot()["interval"]["requests"] == 0
    assert stats.snapshot()["requests"] == 10


def test_an_error_that_is_no_failure_is_counted_apart():
    stats = CallStats()
    for kind, failed in (("NOT_FOUND", False), ("INTERNAL", True), (None, None)):
        stats.start()
        stats.finish(0.001, kind, failed=failed)
    snap = stats.snapshot()
    assert snap["errors"] == {"NOT_FOUND": 1, "INTERNAL": 1}
    assert snap["requests"] == 3 and snap["failures"] == 1


def test_method_stats_keep_one_call_stats_per_method_and_reset_intervals():
    served = MethodStats()
    served.of("Get").start()
    served.of("Get").finish(0.001)
    served.of("Put").start()
    assert served.of("Get") is served.methods["Get"]
    first = served.snapshot()
    assert first["Get"]["requests"] == 1 and first["Get"]["interval"]["requests"] == 1
    assert first["Put"]["active"] == 1 and first["Put"]["requests"] == 0
    assert served.snapshot()["Get"]["interval"]["requests"] == 0


def test_requests_are_counted_by_calling_client_up_to_a_bound():
    served = MethodStats()
    served.called_by("meshctl-workflow", failed=False)
    served.called_by("meshctl-workflow", failed=True)
    served.called_by("streaming", failed=False)
    assert served.callers_snapshot() == {
        "meshctl-workflow": {"requests": 2, "failures": 1},
        "streaming": {"requests": 1, "failures": 0},
    }
    for i in range(MethodStats.MAX_CALLERS):  # names come from callers: they must not grow it
        served.called_by(f"client-{i}", failed=False)
    assert len(served.callers) == MethodStats.MAX_CALLERS + 1
    assert served.callers_snapshot()["other"]["requests"] == 2  # 254 fitted, 2 did not
