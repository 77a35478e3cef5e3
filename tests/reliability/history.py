"""The list-append history checker (RELIABILITY.md T7), a small Elle-like subset.

A history is a list of operations, one per transaction attempt::

    {"process": 3, "type": "ok" | "fail" | "info", "t": 17 | None,
     "ops": [["append", "k4", 123], ["r", "k4", [5, 9, 123]], ...]}

``ok`` means acknowledged (the transaction committed at ``t``; reads carry the
values the transaction observed), ``fail`` means it certainly did not commit,
``info`` means its outcome is unknown (the process was killed mid-call).
Every appended value is unique across the whole history.

:func:`check` takes the history and the final state (key -> list, read after
all processes stopped, plus, white-box, the ``t`` of the transaction that
appended each element, from the log) and returns a list of anomalies:

- ``lost``: an acknowledged append missing from the final state;
- ``duplicate``: an element present twice;
- ``phantom``: an element in the final state no transaction attempted, or one
  whose transaction failed;
- ``not-prefix``: a read that is not a prefix of the key's final list (a
  read of a state that never existed: G1a/G1b-like);
- ``read-not-at-basis``: a read that differs from the state at ``t - 1``
  (reads happen on db-before, I3);
- ``order``: the order of a key's elements differs from the log order of the
  transactions that appended them (inferred order = log order);
- ``basis-regress``: a process's successive ``t`` going backwards (sessions);
- ``cycle``: a cycle in the ww / wr / rw dependency graph (G0, G1c, G2).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable


def check(history: list[dict[str, Any]], final: dict[str, list[int]],
          appended_at: dict[int, int]) -> list[str]:
    """Anomalies found (see the module doc); an empty list means none."""
    anomalies: list[str] = []
    ok = [h for h in history if h["type"] == "ok"]
    attempted: dict[int, dict[str, Any]] = {}
    for h in history:
        for op in h["ops"]:
            if op[0] == "append":
                attempted[op[2]] = h
    # 1. lost / duplicate / phantom
    seen: dict[int, str] = {}
    for k, elems in final.items():
        for v in elems:
            if v in seen:
                anomalies.append(f"duplicate: {v} in {seen[v]} and {k}")
            seen[v] = k
            h = attempted.get(v)
            if h is None:
                anomalies.append(f"phantom: {v} in {k} was never appended")
            elif h["type"] == "fail":
                anomalies.append(f"phantom: {v} in {k} belongs to a failed transaction")
    for h in ok:
        for op in h["ops"]:
            if op[0] == "append" and seen.get(op[2]) != op[1]:
                anomalies.append(f"lost: acknowledged append {op[2]} to {op[1]} (t={h['t']})")
    # 2. order = log order
    for k, elems in final.items():
        ts = [appended_at.get(v, -1) for v in elems]
        if ts != sorted(ts):
            anomalies.append(f"order: {k}'s elements are not in log order: {list(zip(elems, ts))[:8]}")
    # 3. reads: prefixes, and exactly the state at t - 1 (plus the tx's own earlier appends)
    pos_of = {k: {v: i for i, v in enumerate(elems)} for k, elems in final.items()}
    for h in ok:
        own: dict[str, list[int]] = defaultdict(list)
        for op in h["ops"]:
            if op[0] == "append":
                own[op[1]].append(op[2])
                continue
            _r, k, got = op
            elems = final.get(k, [])
            if list(got) != elems[:len(got)]:
                anomalies.append(f"not-prefix: read of {k} at t={h['t']} gave {got[-5:]}, "
                                 f"final starts {elems[:len(got)][-5:]}")
                continue
            expect = [v for v in elems if appended_at.get(v, 1 << 62) < h["t"]] + own[k]
            if list(got) != expect:
                anomalies.append(f"read-not-at-basis: read of {k} in t={h['t']} saw {len(got)} "
                                 f"elements, the state at t-1 plus own appends has {len(expect)}")
    # 4. sessions: t increases per process
    last: dict[Any, int] = {}
    for h in ok:
        p = h["process"]
        if p in last and h["t"] <= last[p]:
            anomalies.append(f"basis-regress: process {p} committed t={h['t']} after t={last[p]}")
        last[p] = h["t"]
    # 5. dependency graph cycles
    anomalies.extend(_cycles(ok, final, pos_of))
    return anomalies


def _cycles(ok: list[dict[str, Any]], final: dict[str, list[int]],
            pos_of: dict[str, dict[int, int]]) -> list[str]:
    writer_of: dict[int, int] = {}
    for i, h in enumerate(ok):
        for op in h["ops"]:
            if op[0] == "append":
                writer_of[op[2]] = i
    edges: dict[int, set[int]] = defaultdict(set)

    def edge(a: int | None, b: int | None) -> None:
        if a is not None and b is not None and a != b:
            edges[a].add(b)

    for k, elems in final.items():
        for x, y in zip(elems, elems[1:]):                      # ww
            edge(writer_of.get(x), writer_of.get(y))
    for i, h in enumerate(ok):
        own = {op[2] for op in h["ops"] if op[0] == "append"}
        for op in h["ops"]:
            if op[0] != "r":
                continue
            k, got = op[1], [v for v in op[2] if v not in own]
            if got:
                edge(writer_of.get(got[-1]), i)                # wr
            elems = final.get(k, [])
            nxt = elems[len(got)] if len(got) < len(elems) else None
            if nxt is not None and nxt not in own:
                edge(i, writer_of.get(nxt))                    # rw (anti-dependency)
    # process order edges (strong session): successive ok ops of one process
    by_proc: dict[Any, list[int]] = defaultdict(list)
    for i, h in enumerate(ok):
        by_proc[h["process"]].append(i)
    for idxs in by_proc.values():
        for a, b in zip(idxs, idxs[1:]):
            edge(a, b)
    cyc = find_cycle(len(ok), edges)
    if cyc is None:
        return []
    return ["cycle: " + " -> ".join(f"t={ok[i]['t']}" for i in cyc[:12])]


def find_cycle(n: int, edges: dict[int, set[int]]) -> list[int] | None:
    """A cycle in a directed graph of ``n`` nodes, found iteratively, or None."""
    color = [0] * n
    parent = [-1] * n
    for root in range(n):
        if color[root]:
            continue
        stack: list[tuple[int, Iterable[int]]] = [(root, iter(edges.get(root, ())))]
        color[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
                continue
            if color[nxt] == 1:
                cyc = [nxt]
                cur = node
                while cur != nxt and cur != -1:
                    cyc.append(cur)
                    cur = parent[cur]
                return list(reversed(cyc))
            if color[nxt] == 0:
                color[nxt] = 1
                parent[nxt] = node
                stack.append((nxt, iter(edges.get(nxt, ()))))
    return None
