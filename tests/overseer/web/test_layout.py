"""The graph layout and its SVG: edges point to later layers, big graphs collapse, text is escaped."""

from __future__ import annotations

import random

from overseer.demo import generated_graph
from overseer.web import layout


def test_every_edge_goes_from_an_earlier_layer_to_a_later_one():
    graph, _types = generated_graph(300, seed=3)
    pos = layout.layout(graph)
    for node, deps in graph.items():
        for d in deps:
            assert pos[d][0] < pos[node][0], (d, node)
    rows = {(li, r) for li, r in pos.values()}
    assert len(rows) == len(graph)  # no two jobs share a place


def test_barycenter_ordering_untangles_two_chains():
    graph = {"a1": [], "b1": [], "a2": ["a1"], "b2": ["b1"], "a3": ["a2"], "b3": ["b2"]}
    # name order would cross nothing; reversed inputs must still come out parallel
    graph = {"z" + k: ["z" + d for d in v] for k, v in graph.items()}
    pos = layout.layout(graph)
    assert (pos["za1"][1] < pos["zb1"][1]) == (pos["za3"][1] < pos["zb3"][1])


def test_a_thousand_jobs_draw_one_box_each_and_more_collapse():
    rng = random.Random(5)
    graph = {f"j{i}": sorted({f"j{rng.randrange(i)}" for _ in range(2)}) if i else [] for i in range(1000)}
    status = {n: rng.choice(layout.STATUSES) for n in graph}
    svg = layout.svg(graph, status, {n: "t" for n in graph})
    assert svg.count('class="node st-') == 1000
    big = dict(graph, extra=["j999"])
    svg2, groups = layout.collapsed(big, status, {n: "t" for n in big})
    assert sum(sum(c.values()) for c in groups.values()) == 1001
    assert 'class="node' not in svg2 and svg2.count('class="group"') == len(groups)


def test_ids_and_types_are_escaped():
    evil = '"><script>alert(1)</script>'
    svg = layout.svg({evil: []}, {evil: "finished"}, {evil: evil})
    assert "<script>" not in svg and "&lt;script&gt;" in svg and '"><script' not in svg
    svg2, _ = layout.collapsed({evil: []}, {}, {evil: evil})
    assert "<script>" not in svg2
