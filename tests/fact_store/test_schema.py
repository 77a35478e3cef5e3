"""The schema from datoms: one pure function for a whole db, one for a transaction's changes."""

import pytest

import fact_store as fs
from fact_store.db import Db
from fact_store.schema import DB_IDENT, Schema, schema_after, schema_entities, schema_from_datoms
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
