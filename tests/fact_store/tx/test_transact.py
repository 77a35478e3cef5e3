"""Datomic's transaction rules, one example each, asserting the error type and message."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from fact_store import errors as E
from fact_store.db import Db
from fact_store.edn.values import Keyword
from fact_store.tx import register_tx_fn
from fact_store.tx.apply import transact

SCHEMA = [
    {":db/ident": ":person/id", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one",
     ":db/unique": ":db.unique/identity"},
    {":db/ident": ":person/email", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one",
     ":db/unique": ":db.unique/value"},
    {":db/ident": ":person/name", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/age", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/alias", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/friend", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/spouse", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/address", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/one",
     ":db/isComponent": True},
    {":db/ident": ":address/street", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/score", ":db/valueType": ":db.type/double", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/flag", ":db/valueType": ":db.type/boolean", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/sex", ":db/valueType": ":db.type/keyword", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/born", ":db/valueType": ":db.type/instant", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/uuid", ":db/valueType": ":db.type/uuid", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/money", ":db/valueType": ":db.type/bigdec", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/first", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/last", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/any", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/many"},
]


@pytest.fixture()
def db():
    db = transact(Db.empty(), SCHEMA).db_after
    return transact(db, [{":db/ident": ":person/full", ":db/valueType": ":db.type/tuple",
                          ":db/tupleAttrs": [":person/first", ":person/last"],
                          ":db/cardinality": ":db.cardinality/one",
                          ":db/unique": ":db.unique/identity"}]).db_after


def aid(db, ident):
    return db.schema.attr(ident).id


def values(db, e, attr):
    return sorted(r[2] for r in db.search(e, aid(db, attr)))


def test_list_forms_and_tempids(db):
    r = transact(db, [[":db/add", "ivan", ":person/name", "Ivan"], [":db/add", "ivan", ":person/age", 30]])
    e = r.tempids["ivan"]
    assert values(r.db_after, e, ":person/name") == ["Ivan"]
    assert {d.a for d in r.tx_data if d.e == e} == {aid(db, ":person/name"), aid(db, ":person/age")}
    assert "datomic.tx" in r.tempids
    assert r.db_after.basis_t == db.basis_t + 1


def test_negative_int_tempids_resolve_consistently(db):
    r = transact(db, [[":db/add", -1, ":person/name", "A"], [":db/add", -2, ":person/spouse", -1]])
    assert values(r.db_after, r.tempids[-2], ":person/spouse") == [r.tempids[-1]]


def test_entity_map_nested_component_and_reverse_ref(db):
    r = transact(db, [{":db/id": "p", ":person/name": "P", ":person/address": {":address/street": "Main"},
                       ":person/_friend": [{":db/id": "q", ":person/name": "Q"}]}])
    db2 = r.db_after
    p, q = r.tempids["p"], r.tempids["q"]
    addr = values(db2, p, ":person/address")[0]
    assert values(db2, addr, ":address/street") == ["Main"]
    assert values(db2, q, ":person/friend") == [p]


def test_nested_map_must_be_component_or_unique(db):
    with pytest.raises(E.InvalidTxData, match="must be a component or have a unique attribute"):
        transact(db, [{":person/name": "P", ":person/spouse": {":person/name": "S"}}])
    r = transact(db, [{":person/name": "P", ":person/spouse": {":person/id": 7, ":person/name": "S"}}])
    assert r.db_after.entid([":person/id", 7]) is not None


def test_upsert_through_identity(db):
    db2 = transact(db, [{":person/id": 1, ":person/name": "A"}]).db_after
    e = db2.entid([":person/id", 1])
    r = transact(db2, [{":db/id": "x", ":person/id": 1, ":person/age": 5}])
    assert r.tempids["x"] == e
    assert values(r.db_after, e, ":person/age") == [5]


def test_two_tempids_upsert_to_one_entity(db):
    db2 = transact(db, [{":person/id": 1}]).db_after
    e = db2.entid([":person/id", 1])
    r = transact(db2, [{":db/id": "a", ":person/id": 1, ":person/name": "A"},
                       {":db/id": "b", ":person/id": 1, ":person/age": 3}])
    assert r.tempids["a"] == r.tempids["b"] == e


def test_two_tempids_with_the_same_new_identity_become_one_entity(db):
    r = transact(db, [{":db/id": "a", ":person/id": 9}, {":db/id": "b", ":person/id": 9, ":person/age": 1}])
    assert r.tempids["a"] == r.tempids["b"]


def test_upsert_conflict_is_reported(db):
    db2 = transact(db, [{":person/id": 1}, {":person/id": 2, ":person/full": None} if False else {":person/id": 2}]).db_after
    db2 = transact(db2, [{":person/id": 3, ":person/first": "F", ":person/last": "L"}]).db_after
    with pytest.raises(E.UniqueConflict, match="upserts to different entities"):
        transact(db2, [{":db/id": "x", ":person/id": 1, ":person/full": ["F", "L"]}])


def test_lookup_refs_in_entity_and_value_positions(db):
    db2 = transact(db, [{":person/id": 1}, {":person/id": 2}]).db_after
    r = transact(db2, [[":db/add", [":person/id", 1], ":person/spouse", [":person/id", 2]]])
    assert values(r.db_after, db2.entid([":person/id", 1]), ":person/spouse") == [db2.entid([":person/id", 2])]
    with pytest.raises(E.UnknownEntity, match=r'lookup ref \[":person/id" 99\] names no entity'):
        transact(db2, [[":db/add", [":person/id", 99], ":person/age", 1]])


def test_cardinality_one_implicit_retraction(db):
    db2 = transact(db, [{":db/id": "a", ":person/id": 1, ":person/age": 1}]).db_after
    e = db2.entid([":person/id", 1])
    r = transact(db2, [[":db/add", e, ":person/age", 2]])
    assert values(r.db_after, e, ":person/age") == [2]
    assert [(d.v, d.added) for d in r.tx_data if d.a == aid(db, ":person/age")] == [(2, True), (1, False)]


def test_redundant_assertion_is_dropped(db):
    db2 = transact(db, [{":person/id": 1, ":person/age": 1}]).db_after
    r = transact(db2, [{":person/id": 1, ":person/age": 1}])
    assert [d for d in r.tx_data if d.a != 9] == []


def test_retract_of_absent_datom_is_a_no_op(db):
    r = transact(db, [[":db/retract", 123456789, ":person/age", 1]])
    assert [d for d in r.tx_data if d.a != 9] == []


def test_add_and_retract_same_datom_conflicts(db):
    db2 = transact(db, [{":person/id": 1, ":person/age": 1}]).db_after
    e = db2.entid([":person/id", 1])
    with pytest.raises(E.DatomsConflict, match="both asserted and retracted"):
        transact(db2, [[":db/add", e, ":person/age", 1], [":db/retract", e, ":person/age", 1]])


def test_two_values_for_cardinality_one_conflict(db):
    with pytest.raises(E.CardinalityConflict, match="two values for cardinality-one :person/age"):
        transact(db, [[":db/add", "x", ":person/age", 1], [":db/add", "x", ":person/age", 2]])


def test_unique_value_conflict(db):
    db2 = transact(db, [{":person/email": "a@x"}]).db_after
    with pytest.raises(E.UniqueConflict, match="already held by entity"):
        transact(db2, [{":person/email": "a@x"}])
    with pytest.raises(E.UniqueConflict, match="asserted for two entities"):
        transact(db, [{":person/email": "b@x"}, {":person/email": "b@x"}])


def test_every_violation_is_reported_at_once(db):
    with pytest.raises(E.TransactionError) as info:
        transact(db, [[":db/add", "x", ":person/age", "old"], [":db/add", "y", ":nope/attr", 1]])
    assert len(info.value.violations) == 2
    assert "2 problems" in str(info.value)


def test_cas(db):
    db2 = transact(db, [{":person/id": 1, ":person/age": 1}]).db_after
    e = db2.entid([":person/id", 1])
    r = transact(db2, [[":db/cas", e, ":person/age", 1, 2]])
    assert values(r.db_after, e, ":person/age") == [2]
    with pytest.raises(E.CasFailed, match="expected 1, found 2"):
        transact(r.db_after, [[":db/cas", e, ":person/age", 1, 3]])
    r2 = transact(db2, [[":db/cas", e, ":person/name", None, "N"]])
    assert values(r2.db_after, e, ":person/name") == ["N"]
    with pytest.raises(E.InvalidTxData, match="cardinality-one attributes only"):
        transact(db2, [[":db/cas", e, ":person/alias", None, "x"]])


def test_two_cas_on_one_attribute_conflict(db):
    db2 = transact(db, [{":person/id": 1, ":person/age": 0}]).db_after
    e = db2.entid([":person/id", 1])
    with pytest.raises(E.DatomsConflict, match="two :db/cas"):
        transact(db2, [[":db/cas", e, ":person/age", 0, 1], [":db/cas", e, ":person/age", 0, 1]])


def test_retract_entity_cascades_components_and_removes_refs(db):
    r = transact(db, [{":db/id": "p", ":person/id": 1, ":person/address": {":address/street": "S"}},
                      {":db/id": "q", ":person/id": 2, ":person/friend": ["p"]}])
    db2 = r.db_after
    p, q = r.tempids["p"], r.tempids["q"]
    addr = values(db2, p, ":person/address")[0]
    db3 = transact(db2, [[":db/retractEntity", [":person/id", 1]]]).db_after
    assert db3.search(p) == [] and db3.search(addr) == []
    assert values(db3, q, ":person/friend") == []


def test_registered_transaction_function(db):
    def inc(db, e, attr, by):
        rows = db.search(db.entid(e), db.schema.attr(attr).id)
        return [[":db/add", e, attr, (rows[0][2] if rows else 0) + by]]

    register_tx_fn(":my/inc", inc)
    db2 = transact(db, [{":person/id": 1, ":person/age": 1}]).db_after
    db3 = transact(db2, [[":my/inc", [":person/id", 1], ":person/age", 10]]).db_after
    assert values(db3, db3.entid([":person/id", 1]), ":person/age") == [11]
    with pytest.raises(E.UnknownTxFunction, match="unknown transaction function :my/nope"):
        transact(db2, [[":my/nope", 1]])


def test_composite_tuple_is_maintained(db):
    r = transact(db, [{":db/id": "p", ":person/first": "A", ":person/last": "B"}])
    p = r.tempids["p"]
    assert values(r.db_after, p, ":person/full") == [("A", "B")]
    db3 = transact(r.db_after, [[":db/retract", p, ":person/last", "B"]]).db_after
    assert values(db3, p, ":person/full") == [("A", None)]
    with pytest.raises(E.InvalidTxData, match="composite tuple"):
        transact(db, [[":db/add", "x", ":person/full", ("A", "B")]])


def test_tx_metadata_on_datomic_tx(db):
    r = transact(db, [{":db/id": "datomic.tx", ":person/name": "import job"}, {":person/id": 5}])
    assert values(r.db_after, r.tx, ":person/name") == ["import job"]
    assert r.db_after.search(r.tx, 9)  # :db/txInstant


def test_value_types_are_checked_and_distinct(db):
    with pytest.raises(E.InvalidValue, match="not a valid :db.type/long"):
        transact(db, [{":person/age": True}])
    with pytest.raises(E.InvalidValue, match="64-bit"):
        transact(db, [{":person/age": 1 << 63}])
    with pytest.raises(E.InvalidValue, match="NaN"):
        transact(db, [{":person/score": float("nan")}])
    r = transact(db, [{":db/id": "x", ":person/score": 1, ":person/flag": True, ":person/sex": ":male",
                       ":person/born": dt.datetime(2020, 1, 1), ":person/uuid": str(uuid.UUID(int=1)),
                       ":person/money": Decimal("1.5")}])
    x = r.tempids["x"]
    assert values(r.db_after, x, ":person/score") == [1.0]
    assert type(values(r.db_after, x, ":person/score")[0]) is float
    assert values(r.db_after, x, ":person/sex") == [Keyword(":male")]
    assert values(r.db_after, x, ":person/born")[0].tzinfo is not None


def test_unknown_attribute_is_refused(db):
    with pytest.raises(E.UnknownAttribute, match="unknown attribute :nope/x"):
        transact(db, [{":nope/x": 1}])


def test_failed_transaction_leaves_no_trace(db):
    before = list(db._eavt)
    with pytest.raises(E.TransactionError):
        transact(db, [{":person/id": 1}, {":person/age": "x"}])
    assert list(db._eavt) == before


def test_tempid_only_as_value_is_an_error(db):
    with pytest.raises(E.UnresolvedTempid, match="never as an entity"):
        transact(db, [[":db/add", "a", ":person/spouse", "b"]])


def test_schema_changes_follow_datomic(db):
    e = db.entid(":person/age")
    db2 = transact(db, [{":db/id": ":person/age", ":db/cardinality": ":db.cardinality/many"}]).db_after
    assert db2.schema.attr(":person/age").many
    with pytest.raises(E.SchemaError, match="cannot change :db/valueType of :person/age"):
        transact(db, [{":db/id": e, ":db/valueType": ":db.type/string"}])
    with pytest.raises(E.SchemaError, match="has no :db/valueType"):
        transact(db, [{":db/ident": ":bad/attr", ":db/cardinality": ":db.cardinality/one"}])


def test_as_of_since_history(db):
    r1 = transact(db, [{":person/id": 1, ":person/age": 1}])
    r2 = transact(r1.db_after, [{":person/id": 1, ":person/age": 2}])
    now = r2.db_after
    e = now.entid([":person/id", 1])
    age = aid(db, ":person/age")
    assert [r[2] for r in now.as_of(r1.db_after.basis_t).search(e, age)] == [1]
    assert [r[2] for r in now.as_of(db.basis_t).search(e, age)] == []
    assert [(r[2], r[4]) for r in now.history().search(e, age)] == [(1, True), (1, False), (2, True)]
    assert [r[2] for r in now.since(r1.db_after.basis_t).search(e, age)] == [2]
    with pytest.raises(E.InvalidTxData, match="filtered db"):
        transact(now.as_of(1), [])


def test_an_explicit_new_eid_is_never_handed_out_again(db):
    e = db.next_eid + 5
    db2 = transact(db, [[":db/add", e, ":person/name", "explicit"]]).db_after
    r = transact(db2, [{":db/id": "x", ":person/name": "new"}])
    assert r.tempids["x"] != e
    assert values(r.db_after, e, ":person/name") == ["explicit"]
