"""Property: on random small dbs, random conjunctive queries give the reference evaluator's answer.

Queries mix data patterns (constants and ``_`` in every position), comparison
predicates, ``not``, ``not-join``, ``or``, ``or-join`` and ``and``; each runs
under every join strategy (see conftest.py).  A second property checks
recursive rules (linear, non-linear and mutually recursive) against a plain
breadth-first search.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fact_store.edn.values import Keyword as K
from fact_store.edn.values import Symbol as S
from fact_store.query import q
from tests.fact_store.query.conftest import build_db
from tests.fact_store.query.reference import Reference

SCHEMA = [
    {":db/ident": ":p/ref", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":p/n", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":p/m", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":p/s", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one"},
]
N_ENT = 5
STRINGS = ["x", "y", "z"]
INT_VARS = [S("?a"), S("?b"), S("?c")]
STR_VAR = S("?s")
BLANK = S("_")


@st.composite
def databases(draw: Any) -> list[dict[str, Any]]:
    ents = []
    for i in range(N_ENT):
        m: dict[str, Any] = {":db/id": f"e{i}"}
        refs = draw(st.lists(st.integers(0, N_ENT - 1), max_size=3, unique=True))
        if refs:
            m[":p/ref"] = [f"e{j}" for j in refs]
        if draw(st.booleans()):
            m[":p/n"] = draw(st.integers(0, 3))
        ms = draw(st.lists(st.integers(0, 3), max_size=2, unique=True))
        if ms:
            m[":p/m"] = ms
        if draw(st.booleans()):
            m[":p/s"] = draw(st.sampled_from(STRINGS))
        if len(m) == 1:
            m[":p/n"] = 0
        ents.append(m)
    return ents


# a pattern is drawn with entity constants as ("eid", i), resolved once the db exists
@st.composite
def patterns(draw: Any, int_vars: list[S], allow_blank: bool = True) -> tuple[Any, ...]:
    attr = draw(st.sampled_from([":p/ref", ":p/n", ":p/m", ":p/s"]))
    e_choices = [st.sampled_from(int_vars), st.tuples(st.just("eid"), st.integers(0, N_ENT - 1))]
    if allow_blank:
        e_choices.append(st.just(BLANK))
    e = draw(st.one_of(*e_choices))
    if attr == ":p/s":
        v = draw(st.one_of(st.just(STR_VAR), st.sampled_from(STRINGS), st.just(BLANK)))
    elif attr == ":p/ref":
        v = draw(st.one_of(st.sampled_from(int_vars), st.just(BLANK),
                           st.tuples(st.just("eid"), st.integers(0, N_ENT - 1))))
    else:
        v = draw(st.one_of(st.sampled_from(int_vars), st.integers(0, 3), st.just(BLANK)))
    if e == BLANK and v == BLANK:
        v = draw(st.sampled_from(int_vars)) if attr != ":p/s" else STR_VAR
    return (e, K(attr), v)


def _vars(p: tuple[Any, ...]) -> set[S]:
    return {t for t in p if type(t) is S and t.startswith("?")}


@st.composite
def queries(draw: Any) -> tuple[list[S], list[Any]]:
    where: list[Any] = draw(st.lists(patterns(INT_VARS), min_size=1, max_size=3))
    if not _vars(where[0]):
        where[0] = (S("?a"),) + where[0][1:]
    bound = set().union(*(_vars(p) for p in where))
    # or-join over a bound variable, or a plain or whose branches use the same variables
    if draw(st.booleans()):
        if bound & set(INT_VARS) and draw(st.booleans()):
            j = draw(st.sampled_from(sorted(bound & set(INT_VARS))))
            branches = []
            for _ in range(draw(st.integers(1, 3))):
                p = draw(patterns([j, S("?x")]))
                if j not in _vars(p):
                    p = (j,) + p[1:]
                if draw(st.booleans()):
                    branches.append([S("and"), p, draw(patterns([j, S("?x")]))])
                else:
                    branches.append(p)
            where.append([S("or-join"), (j,), *branches])
        else:
            va, vb = draw(st.sampled_from([(S("?a"), S("?b")), (S("?b"), S("?c"))]))
            b1 = (va, K(":p/n"), vb)
            b2 = (va, K(draw(st.sampled_from([":p/m", ":p/ref"]))), vb)
            where.append([S("or"), b1, b2])
            bound |= {va, vb}
    ints = sorted(bound & set(INT_VARS))
    if ints and draw(st.booleans()):
        op = S(draw(st.sampled_from(["<", ">", "<=", ">=", "=", "not="])))
        x = draw(st.sampled_from(ints))
        y = draw(st.one_of(st.sampled_from(ints), st.integers(0, 3)))
        where.append(([op, x, y],))
    if STR_VAR in bound and draw(st.booleans()):
        where.append(([S(draw(st.sampled_from(["=", "not="]))), STR_VAR,
                       draw(st.sampled_from(STRINGS))],))
    if ints and draw(st.booleans()):
        j = draw(st.sampled_from(ints))
        p = draw(patterns([j, S("?y")]))
        if j not in _vars(p):
            p = (j,) + p[1:]
        if STR_VAR in _vars(p) and STR_VAR not in bound:
            p = tuple(BLANK if t == STR_VAR else t for t in p)
        if draw(st.booleans()):
            where.append([S("not"), p])
        else:
            where.append([S("not-join"), (j,), p])
    find = sorted(bound, key=str)
    find = draw(st.lists(st.sampled_from(find), min_size=1, max_size=len(find), unique=True))
    return find, where


def _resolve(x: Any, ids: dict[str, int]) -> Any:
    if isinstance(x, tuple) and len(x) == 2 and x[0] == "eid":
        return ids[f"e{x[1]}"]
    if isinstance(x, tuple):
        return tuple(_resolve(y, ids) for y in x)
    if isinstance(x, list):
        return [_resolve(y, ids) for y in x]
    return x


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=databases(), query=queries())
def test_conjunctive_queries_equal_the_reference(strategy: str, data: Any, query: Any) -> None:
    db, ids = build_db(data, SCHEMA)
    find, where = query
    where = _resolve(where, ids)
    form = (K(":find"), *find, K(":where"), *where)
    got = q(form, db)
    want = Reference(db).q(find, where)
    assert got == want, (form, got, want)


# ---------------------------------------------------------------- recursive rules

RULES = {
    "linear": """[[(r ?x ?y) [?x :p/ref ?y]]
                  [(r ?x ?y) [?x :p/ref ?t] (r ?t ?y)]]""",
    "left-linear": """[[(r ?x ?y) [?x :p/ref ?y]]
                       [(r ?x ?y) (r ?x ?t) [?t :p/ref ?y]]]""",
    "non-linear": """[[(r ?x ?y) [?x :p/ref ?y]]
                      [(r ?x ?y) (r ?x ?t) (r ?t ?y)]]""",
    "mutual": """[[(r ?x ?y) [?x :p/ref ?y]]
                  [(r ?x ?y) [?x :p/ref ?t] (r2 ?t ?y)]
                  [(r2 ?x ?y) (r ?x ?y)]]""",
    "or-inside": """[[(r ?x ?y) (or-join [?x ?y] [?x :p/ref ?y] (and [?x :p/ref ?t] (r ?t ?y)))]]""",
}


@st.composite
def graphs(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(2, 7))
    ents = []
    for i in range(n):
        refs = draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True))
        m: dict[str, Any] = {":db/id": f"e{i}", ":p/n": i}
        if refs:
            m[":p/ref"] = [f"e{j}" for j in refs]
        ents.append(m)
    return ents


def _closure(db: Any, ids: dict[str, int]) -> dict[int, set[int]]:
    ref = db.schema.attr(":p/ref").id
    edges: dict[int, set[int]] = {}
    for d in db.search(None, ref):
        edges.setdefault(d[0], set()).add(d[2])
    out = {}
    for e in ids.values():
        seen: set[int] = set()
        todo = list(edges.get(e, ()))
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo.extend(edges.get(x, ()))
        out[e] = seen
    return out


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=graphs(), kind=st.sampled_from(sorted(RULES)), root=st.integers(0, 6),
       bound=st.sampled_from(["first", "second", "none", "both"]))
def test_recursive_rules_equal_breadth_first_search(strategy: str, data: Any, kind: str,
                                                     root: int, bound: str) -> None:
    db, ids = build_db(data, SCHEMA)
    closure = _closure(db, ids)
    rules = RULES[kind]
    root_e = ids[f"e{root % len(data)}"]
    if bound == "first":
        got = q("[:find ?y :in $ % ?x :where (r ?x ?y)]", db, rules, root_e)
        assert got == {(y,) for y in closure[root_e]}
    elif bound == "second":
        got = q("[:find ?x :in $ % ?y :where (r ?x ?y)]", db, rules, root_e)
        assert got == {(x,) for x, ys in closure.items() if root_e in ys}
    elif bound == "both":
        got = q("[:find ?y :in $ % ?x :where [?y :p/n _] (r ?x ?y)]", db, rules, root_e)
        assert got == {(y,) for y in closure[root_e]}
    else:
        got = q("[:find ?x ?y :in $ % :where (r ?x ?y)]", db, rules)
        assert got == {(x, y) for x, ys in closure.items() for y in ys}
