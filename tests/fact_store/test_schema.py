"""schema: the schema from datoms (one pure function for a whole db, one for a transaction's
changes), and values checked against their attribute's type exactly (Datomic's valueType rules).

Datomic documents each :db.type/* as one JVM type; a value of another type is refused, never
converted to text. The few deliberate conversions are listed in docs/DATOMIC.md and tested here.
"""

import datetime as dt
import uuid
from decimal import Decimal

import pytest

import fact_store as fs
from fact_store import edn, errors as E
from fact_store.db import Db
from fact_store.edn.values import Char, Keyword, Symbol
from fact_store.schema import (DB_IDENT, Attr, Schema, coerce, schema_after, schema_entities,
                               schema_from_datoms)
from fact_store.tx.apply import transact

SCHEMA = [
    {":db/ident": ":s/name", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one",
     ":db/unique": ":db.unique/identity", ":db/doc": "a name"},
    {":db/ident": ":s/tags", ":db/valueType": ":db.type/keyword",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":s/n", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one"},
]
PAIR = [{":db/ident": ":s/pair", ":db/valueType": ":db.type/tuple", ":db/tupleAttrs": [":s/name", ":s/n"],
         ":db/cardinality": ":db.cardinality/one"}]


def _db() -> Db:
    return transact(transact(Db.empty(), SCHEMA).db_after, PAIR).db_after


def test_schema_from_datoms_rebuilds_what_transactions_built():
    db = _db()
    rebuilt = schema_from_datoms((r[0], r[1], r[2], r[3]) for r in db.search())
    assert sorted(rebuilt.attrs(), key=lambda a: a.id) == sorted(db.schema.attrs(), key=lambda a: a.id)
    assert rebuilt.attr(":s/pair").tuple_attrs == (db.schema.attr(":s/name").id, db.schema.attr(":s/n").id)


def test_schema_after_is_pure_and_refuses_what_datomic_refuses():
    db = _db()
    schema = db.schema
    name = schema.attr(":s/name")
    before = {name.id: {r[1]: r[2] for r in db.search(name.id)}}
    renamed = schema_after(schema, before, [(name.id, DB_IDENT, fs.Keyword(":s/title"))],
                           [(name.id, DB_IDENT, ":s/name", 0)])
    assert renamed.attr(":s/title").id == name.id and renamed.attr(":s/name") is None
    assert schema.attr(":s/name") is name                       # the old schema is untouched
    with pytest.raises(fs.SchemaError, match="cannot alter bootstrap attribute"):
        boot = Schema.bootstrap().attr(":db/doc")
        schema_after(schema, {boot.id: {DB_IDENT: boot.ident, 2: 20, 3: 40}}, [(boot.id, 3, 41)],
                     [(boot.id, 3, 40, 0)])
    assert schema_entities([(name.id, DB_IDENT, "x"), (5000, 8, "doc")], []) == {name.id}


# --- exact value types ---

K = Keyword

TYPES = ["string", "uri", "keyword", "symbol", "uuid", "long", "double", "bigdec", "boolean", "instant"]


def attr(t: str) -> Attr:
    return Attr(100, K(f":t/{t}"), K(f":db.type/{t}"))


@pytest.mark.parametrize("t,value", [
    ("string", K(":oleg")), ("string", Symbol("oleg")), ("string", Char("o")),
    ("uri", K(":a/b")), ("keyword", Symbol("oleg")), ("keyword", Char("o")),
    ("symbol", K(":oleg")), ("symbol", Char("o")), ("uuid", K(":" + str(uuid.UUID(int=1)))),
    ("long", 1.0), ("long", True), ("long", Decimal(1)), ("double", Decimal("1.5")), ("double", "1.5"),
    ("bigdec", 1.5), ("boolean", 1), ("instant", dt.date(2020, 1, 1)), ("instant", "2020-01-01"),
])
def test_a_value_of_another_type_is_refused(t, value):
    with pytest.raises(E.InvalidValue, match=f"is not a valid :db.type/{t}"):
        coerce(attr(t), value)


def test_the_message_shows_the_value_as_edn():
    with pytest.raises(E.InvalidValue) as ei:
        coerce(attr("string"), K(":oleg"))
    assert str(ei.value) == "value :oleg of :t/string is not a valid :db.type/string: expected a string"
    with pytest.raises(E.InvalidValue, match=r'value \\o of :t/keyword'):
        coerce(attr("keyword"), Char("o"))


@pytest.mark.parametrize("t,value,stored", [
    ("double", 1, 1.0),                          # an int for a double: exact below 2**53
    ("bigdec", 3, Decimal(3)),                   # an int for a bigdec: exact
    ("keyword", ":a/b", K(":a/b")),              # Python has no keyword literal
    ("symbol", "a", Symbol("a")),                # nor a symbol literal
    ("uuid", str(uuid.UUID(int=1)), uuid.UUID(int=1)),
    ("instant", dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)),
])
def test_the_deliberate_conversions(t, value, stored):
    got = coerce(attr(t), value)
    assert got == stored and type(got) is type(stored)


def test_a_keyword_for_a_string_attribute_is_refused_on_every_store(conn):
    conn.transact([{":db/ident": ":user/name", ":db/valueType": ":db.type/string",
                    ":db/cardinality": ":db.cardinality/one"}])
    head = conn.store.head()
    with pytest.raises(E.InvalidValue, match="value :oleg of :user/name"):
        conn.transact([{":user/name": K(":oleg")}])
    with pytest.raises(E.InvalidValue):  # EDN text reads :oleg as a Keyword
        conn.transact(edn.read('[[:db/add "x" :user/name :oleg]]'))
    assert conn.store.head() == head
    assert conn.db().q("[:find ?n :where [_ :user/name ?n]]") == set()
