"""fact_store.pull: pull and pull_many against real Db values, one test per construct.

Expected results follow Datomic's pull documentation. Where DataScript
behaves differently the test says so. Every test runs twice (see the
``executor`` fixture in conftest.py): with the fast paths, and with every
pattern forced through the general explicit-stack executor.
"""

from __future__ import annotations

from typing import Any

import pytest

import fact_store
from fact_store.edn.values import Keyword as K
from fact_store.errors import EdnSyntaxError, QueryError, QuerySyntaxError
from fact_store.pull import parse_pattern, pull, pull_many, register_xform

DB_ID = ":db/id"

register_xform("test.pull/upper", lambda v: v.upper())
register_xform("test.pull/count", len)
register_xform("test.pull/names", lambda v: sorted(m[":person/name"] for m in v))
register_xform("test.pull/negate", lambda v: -v)
register_xform("test.pull/nothing", lambda v: None)

Db = tuple[Any, dict[str, int]]


# --- attribute names ------------------------------------------------------------------

def test_attribute_names(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/name :person/age]", ids["petr"]) == {
        ":person/name": "Petr", ":person/age": 39}


def test_result_keys_are_keywords(people: Db) -> None:
    db, ids = people
    result = pull(db, '["person/name"]', ids["petr"])
    assert [type(k) for k in result] == [K]


def test_missing_attributes_are_omitted(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/name :person/age]", ids["david"]) == {":person/name": "David"}


def test_entity_with_nothing_pulled_is_none(people: Db) -> None:
    # Datomic's peer API returns nil here (its client API returns {}).
    db, ids = people
    assert pull(db, "[:person/age]", ids["david"]) is None


def test_keyword_values_are_keywords(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/sex]", ids["petr"]) == {":person/sex": K(":male")}
    assert type(pull(db, "[:person/sex]", ids["petr"])[":person/sex"]) is K


def test_cardinality_many_values_are_a_list_in_value_order(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/aka]", ids["petr"]) == {":person/aka": ["Devil", "Tupen"]}


def test_ref_without_sub_pattern_is_a_db_id_map(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/father]", ids["david"]) == {
        ":person/father": {DB_ID: ids["petr"]}}
    assert pull(db, "[:person/child]", ids["petr"]) == {
        ":person/child": [{DB_ID: ids["david"]}, {DB_ID: ids["thomas"]}]}


def test_enum_ref_needs_db_ident_sub_pattern(people: Db) -> None:
    db, ids = people
    red = db.entid(":color/red")
    assert pull(db, "[:person/color]", ids["petr"]) == {":person/color": {DB_ID: red}}
    assert pull(db, "[{:person/color [:db/ident]}]", ids["petr"]) == {
        ":person/color": {":db/ident": K(":color/red")}}


# --- :db/id ---------------------------------------------------------------------------

def test_db_id(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:db/id :person/name]", ids["petr"]) == {
        DB_ID: ids["petr"], ":person/name": "Petr"}


def test_db_id_of_an_entity_without_datoms(people: Db) -> None:
    # Datomic returns {:db/id x} for any eid; DataScript returns nil
    # (tonsky/datascript#187). We follow Datomic.
    db, _ = people
    assert pull(db, "[:db/id]", 987654321) == {DB_ID: 987654321}
    assert pull(db, "[:db/id :person/name]", 987654321) == {DB_ID: 987654321}


def test_db_id_with_options(people: Db) -> None:
    db, ids = people
    assert pull(db, '[[:db/id :as "id" :xform test.pull/negate]]', ids["petr"]) == {
        "id": -ids["petr"]}


def test_nonexistent_entity_pulls_nothing(people: Db) -> None:
    db, _ = people
    assert pull(db, "[:person/name]", 987654321) is None


# --- wildcard -------------------------------------------------------------------------

def test_wildcard_pulls_every_attribute_and_db_id(people: Db) -> None:
    db, ids = people
    assert pull(db, "[*]", ids["petr"]) == {
        DB_ID: ids["petr"], ":person/name": "Petr", ":person/age": 39,
        ":person/aka": ["Devil", "Tupen"], ":person/sex": K(":male"),
        ":person/child": [{DB_ID: ids["david"]}, {DB_ID: ids["thomas"]}],
        ":person/color": {DB_ID: db.entid(":color/red")}}


def test_wildcard_with_map_spec_override(people: Db) -> None:
    db, ids = people
    result = pull(db, "[* {:person/child [:person/name]}]", ids["petr"])
    assert result[":person/child"] == [{":person/name": "David"}, {":person/name": "Thomas"}]
    assert result[":person/age"] == 39 and result[DB_ID] == ids["petr"]


def test_wildcard_with_alias_replaces_the_attribute(people: Db) -> None:
    # An explicit selection of an attribute replaces the wildcard's for it (DataScript too).
    db, ids = people
    result = pull(db, '[* [:person/name :as "n"]]', ids["david"])
    assert result == {DB_ID: ids["david"], "n": "David", ":person/father": {DB_ID: ids["petr"]}}


def test_wildcard_expands_components_recursively(people: Db) -> None:
    db, ids = people
    assert pull(db, "[*]", ids["order"]) == {
        DB_ID: ids["order"], ":order/id": 1,
        ":order/lines": [
            {DB_ID: ids["line1"], ":line/sku": "A", ":line/qty": 2,
             ":line/parts": [{DB_ID: ids["part1"], ":line/sku": "A.1"}]},
            {DB_ID: ids["line2"], ":line/sku": "B", ":line/qty": 1}],
        ":order/address": {DB_ID: ids["addr"], ":address/city": "Lisbon"}}


def test_wildcard_of_an_entity_without_datoms_is_its_db_id(people: Db) -> None:
    db, _ = people
    assert pull(db, "[*]", 987654321) == {DB_ID: 987654321}


# --- components -----------------------------------------------------------------------

def test_component_attribute_named_without_pattern_is_pulled_with_wildcard(people: Db) -> None:
    # Datomic's "component defaults": a component ref is pulled entirely.
    db, ids = people
    assert pull(db, "[:order/address]", ids["order"]) == {
        ":order/address": {DB_ID: ids["addr"], ":address/city": "Lisbon"}}
    lines = pull(db, "[:order/lines]", ids["order"])[":order/lines"]
    assert lines[0][":line/parts"] == [{DB_ID: ids["part1"], ":line/sku": "A.1"}]


def test_component_with_explicit_pattern_uses_it(people: Db) -> None:
    db, ids = people
    assert pull(db, "[{:order/lines [:line/sku]}]", ids["order"]) == {
        ":order/lines": [{":line/sku": "A"}, {":line/sku": "B"}]}


# --- nested maps ----------------------------------------------------------------------

def test_map_spec_cardinality_one(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/name {:person/father [:person/name :person/age]}]",
                ids["david"]) == {":person/name": "David",
                                  ":person/father": {":person/name": "Petr", ":person/age": 39}}


def test_map_spec_cardinality_many(people: Db) -> None:
    db, ids = people
    assert pull(db, "[{:person/child [:db/id :person/name]}]", ids["petr"]) == {
        ":person/child": [{DB_ID: ids["david"], ":person/name": "David"},
                          {DB_ID: ids["thomas"], ":person/name": "Thomas"}]}


def test_map_spec_children_that_pull_nothing_are_dropped(people: Db) -> None:
    db, ids = people
    assert pull(db, "[{:person/child [:person/age]}]", ids["petr"]) is None
    assert pull(db, "[:person/name {:person/child [:person/age]}]", ids["petr"]) == {
        ":person/name": "Petr"}


def test_map_with_several_entries(people: Db) -> None:
    db, ids = people
    assert pull(db, "[{:person/child [:person/name] :person/color [:db/ident]}]",
                ids["petr"]) == {
        ":person/child": [{":person/name": "David"}, {":person/name": "Thomas"}],
        ":person/color": {":db/ident": K(":color/red")}}


def test_nested_map_through_nested_map(people: Db) -> None:
    db, ids = people
    assert pull(db, "[{:person/father [{:person/child [:person/name]}]}]", ids["david"]) == {
        ":person/father": {":person/child": [{":person/name": "David"},
                                             {":person/name": "Thomas"}]}}


# --- reverse refs ---------------------------------------------------------------------

def test_reverse_ref_is_a_collection(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/_father]", ids["petr"]) == {
        ":person/_father": [{DB_ID: ids["david"]}, {DB_ID: ids["thomas"]}]}


def test_reverse_ref_with_pattern(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/name {:person/_father [:person/name]}]", ids["petr"]) == {
        ":person/name": "Petr",
        ":person/_father": [{":person/name": "David"}, {":person/name": "Thomas"}]}


def test_reverse_of_a_component_is_a_single_value(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:order/_lines]", ids["line1"]) == {":order/_lines": {DB_ID: ids["order"]}}
    assert pull(db, "[{:order/_lines [:order/id]}]", ids["line2"]) == {
        ":order/_lines": {":order/id": 1}}


def test_reverse_ref_with_nothing_pointing_here_is_omitted(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/name :person/_father]", ids["david"]) == {":person/name": "David"}


def test_forward_and_reverse_back_to_the_root_are_not_cycles(people: Db) -> None:
    # Only recursion and component expansion check the path; a nested pattern may
    # legitimately come back to an entity already pulled.
    db, ids = people
    assert pull(db, "[:person/name {:person/father [{:person/_father [:person/name]}]}]",
                ids["david"]) == {
        ":person/name": "David",
        ":person/father": {":person/_father": [{":person/name": "David"},
                                               {":person/name": "Thomas"}]}}


# --- :as ------------------------------------------------------------------------------

def test_as_renames_the_key(people: Db) -> None:
    db, ids = people
    assert pull(db, '[[:person/name :as "Name"] [:person/age :as :years]]', ids["petr"]) == {
        "Name": "Petr", K(":years"): 39}


def test_as_on_reverse_and_map_spec_keys(people: Db) -> None:
    db, ids = people
    assert pull(db, '[{[:person/_father :as "kids"] [:person/name]}]', ids["petr"]) == {
        "kids": [{":person/name": "David"}, {":person/name": "Thomas"}]}


# --- :limit ---------------------------------------------------------------------------

def test_limit(people: Db) -> None:
    db, ids = people
    assert pull(db, "[[:person/aka :limit 1]]", ids["petr"]) == {":person/aka": ["Devil"]}
    assert pull(db, "[[:person/child :limit 1]]", ids["petr"]) == {
        ":person/child": [{DB_ID: ids["david"]}]}


def test_limit_on_reverse_and_map_spec_key(people: Db) -> None:
    db, ids = people
    assert pull(db, "[[:person/_father :limit 1]]", ids["petr"]) == {
        ":person/_father": [{DB_ID: ids["david"]}]}
    assert pull(db, "[{[:person/child :limit 1] [:person/name]}]", ids["petr"]) == {
        ":person/child": [{":person/name": "David"}]}


def test_legacy_limit_form(people: Db) -> None:
    db, ids = people
    assert pull(db, "[(limit :person/aka 1)]", ids["petr"]) == {":person/aka": ["Devil"]}
    # A legacy form as a map-spec key: a list (read as a FrozenList) or a vector.
    for key in ("(limit :person/child 1)", "[limit :person/child 1]"):
        assert pull(db, f"[{{{key} [:person/name]}}]", ids["petr"]) == {
            ":person/child": [{":person/name": "David"}]}


def test_limit_is_ignored_on_cardinality_one(people: Db) -> None:
    db, ids = people
    assert pull(db, "[[:person/name :limit 1]]", ids["petr"]) == {":person/name": "Petr"}


def test_default_limit_is_1000_and_nil_is_unlimited(make_db: Any) -> None:
    db, ids = make_db([{":db/id": "x", ":person/name": "X",
                        ":person/aka": [f"a{i:04d}" for i in range(1200)]}])
    assert len(pull(db, "[:person/aka]", ids["x"])[":person/aka"]) == 1000
    assert len(pull(db, "[[:person/aka :limit nil]]", ids["x"])[":person/aka"]) == 1200
    assert len(pull(db, "[(limit :person/aka nil)]", ids["x"])[":person/aka"]) == 1200
    assert len(pull(db, "[*]", ids["x"])[":person/aka"]) == 1000
    assert pull(db, "[[:person/aka :limit 2000]]", ids["x"])[":person/aka"][-1] == "a1199"


# --- :default -------------------------------------------------------------------------

def test_default_for_a_missing_attribute(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/name [:person/age :default 0]]", ids["david"]) == {
        ":person/name": "David", ":person/age": 0}
    assert pull(db, "[[:person/age :default 0]]", ids["petr"]) == {":person/age": 39}


def test_default_makes_an_empty_entity_non_empty(people: Db) -> None:
    db, ids = people
    assert pull(db, '[[:person/age :default 0 :as "age"]]', ids["david"]) == {"age": 0}


def test_legacy_default_form(people: Db) -> None:
    db, ids = people
    assert pull(db, '[(default :person/aka ["none"])]', ids["david"]) == {
        ":person/aka": ("none",)}


def test_default_on_reverse_ref(people: Db) -> None:
    db, ids = people
    assert pull(db, "[[:person/_father :default :none]]", ids["david"]) == {
        ":person/_father": K(":none")}


# --- :xform ---------------------------------------------------------------------------

def test_xform_applies_to_the_value(people: Db) -> None:
    db, ids = people
    assert pull(db, "[[:person/name :xform test.pull/upper]]", ids["petr"]) == {
        ":person/name": "PETR"}


def test_xform_on_cardinality_many_gets_the_whole_list(people: Db) -> None:
    db, ids = people
    assert pull(db, "[[:person/aka :xform test.pull/count]]", ids["petr"]) == {
        ":person/aka": 2}


def test_xform_on_nested_map_and_reverse(people: Db) -> None:
    db, ids = people
    assert pull(db, "[{[:person/child :xform test.pull/names] [:person/name]}]",
                ids["petr"]) == {":person/child": ["David", "Thomas"]}
    assert pull(db, "[[:person/_father :xform test.pull/count]]", ids["petr"]) == {
        ":person/_father": 2}


def test_xform_is_not_applied_to_defaults_or_missing_attributes(people: Db) -> None:
    # DataScript calls the xform with nil for a missing attribute; we never call it.
    db, ids = people
    assert pull(db, "[:person/name [:person/age :xform test.pull/negate :default 7]]",
                ids["david"]) == {":person/name": "David", ":person/age": 7}
    assert pull(db, "[:person/name [:person/age :xform test.pull/negate]]",
                ids["david"]) == {":person/name": "David"}


def test_xform_returning_none_omits_the_attribute(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/name [:person/age :xform test.pull/nothing]]", ids["petr"]) == {
        ":person/name": "Petr"}


def test_reregistered_xform_replaces_the_function_in_cached_patterns(people: Db) -> None:
    db, ids = people
    register_xform("test.pull/swap", lambda v: 1)
    assert pull(db, "[[:person/age :xform test.pull/swap]]", ids["petr"]) == {":person/age": 1}
    register_xform("test.pull/swap", lambda v: 2)
    assert pull(db, "[[:person/age :xform test.pull/swap]]", ids["petr"]) == {":person/age": 2}


# --- recursion ------------------------------------------------------------------------

def _chain(*names: str, key: str = ":person/friend", leaf: Any = None) -> Any:
    node: Any = leaf
    for name in reversed(names):
        m: dict[str, Any] = {":person/name": name}
        if node is not None:
            m[key] = [node] if key != ":person/next" else node
        node = m
    return node


def test_unbounded_recursion(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/name {:person/friend ...}]", ids["lucy"]) == _chain(
        "Lucy", "Elizabeth", "Matthew", "Eunan", "Kerri")


def test_recursion_depth(people: Db) -> None:
    # Depth 2: Lucy's friends, and their friends; Matthew's friends are not pulled.
    db, ids = people
    assert pull(db, "[:person/name {:person/friend 2}]", ids["lucy"]) == _chain(
        "Lucy", "Elizabeth", "Matthew")
    assert pull(db, "[:person/name {:person/friend 1}]", ids["lucy"]) == _chain(
        "Lucy", "Elizabeth")


def test_recursion_on_reverse_ref(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:person/name {:person/_friend ...}]", ids["kerri"]) == _chain(
        "Kerri", "Eunan", "Matthew", "Elizabeth", "Lucy", key=":person/_friend")


def test_two_recursions_keep_separate_depths(people: Db) -> None:
    # Lucy -friend-> Elizabeth -enemy-> Eunan -enemy-> Lucy (on the path: only its id).
    # Lucy -enemy-> Matthew -friend-> Eunan (friend depth is per path, not global).
    db, ids = people
    result = pull(db, "[:person/name {:person/friend 1} {:person/enemy 1}]", ids["lucy"])
    eunan_seen_from_lucy = {":person/name": "Eunan", ":person/enemy": [{DB_ID: ids["lucy"]}]}
    assert result == {
        ":person/name": "Lucy",
        ":person/friend": [{":person/name": "Elizabeth",
                            ":person/enemy": [eunan_seen_from_lucy]}],
        ":person/enemy": [{":person/name": "Matthew",
                           ":person/friend": [eunan_seen_from_lucy]}]}


def test_cycle_gives_db_id_of_an_entity_on_the_path(make_db: Any) -> None:
    # The root is on the path too. (DataScript leaves the root out of its "seen"
    # set and so pulls it once more before stopping.)
    db, ids = make_db([{":db/id": "a", ":person/name": "A", ":person/next": "b"},
                       {":db/id": "b", ":person/name": "B", ":person/next": "c"},
                       {":db/id": "c", ":person/name": "C", ":person/next": "a"}])
    assert pull(db, "[:person/name {:person/next ...}]", ids["a"]) == {
        ":person/name": "A", ":person/next": {
            ":person/name": "B", ":person/next": {
                ":person/name": "C", ":person/next": {DB_ID: ids["a"]}}}}


def test_self_reference(make_db: Any) -> None:
    db, ids = make_db([{":db/id": "a", ":person/name": "A", ":person/friend": ["a"]}])
    assert pull(db, "[:person/name {:person/friend ...}]", ids["a"]) == {
        ":person/name": "A", ":person/friend": [{DB_ID: ids["a"]}]}


def test_recursion_inside_a_nested_pattern(people: Db) -> None:
    db, ids = people
    assert pull(db, "[{:person/enemy [:person/name {:person/friend ...}]}]", ids["lucy"]) == {
        ":person/enemy": [_chain("Matthew", "Eunan", "Kerri")]}


def test_deep_recursion_does_not_use_the_python_stack(make_db: Any) -> None:
    n = 3000
    db, ids = make_db([{":db/id": f"p{i}", ":person/name": f"P{i}",
                        **({":person/next": f"p{i + 1}"} if i + 1 < n else {})}
                       for i in range(n)])
    node = pull(db, "[:person/name {:person/next ...}]", ids["p0"])
    depth = 0
    while node is not None:
        assert node[":person/name"] == f"P{depth}"
        node = node.get(":person/next")
        depth += 1
    assert depth == n


def test_deep_static_pattern(people: Db) -> None:
    db, ids = people
    # 60 levels: deeper than the direct-call executor goes, so it runs on the stack.
    pattern: Any = [":person/name"]
    for _ in range(30):
        pattern = [":person/name", {(":person/child", ":limit", 1): [{":person/father": pattern}]}]
    node = pull(db, pattern, ids["petr"])
    for _ in range(30):
        assert node[":person/name"] == "Petr"
        node = node[":person/child"][0][":person/father"]
    assert node == {":person/name": "Petr"}


# --- entity identifiers ---------------------------------------------------------------

def test_lookup_ref_and_ident_as_eid(people: Db) -> None:
    db, ids = people
    assert pull(db, "[:db/id]", (":person/name", "Petr")) == {DB_ID: ids["petr"]}
    assert pull(db, "[:db/id]", [":person/name", "Petr"]) == {DB_ID: ids["petr"]}
    assert pull(db, "[:db/ident]", ":color/red") == {":db/ident": K(":color/red")}


def test_unresolvable_eid_is_none_even_for_db_id(people: Db) -> None:
    # Datomic does not throw for a lookup ref that finds nothing (DataScript did, #315).
    db, _ = people
    assert pull(db, "[:db/id]", (":person/name", "Nobody")) is None
    assert pull(db, "[*]", ":no/such-ident") is None


# --- pull_many ------------------------------------------------------------------------

def test_pull_many_is_aligned_with_eids(people: Db) -> None:
    # Datomic returns nil for each eid with nothing pulled (DataScript used to drop them).
    db, ids = people
    assert pull_many(db, "[:person/name :person/age]",
                     [ids["petr"], 987654321, (":person/name", "David"), ids["david"]]) == [
        {":person/name": "Petr", ":person/age": 39}, None, {":person/name": "David"},
        {":person/name": "David"}]


def test_pull_many_with_general_pattern(people: Db) -> None:
    db, ids = people
    assert pull_many(db, "[:person/name {:person/friend 1}]", [ids["eunan"], ids["kerri"]]) == [
        {":person/name": "Eunan", ":person/friend": [{":person/name": "Kerri"}]},
        {":person/name": "Kerri"}]


def test_db_methods(people: Db) -> None:
    db, ids = people
    assert db.pull("[:person/name]", ids["petr"]) == {":person/name": "Petr"}
    assert db.pull_many("[:person/name]", [ids["petr"]]) == [{":person/name": "Petr"}]


# --- patterns as data -----------------------------------------------------------------

def test_pattern_as_read_data_and_as_pullspec(people: Db) -> None:
    db, ids = people
    data = [":person/name", {":person/friend": ...}]
    expected = pull(db, "[:person/name {:person/friend ...}]", ids["matthew"])
    assert pull(db, data, ids["matthew"]) == expected
    assert pull(db, parse_pattern(data), ids["matthew"]) == expected
    assert pull(db, fact_store.read_edn("[:person/name {:person/friend ...}]"),
                ids["matthew"]) == expected


# --- db values ------------------------------------------------------------------------

def test_pull_as_of_sees_old_values(people: Db) -> None:
    db, ids = people
    later = db.with_([[":db/add", ids["petr"], ":person/age", 40]]).db_after
    assert pull(later, "[:person/age]", ids["petr"]) == {":person/age": 40}
    assert pull(later.as_of(db.basis_t), "[:person/age]", ids["petr"]) == {":person/age": 39}


def test_schema_change_rebinds_cached_patterns(people: Db) -> None:
    db, ids = people
    with pytest.raises(QueryError, match="unknown attribute :person/email"):
        pull(db, "[:person/email]", ids["petr"])
    db2 = db.with_([{":db/ident": ":person/email", ":db/valueType": ":db.type/string",
                     ":db/cardinality": ":db.cardinality/one"}]).db_after
    db3 = db2.with_([[":db/add", ids["petr"], ":person/email", "p@x"]]).db_after
    assert pull(db3, "[:person/email]", ids["petr"]) == {":person/email": "p@x"}


# --- errors ---------------------------------------------------------------------------

def test_unknown_attribute_raises(people: Db) -> None:
    # Datomic throws (:db.error/not-an-entity); DataScript silently returns nil.
    db, ids = people
    with pytest.raises(QueryError, match=r"pull pattern: unknown attribute :person/nope "
                                         r"\(install it with a schema map"):
        pull(db, "[:person/name :person/nope]", ids["petr"])


def test_reverse_of_a_non_ref_attribute_raises(people: Db) -> None:
    db, ids = people
    with pytest.raises(QueryError, match=r":person/_name is the reverse of :person/name, "
                                         r"which is not a ref attribute \(its type is "
                                         r":db.type/string\)"):
        pull(db, "[:person/_name]", ids["petr"])


def test_sub_pattern_on_a_non_ref_attribute_raises(people: Db) -> None:
    db, ids = people
    with pytest.raises(QueryError, match=r":person/name has a sub-pattern but, which is not"):
        pull(db, "[{:person/name [:db/id]}]", ids["petr"])
    with pytest.raises(QueryError, match="not a ref attribute"):
        pull(db, "[{:person/age ...}]", ids["petr"])


def test_history_db_is_refused(people: Db) -> None:
    db, ids = people
    with pytest.raises(QueryError, match="not a history db"):
        pull(db.history(), "[:person/name]", ids["petr"])


def test_malformed_pattern_text(people: Db) -> None:
    db, ids = people
    with pytest.raises(QuerySyntaxError, match=r"expected \[attr-name attr-option\+\]"):
        pull(db, "[[:person/name :as]]", ids["petr"])
    with pytest.raises(QuerySyntaxError, match="expected a pattern"):
        pull_many(db, "{:person/name [:db/id]}", [ids["petr"]])


def test_pattern_text_that_is_not_edn(people: Db) -> None:
    db, ids = people
    with pytest.raises(EdnSyntaxError):
        pull(db, "[:person/name", ids["petr"])


# --- more db values and shapes --------------------------------------------------------

def test_pull_since_sees_only_later_datoms(people: Db) -> None:
    db, ids = people
    later = db.with_([[":db/add", ids["david"], ":person/age", 12]]).db_after
    assert pull(later.since(db.basis_t), "[:person/name :person/age]", ids["david"]) == {
        ":person/age": 12}


def test_component_cycle_under_wildcard_stops_at_the_path(make_db: Any) -> None:
    db, ids = make_db([{":db/id": "o", ":order/id": 7, ":order/lines": ["l"]},
                       {":db/id": "l", ":line/sku": "L", ":line/parts": ["o"]}])
    assert pull(db, "[*]", ids["o"]) == {
        DB_ID: ids["o"], ":order/id": 7,
        ":order/lines": [{DB_ID: ids["l"], ":line/sku": "L", ":line/parts": [{DB_ID: ids["o"]}]}]}


def test_pull_in_query_find(people: Db) -> None:
    db, ids = people
    result = fact_store.q('[:find (pull ?e [:person/name {:person/child [:person/name]}]) . '
                          ':where [?e :person/age 39]]', db)
    assert result == {":person/name": "Petr",
                      ":person/child": [{":person/name": "David"}, {":person/name": "Thomas"}]}


def test_workload_patterns_take_the_simple_path(people_fast: Db) -> None:
    # A guard for benchmarks/bench_pull.py: these shapes must not fall off the fast path.
    from fact_store.pull import execute
    db, _ = people_fast
    for text in ("[:person/name :person/aka {:person/friend [:person/name :person/age]}]",
                 "[:db/id :person/name :person/aka :person/sex]"):
        assert execute._prepare(db, text).simple
