"""Regressions of the query engine (issue 3) found after it landed."""

import pytest

import fact_store as fs


def test_a_collection_as_a_pattern_constant_is_a_syntax_error():
    """Found by fuzz_query: a vector in a pattern's tx position reached the planner's memo
    as an unhashable key (TypeError) instead of a QuerySyntaxError."""
    c = fs.connect("mem:")
    c.transact([{":db/ident": ":f/name", ":db/valueType": ":db.type/string",
                 ":db/cardinality": ":db.cardinality/one"}])
    with pytest.raises(fs.QuerySyntaxError, match="constant must be a scalar value or a lookup ref"):
        fs.q('[:find ?e :where (not [?e :f/name "a" [(str ?x) ?y]]) [?e :f/name _]]', c.db())
    c.close()


def test_a_bound_value_of_another_type_matches_nothing():
    """Found by fuzz_query: an entity id bound to ?e, then used as the value of a string
    attribute, reached the index as an int compared with strings (TypeError)."""
    c = fs.connect("mem:")
    c.transact([{":db/ident": ":f/name", ":db/valueType": ":db.type/string",
                 ":db/cardinality": ":db.cardinality/one"},
                {":db/ident": ":f/ref", ":db/valueType": ":db.type/ref",
                 ":db/cardinality": ":db.cardinality/one"}])
    c.transact([{":db/id": "a", ":f/name": "a", ":f/ref": "b"}, {":db/id": "b", ":f/name": "b"}])
    q = '[:find [?n ...] :where [?e :f/ref ?r] [?r :f/name ?n] (not [?e :f/name ?e "a"])]'
    assert fs.q(q, c.db()) == ["b"]
    c.close()
