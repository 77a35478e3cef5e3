"""Property test: pull equals a naive reference implementation on random patterns.

The reference below is written straight from the semantics in
fact_store/pull/execute.py's docstring: plain recursion, one search per
attribute, no caching, no fast paths. Hypothesis draws patterns from the pull
grammar over the people schema of conftest.py (forward and reverse refs,
wildcard, :db/id, options, nested maps, recursion with and without depth);
each runs under both executors (the ``executor`` fixture).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fact_store.edn.values import Keyword as K
from fact_store.pull import parse_pattern, pull, pull_many
from fact_store.pull.parse import DB_ID, PullSpec

SCALARS = [":person/name", ":person/age", ":person/aka", ":person/sex", ":order/id",
           ":line/sku", ":line/qty", ":address/city", ":db/ident"]
REFS = [":person/father", ":person/child", ":person/friend", ":person/enemy", ":person/next",
        ":person/color", ":order/lines", ":order/address", ":line/parts"]
REVERSE = [r.replace("/", "/_") for r in REFS]


def _reference(db: Any, spec: PullSpec, eid: int, path: tuple[int, ...],
               rec: dict[int, int]) -> dict[Any, Any] | None:
    schema = db.schema
    res: dict[Any, Any] = {}
    path = path + (eid,)
    explicit = {schema.attr(pa.attr).id for pa in spec.attrs
                if not pa.reverse and pa.attr != DB_ID}
    if spec.wildcard and not any(pa.attr == DB_ID for pa in spec.attrs):
        res[DB_ID] = eid
    if spec.wildcard:
        for attr_id in sorted({d[1] for d in db.search(eid)} - explicit):
            attr = schema.attr(attr_id)
            values = [d[2] for d in db.search(eid, attr_id)][:1000]
            if attr.component:
                out = [{DB_ID: v} if v in path else _reference(db, parse_pattern(["*"]), v,
                                                                path, rec) for v in values]
                out = [x for x in out if x is not None]
            elif attr.is_ref:
                out = [{DB_ID: v} for v in values]
            else:
                out = values
            if out:
                res[attr.ident] = out if attr.many else out[0]
    for pa in spec.attrs:
        if pa.attr == DB_ID:
            res[pa.key] = eid
            continue
        attr = schema.attr(pa.attr)
        if pa.reverse:
            values = [d[0] for d in db.search(None, attr.id, eid)]
            many = not attr.component
        else:
            values = [d[2] for d in db.search(eid, attr.id)]
            many = attr.many
        limit = (pa.limit if pa.limit is not None else 10 ** 9) if many else 1
        if not values:
            if pa.default is not None:
                res[pa.key] = pa.default
            continue
        dynamic = pa.recursion is not None or (attr.component and not pa.reverse
                                               and pa.pattern is None)
        if pa.pattern is None and not dynamic:
            out = [{DB_ID: v} for v in values] if (attr.is_ref or pa.reverse) else values
            out = out[:limit]
        else:
            out = []
            crec = rec
            exhausted = False
            if pa.recursion is not None and pa.recursion.depth is not None:
                left = rec.get(id(pa), pa.recursion.depth)
                exhausted = left <= 0
                crec = {**rec, id(pa): left - 1}
            sub = (pa.pattern if pa.pattern is not None
                   else spec if pa.recursion is not None else parse_pattern(["*"]))
            for v in values:
                if dynamic and v in path:
                    out.append({DB_ID: v})
                elif not exhausted:
                    child = _reference(db, sub, v, path, crec)
                    if child is not None:
                        out.append(child)
                if len(out) >= limit:
                    break
            if not out:
                continue
        res[pa.key] = out if many else out[0]
    return res or None


def reference_pull(db: Any, pattern: Any, eid: int) -> dict[Any, Any] | None:
    return _reference(db, parse_pattern(pattern), eid, (), {})


def _attr_specs(depth: int) -> st.SearchStrategy[Any]:
    names = st.sampled_from(SCALARS + REFS + REVERSE + [":db/id"])
    refs = st.sampled_from(REFS + REVERSE)
    options = st.one_of(
        st.tuples(st.just(":limit"), st.one_of(st.none(), st.integers(1, 3))),
        st.tuples(st.just(":default"), st.sampled_from([0, "none", K(":none")])))
    # options matter most on attributes with several values: draw those more often
    many = st.sampled_from([":person/aka", ":person/child", ":person/_child", ":person/_father"])
    with_opts = st.builds(lambda n, o: (n, *o), st.one_of(many, names), options)
    leaf = st.one_of(names, with_opts, st.just("*"))
    if depth >= 3:
        return leaf
    sub = st.one_of(st.sampled_from([..., 1, 2]), _patterns(depth + 1))
    key = st.one_of(refs, st.builds(lambda n, o: (n, ":limit", o), refs, st.integers(1, 2)))
    maps = st.builds(lambda k, v: {k: v}, key, sub)
    return st.one_of(leaf, maps)


def _attr_of(spec: Any) -> str:
    if isinstance(spec, dict):
        spec = next(iter(spec))
    if isinstance(spec, tuple):
        spec = spec[0]
    return str(spec)


def _patterns(depth: int = 0) -> st.SearchStrategy[Any]:
    return st.lists(st.deferred(lambda: _attr_specs(depth)), min_size=1, max_size=4,
                    unique_by=_attr_of)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pattern=_patterns())
def test_pull_equals_reference(people: Any, pattern: Any) -> None:
    db, ids = people
    eids = sorted(v for k, v in ids.items() if k != "datomic.tx")
    for eid in eids:
        assert pull(db, pattern, eid) == reference_pull(db, pattern, eid), (pattern, eid)
    assert pull_many(db, pattern, eids) == [reference_pull(db, pattern, e) for e in eids]
