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
from fact_store.edn.values import Keyword
from fact_store.errors import StorageError
from fact_store.index.snapshot import decode_snapshot, encode_snapshot
from fact_store.schema import DB_IDENT, DB_TUPLE_ATTRS, SCHEMA_ATTRS, Schema, TupleValue, attr_from_entity
from fact_store.tx.apply import TxReport, _schema_after

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _us(instant: _dt.datetime) -> int:
    return (instant - _EPOCH) // _dt.timedelta(microseconds=1)


def _from_us(us: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=us)


def apply_record(db: Db, t: int, instant: _dt.datetime,
                 datoms: list[tuple[int, int, Any, int, bool]]) -> TxReport:
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
    schema = db.schema
    es = {e for e, a, _ in adds if a in SCHEMA_ATTRS}
    es.update(e for e, a, _, _ in retracts if a in SCHEMA_ATTRS)
    if es:
        schema = _schema_after(db, schema, es, adds, retracts)
    after = db._apply(t, adds, retracts, schema, next_eid, max(instant, db.last_instant))
    return TxReport(db, after, [Datom(*d) for d in datoms], {})


def schema_from_datoms(current: Iterable[tuple[int, int, Any, int]]) -> Schema:
    """Rebuild the Schema from the current datoms of a db."""
    boot = Schema.bootstrap()
    props: dict[int, dict[int, Any]] = {}
    idents: dict[Keyword, int] = {}
    for e, a, v, _tx in current:
        if a in SCHEMA_ATTRS or a == 8:
            props.setdefault(e, {})[a] = v
        if a == DB_IDENT:
            idents[Keyword(v)] = e
    interim = boot.with_changes([], idents)
    ident_of = interim.ident_of
    attrs = []
    composite = []
    for e, p in props.items():
        if DB_TUPLE_ATTRS in p:  # composites name their parts: build them last
            composite.append((e, p))
            continue
        attr = attr_from_entity(e, p, ident_of, interim)
        if attr is not None:
            attrs.append(attr)
    if composite:
        interim = interim.with_changes(attrs, {})
        attrs += [attr_from_entity(e, p, ident_of, interim) for e, p in composite]
    return interim.with_changes([a for a in attrs if a is not None], {})


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
    current: dict[tuple[int, int, Any], int] = {(r[0], r[1], r[2]): r[3] for r in db._eavt}
    history: list[tuple[int, int, Any, int, bool]] = list(db._heavt)
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
                           {"eavt": list(db._eavt), "aevt": list(db._aevt),
                            "avet": list(db._avet), "vaet": list(db._vaet)},
                           list(db._heavt))


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
    for a, e, v, tx in aevt:  # schema attributes have the smallest ids: AEVT starts with them
        if a > 12:
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
