"""Validates a job graph (missing deps, cycles) and returns tx-data (pure).

A job graph is a mapping ``{node: [dependency nodes]}``; each node lists the
jobs it waits for (its parents), as in Overseer::

    {"start": [], "result1": ["start"], "result2": ["start"], "finish": ["result1", "result2"]}

By default a node *is* its job type (one job per type, Overseer's rule) and each
job gets a random UUID as ``:job/id``. Two keyword arguments lift that rule for
bigger graphs: ``types`` maps a node to its job type and ``ids`` maps a node to
its ``:job/id`` (each a mapping or a callable). A dependency may also be a
lookup ref ``[":job/id", "some-id"]`` naming a job inserted earlier.

:func:`graph_txns` returns the tx-data of the *whole* graph: one transaction
creates every job ``:unstarted`` with its ``:job/dep`` edges, or fails and
writes nothing (RELIABILITY J6). Validation is iterative (Kahn's algorithm), so
a chain 100,000 deep raises no RecursionError.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import fact_store as fs
from fact_store.edn import show

from overseer.errors import DuplicateJobId, GraphError, HandlerNotFound
from overseer.schema import ABORTED, FAILED, UNSTARTED

Node = Any
Graph = Mapping[Node, Iterable[Any]]

_JOB_ID = fs.Keyword(":job/id")


def keyword(x: Any) -> fs.Keyword:
    """A job type as a keyword: ``"start"``, ``":start"`` and ``Keyword(":start")`` are the same type.

    >>> keyword("start"), keyword(":my/type")
    (Keyword(':start'), Keyword(':my/type'))
    """
    if isinstance(x, fs.Keyword):
        return x
    if not isinstance(x, str) or not x.strip(":"):
        raise GraphError(f"a job type must be a non-empty string or keyword, got {show(x)}", type=x)
    return fs.Keyword(x if x.startswith(":") else ":" + x)


def _is_lookup_ref(d: Any) -> bool:
    return isinstance(d, (list, tuple)) and len(d) == 2 and isinstance(d[0], str) \
        and d[0].lstrip(":") == "job/id"


def _resolve(spec: Any, node: Node, what: str) -> Any:
    if spec is None:
        return None
    if callable(spec) and not isinstance(spec, Mapping):
        return spec(node)
    try:
        return spec[node]
    except KeyError:
        raise GraphError(f"no {what} given for node {show(node)}", node=node) from None


def find_cycle(graph: Mapping[Node, Iterable[Node]]) -> list[Node] | None:
    """A cycle of ``graph`` as a path ``[a, b, ..., a]`` (following dependencies), or None.

    Iterative: O(nodes + edges).

    >>> find_cycle({"a": ["b"], "b": ["a"]})
    ['a', 'b', 'a']
    >>> find_cycle({"a": [], "b": ["a"]}) is None
    True
    """
    white, grey, black = 0, 1, 2
    colour = {n: white for n in graph}
    for root in graph:
        if colour[root] != white:
            continue
        colour[root] = grey
        path = [root]
        stack = [iter(d for d in graph[root] if d in colour)]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                stack.pop()
                continue
            if colour[nxt] == grey:
                return path[path.index(nxt):] + [nxt]
            if colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append(iter(d for d in graph[nxt] if d in colour))
    return None


def validate_graph(graph: Graph) -> dict[Node, list[Any]]:
    """Check ``graph``; return it as ``{node: [deps]}``.

    :raises GraphError: missing dependencies (all of them named, with the nodes
        that need them), or a cycle (its path named). O(nodes + edges).

    >>> validate_graph({"a": [], "b": ["a", "c"]})
    Traceback (most recent call last):
    ...
    overseer.errors.GraphError: job graph has missing dependencies: "c" (needed by "b")
    """
    if not isinstance(graph, Mapping):
        raise GraphError(f"a job graph is a mapping {{node: [dependencies]}}, got {type(graph).__name__}",
                         graph=graph)
    g: dict[Node, list[Any]] = {}
    missing: dict[Any, list[Node]] = {}
    for node, deps in graph.items():
        if isinstance(deps, (str, bytes)) or not isinstance(deps, Iterable):
            raise GraphError(f"the dependencies of {show(node)} must be a list of nodes, got {show(deps)}",
                             node=node, deps=deps)
        ds = list(deps)
        for d in ds:
            if _is_lookup_ref(d):
                continue
            try:
                known = d in graph
            except TypeError:
                raise GraphError(f"dependency {show(d)} of {show(node)} is not a node (unhashable)",
                                 node=node, dep=d) from None
            if not known:
                missing.setdefault(d, []).append(node)
        g[node] = ds
    if missing:
        items = list(missing.items())
        desc = ", ".join(f"{show(d)} (needed by {', '.join(show(n) for n in ns[:5])}"
                         f"{f' … and {len(ns) - 5:,} more' if len(ns) > 5 else ''})" for d, ns in items[:10])
        if len(items) > 10:
            desc += f" … and {len(items) - 10:,} more"
        raise GraphError(f"job graph has missing dependencies: {desc}", missing=list(missing),
                         needed_by=missing)
    internal = {n: [d for d in ds if not _is_lookup_ref(d)] for n, ds in g.items()}
    cycle = find_cycle(internal)
    if cycle is not None:
        raise GraphError("job graph has a cycle: " + " -> ".join(show(n) for n in cycle) +
                         " (each node waits for the next)", cycle=cycle)
    return g


def not_before_ms(when: Any) -> int:
    """A not-before time as stored in ``:job/not-before``: epoch milliseconds.

    ``when`` is an aware :class:`datetime.datetime` (a naive one is taken as UTC) or
    epoch seconds (``time.time() + 60``).

    >>> import datetime as dt
    >>> not_before_ms(dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)), not_before_ms(1.5)
    (1893456000000, 1500)
    """
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return int(when.timestamp() * 1000)
    if isinstance(when, bool) or not isinstance(when, (int, float)) or when != when:
        raise GraphError(f"not_before must be a datetime or epoch seconds, got {when!r}", not_before=when)
    return int(when * 1000)


def job_txn(job_type: Any, args: Mapping[Any, Any] | None = None, *, tempid: Any = None,
            not_before: Any = None) -> dict[Any, Any]:
    """The entity map of one new ``:unstarted`` job of type ``job_type``, with ``args`` as attributes.

    ``:job/id`` is a random UUID unless ``args`` names one. Transact it in a list:
    ``conn.transact([job_txn("my-job-type", {":user-id": 456})])``. ``not_before``
    (a datetime, or epoch seconds) delays the job: no worker claims it earlier.

    >>> m = job_txn("report", {":job/id": "r-1"})
    >>> m[":job/id"], m[":job/type"], m[":job/status"]
    ('r-1', Keyword(':report'), Keyword(':unstarted'))
    """
    m: dict[Any, Any] = {
        ":db/id": tempid if tempid is not None else f"overseer-job-{uuid.uuid4()}",
        ":job/id": str(uuid.uuid4()),
        ":job/type": keyword(job_type),
        ":job/status": UNSTARTED,
    }
    if not_before is not None:
        m[":job/not-before"] = not_before_ms(not_before)
    if args:
        for k, v in args.items():
            key = str(k)
            if key.lstrip(":") in ("job/type", "job/status", "job/dep", "db/id"):
                raise GraphError(f"job args may not set {key}: overseer manages it", attribute=key)
            m[key if key.startswith(":") else ":" + key] = v
    return m


def _ensure_new_fn(db: Any, ids: Iterable[str]) -> list[Any]:
    """``:overseer/ensure-new-jobs``: refuse the transaction if any of ``ids`` exists already."""
    attr = db.schema.attr(_JOB_ID)
    if attr is None:
        return []
    taken = [i for i in ids if db.search(None, attr.id, i)]
    if taken:
        shown = ", ".join(show(i) for i in taken[:10]) + (f" … and {len(taken) - 10:,} more" if len(taken) > 10 else "")
        raise DuplicateJobId(f"job ids already exist: {shown} ({len(taken)} in all); "
                             "nothing of the graph was inserted", ids=taken)
    return []


fs.register_tx_fn(":overseer/ensure-new-jobs", _ensure_new_fn)

_STATUS = fs.Keyword(":job/status")


def _initial_status_fn(db: Any, nodes: Iterable[Any]) -> list[Any]:
    """``:overseer/initial-status``: the status of new jobs that wait for existing ones.

    ``nodes`` is ``[(tempid, [lookup refs of existing deps], [tempids of deps in the
    graph]), ...]`` in dependency order. Under the writer lock, a job whose existing
    dependency is ``:failed`` or ``:aborted`` (or whose dependency in the graph is
    aborted so) is inserted ``:aborted``, like any dependent of a failed job (J4);
    the others ``:unstarted``.
    """
    st = db.schema.attr(_STATUS)
    doomed: set[Any] = set()
    out: list[Any] = []
    for tempid, refs, inner in nodes:
        dead = any(t in doomed for t in inner)
        if not dead and st is not None:
            for ref in refs:
                e = db.entid(tuple(ref))
                rows = db.search(e, st.id) if e is not None else []
                if rows and rows[0][2] in (FAILED, ABORTED):
                    dead = True
                    break
        if dead:
            doomed.add(tempid)
        out.append([":db/add", tempid, _STATUS, ABORTED if dead else UNSTARTED])
    return out


fs.register_tx_fn(":overseer/initial-status", _initial_status_fn)


def _waiting_on_existing(g: Mapping[Node, list[Any]]) -> list[Node]:
    """The nodes that wait, directly or through other nodes, for jobs outside the graph, in
    dependency order (Kahn's algorithm over those nodes; O(nodes + edges))."""
    children: dict[Node, list[Node]] = {}
    for node, deps in g.items():
        for d in deps:
            if not _is_lookup_ref(d):
                children.setdefault(d, []).append(node)
    marked = {n for n, ds in g.items() if any(_is_lookup_ref(d) for d in ds)}
    stack = list(marked)
    while stack:
        for c in children.get(stack.pop(), ()):
            if c not in marked:
                marked.add(c)
                stack.append(c)
    if not marked:
        return []
    indeg = {n: sum(1 for d in g[n] if not _is_lookup_ref(d) and d in marked) for n in marked}
    ready = [n for n, k in indeg.items() if k == 0]
    order: list[Node] = []
    while ready:
        n = ready.pop()
        order.append(n)
        for c in children.get(n, ()):
            if c in indeg:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready.append(c)
    return order


def _insert_unless_any_exists_fn(db: Any, ids: Iterable[str], tx_data: Iterable[Any]) -> list[Any]:
    """``:overseer/insert-unless-exists``: ``tx_data`` when none of ``ids`` exists yet, else nothing.

    Overseer 0.9's transact-graph: a graph whose ids (any of them) exist already
    is not inserted, and that is not an error, so submitting a graph is idempotent.
    Runs under the writer lock, so two submitters of one graph insert it once.
    """
    attr = db.schema.attr(_JOB_ID)
    if attr is not None and any(db.search(None, attr.id, i) for i in ids):
        return []
    return list(tx_data)


fs.register_tx_fn(":overseer/insert-unless-exists", _insert_unless_any_exists_fn)

IF_EXISTS = ("refuse", "skip")


def graph_txns(graph: Graph, args: Mapping[Any, Any] | None = None, *,
               types: Mapping[Node, Any] | Callable[[Node], Any] | None = None,
               ids: Mapping[Node, str] | Callable[[Node], str] | None = None,
               not_before: Any = None, if_exists: str = "refuse") -> list[Any]:
    """The tx-data that inserts ``graph``: every job ``:unstarted``, with its ``:job/dep`` edges.

    ``args`` become attributes of *every* job (declare them in your schema).
    ``not_before`` (a datetime, or epoch seconds) delays every job of the graph.
    Transact the result as one transaction: ``conn.transact(graph_txns(g))``.
    When ids are given, what happens if any of them exists already when the
    transaction runs is ``if_exists``:

    - ``"refuse"`` (the default): ``conn.transact`` raises ``DuplicateJobId``
      (a GraphError) naming them, and writes nothing;
    - ``"skip"``: the transaction inserts nothing of the graph and raises
      nothing, as Overseer 0.9's ``transact-graph`` does, so submitting one
      graph twice inserts it once. The graph is all or nothing: a graph with
      one existing id is skipped whole. ``"node-0" in report.tempids`` tells
      whether it was inserted.

    O(nodes + edges).

    >>> tx = graph_txns({"start": [], "finish": ["start"]}, ids=lambda n: "j-" + n)
    >>> [(m[":job/id"], m[":job/type"], m.get(":job/dep")) for m in tx[1:]]
    [('j-start', Keyword(':start'), None), ('j-finish', Keyword(':finish'), ['node-0'])]

    :raises GraphError: a missing dependency, a cycle, a duplicate id or a bad type.
    """
    if if_exists not in IF_EXISTS:
        raise GraphError(f"if_exists must be one of {', '.join(IF_EXISTS)}, got {show(if_exists)}",
                         if_exists=if_exists)
    g = validate_graph(graph)
    tempids = {node: f"node-{i}" for i, node in enumerate(g)}
    # jobs that wait for existing jobs get their status under the writer lock: :aborted
    # when such a dependency already failed or was aborted (it will not cascade again)
    late = _waiting_on_existing(g)
    late_set = set(late)
    out: list[Any] = []
    job_ids: dict[str, Node] = {}
    for node, deps in g.items():
        job_type = _resolve(types, node, "type") if types is not None else node
        m = job_txn(job_type, args, tempid=tempids[node], not_before=not_before)
        if ids is not None:
            jid = _resolve(ids, node, "id")
            if not isinstance(jid, str):
                raise GraphError(f"job id of node {show(node)} must be a string, got {show(jid)}", node=node)
            m[":job/id"] = jid
        jid = m[":job/id"]
        if jid in job_ids:
            raise GraphError(f"job id {show(jid)} is used twice in the graph (nodes {show(job_ids[jid])} "
                             f"and {show(node)})", id=jid, nodes=[job_ids[jid], node])
        job_ids[jid] = node
        if deps:
            m[":job/dep"] = [tuple(d) if _is_lookup_ref(d) else tempids[d] for d in deps]
        if node in late_set:
            del m[":job/status"]
        out.append(m)
    if late:
        out.append([":overseer/initial-status",
                    tuple((tempids[n], tuple(tuple(d) for d in g[n] if _is_lookup_ref(d)),
                           tuple(tempids[d] for d in g[n] if not _is_lookup_ref(d))) for n in late)])
    if ids is not None or (args and any(str(k).lstrip(":") == "job/id" for k in args)):
        if if_exists == "skip":
            return [[":overseer/insert-unless-exists", tuple(job_ids), tuple(out)]]
        out.insert(0, [":overseer/ensure-new-jobs", tuple(job_ids)])
    return out


def missing_handlers(handlers: Mapping[Any, Any], graph: Graph,
                     types: Mapping[Node, Any] | Callable[[Node], Any] | None = None) -> list[fs.Keyword]:
    """The job types of ``graph`` that ``handlers`` has no handler for, in graph order."""
    have = {keyword(k) for k in handlers}
    out: list[fs.Keyword] = []
    for node in graph:
        t = keyword(_resolve(types, node, "type") if types is not None else node)
        if t not in have and t not in out:
            out.append(t)
    return out


def validate_graph_handlers(handlers: Mapping[Any, Any], graph: Graph,
                            types: Mapping[Node, Any] | Callable[[Node], Any] | None = None) -> None:
    """Check that every job type of ``graph`` has a handler.

    >>> validate_graph_handlers({"start": print}, {"start": [], "finish": ["start"]})
    Traceback (most recent call last):
    ...
    overseer.errors.HandlerNotFound: invalid graph: no handler for job types :finish

    :raises HandlerNotFound: naming every type without a handler.
    """
    missing = missing_handlers(handlers, graph, types)
    if missing:
        raise HandlerNotFound("invalid graph: no handler for job types " + ", ".join(missing),
                              types=missing)
