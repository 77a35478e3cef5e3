"""Fixtures for the pull tests: a small social graph in a real Db.

``build_db(tx_data)`` (the ``make_db`` fixture) installs SCHEMA, transacts ``tx_data`` (entity maps with
string tempids) and returns ``(db, ids)`` with ``ids[tempid] -> eid``.

The ``executor`` fixture runs every test twice: once as shipped, once with
the fast paths switched off, so the general executor must give the same
answers as the simple one.
"""

from __future__ import annotations

from typing import Any

import pytest

import fact_store
from fact_store.pull import execute

SCHEMA = [
    {":db/ident": ":person/name", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":person/age", ":db/valueType": ":db.type/long",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/aka", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/sex", ":db/valueType": ":db.type/keyword",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/father", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/child", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/friend", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/enemy", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":person/next", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":order/id", ":db/valueType": ":db.type/long",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":order/lines", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/many", ":db/isComponent": True},
    {":db/ident": ":order/address", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/one", ":db/isComponent": True},
    {":db/ident": ":line/sku", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":line/qty", ":db/valueType": ":db.type/long",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":line/parts", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/many", ":db/isComponent": True},
    {":db/ident": ":address/city", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":person/color", ":db/valueType": ":db.type/ref",
     ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":color/red"},
]

#: The family and friends of DataScript's pull tests, plus an order with components.
PEOPLE = [
    {":db/id": "petr", ":person/name": "Petr", ":person/age": 39, ":person/sex": ":male",
     ":person/aka": ["Devil", "Tupen"], ":person/child": ["david", "thomas"],
     ":person/color": ":color/red"},
    {":db/id": "david", ":person/name": "David", ":person/father": "petr"},
    {":db/id": "thomas", ":person/name": "Thomas", ":person/father": "petr"},
    {":db/id": "lucy", ":person/name": "Lucy", ":person/friend": ["elizabeth"],
     ":person/enemy": ["matthew"]},
    {":db/id": "elizabeth", ":person/name": "Elizabeth", ":person/friend": ["matthew"],
     ":person/enemy": ["eunan"]},
    {":db/id": "matthew", ":person/name": "Matthew", ":person/friend": ["eunan"],
     ":person/enemy": ["kerri"]},
    {":db/id": "eunan", ":person/name": "Eunan", ":person/friend": ["kerri"],
     ":person/enemy": ["lucy"]},
    {":db/id": "kerri", ":person/name": "Kerri"},
    {":db/id": "rebecca", ":person/name": "Rebecca", ":person/aka": ["Becky", "R", "Reb", "Ree"],
     ":person/child": ["david", "thomas", "kerri"]},
    {":db/id": "order", ":order/id": 1,
     ":order/lines": [{":db/id": "line1", ":line/sku": "A", ":line/qty": 2,
                       ":line/parts": [{":db/id": "part1", ":line/sku": "A.1"}]},
                      {":db/id": "line2", ":line/sku": "B", ":line/qty": 1}],
     ":order/address": {":db/id": "addr", ":address/city": "Lisbon"}},
]

def build_db(tx_data: list[Any] = (), schema: list[Any] = SCHEMA  # type: ignore[assignment]
            ) -> tuple[Any, dict[str, int]]:
    db = fact_store.Db.empty().with_(list(schema)).db_after
    ids: dict[str, int] = {}
    if tx_data:
        report = db.with_(list(tx_data))
        db, ids = report.db_after, dict(report.tempids)
    return db, ids


@pytest.fixture(params=["fast", "general"])
def executor(request: Any, monkeypatch: Any) -> str:
    if request.param == "general":
        monkeypatch.setattr(execute, "_FAST", False)
        execute.clear_caches()
        request.addfinalizer(execute.clear_caches)
    return str(request.param)


@pytest.fixture
def make_db(executor: str) -> Any:
    """``make_db(tx_data)`` -> (db, ids), under both executors."""
    return build_db


@pytest.fixture
def people(executor: str) -> tuple[Any, dict[str, int]]:
    return build_db(PEOPLE)


@pytest.fixture
def people_fast() -> tuple[Any, dict[str, int]]:
    """The people db, for tests of the fast path itself (not run under both executors)."""
    return build_db(PEOPLE)
