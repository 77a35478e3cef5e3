"""entity: navigation follows Datomic's entity API (refs to ident'd entities are keywords)."""

from __future__ import annotations

import fact_store as fs
from fact_store.entity import Entity

SCHEMA = [
    {":db/ident": ":artist/name", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":artist/country", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":artist/genres", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":artist/mentor", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":country/CA"}, {":db/ident": ":country/JP"},
    {":db/ident": ":genre/folk"}, {":db/ident": ":genre/poetry"},
]


def test_a_ref_to_an_enum_navigates_to_its_keyword_on_every_store(conn):
    conn.transact(SCHEMA)
    conn.transact([{":db/id": "m", ":artist/name": "Irving Layton"},
                   {":artist/name": "Leonard Cohen", ":artist/country": ":country/CA",
                    ":artist/genres": [":genre/folk", ":genre/poetry"], ":artist/mentor": "m"}])
    e = conn.db().entity([":artist/name", "Leonard Cohen"])
    assert e[":artist/country"] == fs.Keyword(":country/CA")
    assert type(e[":artist/country"]) is fs.Keyword
    assert e[":artist/genres"] == {fs.Keyword(":genre/folk"), fs.Keyword(":genre/poetry")}
    mentor = e[":artist/mentor"]  # no :db/ident: an entity to walk on
    assert isinstance(mentor, Entity) and mentor[":artist/name"] == "Irving Layton"
    assert conn.db().entity(":country/CA")[":db/ident"] == ":country/CA"
