"""Errors a user can make: each is a QuerySyntaxError or QueryError naming the offending form."""

from __future__ import annotations

import pytest

from fact_store.errors import EdnSyntaxError, QueryError, QuerySyntaxError
from fact_store.query import q
from fact_store.query.builtins import MAX_REGEX_LENGTH


def test_unbound_variable_in_a_predicate(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Insufficient bindings: \['\?x'\] not bound in "
                                         r"\[\(> \?x 1\)\]"):
        q('[:find ?e :where [?e :person/name] [(> ?x 1)]]', db)


def test_unknown_function(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Unknown function 'frobnicate' in "
                                         r"\[\(frobnicate \?e\)\]"):
        q('[:find ?e :where [?e :person/name] [(frobnicate ?e)]]', db)


@pytest.mark.parametrize("fn", ["eval", "exec", "__import__", "os.system", "getattr",
                                "open", "clojure.core/eval", "java.lang.Runtime/exec"])
def test_query_text_cannot_reach_python(people, fn):
    db, _ = people
    with pytest.raises(QueryError, match=f"Unknown function '{fn}'"):
        q(f'[:find ?x :where [(ground "1") ?s] [({fn} ?s) ?x]]', db)


def test_wrong_arity(people):
    db, _ = people
    with pytest.raises(QuerySyntaxError, match=r"Wrong number of arguments \(1\) to subs in "
                                               r"\[\(subs \?n\) \?s\], expected 2\.\.3"):
        q('[:find ?s :where [_ :person/name ?n] [(subs ?n) ?s]]', db)


def test_rule_without_definition(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Unknown rule 'ancestor' in \(ancestor \?a \?b\)"):
        q('[:find ?a :in $ % :where (ancestor ?a ?b)]', db, '[[(other ?x) [?x :person/name]]]')
    with pytest.raises(QuerySyntaxError, match=r"calls rules but has no % in :in"):
        q('[:find ?a :where (ancestor ?a ?b)]', db)


def test_wrong_number_of_rule_arguments(people):
    db, _ = people
    with pytest.raises(QuerySyntaxError, match=r"Wrong number of arguments \(1\) to rule 'r'"):
        q('[:find ?a :in $ % :where (r ?a)]', db, '[[(r ?x ?y) [?x :person/friend ?y]]]')


def test_rule_required_binding_not_bound(people):
    db, _ = people
    rules = '[[(friend-of [?x] ?y) [?x :person/friend ?y]]]'
    with pytest.raises(QueryError, match=r"Insufficient bindings: rule 'friend-of' requires \?a "
                                         r"bound in \(friend-of \?a \?b\)"):
        q('[:find ?a ?b :in $ % :where (friend-of ?a ?b)]', db, rules)


def test_bad_find_specs(people):
    db, _ = people
    with pytest.raises(QuerySyntaxError, match=r":find needs at least one element"):
        q('[:find :where [?e :person/name]]', db)
    with pytest.raises(QuerySyntaxError, match=r"Expected a find spec"):
        q('[:find ?e . ?n :where [?e :person/name ?n]]', db)
    with pytest.raises(QuerySyntaxError, match=r"Expected a find element"):
        q('[:find "e" :where [?e :person/name ?n]]', db)
    with pytest.raises(QuerySyntaxError, match=r"Query for unknown vars: \[\?x\]"):
        q('[:find ?x :where [?e :person/name ?n]]', db)
    with pytest.raises(QuerySyntaxError, match=r"Count of :keys \(1\) must match count of "
                                               r":find \(2\)"):
        q('[:find ?e ?n :keys e :where [?e :person/name ?n]]', db)
    with pytest.raises(QuerySyntaxError, match=r"A query needs :find"):
        q('[:where [?e :person/name ?n]]', db)


def test_variable_missing_from_an_or_branch(people):
    db, _ = people
    with pytest.raises(QuerySyntaxError, match=r"All clauses in 'or' must use the same set of "
                                               r"variables, had \[#\{\?e \?x\}, #\{\?e\}\]"):
        q('[:find ?e :where [?e :person/name] (or [?e :person/aka ?x] [?e :person/age 1])]', db)
    with pytest.raises(QuerySyntaxError, match=r"or-join variables \['\?x'\] are missing from "
                                               r"branch"):
        q('[:find ?e :where [?e :person/name] '
          '(or-join [?e ?x] [?e :person/aka ?x] [?e :person/age 1])]', db)


def test_not_with_no_bound_variable(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Insufficient bindings: none of \['\?x'\] is bound in "
                                         r"\(not \[\?x :person/age 1\]\)"):
        q('[:find ?e :where [?e :person/name] (not [?x :person/age 1])]', db)


def test_not_join_variable_never_bound(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Insufficient bindings: \['\?x'\] not bound in "
                                         r"\(not-join \[\?x\]"):
        q('[:find ?e :where [?e :person/name] (not-join [?x] [?x :person/age 1])]', db)


def test_unknown_attribute(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Unknown attribute :no/such in \[\?e :no/such \?v\]"):
        q('[:find ?e :where [?e :no/such ?v]]', db)


def test_unknown_aggregate(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Unknown aggregate 'frob' in \(frob \?a\)"):
        q('[:find (frob ?a) :where [_ :person/age ?a]]', db)


def test_wrong_number_of_inputs(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Wrong number of inputs: the query takes 2 "
                                         r"\(:in \$ \?n\), got 1"):
        q('[:find ?e :in $ ?n :where [?e :person/name ?n]]', db)


def test_bad_input_shapes(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"tuple binding \[\?a \?b\] must have 2 elements, got 3"):
        q('[:find ?a :in [?a ?b]]', [1, 2, 3])
    with pytest.raises(QueryError, match=r"collection binding \[\?a \.\.\.\] must be a "
                                         r"collection, got 5"):
        q('[:find ?a :in [?a ...]]', 5)


def test_type_error_in_a_predicate_names_the_clause(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Error evaluating \[\(> \?n 1\)\]: TypeError"):
        q('[:find ?e :where [?e :person/name ?n] [(> ?n 1)]]', db)


def test_regex_pattern_length_is_bounded():
    with pytest.raises(QueryError, match=f"longer than the limit of {MAX_REGEX_LENGTH}"):
        q('[:find ?m :in ?p ?s :where [(re-find ?p ?s) ?m]]', "a" * (MAX_REGEX_LENGTH + 1), "a")


def test_malformed_clauses(people):
    db, _ = people
    with pytest.raises(QuerySyntaxError, match=r"A data pattern has at most 5 terms"):
        q('[:find ?e :where [?e :person/name ?n ?t true 1]]', db)
    with pytest.raises(QuerySyntaxError, match=r"a plain symbol is not a constant"):
        q('[:find ?e :where [?e :person/name foo]]', db)
    with pytest.raises(QuerySyntaxError, match=r"\(and \.\.\.\) is only allowed directly inside"):
        q('[:find ?e :where (and [?e :person/name])]', db)
    with pytest.raises(QuerySyntaxError, match=r"Expected a clause"):
        q('[:find ?e :where [?e :person/name] 42]', db)
    with pytest.raises(QuerySyntaxError, match=r"Unknown source \$2"):
        q('[:find ?e :where [$2 ?e :person/name]]', db)


def test_bad_edn_text_is_an_edn_syntax_error(people):
    db, _ = people
    with pytest.raises(EdnSyntaxError):
        q('[:find ?e :where [?e :person/name', db)


def test_recursion_through_not_is_refused(people):
    db, _ = people
    rules = '[[(odd ?x) [?x :person/name] (not (odd ?x))]]'
    with pytest.raises(QueryError, match=r"rules must be stratified"):
        q('[:find ?x :in $ % :where (odd ?x)]', db, rules)


def test_rule_head_variable_not_bound_by_its_body(people):
    db, _ = people
    with pytest.raises(QuerySyntaxError, match=r"Rule head variables \['\?z'\] are not used"):
        q('[:find ?x :in $ % :where (r ?x ?z)]', db, '[[(r ?x ?z) [?x :person/name]]]')
    with pytest.raises(QueryError, match=r"In rule 'r'"):
        q('[:find ?x :in $ % :where (r ?x ?z)]', db, '[[(r ?x ?z) [?x :person/name] '
                                                     '[(> ?z 1)]]]')


def test_errors_carry_data(people):
    db, _ = people
    with pytest.raises(QueryError) as info:
        q('[:find ?e :where [?e :person/name] [(frobnicate ?e)]]', db)
    assert info.value.code == "query/error" and info.value.data["fn"] == "frobnicate"


# ---------------------------------------------------------------- limits (RELIABILITY V3, S-02)

def test_row_budget_refuses_a_cartesian_product(make_db):
    from fact_store.errors import LimitExceeded, QueryLimitExceeded
    db, _ = make_db([{":person/name": f"p{i}", ":person/age": i} for i in range(50)])
    text = '[:find ?a ?b :where [?a :person/name] [?b :person/age]]'
    assert len(q(text, db)) == 2500
    with pytest.raises(QueryLimitExceeded, match=r"more than the row budget of 1000") as info:
        q(text, db, max_rows=1000)
    assert isinstance(info.value, LimitExceeded) and isinstance(info.value, QueryError)
    with pytest.raises(QueryLimitExceeded, match=r"row budget of 10\b"):
        q('[:find ?a :where [?a :person/name]]', db, max_rows=10)


def test_deadline(make_db, monkeypatch):
    from fact_store.errors import QueryLimitExceeded
    db, _ = make_db([{":person/name": f"p{i}", ":person/age": i} for i in range(50)])
    with pytest.raises(QueryLimitExceeded, match=r"past its deadline of 0\.0 s"):
        q('[:find ?a :where [?a :person/name] [?a :person/age]]', db, timeout=0.0)
    with pytest.raises(QueryLimitExceeded, match=r"deadline of 1e-06 s"):
        q('{:find [?a] :where [[?a :person/name] [?a :person/age]] :timeout 1}', db,
          timeout=1e-6)
    assert len(q('{:find [?a] :where [[?a :person/name]] :timeout 5000}', db)) == 50
    with pytest.raises(QuerySyntaxError, match=r":timeout takes a positive number"):
        q('[:find ?a :timeout -1 :where [?a :person/name]]', db)


def test_regex_that_backtracks_exponentially_runs_in_linear_time_or_is_refused():
    from fact_store.errors import QueryLimitExceeded
    # RE2 runs what Python's re would backtrack on for ever, in linear time
    assert q('[:find ?m :in ?s :where [(re-find "(a+)+$" ?s) ?m]]', "a" * 10_000 + "!") == set()
    assert q('[:find ?m :in ?s :where [(re-matches "(x|xx)*y" ?s) ?m]]', "x" * 10_000) == set()
    assert q('[:find ?m . :in ?s :where [(re-find "(ab)+c" ?s) ?m]]', "ababc") == ("ababc", "ab")
    # what only Python's re runs (a backreference) must not nest repetitions
    with pytest.raises(QueryLimitExceeded, match=r"nests a repetition"):
        q('[:find ?m :in ?s :where [(re-find "((a+)+)\\\\1$" ?s) ?m]]', "a" * 30 + "!")
    # and it searches strings of bounded length only
    assert q('[:find ?m . :in ?s :where [(re-find "(a)\\\\1" ?s) ?m]]', "baa") == ("aa", "a")
    with pytest.raises(QueryLimitExceeded, match=r"strings of up to 215 characters"):
        q('[:find ?m :in ?s :where [(re-find "(a*)b\\\\1" ?s) ?m]]', "a" * 216)


def test_string_building_is_capped():
    from fact_store.errors import QueryLimitExceeded
    from fact_store.query.builtins import MAX_STRING_LENGTH
    with pytest.raises(QueryLimitExceeded, match=r"str built a string"):
        q('[:find ?s :in ?a :where [(str ?a ?a) ?s]]', "x" * (MAX_STRING_LENGTH // 2 + 1))


# Datomic resolves a lookup ref only through a :db/unique attribute; any other attribute
# is an error (":db.error/lookup-ref-attr-not-unique"), never a pattern that matches nothing.

def test_lookup_ref_on_a_non_unique_attribute_in_a_pattern(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Lookup ref \[:person/email \"oleg@example.com\"\] in "
                                         r".*:person/email is not :db/unique"):
        q('[:find ?a :where [[:person/email "oleg@example.com"] :person/age ?a]]', db)
    with pytest.raises(QueryError, match=r":person/email is not :db/unique"):
        q('[:find ?e :where [?e :person/friend [:person/email "nobody"]]]', db)


def test_lookup_ref_on_an_unknown_attribute_in_a_pattern(people):
    db, _ = people
    with pytest.raises(QueryError, match=r"Lookup ref \[:person/nope 1\] in .* names an unknown "
                                         r"attribute"):
        q('[:find ?a :where [[:person/nope 1] :person/age ?a]]', db)


def test_lookup_ref_on_a_non_unique_attribute_as_an_input(people):
    db, _ = people
    from fact_store import Keyword as K
    with pytest.raises(QueryError, match=r"Lookup ref \[:person/email \"oleg@example.com\"\] "
                                         r"given as an input: .*not :db/unique"):
        q('[:find ?a :in $ ?e :where [?e :person/age ?a]]', db,
          (K(":person/email"), "oleg@example.com"))


def test_documented_differences_regex_literal_and_re_groups():
    """docs/DATOMIC.md: query text is EDN, which has no #"..." literal; re-groups needs a
    Java Matcher, which no query value is."""
    with pytest.raises(EdnSyntaxError):
        q('[:find ?m :where [(re-find #"a+" "baa") ?m]]')
    assert q('[:find ?m . :where [(re-find "a+" "baa") ?m]]') == "aa"
    with pytest.raises(QueryError, match="Unknown function 're-groups'"):
        q('[:find ?m :where [(re-groups "baa") ?m]]')
