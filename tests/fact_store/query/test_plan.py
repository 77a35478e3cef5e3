"""The planner: clause order, index choice, caches that never go stale, explain."""

from __future__ import annotations

import fact_store
from fact_store.query import Explain, _prepare, explain, q
from fact_store.query.steps import FilterStep, NotStep, PatternStep
from tests.fact_store.query.conftest import SCHEMA


def _clauses(e: Explain) -> list[str]:
    return [s["clause"] for s in e.steps if s["depth"] == 0]


def test_clause_order_does_not_depend_on_how_the_query_is_written(people):
    db, _ = people
    q2 = explain('[:find ?e ?a :where [?e :person/name "Ivan"] [?e :person/age ?a]]', db)
    q2s = explain('[:find ?e ?a :where [?e :person/age ?a] [?e :person/name "Ivan"]]', db)
    assert _clauses(q2) == _clauses(q2s) == ['[?e :person/name "Ivan"]', '[?e :person/age ?a]']
    assert q2.steps[0]["how"] == "index AVET" and q2.result == q2s.result


def test_predicates_run_as_soon_as_their_variables_are_bound(people):
    db, _ = people
    e = explain('[:find ?n :where [?e :person/age ?a] [(> ?a 20)] [?e :person/name ?n] '
                '[?e :person/sex :male]]', db)
    order = _clauses(e)
    assert order.index("[(> ?a 20)]") == order.index("[?e :person/age ?a]") + 1
    assert e.result == {("Petr",), ("Oleg",)}


def test_comparisons_after_a_first_pattern_read_an_avet_range(people):
    db, _ = people
    e = explain('[:find ?e :where [?e :person/age ?a] [(> ?a 20)] [(< ?a 30)]]', db)
    assert "AVET range" in e.steps[0]["strategy"] and e.steps[0]["rows_out"] == 1


def test_plan_is_cached_and_keyed_by_schema_version(people):
    db, _ = people
    text = '[:find ?e :where [?e :person/name "Ivan"]]'
    p1, _ = _prepare(text, (db,))
    p2, _ = _prepare(text, (db,))
    assert p1 is p2
    db2 = db.with_([{":db/ident": ":person/nick", ":db/valueType": ":db.type/string",
                     ":db/cardinality": ":db.cardinality/one"}]).db_after
    p3, _ = _prepare(text, (db2,))
    assert p3 is not p1 and q(text, db2) == q(text, db)


def test_no_stale_plan_after_a_schema_change():
    conn = fact_store.connect("mem:query-plan-schema")
    conn.transact(SCHEMA)
    text = '[:find ?v :where [_ :thing/label ?v]]'
    try:
        q(text, conn.db())
        raise AssertionError("expected an unknown attribute error")
    except fact_store.QueryError as exc:
        assert "Unknown attribute :thing/label" in str(exc)
    conn.transact([{":db/ident": ":thing/label", ":db/valueType": ":db.type/string",
                    ":db/cardinality": ":db.cardinality/one"}])
    conn.transact([{":thing/label": "hello"}])
    assert q(text, conn.db()) == {("hello",)}
    conn.close()


def test_a_function_registered_again_is_not_served_from_a_stale_plan():
    fact_store.register_query_fn("test.plan/f", lambda x: x + 1)
    text = '[:find ?y . :in ?x :where [(test.plan/f ?x) ?y]]'
    assert q(text, 1) == 2
    fact_store.register_query_fn("test.plan/f", lambda x: x + 100)
    assert q(text, 1) == 101


def test_explain_reports_order_indexes_and_row_counts(people):
    db, _ = people
    e = q('[:find ?n :where [?e :person/name ?n] [?e :person/sex :female] '
          '(not [?e :person/age 99])]', db, explain=True)
    assert isinstance(e, Explain) and e.result == {("Anna",)}
    text = str(e)
    assert "[?e :person/sex :female]" in text and "rows" in text and "result: 1" in text
    first = e.steps[0]
    assert first["rows_out"] >= 1 and first["runs"] == 1


def test_disconnected_parts_run_separately(people):
    db, _ = people
    e = explain('[:find ?n :where [?e :person/name ?n] [?e :person/age 15] '
                '[?x :person/email _]]', db)
    assert e.result == {("Ivan",)}
    assert "component 2" in e.text
    assert q('[:find ?n :where [?e :person/name ?n] [?e :person/age 15] '
             '[?x :person/email "nobody"]]', db) == set()


def test_not_runs_after_its_join_variables_are_bound(people):
    db, _ = people
    plan, _ = _prepare('[:find ?e :where (not [?e :person/sex :male]) [?e :person/name]]', (db,))
    steps = plan.components[0].block.steps
    assert isinstance(steps[0], PatternStep) and isinstance(steps[1], NotStep)


def test_scalar_inputs_are_constants_for_the_whole_query(people):
    db, _ = people
    plan, _ = _prepare('[:find ?e :in $ ?min :where [?e :person/age ?a] [(> ?a ?min)]]', (db, 1))
    steps = plan.components[0].block.steps
    assert isinstance(steps[0], PatternStep) and isinstance(steps[1], FilterStep)
    assert steps[0].ranges == ((">", 3, 0),)          # bound by parameter slot 0
    assert q('[:find ?e :in $ ?min :where [?e :person/age ?a] [(> ?a ?min)]]', db, 30) == \
        q('[:find ?e :where [?e :person/age ?a] [(> ?a 30)]]', db)


def test_an_input_collection_is_where_a_plan_starts(make_db):
    """Starting from [?j :person/age 1] would bind ?j for every person and make the rule
    compute everyone's ancestors; the input names the one person asked about."""
    db, ids = make_db([{":db/id": f"p{i}", ":person/name": f"p{i}", ":person/age": 1,
                        **({":person/parent": [f"p{i - 1}"]} if i else {})} for i in range(40)])
    rules = """[[(anc ?c ?a) [?c :person/parent ?a]]
                [(anc ?c ?a) [?c :person/parent ?p] (anc ?p ?a)]]"""
    text = '[:find ?c :in $ % [?a ...] :where (anc ?c ?a) [?c :person/age 1]]'
    e = explain(text, db, rules, [ids["p37"]])
    assert e.result == {(ids["p38"],), (ids["p39"],)}
    assert _clauses(e)[0].startswith("(:in") and "(fb, general)" in e.text
