import math
import random
from collections import Counter

import pytest

from meshctl.core.hashring import HashRing, key_position

KEYS = [f"camera-{i}" for i in range(20_000)]


def owners(ring: HashRing, ids: list[str]) -> dict[str, str]:
    return {key: ids[next(ring.walk(key_position(key)))] for key in KEYS}


def test_key_position_is_stable_and_on_the_ring():
    assert key_position("camera-7") == key_position("camera-7")
    assert key_position("camera-7") != key_position("camera-8")
    assert all(1.0 <= key_position(k) < 2.0 for k in KEYS[:1000])


def test_ring_does_not_depend_on_node_order():
    ids = [f"node-{i}" for i in range(12)]
    shuffled = ids[:]
    random.Random(3).shuffle(shuffled)
    assert owners(HashRing(ids, [1.0] * 12), ids) == owners(
        HashRing(shuffled, [1.0] * 12), shuffled
    )


def test_walk_yields_every_node_once():
    ids = [f"node-{i}" for i in range(7)]
    ring = HashRing(ids, [1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0], virtual_nodes=20)
    for key in KEYS[:50]:
        walked = list(ring.walk(key_position(key)))
        assert sorted(walked) == list(range(7))


def test_removing_one_of_n_moves_only_its_keys():
    ids = [f"node-{i}" for i in range(10)]
    before = owners(HashRing(ids, [1.0] * 10), ids)
    rest = ids[:4] + ids[5:]
    after = owners(HashRing(rest, [1.0] * 9), rest)
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == "node-4"}
    assert 0.06 < len(moved) / len(KEYS) < 0.14


def test_adding_a_node_takes_keys_only_for_itself():
    ids = [f"node-{i}" for i in range(8)]
    before = owners(HashRing(ids, [1.0] * 8), ids)
    grown = [*ids, "node-new"]
    after = owners(HashRing(grown, [1.0] * 9), grown)
    moved = [k for k in KEYS if before[k] != after[k]]
    assert {after[k] for k in moved} == {"node-new"}
    assert 0.07 < len(moved) / len(KEYS) < 0.16


def test_weight_sets_the_share_of_keys():
    ids = ["heavy", "a", "b", "c", "d"]
    ring = HashRing(ids, [3.0, 1.0, 1.0, 1.0, 1.0], virtual_nodes=200)
    assert ring.point_count == 600 + 4 * 200
    share = Counter(owners(ring, ids).values())
    assert share["heavy"] / len(KEYS) == pytest.approx(3 / 7, abs=0.06)


def test_tiny_weight_still_gets_a_point():
    ring = HashRing(["a", "b"], [1.0, 0.0001], virtual_nodes=10)
    assert ring.point_count == 11


def test_empty_ring_walks_nothing():
    assert list(HashRing([], []).walk(1.5)) == []


@pytest.mark.parametrize(
    ("ids", "weights", "virtual_nodes"),
    [
        (["a"], [1.0, 2.0], 10),
        (["a"], [0.0], 10),
        (["a"], [math.nan], 10),
        (["a"], [math.inf], 10),
        (["a"], [1.0], 0),
    ],
)
def test_bad_input_is_a_value_error(ids, weights, virtual_nodes):
    with pytest.raises(ValueError):
        HashRing(ids, weights, virtual_nodes)
