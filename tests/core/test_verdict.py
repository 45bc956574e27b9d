"""The service breaker's rule: a failure counts only when no sibling answers."""

import itertools

import pytest

from meshctl.core.verdict import SiblingLedger

WINDOW = 10.0


def test_a_service_with_one_instance_owns_its_failures():
    ledger = SiblingLedger(WINDOW)
    assert ledger.service_failure({"a"}, now=0.0)  # nobody ever answered
    ledger.answered("a", now=1.0)
    assert ledger.service_failure({"a"}, now=2.0)  # its own earlier answer is no sibling's


def test_a_failure_confined_to_one_endpoint_is_not_the_services_while_a_sibling_answers():
    ledger = SiblingLedger(WINDOW)
    ledger.answered("b", now=0.0)
    assert not ledger.service_failure({"a"}, now=WINDOW)  # b answered within the window
    assert ledger.service_failure({"a"}, now=WINDOW + 0.001)  # too long ago
    assert ledger.service_failure({"a", "b"}, now=1.0)  # the call failed on b too


def test_only_the_newest_answers_are_read_and_forgotten_endpoints_do_not_count():
    ledger = SiblingLedger(WINDOW)
    ledger.answered("b", now=0.0)
    ledger.answered("c", now=5.0)
    ledger.answered("b", now=6.0)  # b answered again: it moves to the newest end
    assert not ledger.service_failure({"a", "c"}, now=15.0)  # b at 6 is in the window
    assert ledger.service_failure({"a", "b"}, now=15.5)  # c at 5 is not
    ledger.forget("b")
    assert ledger.service_failure({"a"}, now=15.5)
    assert len(ledger) == 1


@pytest.mark.parametrize("bad", [0, -1.0])
def test_the_window_must_be_positive(bad):
    with pytest.raises(ValueError, match="window"):
        SiblingLedger(bad)


def test_exhaustively_against_the_definition():
    # Every history of answers by three endpoints at four times, every failed set and moment.
    ids = ("a", "b", "c")
    times = (0.0, 4.0, 8.0, 12.0)
    histories = itertools.product([None, *times], repeat=len(ids))
    failed_sets = [set(c) for n in range(len(ids) + 1) for c in itertools.combinations(ids, n)]
    for history in histories:
        ledger = SiblingLedger(WINDOW)
        last: dict[str, float] = {}
        for at, instance in sorted(
            (t, i) for i, t in zip(ids, history, strict=True) if t is not None
        ):
            ledger.answered(instance, at)
            last[instance] = at
        for failed, now in itertools.product(failed_sets, (12.0, 16.0, 25.0)):
            sibling_answered = any(i not in failed and now - WINDOW <= t for i, t in last.items())
            assert ledger.service_failure(failed, now) is not sibling_answered, (
                history,
                failed,
                now,
            )
