"""A typed schema and random tx-data over every value type, for model and snapshot tests."""

from __future__ import annotations

import datetime as _dt
import random
import uuid
from decimal import Decimal
from typing import Any

from fact_store.edn.values import Keyword

TYPED_SCHEMA = [
    {":db/ident": ":v/key", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":v/str", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":v/long", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":v/double", ":db/valueType": ":db.type/double", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":v/kw", ":db/valueType": ":db.type/keyword", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":v/bool", ":db/valueType": ":db.type/boolean", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":v/inst", ":db/valueType": ":db.type/instant", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":v/uuid", ":db/valueType": ":db.type/uuid", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":v/dec", ":db/valueType": ":db.type/bigdec", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":v/big", ":db/valueType": ":db.type/bigint", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":v/bytes", ":db/valueType": ":db.type/bytes", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":v/ref", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":v/quiet", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one",
     ":db/noHistory": True},
]

_STRINGS = ["", "a", "é", "e\u0301", "\U0001F600", "\u202eRTL", "zero\u200bwidth", "x" * 300]


def random_value(attr: str, rng: random.Random) -> Any:
    if attr == ":v/str":
        return rng.choice(_STRINGS) + str(rng.randrange(50))
    if attr in (":v/long", ":v/quiet"):
        return rng.choice((0, -1, 1, (1 << 63) - 1, -(1 << 63), rng.randrange(-10**9, 10**9)))
    if attr == ":v/double":
        return rng.choice((0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), 1e308,
                           rng.random()))
    if attr == ":v/kw":
        return Keyword(rng.choice((":a", ":b/c", ":ü/x")))
    if attr == ":v/bool":
        return rng.random() < 0.5
    if attr == ":v/inst":
        return _dt.datetime(rng.randrange(1900, 2100), 1, 1, tzinfo=_dt.timezone.utc) + \
            _dt.timedelta(microseconds=rng.randrange(10**12))
    if attr == ":v/uuid":
        return uuid.UUID(int=rng.getrandbits(128))
    if attr == ":v/dec":
        return Decimal(rng.choice(("1.0", "1.00", "-0", "3.14159", "1E+5")))
    if attr == ":v/big":
        return rng.choice((0, 1 << 70, -(1 << 100), rng.getrandbits(90)))
    if attr == ":v/bytes":
        return rng.randbytes(rng.randrange(0, 40))
    raise KeyError(attr)


SCALAR_ATTRS = [":v/str", ":v/long", ":v/double", ":v/kw", ":v/bool", ":v/inst", ":v/uuid",
                ":v/dec", ":v/big", ":v/bytes", ":v/quiet"]


def random_tx(db: Any, rng: random.Random, i: int) -> list[Any]:
    """Assert a few typed values on a new or existing entity, sometimes retract some."""
    keys = [f"e{j}" for j in range(max(i, 1))]
    key = rng.choice(keys + [f"e{i}"])
    ent: dict[str, Any] = {":v/key": key}
    for a in rng.sample(SCALAR_ATTRS, rng.randrange(1, 5)):
        ent[a] = random_value(a, rng)
    if rng.random() < 0.3:
        ent[":db/id"] = "self"
        ent[":v/ref"] = ["self"]  # a ref to itself through its tempid
    tx: list[Any] = [ent]
    if db is not None and rng.random() < 0.4:
        a = db.schema.attr(":v/str")
        rows = db.search(a=a.id) if a is not None else []
        if rows:
            e, _a, v, _tx, _ad = rng.choice(rows)
            tx.append([":db/retract", e, ":v/str", v])
    return tx
