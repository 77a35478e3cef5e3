"""Keeps this process's indexes caught up with the log.

A peer turns log records (expanded datoms, never transaction-function calls:
replay runs no user code) into Db values: record by record for a short tail,
in bulk when opening a store, and from an index snapshot when one exists.
"""

from __future__ import annotations

import datetime as _dt
import itertools
from typing import Any, Iterable

from fact_store.datom import TX0, USER0, Datom, t_to_tx
from fact_store.db import Db
from fact_store.dbapi import INDEX_NAMES
from fact_store.errors import StorageError
from fact_store.index.snapshot import decode_snapshot, encode_snapshot
from fact_store.schema import (BOOTSTRAP_ATTR_IDS, TupleValue, schema_entities,
                               schema_from_datoms)
from fact_store.tx.apply import TxReport, next_schema

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _us(instant: _dt.datetime) -> int:
    return (instant - _EPOCH) // _dt.timedelta(microseconds=1)


def _from_us(us: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=us)


def apply_record(db: Db, t: int, instant: _dt.datetime,
                 datoms: list[tuple[int, int, Any, int, bool]]) -> TxReport[Db]:
    """The TxReport of applying log record ``t`` to ``db`` (whose basis must be t - 1)."""
    if t != db.basis_t + 1:
        raise StorageError(f"log record t={t} does not follow basis t={db.basis_t}", t=t)
    adds: list[tuple[int, int, Any]] = []
    retracts: list[tuple[int, int, Any, int]] = []
    search = db.search
    next_eid = db.next_eid
    for e, a, v, _tx, added in datoms:
        if added:
            adds.append((e, a, v))
            if USER0 <= e < TX0 and e >= next_eid:
                next_eid = e + 1
        else:
            rows = search(e, a, v)
            if rows:
                retracts.append((e, a, v, rows[0][3]))
    es = schema_entities(adds, retracts)
    schema = next_schema(db, es, adds, retracts) if es else db.schema
    after = db.apply_datoms(t, adds, retracts, schema, next_eid, max(instant, db.last_instant))
    return TxReport(db, after, [Datom(*d) for d in datoms], {})


def replay(records: Iterable[tuple[int, _dt.datetime, list[tuple[int, int, Any, int, bool]]]],
           base: Db | None = None, bulk_after: int = 256) -> Db:
    """Fold log records into a Db: record by record for a short tail, in bulk (O(n log n))
    once the tail is longer than ``bulk_after`` records. ``base`` is a snapshot or None."""
    db = base or Db.empty()
    it = iter(records)
    head: list[tuple[int, _dt.datetime, list[tuple[int, int, Any, int, bool]]]] = []
    for rec in it:
        head.append(rec)
        if len(head) > bulk_after:
            break
    if len(head) <= bulk_after:
        for rt, instant, datoms in head:
            db = apply_record(db, rt, instant, datoms).db_after
        return db
    current: dict[tuple[int, int, Any], int] = {(r[0], r[1], r[2]): r[3] for r in db.index("eavt")}
    history: list[tuple[int, int, Any, int, bool]] = list(db.history_index())
    t = db.basis_t
    last_instant = db.last_instant
    for rt, instant, datoms in itertools.chain(head, it):
        if rt != t + 1:
            raise StorageError(f"log record t={rt} does not follow t={t}", t=rt)
        t = rt
        last_instant = max(last_instant, instant)
        for e, a, v, tx, added in datoms:
            if added:
                current[(e, a, v)] = tx
            else:
                current.pop((e, a, v), None)
            history.append((e, a, v, tx, added))
    cur = [(e, a, v, tx) for (e, a, v), tx in current.items()]
    schema = schema_from_datoms(cur)
    no_hist = schema.no_history_ids
    if no_hist:
        history = [h for h in history if h[1] not in no_hist]
    return Db.from_datoms(schema, cur, basis_t=t, last_instant=last_instant, history=history)


def snapshot_bytes(db: Db) -> bytes:
    """Encode ``db``'s indexes as snapshot bytes."""
    return encode_snapshot(db.basis_t, db.next_eid, _us(db.last_instant),
                           {name: list(db.index(name)) for name in INDEX_NAMES},
                           list(db.history_index()))


def db_from_snapshot(payload: bytes) -> Db:
    """A Db from snapshot bytes.

    :raises StorageError: malformed bytes, or well-formed bytes holding datoms that
        cannot be a database (a snapshot is only a cache: the caller replays the log).
    """
    d = decode_snapshot(payload)
    try:
        return _db_from_decoded(d)
    except StorageError:
        raise
    except Exception as exc:  # wrong types in a decodable payload (fuzzing finds them)
        raise StorageError(f"index snapshot holds datoms that are not a database: "
                           f"{type(exc).__name__}: {exc}") from exc


def _db_from_decoded(d: dict[str, Any]) -> Db:
    aevt = d["aevt"]
    schema_rows = []
    last_boot = max(BOOTSTRAP_ATTR_IDS)
    for a, e, v, tx in aevt:  # schema attributes have the smallest ids: AEVT starts with them
        if a > last_boot:
            break
        schema_rows.append((e, a, v, tx))
    schema = schema_from_datoms(schema_rows)
    eavt, avet, vaet = d["eavt"], d["avet"], d["vaet"]
    history = d["history"]
    tuple_ids = {a.id for a in schema.attrs() if a.value_type == ":db.type/tuple"}
    if tuple_ids:  # stored tuples come back plain; the index needs nil-first ordering
        def tv(v: Any) -> Any:
            return TupleValue(v) if type(v) is tuple else v
        eavt = [(e, a, tv(v), tx) if a in tuple_ids else r for r in eavt for e, a, v, tx in (r,)]
        aevt = [(a, e, tv(v), tx) if a in tuple_ids else r for r in aevt for a, e, v, tx in (r,)]
        avet = [(a, tv(v), e, tx) if a in tuple_ids else r for r in avet for a, v, e, tx in (r,)]
        full = history

        def history() -> list[tuple[int, int, Any, int, bool]]:
            return [(e, a, tv(v), tx, ad) if a in tuple_ids else (e, a, v, tx, ad)
                    for e, a, v, tx, ad in full()]
    no_hist = schema.no_history_ids
    if no_hist:
        unfiltered = history

        def history() -> list[tuple[int, int, Any, int, bool]]:  # noqa: F811
            return [h for h in unfiltered() if h[1] not in no_hist]
    return Db.from_indexes(schema, d["t"], eavt, aevt, avet, vaet, d["next_eid"],
                           _from_us(d["instant_us"]), history)


__all__ = ["apply_record", "replay", "snapshot_bytes", "db_from_snapshot", "schema_from_datoms",
           "t_to_tx"]
