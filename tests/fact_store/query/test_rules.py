"""Rules: several bodies, recursion, required bindings, rules calling rules, work done."""

from __future__ import annotations

import pytest

from fact_store.edn.values import Symbol as S
from fact_store.errors import QueryError
from fact_store.query import q
from tests.fact_store.query.conftest import build_db

ANCESTOR = """[[(ancestor ?c ?a) [?c :person/parent ?a]]
               [(ancestor ?c ?a) [?c :person/parent ?p] (ancestor ?p ?a)]]"""


def test_rule_with_several_bodies(people, strategy):
    db, _ = people
    rules = """[[(notable ?e) [?e :person/age ?a] [(> ?a 30)]]
                [(notable ?e) [?e :person/aka "Anya"]]]"""
    assert q('[:find ?n :in $ % :where (notable ?e) [?e :person/name ?n]]', db, rules) == {
        ("Petr",), ("Oleg",), ("Anna",)}


def test_recursive_rule_from_a_bound_and_a_free_end(people, strategy):
    db, ids = people
    got = q('[:find ?n :in $ % ?c :where (ancestor ?c ?a) [?a :person/name ?n]]', db, ANCESTOR,
            ids["anna"])
    assert got == {("Oleg",), ("Petr",), ("Ivan",)}
    got = q('[:find ?n :in $ % ?a :where (ancestor ?c ?a) [?c :person/name ?n]]', db, ANCESTOR,
            ids["petr"])
    assert got == {("Oleg",), ("Anna",)}
    got = q('[:find ?cn ?an :in $ % :where (ancestor ?c ?a) [?c :person/name ?cn] '
            '[?a :person/name ?an]]', db, ANCESTOR)
    assert got == {("Petr", "Ivan"), ("Oleg", "Petr"), ("Oleg", "Ivan"), ("Anna", "Oleg"),
                   ("Anna", "Petr"), ("Anna", "Ivan")}


def test_rule_arguments_may_be_constants_and_lookup_refs(people):
    db, ids = people
    got = q('[:find ?a :in $ % :where (ancestor [:person/name "Oleg"] ?a)]', db, ANCESTOR)
    assert got == {(ids["petr"],), (ids["ivan"],)}
    assert q('[:find ?c :in $ % ?a :where (ancestor ?c ?a) (ancestor ?c 0)]', db, ANCESTOR,
             ids["ivan"]) == set()


def test_underscore_as_a_rule_argument(people):
    db, ids = people
    assert q('[:find ?c :in $ % :where (ancestor ?c _)]', db, ANCESTOR) == {
        (ids["petr"],), (ids["oleg"],), (ids["anna"],)}


def test_required_binding_rule(people):
    """Datomic's [(rule [?a] ?b) ...]: ?a must be bound by the caller."""
    db, ids = people
    rules = '[[(friend-of [?x] ?y) [?x :person/friend ?y]]]'
    got = q('[:find ?n :in $ % ?x :where (friend-of ?x ?y) [?y :person/name ?n]]', db, rules,
            ids["petr"])
    assert got == {("Ivan",), ("Oleg",)}
    # the planner waits until ?x is bound, wherever the call is written
    got = q('[:find ?n :in $ % :where (friend-of ?x ?y) [?x :person/name "Ivan"] '
            '[?y :person/name ?n]]', db, rules)
    assert got == {("Petr",)}


def test_rules_calling_rules(people, strategy):
    db, _ = people
    rules = ANCESTOR[:-1] + """
             [(grand-ancestor ?c ?g) (ancestor ?c ?p) (ancestor ?p ?g)]
             [(named-grand-ancestor ?c ?n) (grand-ancestor ?c ?g) [?g :person/name ?n]]]"""
    got = q('[:find ?n :in $ % :where [?c :person/name "Anna"] (named-grand-ancestor ?c ?n)]',
            db, rules)
    assert got == {("Petr",), ("Ivan",)}


def test_rules_inside_not_and_or(people):
    db, _ = people
    got = q('[:find ?n :in $ % :where [?c :person/name ?n] (not (ancestor ?c _))]', db, ANCESTOR)
    assert got == {("Ivan",)}
    got = q('[:find ?n :in $ % :where [?c :person/name ?n] '
            '(or (ancestor ?c [:person/name "Oleg"]) [?c :person/age 15])]', db, ANCESTOR)
    assert got == {("Anna",), ("Ivan",)}


def test_rules_as_data(people):
    db, ids = people
    rules = [[[S("parent-of"), S("?c"), S("?p")], (S("?c"), ":person/parent", S("?p"))]]
    assert q('[:find ?p :in $ % ?c :where (parent-of ?c ?p)]', db, rules, ids["anna"]) == {
        (ids["oleg"],)}


def test_rule_call_on_another_source(people, make_db):
    db, _ = people
    db2, ids2 = make_db([{":db/id": "x", ":person/name": "X", ":person/parent": ["y"]},
                         {":db/id": "y", ":person/name": "Y"}])
    got = q('[:find ?a :in $ $2 % :where [$2 ?c :person/name "X"] ($2 ancestor ?c ?a)]', db, db2,
            ANCESTOR)
    assert got == {(ids2["y"],)}


def _chain(n: int, extra: int = 0) -> tuple[object, dict]:
    data = [{":db/id": f"n{i}", ":person/name": f"n{i}",
             **({":person/friend": [f"n{i + 1}"]} if i + 1 < n else {})} for i in range(n)]
    data += [{":db/id": f"m{i}", ":person/name": f"m{i}",
              **({":person/friend": [f"m{i + 1}"]} if i + 1 < extra else {})}
             for i in range(extra)]
    return build_db(data)


REACH = """[[(reach ?x ?y) [?x :person/friend ?y]]
            [(reach ?x ?y) [?x :person/friend ?t] (reach ?t ?y)]]"""
REACH_LEFT = """[[(reach ?x ?y) [?x :person/friend ?y]]
                 [(reach ?x ?y) (reach ?x ?t) [?t :person/friend ?y]]]"""


@pytest.mark.parametrize("rules", [REACH, REACH_LEFT], ids=["right-linear", "left-linear"])
def test_deep_recursion_does_not_use_the_python_stack(rules):
    db, ids = _chain(1500)
    got = q('[:find (count ?y) . :in $ % ?x :where (reach ?x ?y)]', db, rules, ids["n0"])
    assert got == 1499


@pytest.mark.parametrize("rules", [REACH, REACH_LEFT], ids=["right-linear", "left-linear"])
def test_bound_root_reads_only_what_it_reaches(rules, monkeypatch):
    """Seeded from one root, the closure of the other (10x larger) chain is never computed,
    and semi-naive evaluation reads each reached entity a bounded number of times."""
    from fact_store.query import patterns
    monkeypatch.setattr(patterns, "LOOKUP_COST", 0.0)          # per-row lookups only
    monkeypatch.setattr(patterns, "RAW_INDEXES", False)
    db, ids = _chain(100, extra=1000)
    calls = [0]
    cls = type(db)
    original = cls.search

    def counting(self, *args, **kw):  # noqa: ANN001, ANN002, ANN003
        calls[0] += 1
        return original(self, *args, **kw)

    monkeypatch.setattr(cls, "search", counting)
    got = q('[:find ?y :in $ % ?x :where (reach ?x ?y)]', db, rules, ids["n0"])
    assert len(got) == 99
    assert calls[0] <= 4 * 100, calls[0]


def test_mutual_recursion(make_db):
    db, ids = make_db([{":db/id": f"n{i}", ":person/name": f"n{i}",
                        **({":person/friend": [f"n{i + 1}"]} if i < 5 else {})}
                       for i in range(6)])
    rules = """[[(even-step ?x ?y) [?x :person/friend ?y1] [?y1 :person/friend ?y]]
                [(even-step ?x ?y) (odd-step ?x ?t) [?t :person/friend ?y]]
                [(odd-step ?x ?y) [?x :person/friend ?y]]
                [(odd-step ?x ?y) (even-step ?x ?t) [?t :person/friend ?y]]]"""
    got = q('[:find ?n :in $ % ?x :where (even-step ?x ?y) [?y :person/name ?n]]', db, rules,
            ids["n0"])
    assert got == {("n2",), ("n4",)}


# Datomic: :in names $ only when a clause reads it; a rule whose body only calls functions
# and predicates works with ":in %" and no database at all.

_FN_RULES = """[[(double ?x ?y) [(* ?x 2) ?y]]
               [(big? ?x) [(> ?x 10)]]
               [(quad ?x ?z) (double ?x ?y) (double ?y ?z)]
               [(down ?n ?m) [(ground ?n) ?m]]
               [(down ?n ?m) [(> ?n 0)] [(dec ?n) ?k] (down ?k ?m)]
               [(named ?e) [?e :person/name _]]]"""


def test_rules_without_a_data_source_need_no_dollar_in_in():
    assert q('[:find ?y :in % ?x :where (double ?x ?y)]', _FN_RULES, 4) == {(8,)}
    assert q('[:find ?x :in % [?x ...] :where (big? ?x)]', _FN_RULES, [4, 40]) == {(40,)}
    assert q('[:find ?y . :in % :where [(ground 3) ?x] (quad ?x ?y)]', _FN_RULES) == 12
    assert q('[:find ?m :in % :where (down 3 ?m)]', _FN_RULES) == {(0,), (1,), (2,), (3,)}


def test_a_rule_body_that_reads_dollar_still_needs_it():
    with pytest.raises(QueryError, match=r"Unknown source \$ in \[\?e :person/name _\]"):
        q('[:find ?e :in % :where (named ?e)]', _FN_RULES)
