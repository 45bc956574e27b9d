"""The bounded memory of handled events that lets a subscription skip redeliveries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshctl.events.dedupe import RecentEvents, event_key


def test_the_key_is_source_and_id_together() -> None:
    assert event_key("svc-a", "1") == event_key("svc-a", "1")
    assert event_key("svc-a", "1") != event_key("svc-b", "1")
    assert event_key("a", "b\0c") != event_key("a\0b", "c")
    assert len(event_key("s", "i")) == 16


def test_the_oldest_is_forgotten_once_the_window_is_full() -> None:
    recent = RecentEvents(size=3)
    for key in (b"a", b"b", b"c", b"b"):  # b again: no new entry
        recent.add(key)
    assert len(recent) == 3 and b"a" in recent
    recent.add(b"d")
    assert b"a" not in recent and all(k in recent for k in (b"b", b"c", b"d"))
    assert len(recent) == 3


def test_a_window_must_hold_something() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RecentEvents(size=0)


@given(st.lists(st.integers(0, 20)), st.integers(1, 8))
def test_it_remembers_exactly_the_last_distinct_keys(values: list[int], size: int) -> None:
    recent = RecentEvents(size)
    first_seen: list[int] = []
    for value in values:
        recent.add(bytes([value]))
        if value not in first_seen[-size:]:
            first_seen.append(value)
    assert {v for v in range(21) if bytes([v]) in recent} == set(first_seen[-size:])
    assert len(recent) == len(first_seen[-size:])
