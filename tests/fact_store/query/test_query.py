"""Example tests for every construct of the query language, with Datomic's documented results.

Where DataScript and Datomic differ, these follow Datomic and say so.
"""

from __future__ import annotations

import random

import pytest

import fact_store
from fact_store.edn.values import Keyword as K
from fact_store.edn.values import Symbol as S
from fact_store.errors import QueryError
from fact_store.query import q


# ---------------------------------------------------------------- find specs

def test_relation_find_returns_a_set_of_tuples(people, strategy):
    db, ids = people
    assert q('[:find ?e ?n :where [?e :person/age 37] [?e :person/name ?n]]', db) == {
        (ids["petr"], "Petr"), (ids["oleg"], "Oleg")}


def test_scalar_find_returns_one_value_or_none(people):
    db, ids = people
    assert q('[:find ?e . :where [?e :person/name "Ivan"]]', db) == ids["ivan"]
    assert q('[:find ?e . :where [?e :person/name "Nobody"]]', db) is None


def test_collection_find_returns_a_list_of_distinct_values(people):
    db, _ = people
    ages = q('[:find [?a ...] :where [_ :person/age ?a]]', db)
    assert isinstance(ages, list) and sorted(ages) == [15, 22, 37]


def test_tuple_find_returns_one_tuple_or_none(people):
    db, _ = people
    assert q('[:find [?n ?a] :where [?e :person/name ?n] [?e :person/age ?a] '
             '[(= ?n "Anna")]]', db) == ("Anna", 22)
    assert q('[:find [?n ?a] :where [?e :person/name ?n] [?e :person/age ?a] '
             '[(= ?n "Zoe")]]', db) is None


def test_find_can_repeat_a_variable(people):
    db, _ = people
    assert q('[:find ?n ?n :where [_ :person/name ?n] [(= ?n "Ivan")]]', db) == {("Ivan", "Ivan")}


def test_return_maps_keys_strs_syms(people):
    db, _ = people
    text = '[:find ?n ?a {kind} n a :where [?e :person/name ?n] [?e :person/age ?a] [(< ?a 20)]]'
    keys = q(text.format(kind=":keys"), db)
    assert keys == [{K(":n"): "Ivan", K(":a"): 15}]
    assert isinstance(next(iter(keys[0])), K)
    strs = q(text.format(kind=":strs"), db)
    assert strs == [{"n": "Ivan", "a": 15}] and type(next(iter(strs[0]))) is str
    syms = q(text.format(kind=":syms"), db)
    assert syms == [{S("n"): "Ivan", S("a"): 15}] and type(next(iter(syms[0]))) is S


def test_return_map_with_a_tuple_find_is_one_dict(people):
    db, _ = people
    got = q('[:find [?n ?a] :keys name age :where [?e :person/name ?n] [?e :person/age ?a] '
            '[(= ?n "Oleg")]]', db)
    assert got == {K(":name"): "Oleg", K(":age"): 37}


def test_map_form_and_data_form_queries(people):
    db, ids = people
    text = {K(":find"): (S("?e"),), K(":where"): ((S("?e"), K(":person/name"), "Anna"),)}
    assert q(text, db) == {(ids["anna"],)}
    data = [K(":find"), S("?e"), K(":where"), [S("?e"), K(":person/name"), "Anna"]]
    assert q(data, db) == {(ids["anna"],)}


def test_with_keeps_duplicates_for_aggregates():
    """Datomic's documentation: 4 heads without :with, 6 with it."""
    monsters = [["Cerberus", 3], ["Medusa", 1], ["Cyclops", 1], ["Chimera", 1]]
    assert q('[:find (sum ?heads) . :in [[_ ?heads]]]', monsters) == 4
    assert q('[:find (sum ?heads) . :with ?monster :in [[?monster ?heads]]]', monsters) == 6


def test_with_without_an_aggregate_returns_a_bag():
    """Datomic: the :with variables are removed after the basis set is formed, "leaving a
    bag (not a set!)"; one row per distinct (find, with) tuple, duplicates kept."""
    monsters = [["Cerberus", 3], ["Medusa", 1], ["Cyclops", 1], ["Chimera", 1], ["Medusa", 1]]
    got = q('[:find ?heads :with ?monster :in [[?monster ?heads]]]', monsters)
    assert isinstance(got, list) and sorted(got) == [(1,), (1,), (1,), (3,)]
    assert sorted(q('[:find [?heads ...] :with ?monster :in [[?monster ?heads]]]',
                    monsters)) == [1, 1, 1, 3]
    assert q('[:find ?heads :in [[_ ?heads]]]', monsters) == {(1,), (3,)}


def test_aggregate_counts_may_come_from_an_input_variable():
    xs = [5, 1, 9, 3, 9]
    assert q('[:find (max ?n ?x) (min ?n ?x) :in ?n [?x ...]]', 2, xs) == {((9, 5), (1, 3))}
    (s,) = q('[:find [(sample ?n ?x)] :in ?n [?x ...]]', 3, xs)
    assert len(s) == 3 and len(set(s)) == 3 and set(s) <= set(xs)
    (r,) = q('[:find [(rand ?n ?x)] :in ?n [?x ...]]', 4, xs)
    assert len(r) == 4 and set(r) <= set(xs)
    with pytest.raises(QueryError, match=r"count of an aggregate must be a non-negative integer, "
                                         r"got \"two\""):
        q('[:find (max ?n ?x) :in ?n [?x ...]]', "two", xs)


def test_min_max_order_keywords_and_symbols_by_namespace_then_name():
    """Clojure's compare, which Datomic uses: no namespace first, then namespace, then name
    (so :a/z < :a.b/c, although the raw text orders them the other way)."""
    kws = [K(k) for k in (":b/a", ":a.b/c", ":z", ":a/z")]
    assert q('[:find [(min ?k) (max ?k)] :in [?k ...]]', kws) == (K(":z"), K(":b/a"))
    assert q('[:find (max 4 ?k) . :in [?k ...]]', kws) == (K(":b/a"), K(":a.b/c"), K(":a/z"),
                                                            K(":z"))
    syms = [S("a.b/c"), S("a/z"), S("z")]
    assert q('[:find (min 3 ?s) . :in [?s ...]]', syms) == (S("z"), S("a/z"), S("a.b/c"))


# ---------------------------------------------------------------- inputs

def test_scalar_tuple_collection_and_relation_bindings():
    """The binding examples of Datomic's documentation."""
    assert q('[:find ?answer :in ?answer]', 42) == {(42,)}
    assert q('[:find ?last ?first :in ?last ?first]', "Doe", "John") == {("Doe", "John")}
    assert q('[:find ?last ?first :in [?last ?first]]', ["Doe", "John"]) == {("Doe", "John")}
    assert q('[:find ?first :in [?first ...]]', ["John", "Jane", "Phineas"]) == {
        ("John",), ("Jane",), ("Phineas",)}
    assert q('[:find ?first :in [[?first ?last]]]', [["John", "Doe"], ["Jane", "Doe"]]) == {
        ("John",), ("Jane",)}


def test_input_relations_join_on_shared_variables():
    """Datomic's 'simple in-memory join, two relation bindings'."""
    got = q('[:find ?first ?height :in [[?last ?first ?email]] [[?email ?height]]]',
            [["Doe", "John", "jdoe@example.com"], ["Doe", "Jane", "jane@example.com"]],
            [["jane@example.com", 73], ["jdoe@example.com", 71]])
    assert got == {("Jane", 73), ("John", 71)}


def test_underscore_ignores_an_input(people):
    db, ids = people
    assert q('[:find ?e :in $ _ ?n :where [?e :person/name ?n]]', db, "ignored", "Oleg") == {
        (ids["oleg"],)}


def test_a_collection_of_tuples_is_a_source():
    """Datomic: 'any relation with 4-tuples E/A/V/T can act as a database'."""
    assert q('[:find ?first :in $db :where [$db _ :firstName ?first]]',
             [[1, K(":firstName"), "John"]]) == {("John",)}
    assert q('[:find ?first :where [_ :firstName ?first]]',
             [[1, K(":firstName"), "John", 42], [1, K(":lastName"), "Doe", 42]]) == {("John",)}


def test_several_sources(people, make_db):
    db, ids = people
    db2, ids2 = make_db([{":person/name": "Ivan", ":person/age": 99}])
    got = q('[:find ?a1 ?a2 :in $1 $2 ?n :where [$1 ?e1 :person/name ?n] [$1 ?e1 :person/age ?a1]'
            ' [$2 ?e2 :person/name ?n] [$2 ?e2 :person/age ?a2]]', db, db2, "Ivan")
    assert got == {(15, 99)}


def test_query_without_in_takes_the_db(people):
    db, _ = people
    assert q('[:find (count ?e) . :where [?e :person/name]]', db) == 4


def test_empty_collection_input_gives_empty_result(people):
    db, _ = people
    assert q('[:find ?e :in $ [?n ...] :where [?e :person/name ?n]]', db, []) == set()


# ---------------------------------------------------------------- data patterns

def test_constants_and_blanks_in_every_position(people, strategy):
    db, ids = people
    name = db.schema.attr(":person/name").id
    ivan = ids["ivan"]
    assert q('[:find ?v :in $ ?e :where [?e :person/name ?v]]', db, ivan) == {("Ivan",)}
    assert q('[:find ?a :in $ ?e :where [?e ?a "Ivan"]]', db, ivan) == {(name,)}
    assert q('[:find ?e :where [?e _ "Ivan"]]', db) == {(ivan,)}
    assert q('[:find ?e :where [?e :person/aka _]]', db) == {(ivan,), (ids["anna"],)}
    assert q('[:find ?e :in $ ?x :where [?e :person/friend ?x]]', db, ivan) == {(ids["petr"],)}
    tx = q('[:find ?tx . :in $ ?e :where [?e :person/name _ ?tx]]', db, ivan)
    assert q('[:find ?n :in $ ?tx :where [_ :person/name ?n ?tx]]', db, tx) == {
        ("Ivan",), ("Petr",), ("Oleg",), ("Anna",)}
    assert q('[:find ?e :in $ ?tx :where [?e :person/name "Oleg" ?tx true]]', db, tx) == {
        (ids["oleg"],)}


def test_attribute_variable_binds_the_attribute_entity_id(people):
    """Datomic binds ?a to the attribute's entity id (DataScript: the keyword)."""
    db, ids = people
    got = q('[:find ?ident :in $ ?e :where [?e ?a "Ivan"] [?a :db/ident ?ident]]', db, ids["ivan"])
    assert got == {(K(":person/name"),)}


def test_attribute_variable_bound_to_a_keyword_input(people):
    db, ids = people
    assert q('[:find ?v :in $ ?e ?a :where [?e ?a ?v]]', db, ids["anna"], K(":person/age")) == {
        (22,)}


def test_lookup_refs_and_idents_where_an_entity_may_stand(people, strategy):
    db, ids = people
    assert q('[:find ?a . :where [[:person/name "Petr"] :person/age ?a]]', db) == 37
    assert q('[:find ?e :where [?e :person/friend [:person/name "Ivan"]]]', db) == {
        (ids["petr"],)}
    assert q('[:find ?n :where [?e :person/color :color/red] [?e :person/name ?n]]', db) == {
        ("Ivan",)}
    assert q('[:find ?a . :in $ ?e :where [?e :person/age ?a]]', db,
             (K(":person/name"), "Oleg")) == 37
    assert q('[:find ?a . :where [[:person/name "Nobody"] :person/age ?a]]', db) is None


def test_keyword_values_match_plain_strings_too(people):
    db, _ = people
    assert q('[:find (count ?e) . :where [?e :person/sex :male]]', db) == 3
    assert q('[:find (count ?e) . :in $ ?s :where [?e :person/sex ?s]]', db, ":female") == 1


def test_history_db_sees_tx_and_added(make_db):
    conn = fact_store.connect("mem:query-history")
    from tests.fact_store.query.conftest import SCHEMA
    conn.transact(SCHEMA)
    e = conn.transact([{":db/id": "x", ":person/name": "X", ":person/age": 1}]).tempids["x"]
    conn.transact([[":db/add", e, ":person/age", 2]])
    hist = conn.db().history()
    got = q('[:find ?v ?added :in $ ?e :where [?e :person/age ?v _ ?added]]', hist, e)
    assert got == {(1, True), (1, False), (2, True)}
    assert q('[:find ?v :in $ ?e :where [?e :person/age ?v _ false]]', hist, e) == {(1,)}
    assert q('[:find ?v :in $ ?e :where [?e :person/age ?v]]', conn.db(), e) == {(2,)}
    conn.close()


def test_as_of_db(make_db):
    conn = fact_store.connect("mem:query-asof")
    from tests.fact_store.query.conftest import SCHEMA
    conn.transact(SCHEMA)
    e = conn.transact([{":db/id": "x", ":person/name": "X", ":person/age": 1}]).tempids["x"]
    t = conn.db().basis_t
    conn.transact([[":db/add", e, ":person/age", 2]])
    assert q('[:find ?v . :in $ ?e :where [?e :person/age ?v]]', conn.db().as_of(t), e) == 1
    conn.close()


# ---------------------------------------------------------------- predicates and functions

def test_comparison_predicates(people, strategy):
    db, _ = people
    assert q('[:find ?n :where [?e :person/age ?a] [?e :person/name ?n] [(< 20 ?a 30)]]',
             db) == {("Anna",)}
    assert q('[:find ?n :where [?e :person/age ?a] [?e :person/name ?n] [(>= ?a 37)]]', db) == {
        ("Petr",), ("Oleg",)}
    assert q('[:find ?n :in $ ?max :where [?e :person/age ?a] [?e :person/name ?n] '
             '[(<= ?a ?max)]]', db, 15) == {("Ivan",)}


def test_equality_predicates(people):
    db, _ = people
    assert q('[:find ?n1 ?n2 :where [?e1 :person/age ?a] [?e2 :person/age ?a] '
             '[?e1 :person/name ?n1] [?e2 :person/name ?n2] [(not= ?e1 ?e2)] [(< ?n1 ?n2)]]',
             db) == {("Oleg", "Petr")}
    assert q('[:find ?n :where [?e :person/name ?n] [(!= ?n "Ivan")] [(= ?n "Anna")]]', db) == {
        ("Anna",)}


def test_equality_follows_clojure_for_numbers():
    """(= 1 1.0) is false in Datomic (Clojure), (== 1 1.0) is true."""
    assert q('[:find ?x :in [?x ...] :where [(= ?x 1)]]', [1, 1.0, True]) == {(1,)}
    assert q('[:find ?x :in [?x ...] :where [(== ?x 1)]]', [1, 2.0, 1.0]) == {(1,)}


def test_function_bindings_scalar_tuple_collection_relation():
    assert q('[:find ?y :in ?x :where [(+ ?x 1) ?y]]', 41) == {(42,)}
    assert q('[:find ?t :in ?a ?b :where [(tuple ?a ?b) ?t]]', 1, 2) == {((1, 2),)}
    assert q('[:find ?b :in ?t :where [(untuple ?t) [?a ?b]]]', (1, 2)) == {(2,)}
    assert q('[:find ?x :where [(ground [1 2 3]) [?x ...]]]') == {(1,), (2,), (3,)}
    assert q('[:find ?n ?k :where [(ground [[1 :a] [2 :b]]) [[?n ?k]]]]') == {
        (1, K(":a")), (2, K(":b"))}
    assert q('[:find ?x :where [(ground [1 2]) [?x ...]] [(ground [2 3]) [?x ...]]]') == {(2,)}


def test_function_returning_nil_binds_nothing(people):
    db, _ = people
    assert q('[:find ?m :where [?e :person/name ?n] [(re-pattern "x") ?p] [(re-find ?p ?n) ?m]]', db) == set()


def test_arithmetic_and_numeric_predicates():
    assert q('[:find ?r :in ?a ?b :where [(* ?a ?b) ?x] [(- ?x 2) ?y] [(/ ?y 2) ?r]]', 4, 3) == {
        (5,)}
    assert q('[:find ?r . :where [(/ 7 2) ?r]]') == 3.5
    assert q('[:find ?r . :where [(quot 7 2) ?r]]') == 3
    assert q('[:find ?r . :where [(rem -7 2) ?r]]') == -1
    assert q('[:find ?r . :where [(mod -7 2) ?r]]') == 1
    assert q('[:find ?x :in [?x ...] :where [(even? ?x)] [(pos? ?x)]]', [-2, 0, 1, 2, 4]) == {
        (2,), (4,)}
    assert q('[:find ?x :in [?x ...] :where [(odd? ?x)]]', [1, 2, 3]) == {(1,), (3,)}
    assert q('[:find ?x :in [?x ...] :where [(zero? ?x)]]', [0, 1]) == {(0,)}
    assert q('[:find ?x :in [?x ...] :where [(neg? ?x)]]', [-1, 1]) == {(-1,)}


def test_string_functions():
    assert q('[:find ?s . :in ?a ?b :where [(str ?a "-" ?b) ?s]]', K(":x/y"), 3) == ":x/y-3"
    assert q('[:find ?s . :in ?a :where [(subs ?a 1 3) ?s]]', "hello") == "el"
    assert q('[:find ?n . :in ?a :where [(count ?a) ?n]]', "hello") == 5
    assert q('[:find ?x :in [?x ...] :where [(clojure.string/starts-with? ?x "ab")]]',
             ["abc", "xab"]) == {("abc",)}
    assert q('[:find ?x :in [?x ...] :where [(clojure.string/ends-with? ?x "ab")]]',
             ["abc", "xab"]) == {("xab",)}
    assert q('[:find ?x :in [?x ...] :where [(clojure.string/includes? ?x "b")]]',
             ["abc", "xyz"]) == {("abc",)}
    assert q('[:find ?x :in [?x ...] :where [(clojure.string/blank? ?x)]]', ["", "  ", "a"]) == {
        ("",), ("  ",)}
    assert q('[:find ?u . :in ?x :where [(clojure.string/upper-case ?x) ?u]]', "ab") == "AB"


def test_regex_functions():
    """EDN has no #"regex" literal: patterns are strings (re-pattern, or given directly)."""
    assert q('[:find ?m . :in ?s :where [(re-find "[0-9]+" ?s) ?m]]', "ab12cd") == "12"
    assert q('[:find ?m . :in ?s :where [(re-pattern "(\\\\w)(\\\\d)") ?p] [(re-find ?p ?s) ?m]]',
             "a1") == ("a1", "a", "1")
    assert q('[:find ?x :in [?x ...] :where [(re-matches "a.c" ?x)]]', ["abc", "abcd"]) == {
        ("abc",)}
    assert q('[:find ?m . :in ?s :where [(re-seq "[0-9]" ?s) ?m]]', "1a2") == ("1", "2")


def test_get_else_get_some_missing(people, strategy):
    db, ids = people
    got = q('[:find ?n ?mail :where [?e :person/name ?n] '
            '[(get-else $ ?e :person/email "none") ?mail]]', db)
    assert got == {("Ivan", "none"), ("Petr", "none"), ("Oleg", "oleg@example.com"),
                   ("Anna", "none")}
    assert q('[:find ?n :where [?e :person/name ?n] [(missing? $ ?e :person/aka)]]', db) == {
        ("Petr",), ("Oleg",)}
    email = db.schema.attr(":person/email").id
    # Datomic's get-some returns the attribute's entity id (DataScript: its keyword)
    assert q('[:find ?a ?v :where [?e :person/name "Oleg"] '
             '[(get-some $ ?e :person/aka :person/email) [?a ?v]]]', db) == {
        (email, "oleg@example.com")}


def test_registered_function_and_function_from_an_input():
    fact_store.register_query_fn("test.query/triple", lambda x: 3 * x)
    assert q('[:find ?y . :in ?x :where [(test.query/triple ?x) ?y]]', 5) == 15
    assert q('[:find ?y . :in ?f ?x :where [(?f ?x) ?y]]', lambda x: x - 1, 5) == 4


def test_truthiness_is_clojure(people):
    """Only nil and false are false: 0 and "" are true in a predicate."""
    assert q('[:find ?x :in [?x ...] :where [(identity ?x)]]', [0, "", None, False, 1]) == {
        (0,), ("",), (1,)}


# ---------------------------------------------------------------- not / or

def test_not_and_not_join(people, strategy):
    db, _ = people
    assert q('[:find ?n :where [?e :person/name ?n] (not [?e :person/sex :male])]', db) == {
        ("Anna",)}
    # people with no parent aged 37 (Oleg's parent is Petr and Anna's is Oleg, both 37)
    assert q('[:find ?n :where [?e :person/name ?n] '
             '(not-join [?e] [?e :person/parent ?p] [?p :person/age 37])]', db) == {
        ("Ivan",), ("Petr",)}


def test_nested_not(people):
    db, _ = people
    # people all of whose friends are older than 30 (and who have friends)
    got = q('[:find ?n :where [?e :person/name ?n] [?e :person/friend _] '
            '(not-join [?e] [?e :person/friend ?f] (not [?f :person/age ?a] [(> ?a 30)]))]', db)
    assert got == {("Ivan",)}


def test_or_and_or_join(people, strategy):
    db, _ = people
    assert q('[:find ?n :where [?e :person/name ?n] '
             '(or [?e :person/age 15] [?e :person/sex :female])]', db) == {("Ivan",), ("Anna",)}
    assert q('[:find ?n :where [?e :person/name ?n] '
             '(or-join [?e] [?e :person/aka "Anya"] (and [?e :person/friend ?f] '
             '[?f :person/name "Oleg"]))]', db) == {("Anna",), ("Petr",)}


def test_or_binds_new_variables(people):
    db, _ = people
    got = q('[:find ?e ?x :where (or [?e :person/aka ?x] [?e :person/email ?x])]', db)
    assert {x for _, x in got} == {"Vanya", "Vano", "Anya", "oleg@example.com"}


def test_or_join_with_required_variables(people):
    db, _ = people
    got = q('[:find ?n :where [?e :person/name ?n] '
            '(or-join [[?e]] [?e :person/age 37] [?e :person/salary 30.25])]', db)
    assert got == {("Petr",), ("Oleg",), ("Anna",)}


def test_source_prefixed_not_and_or(people, make_db):
    db, _ = people
    db2, _ = make_db([{":person/name": "Petr"}])
    got = q('[:find ?n :in $ $2 :where [_ :person/name ?n] ($2 not [_ :person/name ?n])]', db, db2)
    assert got == {("Ivan",), ("Oleg",), ("Anna",)}
    got = q('[:find ?n :in $ $2 :where [_ :person/name ?n] ($2 or [_ :person/name ?n])]', db, db2)
    assert got == {("Petr",)}


# ---------------------------------------------------------------- aggregates

def test_aggregates(people):
    db, _ = people
    # ?e is in the find (in count), so the set holds 4 tuples and 37 counts twice
    assert q('[:find (count ?e) (count-distinct ?a) (sum ?a) (min ?a) (max ?a) '
             ':where [?e :person/age ?a]]', db) == {(4, 3, 111, 15, 37)}
    assert q('[:find (sum ?a) . :where [_ :person/age ?a]]', db) == 74
    assert q('[:find (avg ?a) (median ?a) :with ?e :where [?e :person/age ?a]]', db) == {
        (27.75, 29.5)}
    ((var, sd),) = q('[:find (variance ?a) (stddev ?a) :with ?e :where [?e :person/age ?a]]', db)
    assert var == pytest.approx(91.6875) and sd == pytest.approx(91.6875 ** 0.5)
    assert q('[:find ?s (count ?e) :where [?e :person/sex ?s]]', db) == {
        (K(":male"), 3), (K(":female"), 1)}
    assert q('[:find (distinct ?a) . :where [_ :person/age ?a]]', db) == frozenset({15, 22, 37})
    assert q('[:find (min 2 ?a) (max 2 ?a) :where [_ :person/age ?a]]', db) == {
        ((15, 22), (37, 22))}


def test_sample_and_rand_are_seedable(people):
    db, _ = people
    a = q('[:find (sample 2 ?n) . :where [_ :person/name ?n]]', db, rng=random.Random(7))
    b = q('[:find (sample 2 ?n) . :where [_ :person/name ?n]]', db, rng=random.Random(7))
    assert a == b and len(set(a)) == 2
    r = q('[:find (rand 5 ?n) . :where [_ :person/name ?n]]', db, rng=random.Random(1))
    assert len(r) == 5 and set(r) <= {"Ivan", "Petr", "Oleg", "Anna"}


def test_custom_aggregate(people):
    fact_store.register_aggregate("test.query/span", lambda vs: max(vs) - min(vs))
    db, _ = people
    assert q('[:find (test.query/span ?a) . :where [_ :person/age ?a]]', db) == 22


def test_aggregate_of_an_empty_result_is_empty(people):
    """Datomic returns no rows (not a count of 0) when nothing matches."""
    db, _ = people
    assert q('[:find (count ?e) :where [?e :person/age 99]]', db) == set()
    assert q('[:find (count ?e) . :where [?e :person/age 99]]', db) is None


# ---------------------------------------------------------------- pull in :find

def test_pull_in_find(people):
    db, ids = people
    got = q('[:find (pull ?e [:person/name :person/age]) :where [?e :person/age 37]]', db)
    assert sorted(got, key=lambda t: t[0][K(":person/name")] if K(":person/name") in t[0]
                  else t[0][":person/name"]) == [
        ({":person/name": "Oleg", ":person/age": 37},),
        ({":person/name": "Petr", ":person/age": 37},)]
    one = q('[:find (pull ?e pattern) . :in $ pattern :where [?e :person/name "Ivan"]]'
            .replace("pattern", "?p"), db, [":person/age"])
    assert one == {":person/age": 15}
    coll = q('[:find [(pull ?e [:person/name]) ...] :where [?e :person/age 15]]', db)
    assert coll == [{":person/name": "Ivan"}]


def test_value_with_unbound_attribute_matches_every_attribute(people, strategy):
    """[?e _ 37] finds ages, not only refs to entity 37 (Db.search(v=...) reads VAET only)."""
    db, ids = people
    assert q('[:find ?e :where [?e _ 37]]', db) == {(ids["petr"],), (ids["oleg"],)}
    assert q('[:find ?e :in $ ?v :where [?e _ ?v]]', db, "Anya") == {(ids["anna"],)}
    assert q('[:find ?e :in $ ?p :where [?e _ ?p]]', db, ids["ivan"]) == {(ids["petr"],)}


# ---------------------------------------------------------------- range, compare

def test_range_binds_a_collection_as_clojure_range_counts():
    assert q('[:find ?i :in ?n :where [(range 0 ?n) [?i ...]]]', 3) == {(0,), (1,), (2,)}
    assert q('[:find (sum ?i) . :where [(range 5) [?i ...]]]') == 10
    assert sorted(q('[:find [?i ...] :where [(range 10 0 -3) [?i ...]]]')) == [1, 4, 7, 10]
    assert q('[:find ?r . :where [(range 1 2 0.25) ?r]]') == (1, 1.25, 1.5, 1.75)
    assert q('[:find ?i :where [(range 3 3) [?i ...]]]') == set()


def test_range_refuses_what_never_ends_or_is_too_long():
    from fact_store.errors import QueryLimitExceeded
    with pytest.raises(QueryError, match="step of 0"):
        q('[:find ?i :where [(range 0 5 0) [?i ...]]]')
    with pytest.raises(QueryLimitExceeded, match="range of 10000000000 numbers"):
        q('[:find ?i :where [(range 10000000000) [?i ...]]]')
    with pytest.raises(QueryError, match="range needs numbers"):
        q('[:find ?i :where [(range "5") [?i ...]]]')


def test_compare_orders_keywords_by_namespace_then_name():
    assert q('[:find ?c . :in ?a ?b :where [(compare ?a ?b) ?c]]', K(":a/z"), K(":a.b/c")) == -1
    assert q('[:find ?c . :in ?a ?b :where [(compare ?a ?b) ?c]]', K(":z"), K(":a/a")) == -1
    assert q('[:find ?c . :in ?a ?b :where [(compare ?a ?b) ?c]]', 2, 1) == 1
    assert q('[:find ?c . :in ?a ?b :where [(compare ?a ?b) ?c]]', "x", "x") == 0
