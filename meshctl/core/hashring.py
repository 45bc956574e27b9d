"""Consistent hashing: a ring of weighted virtual nodes, walked clockwise from a key.

Each node owns ``round(virtual_nodes * weight)`` points on the ring (at least
one, at most ``MAX_POINTS_PER_NODE``). A key belongs to the node owning the first
point at or after the key's hash. Point positions depend only on the node's id
and weight, never on the other nodes or their order, so every process builds the same ring
from the same set, and removing one of n nodes moves only the keys it owned
(about 1/n of them) to its ring neighbours.
"""

from __future__ import annotations

import hashlib
import math
import struct
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence

DEFAULT_VIRTUAL_NODES = 100
MAX_POINTS_PER_NODE = 10_000

# Ring positions are floats in [1, 2): CPython sorts floats several times faster
# than 64-bit ints, which is most of the cost of building a large ring. A point's
# 52-bit mantissa holds 32 bits of hash above 20 bits of its node's rank, so the
# ring needs no separate owner list and equal positions break ties by node id.
_RANK_BITS = 20
_RANK_MASK = (1 << _RANK_BITS) - 1
MAX_NODES = 1 << _RANK_BITS
_MANTISSA_SCALE = float(1 << 52)
_KEY_SCALE = 2.0**-32  # a 32-bit key hash lands on the rank-free top of the mantissa
_EXPONENT_LOW = bytes(0xF0 | (b & 0x0F) for b in range(256))
_RANK_HIGH = [bytes((b & 0xF0) | nibble for b in range(256)) for nibble in range(16)]


def key_position(key: str) -> float:
    """The ring position of ``key`` (stable across processes)."""
    # 32 bits of hash above zero rank bits: a key sorts before every point of its slot.
    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return 1.0 + int.from_bytes(digest, "little") * _KEY_SCALE


def _node_points(node_id: str, rank: int, count: int) -> tuple[float, ...]:
    """``count`` pseudo-random points for one node, built from one hash call by byte slicing."""
    raw = bytearray(hashlib.shake_128(node_id.encode()).digest(8 * count))
    # Little-endian IEEE 754 doubles: sign 0 and exponent 0x3FF put each in [1, 2).
    raw[7::8] = b"\x3f" * count
    raw[6::8] = raw[6::8].translate(_EXPONENT_LOW)
    raw[0::8] = bytes((rank & 0xFF,)) * count
    raw[1::8] = bytes(((rank >> 8) & 0xFF,)) * count
    raw[2::8] = raw[2::8].translate(_RANK_HIGH[rank >> 16])
    return struct.unpack(f"<{count}d", raw)


def _rank(point: float) -> int:
    return int((point - 1.0) * _MANTISSA_SCALE) & _RANK_MASK


class HashRing:
    """An immutable ring over nodes given by id and weight; nodes are named by index."""

    __slots__ = ("_points", "_by_rank", "_node_count")

    def __init__(
        self,
        node_ids: Sequence[str],
        weights: Sequence[float],
        virtual_nodes: int = DEFAULT_VIRTUAL_NODES,
    ) -> None:
        """Build the ring.

        Args:
            node_ids: a stable, unique id per node.
            weights: each node's share of the ring, relative to 1.0 (finite, > 0).
            virtual_nodes: points a node of weight 1.0 gets.
        """
        if len(node_ids) != len(weights):
            raise ValueError("node_ids and weights must have the same length")
        if len(node_ids) > MAX_NODES:
            raise ValueError(f"a ring holds at most {MAX_NODES} nodes")
        if virtual_nodes < 1:
            raise ValueError(f"virtual_nodes must be >= 1, not {virtual_nodes}")
        for weight in weights:
            if not 0.0 < weight < math.inf:
                raise ValueError(f"node weights must be finite and > 0, not {weight}")
        by_id = sorted(range(len(node_ids)), key=node_ids.__getitem__)
        points: list[float] = []
        for rank, index in enumerate(by_id):
            count = min(MAX_POINTS_PER_NODE, max(1, round(virtual_nodes * weights[index])))
            points.extend(_node_points(node_ids[index], rank, count))
        points.sort()
        # A flat array of doubles: lookups on a large ring stay in cache, unlike float objects.
        self._points = array("d", points)
        self._by_rank = by_id
        self._node_count = len(node_ids)

    @property
    def point_count(self) -> int:
        return len(self._points)

    def walk(self, position: float) -> Iterator[int]:
        """Yield each node index once, clockwise from ``position`` (see ``key_position``)."""
        points, by_rank = self._points, self._by_rank
        size = len(points)
        if not size:
            return
        start = bisect_left(points, position)
        first = by_rank[_rank(points[start % size])]
        yield first
        seen = {first}
        for i in range(start + 1, start + size):
            owner = by_rank[_rank(points[i % size])]
            if owner not in seen:
                yield owner
                seen.add(owner)
                if len(seen) == self._node_count:
                    return
