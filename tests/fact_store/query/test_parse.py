"""The query parser: AST shapes, caching, and fuzzing (anything parses or raises a syntax error)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fact_store.edn.values import Keyword as K
from fact_store.edn.values import Symbol as S
from fact_store.errors import EdnSyntaxError, QuerySyntaxError
from fact_store.query.parse import (
    Aggregate, BindColl, BindScalar, BindTuple, Const, FindColl, FindRel, FindScalar, FindTuple,
    Function, Not, Or, Pattern, Predicate, PullExpr, RuleExpr, SrcVar, Var, parse_query,
    parse_rules,
)


def test_find_specs():
    assert isinstance(parse_query("[:find ?a ?b :where [?a :x ?b]]").find, FindRel)
    assert isinstance(parse_query("[:find [?a ...] :where [?a :x]]").find, FindColl)
    assert isinstance(parse_query("[:find ?a . :where [?a :x]]").find, FindScalar)
    assert isinstance(parse_query("[:find [?a ?b] :where [?a :x ?b]]").find, FindTuple)
    agg = parse_query("[:find (max 3 ?a) :where [_ :x ?a]]").find.elements[0]
    assert agg == Aggregate("max", (Const(3), Var("?a")))
    pull = parse_query("[:find (pull $2 ?e [*]) :in $2 :where [$2 ?e :x]]").find.elements[0]
    assert isinstance(pull, PullExpr) and pull.source == SrcVar("$2")


def test_inputs_and_bindings():
    q = parse_query("[:find ?a :in $ % ?x [?y ...] [[?a _]] [?p ?q] :where [?a :x ?x]]")
    assert q.in_[0] == SrcVar("$")
    assert q.in_[2] == BindScalar(Var("?x"))
    assert q.in_[3] == BindColl(BindScalar(Var("?y")))
    assert isinstance(q.in_[4], BindColl) and isinstance(q.in_[4].binding, BindTuple)
    assert isinstance(q.in_[5], BindTuple)


def test_clause_kinds():
    q = parse_query('[:find ?e :in $ % :where [?e :a ?v] [(> ?v 1)] [(str ?v) ?s] (r ?e) '
                    '(not [?e :b]) (or [?e :c] (and [?e :d] [?e :f])) '
                    '(or-join [[?e] ?v] [?e :g ?v]) ($ not-join [?e] [?e :h])]')
    kinds = [type(c) for c in q.where]
    assert kinds == [Pattern, Predicate, Function, RuleExpr, Not, Or, Or, Not]
    assert q.where[6].required == (Var("?e"),)


def test_trailing_blanks_are_dropped_and_lookup_refs_are_constants():
    q = parse_query('[:find ?v :where [[:a/id 1] :a/v ?v _ _]]')
    assert q.where[0].terms == (Const((K(":a/id"), 1)), Const(K(":a/v")), Var("?v"))


def test_data_form_may_use_lists_for_vectors():
    q = parse_query([K(":find"), S("?e"), K(":where"), [S("?e"), K(":a"), 1],
                     [[S(">"), S("?e"), 1]]])
    assert isinstance(q.where[0], Pattern) and isinstance(q.where[1], Predicate)


def test_parsed_queries_are_cached_by_text():
    text = "[:find ?cached :where [?cached :x]]"
    assert parse_query(text) is parse_query(text)


def test_rules():
    key, rules = parse_rules("[[(r [?a] ?b) [?a :x ?b]] [(r [?a] ?b) [?b :x ?a]]]")
    assert len(rules["r"]) == 2 and rules["r"][0].required == (Var("?a"),)
    with pytest.raises(QuerySyntaxError, match="Arity mismatch: rule 'r'"):
        parse_rules("[[(r ?a) [?a :x]] [(r ?a ?b) [?a :x ?b]]]")


# ---------------------------------------------------------------- fuzz

atoms = st.one_of(
    st.integers(-3, 3), st.text(max_size=3), st.booleans(), st.none(),
    st.sampled_from([S("?a"), S("?b"), S("_"), S("$"), S("$2"), S("%"), S("..."), S("."),
                     S("not"), S("or"), S("and"), S("not-join"), S("or-join"), S("pull"),
                     S("count"), S(">"), S("r"), K(":find"), K(":in"), K(":where"), K(":with"),
                     K(":keys"), K(":a/b")]))
forms = st.recursive(atoms, lambda kids: st.one_of(
    st.lists(kids, max_size=5), st.lists(kids, max_size=5).map(tuple),
    st.dictionaries(st.sampled_from([K(":find"), K(":in"), K(":where")]), kids, max_size=3)),
    max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(forms)
def test_any_data_parses_or_raises_a_query_syntax_error(form):
    try:
        parse_query(form)
    except QuerySyntaxError:
        pass
    except EdnSyntaxError:
        assert isinstance(form, str)      # a str is query text


@settings(max_examples=200, deadline=None)
@given(st.lists(forms, max_size=4).map(lambda xs: [K(":find"), S("?a"), K(":where"), *xs]))
def test_any_where_clause_data_parses_or_raises_a_query_syntax_error(form):
    try:
        parse_query(form)
    except QuerySyntaxError:
        pass


@settings(max_examples=200, deadline=None)
@given(forms)
def test_any_rule_data_parses_or_raises_a_query_syntax_error(form):
    try:
        parse_rules(form)
    except QuerySyntaxError:
        pass
    except EdnSyntaxError:
        assert isinstance(form, str)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="[](){}:?_ .$%#\"abc123-/\\", max_size=40))
def test_any_text_parses_or_raises_a_syntax_error(text):
    try:
        parse_query(text)
    except (QuerySyntaxError, EdnSyntaxError):
        pass
