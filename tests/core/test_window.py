import pytest

from meshctl.core.window import RollingWindow


def test_counts_and_percentage():
    w = RollingWindow(10.0, 10)
    assert w.error_percentage == 0.0
    for failed in (True, False, False, True):
        w.add(0.5, failed)
    assert (w.requests, w.failures) == (4, 2)
    assert w.error_percentage == 50.0


def test_old_buckets_age_out_one_at_a_time():
    w = RollingWindow(10.0, 10)  # 1 s buckets
    w.add(0.0, True)
    w.add(3.5, False)
    w.rotate(9.99)
    assert (w.requests, w.failures) == (2, 1)
    w.rotate(10.0)  # bucket [0, 1) leaves the window
    assert (w.requests, w.failures) == (1, 0)
    w.rotate(12.99)
    assert w.requests == 1
    w.rotate(13.0)  # and then [3, 4)
    assert w.requests == 0


def test_long_gap_clears_everything():
    w = RollingWindow(1.0, 4)
    for i in range(8):
        w.add(i * 0.1, True)
    w.add(100.0, False)
    assert (w.requests, w.failures) == (1, 0)


def test_reset_and_clock_going_backwards():
    w = RollingWindow(2.0, 2)
    w.add(5.0, True)
    w.add(4.0, True)  # an earlier instant lands in the current bucket
    assert w.failures == 2
    w.reset()
    assert (w.requests, w.failures) == (0, 0)
    w.add(5.0, False)
    assert w.requests == 1


def test_totals_match_a_naive_recount():
    w = RollingWindow(1.0, 5)  # 0.2 s buckets
    events = [(i * 0.07, i % 3 == 0) for i in range(200)]
    for now, failed in events:
        w.add(now, failed)
        # An outcome is in the window while its bucket is one of the last five.
        live = [f for t, f in events if t <= now and int(now // 0.2) - int(t // 0.2) < 5]
        assert w.requests == len(live)
        assert w.failures == sum(live)


@pytest.mark.parametrize(("duration", "buckets"), [(0, 1), (-1, 1), (float("inf"), 1), (1, 0)])
def test_rejects_nonsense(duration, buckets):
    with pytest.raises(ValueError):
        RollingWindow(duration, buckets)
