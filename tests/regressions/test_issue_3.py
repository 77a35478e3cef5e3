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
