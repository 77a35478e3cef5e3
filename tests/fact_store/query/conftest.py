"""Fixtures for the query tests: real Dbs built from schema maps and entity maps.

``make_db(tx_data, schema=SCHEMA)`` installs the schema, transacts ``tx_data``
(entity maps with string tempids) and returns ``(db, ids)`` with
``ids[tempid] -> eid``.

The ``strategy`` fixture runs a test under each way of joining a data
pattern: as shipped (covering indexes read directly, lookup or scan chosen
by row counts), through ``Db.search()`` with per-row lookups only, and with
scan + hash joins only.  All three must give the same answers.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import fact_store
from fact_store.query import patterns

_n = itertools.count()

SCHEMA: list[dict[str, Any]] = [
    {":db/ident": ":person/name", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":person/age", ":db/valueType": ":db.type/long",
     ":db/cardinality": ":db.cardinality/one", ":db/index": True},
    {":db/ident": ":person/sex", ":db/valueType": ":db.type/keyword",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/aka", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/friend", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/parent", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/salary", ":db/valueType": ":db.type/double",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/email", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/color", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":color/red"}, {":db/ident": ":color/green"},
]

PEOPLE: list[dict[str, Any]] = [
    {":db/id": "ivan", ":person/name": "Ivan", ":person/age": 15, ":person/sex": ":male",
     ":person/aka": ["Vanya", "Vano"], ":person/friend": ["petr"], ":person/salary": 10.5,
     ":person/color": ":color/red"},
    {":db/id": "petr", ":person/name": "Petr", ":person/age": 37, ":person/sex": ":male",
     ":person/friend": ["ivan", "oleg"], ":person/parent": ["ivan"], ":person/salary": 20.0},
    {":db/id": "oleg", ":person/name": "Oleg", ":person/age": 37, ":person/sex": ":male",
     ":person/parent": ["petr"], ":person/email": "oleg@example.com",
     ":person/color": ":color/green"},
    {":db/id": "anna", ":person/name": "Anna", ":person/age": 22, ":person/sex": ":female",
     ":person/aka": ["Anya"], ":person/parent": ["oleg"], ":person/salary": 30.25},
]


def build_db(tx_data: list[Any], schema: list[dict[str, Any]] | None = None) -> tuple[Any, dict]:
    conn = fact_store.connect(f"mem:query-test-{next(_n)}")
    conn.transact(SCHEMA if schema is None else schema)
    report = conn.transact(tx_data) if tx_data else None
    ids = dict(report.tempids) if report is not None else {}
    db = conn.db()
    conn.close()
    return db, ids


@pytest.fixture()
def make_db():
    return build_db


@pytest.fixture()
def people():
    """(db, ids) with four people: Ivan, Petr, Oleg, Anna."""
    return build_db(PEOPLE)


@pytest.fixture(params=["shipped", "search+lookup", "scan"])
def strategy(request, monkeypatch):
    """Run the test under each join strategy (see the module docstring)."""
    if request.param == "search+lookup":
        monkeypatch.setattr(patterns, "LOOKUP_COST", 0.0)
        monkeypatch.setattr(patterns, "RAW_INDEXES", False)
    elif request.param == "scan":
        monkeypatch.setattr(patterns, "LOOKUP_COST", 1e18)
    return request.param
