"""The topology graph's layout and drawing (pure): layers, bands, routing, width, selection."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from meshctl.tui import render
from meshctl.tui.graph import Link, Node, draw, layers, link_key
from meshctl.tui.model import compute
from tests.support.top import state


def node(key: str) -> Node:
    return Node(key, (key, "1/1 up 5.0/s"))


def link(caller: str, callee: str, label: str = "1.0/s 100.0% 5ms", style: str = "") -> Link:
    return Link(caller, callee, label, style)


def lines(text: Text) -> list[str]:
    return text.plain.split("\n")


def test_layers_put_callers_before_callees_and_uncalled_nodes_first():
    keys = ["cli", "streaming", "analytics", "alert", "lonely"]
    edges = [("cli", "streaming"), ("streaming", "analytics"), ("analytics", "alert")]
    edges.append(("cli", "alert"))  # a long edge does not pull alert forward
    assert layers(keys, edges) == {
        "cli": 0, "streaming": 1, "analytics": 2, "alert": 3, "lonely": 0,
    }  # fmt: skip


def test_layers_of_a_cycle_follow_the_given_order_and_end():
    keys = ["a", "b", "c"]
    assert layers(keys, [("a", "b"), ("b", "c"), ("c", "a")]) == {"a": 0, "b": 1, "c": 2}
    assert layers(keys, [("a", "a"), ("b", "b")]) == {"a": 0, "b": 0, "c": 0}  # self calls
    assert layers(keys, [("x", "a"), ("a", "y")]) == {"a": 0, "b": 0, "c": 0}  # unknown ends


def test_a_chain_is_drawn_left_to_right_on_one_line():
    drawing = draw([node("a"), node("b")], [link("a", "b", "5.0/s 99.0% 7ms")], 200)
    assert lines(drawing.text) == [
        "┌──────────────┐                      ┌──────────────┐",
        "│ a            │──── 5.0/s 99.0% 7ms─▶│ b            │",
        "│ 1/1 up 5.0/s │                      │ 1/1 up 5.0/s │",
        "└──────────────┘                      └──────────────┘",
    ]
    assert drawing.rows == {"a": 0, "b": 0, link_key("a", "b"): 1}


def test_edges_leave_and_enter_on_rows_of_their_own_and_only_cross():
    """gw → auth spans a layer (a waypoint under s); auth → s runs against the order."""
    nodes = [node("gw"), node("s"), node("auth"), node("x")]
    links = [link("gw", "s", "A"), link("gw", "auth", "B"), link("gw", "x", "C")]
    links += [link("s", "x", "D"), link("auth", "s", "E")]
    drawing = draw(nodes, links, 300)
    assert lines(drawing.text) == [
        "┌──────────────┐          ┌──────────────┐             ┌──────────────┐",
        "│ gw           │────── A─▶│ s            │◀────── ◀ E──│ auth         │",
        "│ 1/1 up 5.0/s │──┐       │ 1/1 up 5.0/s │─┐ ┌───── B─▶│ 1/1 up 5.0/s │",
        "│              │─┐│       └──────────────┘ │ │         └──────────────┘",
        "└──────────────┘ ││                        │ │",
        "                 │└────────────────────────┼─┘         ┌──────────────┐",
        "                 │                         └─────── D─▶│ x            │",
        "                 └───────────────────────────────── C─▶│ 1/1 up 5.0/s │",
        "                                                       └──────────────┘",
    ]
    assert drawing.rows["x"] == 5 and drawing.rows[link_key("gw", "x")] == 7


def test_a_service_with_no_edge_is_still_drawn():
    drawing = draw([node("a"), node("b"), node("alone")], [link("a", "b")], 200)
    assert "alone" in drawing.text.plain
    assert set(drawing.rows) == {"a", "b", "alone", link_key("a", "b")}


def test_a_cycle_is_drawn_with_its_back_edge_pointing_left():
    nodes = [node("a"), node("b"), node("c")]
    drawing = draw(nodes, [link("a", "b"), link("b", "c"), link("c", "a", "back")], 300)
    assert "◀ back" in drawing.text.plain
    assert drawing.text.plain.count("▶") == 2
    assert link_key("c", "a") in drawing.rows


def test_a_self_call_is_not_drawn():
    drawing = draw([node("a")], [link("a", "a", "self")], 100)
    assert "self" not in drawing.text.plain and "a" in drawing.rows


def test_nothing_to_draw_is_empty():
    assert draw([], [], 80).text.plain == ""


def test_layers_that_do_not_fit_wrap_into_bands_that_repeat_their_callers():
    nodes = [node(k) for k in ("a", "b", "c", "d")]
    links = [link("a", "b"), link("b", "c"), link("c", "d")]
    wide = draw(nodes, links, 300)
    narrow = draw(nodes, links, 90)
    assert len(lines(wide.text)) == 4
    assert all(len(line) <= 90 for line in lines(narrow.text))
    bands = narrow.text.plain.split("\n\n")
    assert len(bands) == 2
    assert "│ b" in bands[1] and "1/1 up" not in bands[1].split("\n")[1][:18]  # b, dimmed
    assert narrow.rows["c"] > narrow.rows["b"]  # c is drawn in the second band


def test_many_services_wrap_and_every_line_stays_within_the_width():
    names = [f"service-{i:02d}" for i in range(40)]
    nodes = [node(n) for n in ["gateway", *names]]
    links = [link("gateway", n) for n in names] + [
        link(a, b) for a, b in zip(names, names[1:], strict=False) if int(a[-2:]) % 5
    ]
    for width in (40, 80, 120, 200):
        drawing = draw(nodes, links, width)
        assert all(len(line) <= width for line in lines(drawing.text)), width
        assert set(drawing.rows) >= set(names)


def test_a_layer_wider_than_the_width_is_cut_not_overflowed():
    long = Node("x" * 60, ("x" * 60,))
    drawing = draw([long], [], 10)
    assert all(len(line) <= 10 for line in lines(drawing.text))
    assert "…" not in drawing.text.plain  # cut at the edge; the box cut its name at 22
    boxed = draw([long], [], 100).text.plain
    assert "x" * 21 + "…" in boxed


def test_styles_and_selection():
    nodes = [Node("a", ("a",), "green"), Node("b", ("b",), "bold red")]
    links = [link("a", "b", "hot", "bold red")]
    plain = draw(nodes, links, 100)
    assert "╔" not in plain.text.plain
    label = plain.text.plain.index("hot")
    assert str(plain.text.get_style_at_offset(Console(), label)) == "bold red"
    chosen = draw(nodes, links, 100, selected="b")
    assert "╔" in chosen.text.plain and chosen.text.plain.count("╔") == 1
    edge = draw(nodes, links, 100, selected=link_key("a", "b"))
    at = edge.text.plain.index("hot")
    assert edge.text.get_style_at_offset(Console(), at).reverse


names = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])


@settings(max_examples=150, deadline=None)
@given(
    keys=st.lists(names, unique=True, min_size=1),
    pairs=st.lists(st.tuples(names, names), max_size=14),
    width=st.integers(min_value=20, max_value=220),
)
def test_any_graph_is_drawn_within_the_width_with_every_node_and_edge(keys, pairs, width):
    links = [link(a, b) for a, b in dict.fromkeys(pairs) if a in keys and b in keys]
    drawing = draw([node(k) for k in keys], links, width)
    assert all(len(line) <= width for line in lines(drawing.text))
    drawn = {k for k in keys} | {lk.key for lk in links if lk.caller != lk.callee}
    assert set(drawing.rows) == drawn
    every = lines(drawing.text)
    assert all(0 <= row < len(every) for row in drawing.rows.values())


def test_the_platform_mesh_reads_streaming_to_analytics_to_alert():
    view = compute(state(1), state(2))
    drawing = render.topology_graph(view, 200)
    text = drawing.text.plain
    first = lines(drawing.text)[1]
    order = [first.index(name) for name in ("gateway", "streaming", "analytics", "alert")]
    assert order == sorted(order)
    assert "✖ 100/s 98.0% 18ms" in text  # streaming's open breaker on an analytics instance
    assert "50.0/s 100.0% 60ms" in text and "20.0/s 100.0% 40ms" in text
    assert "✖ analytics" in text and "1/2 up 105/s" in text and "client" in text
    assert render.topology_items(view) == [
        "gateway", "gateway→streaming", "gateway→auth", "streaming", "streaming→analytics",
        "analytics", "analytics→alert", "alert", "auth",
    ]  # fmt: skip


def test_a_filter_keeps_the_matching_services_and_their_neighbours():
    view = compute(state(1), state(2))
    assert render.neighbourhood(view, "") is None
    only = render.neighbourhood(view, "analy")
    assert only == {"analytics", "streaming", "alert"}
    text = render.topology_graph(view, 200, only=only).text.plain
    assert "gateway" not in text and "auth" not in text


def test_sparklines_scale_to_the_largest_value():
    assert render.spark([0.0, 5.0, 10.0]) == "▁▅█"
    assert render.spark([0.0, 0.0]) == "▁▁"
    assert render.spark([]) == ""
    assert len(render.spark(range(100), width=30)) == 30
