"""A job graph drawn as a layered DAG, as SVG text, on the server (pure functions).

Layout, Sugiyama-style and deterministic: each job's layer is the longest path
from a job without dependencies (so every edge points right), then a few
barycenter sweeps order each layer by the mean position of the neighbours in
the layers before (and, sweeping back, after). O((nodes + edges) x sweeps).

Beyond :data:`MAX_NODES` jobs the graph is collapsed: one box per (layer, job
type) with the job count and a bar of its statuses, so 100,000 jobs still draw
as a few dozen boxes.

Every text in the SVG is escaped (job ids and types are user data).

>>> pos = layout({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]})
>>> [pos[n][0] for n in "abcd"]
[0, 1, 1, 2]
>>> sorted({pos["b"][1], pos["c"][1]})
[0, 1]
"""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Iterable, Mapping, Sequence
from urllib.parse import quote

#: above this many jobs the graph is drawn collapsed by layer and type
MAX_NODES = 1000
SWEEPS = 4
NODE_W, NODE_H, COL_GAP, ROW_GAP = 170, 22, 50, 8
STATUSES = ("unstarted", "started", "finished", "failed", "aborted")


def layers(graph: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Longest-path layering: 0 for jobs without deps (in the graph), else 1 + the deepest dep."""
    indeg = {n: 0 for n in graph}
    dependents: dict[str, list[str]] = defaultdict(list)
    for n, deps in graph.items():
        for d in deps:
            if d in graph:
                indeg[n] += 1
                dependents[d].append(n)
    layer = {n: 0 for n in graph}
    todo = sorted(n for n, k in indeg.items() if k == 0)
    while todo:
        nxt = []
        for n in todo:
            for m in dependents[n]:
                layer[m] = max(layer[m], layer[n] + 1)
                indeg[m] -= 1
                if indeg[m] == 0:
                    nxt.append(m)
        todo = sorted(nxt)
    return layer


def layout(graph: Mapping[str, Sequence[str]]) -> dict[str, tuple[int, int]]:
    """``{node: (layer, row)}`` for a DAG ``{node: [deps]}`` (deps outside the graph are ignored)."""
    layer = layers(graph)
    by_layer: dict[int, list[str]] = defaultdict(list)
    for n in sorted(graph):
        by_layer[layer[n]].append(n)
    row = {n: i for ls in by_layer.values() for i, n in enumerate(ls)}
    dependents: dict[str, list[str]] = defaultdict(list)
    for n, deps in graph.items():
        for d in deps:
            if d in graph:
                dependents[d].append(n)
    depth = max(by_layer) if by_layer else 0
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        order = range(1, depth + 1) if down else range(depth - 1, -1, -1)
        for li in order:
            nodes = by_layer[li]

            def bary(n: str) -> float:
                nb = [d for d in graph[n] if d in graph] if down else dependents[n]
                return sum(row[x] for x in nb) / len(nb) if nb else row[n]

            nodes.sort(key=lambda n: (bary(n), row[n]))
            for i, n in enumerate(nodes):
                row[n] = i
    return {n: (layer[n], row[n]) for n in graph}


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _label(s: str, width: int = 24) -> str:
    return s if len(s) <= width else "…" + s[-(width - 1):]


def job_href(job_id: str) -> str:
    return "/jobs/job/" + quote(job_id, safe="")


def svg(graph: Mapping[str, Sequence[str]], status: Mapping[str, str], types: Mapping[str, str],
        href: str = "") -> str:
    """The SVG of a graph of at most :data:`MAX_NODES` jobs; each node links to its job page.

    ``href`` is appended to each job link (the time-travel parameters).
    """
    pos = layout(graph)
    rows_per_layer: dict[int, int] = defaultdict(int)
    for li, r in pos.values():
        rows_per_layer[li] = max(rows_per_layer[li], r + 1)
    tallest = max(rows_per_layer.values(), default=1)
    width = (max(rows_per_layer, default=0) + 1) * (NODE_W + COL_GAP)
    height = tallest * (NODE_H + ROW_GAP) + ROW_GAP

    def xy(n: str) -> tuple[int, int]:
        li, r = pos[n]
        offset = (tallest - rows_per_layer[li]) * (NODE_H + ROW_GAP) // 2
        return li * (NODE_W + COL_GAP) + 10, offset + r * (NODE_H + ROW_GAP) + ROW_GAP

    out = [f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="job graph">']
    out.append('<g class="edges">')
    for n, deps in graph.items():
        x2, y2 = xy(n)
        for d in deps:
            if d not in pos:
                continue
            x1, y1 = xy(d)
            x1, y1, y2 = x1 + NODE_W, y1 + NODE_H // 2, y2 + NODE_H // 2
            mid = (x1 + x2) // 2
            out.append(f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"/>')
    out.append("</g>")
    for n in graph:
        x, y = xy(n)
        st = status.get(n, "unstarted")
        out.append(f'<a href="{_e(job_href(n) + href)}"><g class="node st-{_e(st)}" data-job="{_e(n)}" '
                   f'data-status="{_e(st)}" transform="translate({x},{y})">'
                   f'<title>{_e(n)} ({_e(types.get(n, ""))}): {_e(st)}</title>'
                   f'<rect width="{NODE_W}" height="{NODE_H}" rx="4"/>'
                   f'<text x="6" y="15">{_e(_label(n))}</text></g></a>')
    out.append("</svg>")
    return "".join(out)


def group_key(layer: int, job_type: str) -> str:
    return f"{layer}:{job_type}"


def group_counts(layer: Mapping[str, int], status: Mapping[str, str],
                 types: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Status counts per (layer, type) box, given the graph's :func:`layers`. O(jobs)."""
    groups: dict[str, dict[str, int]] = defaultdict(lambda: {s: 0 for s in STATUSES})
    for n, li in layer.items():
        st = status.get(n, "unstarted")
        g = groups[group_key(li, types.get(n, ""))]
        g[st] = g.get(st, 0) + 1
    return dict(groups)


def collapsed(graph: Mapping[str, Sequence[str]], status: Mapping[str, str],
              types: Mapping[str, str]) -> tuple[str, dict[str, dict[str, int]]]:
    """The SVG of a big graph as one box per (layer, type), and each box's status counts."""
    layer = layers(graph)
    groups = group_counts(layer, status, types)
    members = {n: group_key(layer[n], types.get(n, "")) for n in graph}
    ggraph: dict[str, set[str]] = {k: set() for k in groups}
    for n, deps in graph.items():
        for d in deps:
            if d in members and members[d] != members[n]:
                ggraph[members[n]].add(members[d])
    pos = layout({k: sorted(v) for k, v in ggraph.items()})
    bw, bh = NODE_W + 30, 44
    cols = max((p[0] for p in pos.values()), default=0) + 1
    rows = max((p[1] for p in pos.values()), default=0) + 1
    width, height = cols * (bw + COL_GAP), rows * (bh + 14) + 14
    out = [f'<svg class="dag collapsed" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="job graph, collapsed">']

    def xy(k: str) -> tuple[int, int]:
        li, r = pos[k]
        return li * (bw + COL_GAP) + 10, r * (bh + 14) + 14

    for k, deps in ggraph.items():
        x2, y2 = xy(k)
        for d in deps:
            x1, y1 = xy(d)
            out.append(f'<path class="edge" d="M{x1 + bw},{y1 + bh // 2} L{x2},{y2 + bh // 2}"/>')
    for k, counts in sorted(groups.items()):
        x, y = xy(k)
        total = sum(counts.values())
        text = group_text(k, counts)
        out.append(f'<g class="group" data-group="{_e(k)}" transform="translate({x},{y})">'
                   f'<title>{_e(text)}</title><rect class="frame" width="{bw}" height="{bh}" rx="4"/>'
                   f'<text x="6" y="15">{_e(_label(k.split(":", 1)[1] or "?", 18))} ×{total}</text>')
        bx = 6
        for s in STATUSES:
            w = round((bw - 12) * counts[s] / total) if total else 0
            if w:
                out.append(f'<rect class="bar-{s}" x="{bx}" y="24" width="{w}" height="12"/>')
                bx += w
        out.append("</g>")
    out.append("</svg>")
    return "".join(out), dict(groups)


def group_text(key: str, counts: Mapping[str, int]) -> str:
    layer, _, typ = key.partition(":")
    parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts.get(s))
    return f"layer {layer}, {typ or '?'}: {parts}"


def bar_chart(buckets: Iterable[tuple[str, int, int]], width: int = 600, height: int = 90) -> str:
    """Finished (green) and failed (red) jobs per bucket, as a small SVG bar chart."""
    bs = list(buckets)
    top = max((f + x for _, f, x in bs), default=0) or 1
    n = max(len(bs), 1)
    bw = width / n
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 14}" '
           f'viewBox="0 0 {width} {height + 14}" role="img" aria-label="jobs per minute">']
    for i, (label, fin, fail) in enumerate(bs):
        hf = round(height * fin / top)
        hx = round(height * fail / top)
        x = round(i * bw, 1)
        w = max(round(bw - 1, 1), 1)
        out.append(f'<g><title>{_e(label)}: {fin} finished, {fail} failed</title>'
                   f'<rect class="bar-finished" x="{x}" y="{height - hf}" width="{w}" height="{hf}"/>'
                   f'<rect class="bar-failed" x="{x}" y="{height - hf - hx}" width="{w}" height="{hx}"/></g>')
    out.append(f'<text x="0" y="{height + 12}">-{len(bs)} min</text>'
               f'<text x="{width - 30}" y="{height + 12}">now</text>')
    out.append("</svg>")
    return "".join(out)
