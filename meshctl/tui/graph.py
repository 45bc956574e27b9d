"""The topology drawn as a layered graph in text: callers left, callees right (pure).

A small Sugiyama layout:

1. ``layers``: every edge is oriented by the nodes' given order (callers first,
   see ``model.flow_order``), so a cycle cannot make layering loop; a node's
   layer is one more than its furthest caller's, and a node nobody calls (a
   CLI client, a service with no edges) is in layer 0. An edge against that
   order (a cycle's back edge) is drawn the other way with its arrow at the
   left end. A service calling itself is not drawn.
2. Consecutive layers that fit ``width`` form a band; bands stack top to
   bottom, and a band repeats, dimmed, the callers from earlier bands whose
   edges end in it. Lines still too wide (one layer wider than ``width``)
   are cut, so no line is longer than ``width``.
3. In a band an edge spanning several layers passes each layer between on a
   one-row waypoint; a layer's nodes are ordered by the mean row of their
   callers, and a node lines up with its first caller when there is room.
4. Each edge leaves its caller on a row of its own, turns in a column of its
   own in the gap and enters its callee on a row of its own after its label:
   lines cross (┼) but never merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.text import Span, Text

#: Widest text inside a box; longer names are cut with "…".
MAX_INNER = 22
N, E, S, W = 1, 2, 4, 8
LINES = {
    E | W: "─", N | S: "│", E | S: "┌", S | W: "┐", N | E: "└", N | W: "┘",
    N | E | S: "├", N | S | W: "┤", E | S | W: "┬", N | E | W: "┴", N | E | S | W: "┼",
    E: "─", W: "─", N: "│", S: "│",
}  # fmt: skip
BOX = tuple("┌┐└┘─│")
SELECTED_BOX = tuple("╔╗╚╝═║")


@dataclass(frozen=True, slots=True)
class Node:
    """A box: ``lines`` inside (the first bold), border and first line in ``style``."""

    key: str
    lines: tuple[str, ...]
    style: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    """An edge from ``caller`` to ``callee``, its ``label`` written before the arrow."""

    caller: str
    callee: str
    label: str
    style: str = ""

    @property
    def key(self) -> str:
        return link_key(self.caller, self.callee)


def link_key(caller: str, callee: str) -> str:
    return f"{caller}→{callee}"


@dataclass(frozen=True, slots=True)
class Drawing:
    """The drawn graph and the line each node and edge is drawn on (to scroll to it)."""

    text: Text
    rows: dict[str, int]


def layers(keys: Sequence[str], links: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Each node's layer: one more than its furthest caller's, edges oriented by ``keys``."""
    rank = {k: i for i, k in enumerate(keys)}
    oriented = {_oriented(a, b, rank) for a, b in links if a != b and a in rank and b in rank}
    layer = dict.fromkeys(keys, 0)
    for u, v in sorted(oriented, key=lambda e: rank[e[0]]):  # a source is settled first
        layer[v] = max(layer[v], layer[u] + 1)
    return layer


def _oriented(a: str, b: str, rank: dict[str, int]) -> tuple[str, str]:
    return (a, b) if rank[a] < rank[b] else (b, a)


# -- one band's layout ------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Slot:
    """A node's box, or a one-row waypoint of ``link`` in a layer it passes."""

    key: str
    node: Node | None
    ghost: bool = False
    ins: list[_Hop] = field(default_factory=list)
    outs: list[_Hop] = field(default_factory=list)
    top: int = 0
    order: float = 0.0

    @property
    def height(self) -> int:
        if self.node is None:
            return 1
        return max(len(self.node.lines), len(self.ins), len(self.outs), 1) + 2

    def port(self, hop: _Hop) -> int:
        """The row ``hop`` leaves or enters this slot on."""
        if self.node is None:
            return self.top
        side = self.ins if hop.dst is self else self.outs
        return self.top + 1 + side.index(hop)


@dataclass(eq=False, slots=True)
class _Hop:
    """One edge's way between two adjacent columns; ``last`` ends at its callee."""

    src: _Slot
    dst: _Slot
    link: Link
    first: bool
    last: bool
    backwards: bool


@dataclass(slots=True)
class _Band:
    columns: list[list[_Slot]]
    hops: list[_Hop]
    xs: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.xs[-1] + self.widths[-1] if self.xs else 0

    @property
    def height(self) -> int:
        return max((s.top + s.height for col in self.columns for s in col), default=0)

    def gap(self, column: int) -> list[_Hop]:
        """The hops between ``column`` and the next, in channel order."""
        return _channel_order([h for h in self.hops if h.src in self.columns[column]])


def _band(
    nodes: dict[str, Node],
    links: Sequence[Link],
    layer: dict[str, int],
    rank: dict[str, int],
    first: int,
    last: int,
) -> _Band:
    """The layout of layers ``first`` to ``last``, with ghosts of earlier callers."""
    inside = [k for k in nodes if first <= layer[k] <= last]
    edges = []
    for link in links:
        if link.caller == link.callee or link.caller not in rank or link.callee not in rank:
            continue
        u, v = _oriented(link.caller, link.callee, rank)
        if first <= layer[v] <= last:
            edges.append((u, v, link))
    ghosts = sorted({u for u, _, _ in edges if layer[u] < first}, key=rank.__getitem__)
    offset = 1 if ghosts else 0
    columns: list[list[_Slot]] = [[] for _ in range(last - first + 1 + offset)]
    slots: dict[str, _Slot] = {}
    for key in ghosts:  # only its name: it is drawn in full in an earlier band
        slots[key] = _Slot(key, Node(key, nodes[key].lines[:1]), ghost=True)
        columns[0].append(slots[key])
    for key in inside:
        slots[key] = _Slot(key, nodes[key])
        columns[layer[key] - first + offset].append(slots[key])
    hops: list[_Hop] = []
    for u, v, link in edges:
        start = 0 if layer[u] < first else layer[u] - first + offset
        src = slots[u]
        for column in range(start + 1, layer[v] - first + offset + 1):
            last_hop = column == layer[v] - first + offset
            dst = slots[v] if last_hop else _Slot(link.key, None)
            if not last_hop:
                columns[column].append(dst)
            hop = _Hop(src, dst, link, src is slots[u], last_hop, u != link.caller)
            src.outs.append(hop)
            dst.ins.append(hop)
            hops.append(hop)
            src = dst
    band = _Band(columns, hops)
    _place(band)
    return band


def _place(band: _Band) -> None:
    """Order each column by its callers' mean row, then give every slot its rows and x."""
    for column in band.columns:
        for index, slot in enumerate(column):
            callers = [h.src.order for h in slot.ins]
            slot.order = sum(callers) / len(callers) if callers else float(index)
        column.sort(key=lambda s: s.order)
        for index, slot in enumerate(column):
            slot.order = float(index)
    for column in band.columns:
        for slot in column:
            slot.outs.sort(key=lambda h: (h.dst.order, h.link.key))
    for column in band.columns:
        y = 0
        for slot in column:
            slot.ins.sort(key=lambda h: (h.src.port(h), h.link.key))
            if slot.ins:  # in line with its first caller when there is room
                y = max(y, slot.ins[0].src.port(slot.ins[0]) - (0 if slot.node is None else 1))
            slot.top = y
            y += slot.height + 1
    x = 0
    for column in band.columns:
        width = max((_box_width(s.node) for s in column if s.node is not None), default=3)
        band.xs.append(x)
        band.widths.append(width)
        hops = [h for h in band.hops if h.src in column]
        labels = max((len(_label(h)) for h in hops if h.last), default=0)
        x += width + len(hops) + (labels + 2 if labels else 0) + 4


def _box_width(node: Node) -> int:
    return min(max((len(line) for line in node.lines), default=0), MAX_INNER) + 4


def _label(hop: _Hop) -> str:
    return ("◀ " if hop.backwards else "") + hop.link.label


def _channel_order(hops: list[_Hop]) -> list[_Hop]:
    """Hops in the order that crosses least (rising ones left, top first; falling ones
    bottom first), then swapped while one leaves on a row another enters on to the left of
    where it turns (their lines would merge there); bounded, as swaps may cycle."""

    def crossing_least(h: _Hop) -> tuple[int, int]:
        sy, ty = h.src.port(h), h.dst.port(h)
        return (0, sy) if ty < sy else (1, -sy)

    order = sorted(hops, key=crossing_least)
    for _ in range(len(order) ** 2):
        entering = {h.dst.port(h): i for i, h in enumerate(order)}
        clash = next(
            ((i, entering[h.src.port(h)]) for i, h in enumerate(order)
             if entering.get(h.src.port(h), i) < i),
            None,
        )  # fmt: skip
        if clash is None:
            break
        i, j = clash
        order[i], order[j] = order[j], order[i]
    return order


# -- painting ---------------------------------------------------------------------


_Row = tuple[str, list[tuple[int, int, str]]]
"""A painted line and its styled runs: (start, end, style)."""


class _Canvas:
    def __init__(self) -> None:
        self.fixed: dict[tuple[int, int], tuple[str, str]] = {}
        self.bits: dict[tuple[int, int], int] = {}
        self.line_style: dict[tuple[int, int], str] = {}

    def put(self, x: int, y: int, text: str, style: str = "") -> None:
        for i, char in enumerate(text):
            self.fixed[(x + i, y)] = (char, style)

    def line(self, x1: int, y1: int, x2: int, y2: int, style: str) -> None:
        """A horizontal or vertical line between two cells, ends included."""
        if y1 == y2:
            a, b = sorted((x1, x2))
            for x in range(a, b + 1):
                self._bit(x, y1, (E if x < b else 0) | (W if x > a else 0), style)
        else:
            a, b = sorted((y1, y2))
            for y in range(a, b + 1):
                self._bit(x1, y, (S if y < b else 0) | (N if y > a else 0), style)

    def _bit(self, x: int, y: int, bits: int, style: str) -> None:
        self.bits[(x, y)] = self.bits.get((x, y), 0) | bits
        self.line_style[(x, y)] = style

    def rows(self, height: int) -> list[_Row]:
        cells: list[dict[int, tuple[str, str]]] = [{} for _ in range(height)]
        for (x, y), bits in self.bits.items():
            cells[y][x] = (LINES[bits], self.line_style[(x, y)])
        for (x, y), cell in self.fixed.items():
            cells[y][x] = cell
        out = []
        for row in cells:
            chars = [" "] * (max(row) + 1 if row else 0)
            runs: list[tuple[int, int, str]] = []
            for x in sorted(row):
                chars[x], style = row[x]
                if style and runs and runs[-1][1:] == (x, style):
                    runs[-1] = (runs[-1][0], x + 1, style)
                elif style:
                    runs.append((x, x + 1, style))
            out.append(("".join(chars).rstrip(), runs))
        return out


def _paint(band: _Band, selected: str | None) -> list[_Row]:
    canvas = _Canvas()
    for index, column in enumerate(band.columns):
        x, width = band.xs[index], band.widths[index]
        for slot in column:
            if slot.node is None:
                canvas.line(x, slot.top, x + width - 1, slot.top, slot.ins[0].link.style)
            else:
                _box(canvas, slot, x, width, selected == slot.key and not slot.ghost)
        if index + 1 == len(band.columns):
            break
        start, end = x + width, band.xs[index + 1] - 1  # the cell after the box; the arrow
        for channel, hop in enumerate(band.gap(index), start=start + 1):
            sy, ty, style = hop.src.port(hop), hop.dst.port(hop), hop.link.style
            canvas.line(start, sy, channel, sy, style)
            canvas.line(channel, sy, channel, ty, style)
            canvas.line(channel, ty, end, ty, style)
            canvas.bits[(start, sy)] |= W  # joins the box or the waypoint before
            if hop.first and hop.backwards:
                canvas.put(start, sy, "◀", style)
            if hop.last and not hop.backwards:
                canvas.put(end, ty, "▶", style)
            else:
                canvas.bits[(end, ty)] |= E
            if hop.last:
                label = _label(hop)
                shown = f"{style} reverse" if selected == hop.link.key else style
                canvas.put(end - 2 - len(label), ty, " ")
                canvas.put(end - 1 - len(label), ty, label, shown)
    return canvas.rows(band.height)


def _box(canvas: _Canvas, slot: _Slot, x: int, width: int, selected: bool) -> None:
    assert slot.node is not None
    tl, tr, bl, br, h, v = SELECTED_BOX if selected else BOX
    style = "dim" if slot.ghost else slot.node.style + (" bold" if selected else "")
    inner = width - 4
    bottom = slot.top + slot.height - 1
    canvas.put(x, slot.top, tl + h * (width - 2) + tr, style)
    for y in range(slot.top + 1, bottom):
        canvas.put(x, y, v, style)
        canvas.put(x + 1, y, " " * (width - 2))
        canvas.put(x + width - 1, y, v, style)
    for i, line in enumerate(slot.node.lines):
        cut = line if len(line) <= inner else line[: inner - 1] + "…"
        canvas.put(x + 2, slot.top + 1 + i, cut, f"{style} bold" if i == 0 else style)
    canvas.put(x, bottom, bl + h * (width - 2) + br, style)


def draw(
    nodes: Sequence[Node], links: Sequence[Link], width: int, selected: str | None = None
) -> Drawing:
    """``nodes`` (callers first) and ``links`` laid out in bands no wider than ``width``.

    ``selected`` (a node's key or ``link_key``) is drawn with a double border or a
    reversed label.
    """
    by_key = {n.key: n for n in nodes}
    keys = list(by_key)
    rank = {k: i for i, k in enumerate(keys)}
    layer = layers(keys, [(link.caller, link.callee) for link in links])
    deepest = max(layer.values(), default=-1)
    lines: list[str] = []
    spans: list[Span] = []
    offset = 0

    def emit(line: str, runs: Sequence[tuple[int, int, str]] = ()) -> None:
        nonlocal offset
        line = line[:width]
        spans.extend(
            Span(offset + a, offset + min(b, len(line)), st) for a, b, st in runs if a < len(line)
        )
        lines.append(line)
        offset += len(line) + 1

    rows: dict[str, int] = {}
    first = 0
    while first <= deepest:
        last = first
        band = _band(by_key, links, layer, rank, first, last)
        while last < deepest:
            wider = _band(by_key, links, layer, rank, first, last + 1)
            if wider.width > width:
                break
            band, last = wider, last + 1
        if first:
            emit("")
        top = len(lines)
        for slot in (s for column in band.columns for s in column):
            if slot.node is not None and not slot.ghost:
                rows[slot.key] = top + slot.top
        for hop in band.hops:
            if hop.last:
                rows[hop.link.key] = top + hop.dst.port(hop)
        for line, runs in _paint(band, selected):
            emit(line, runs)
        first = last + 1
    return Drawing(Text("\n".join(lines), spans=spans), rows)
