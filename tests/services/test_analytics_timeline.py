"""Timeline against a plain list of everything offered: same answers from complete_from on."""

from __future__ import annotations

import math

from hypothesis import example, given
from hypothesis import strategies as st

from meshctl.services.analytics.timeline import Timeline

CAMERAS = ["a", "b", "c"]
TIMES = st.integers(0, 40).map(lambda t: t / 4)  # few distinct times: many ties

add = st.tuples(st.just("add"), st.sampled_from(CAMERAS), TIMES, TIMES)
drop_before = st.tuples(st.just("drop_before"), TIMES)
trim = st.tuples(st.just("trim"), st.integers(0, 12))
operations = st.lists(st.one_of(add, add, add, drop_before, trim), max_size=60)
queries = st.tuples(st.lists(st.sampled_from(CAMERAS), max_size=4), TIMES, TIMES)


@given(operations, st.lists(queries, min_size=1, max_size=8))
@example([("add", "a", 0.0, 0.0), ("add", "b", 0.0, 0.25)], [([], 0.0, 1.0)])  # a tie refused
def test_reads_match_the_offered_items_from_complete_from_on(ops, reads) -> None:
    timeline: Timeline[str] = Timeline()
    offered: list[tuple[tuple[float, int], str, str]] = []  # key, camera, item
    for n, op in enumerate(ops):
        if op[0] == "add":
            _, camera, time, floor = op
            key = (time, n)
            offered.append((key, camera, f"{camera}{n}"))
            timeline.add(camera, key, f"{camera}{n}", floor)
        elif op[0] == "drop_before":
            timeline.drop_before(op[1])
        else:
            timeline.trim(op[1])
            assert len(timeline) <= op[1]
        complete = [o for o in offered if o[0][0] >= timeline.complete_from]
        assert len(timeline) == len(complete)  # all of them held, nothing older

    for cameras, start, end in reads:
        expected = [item for key, camera, item in sorted(offered)
                    if start <= key[0] < end and (not cameras or camera in cameras)]  # fmt: skip
        items, newest = timeline.items(cameras, start, end), timeline.newest(cameras, start, end)
        if start < timeline.complete_from:
            assert items is None and newest is None
            continue
        assert items == expected
        assert newest is not None and list(newest) == expected[::-1]


def test_a_refused_or_dropped_item_raises_complete_from_just_above_it() -> None:
    timeline: Timeline[str] = Timeline()
    assert not timeline.add("a", (5.0, 1), "old", floor=6.0)
    assert timeline.complete_from == math.nextafter(5.0, math.inf)
    assert timeline.add("a", (7.0, 2), "x") and timeline.add("b", (7.0, 3), "y")
    timeline.trim(1)  # both items of time 7 go: a time is held whole or not at all
    assert len(timeline) == 0 and timeline.complete_from == math.nextafter(7.0, math.inf)
    assert timeline.items([], 7.0, 9.0) is None and timeline.items(["a"], 7.5, 9.0) == []
