"""Stage 3: cardinality, uniqueness and type checks; datoms; TxReport.

Takes stage-2 output (ints only) and db-before and produces db-after, or
raises one :class:`~fact_store.errors.TransactionError` listing every
violation. Datomic's rules, checked here:

- a datom already present is redundant and dropped; retracting an absent datom is a no-op;
- asserting and retracting one datom in one transaction is a conflict, and so
  are two values for one cardinality-one attribute of one entity;
- asserting a new value of a cardinality-one attribute retracts the old one;
- a ``:db.unique`` value held by another entity is a conflict;
- ``:db/cas`` compares against db-before;
- ``:db/retractEntity`` retracts the entity's datoms, the refs to it, and its
  components, recursively;
- composite tuples (``:db/tupleAttrs``) follow their parts;
- schema datoms rebuild the schema, refusing changes Datomic refuses.

:func:`transact` runs them as named passes over db-before, each adding to one
:class:`Changes` (assertions, retractions, violations): ``_retract_entities``,
``_cas``, ``_operations``, ``_cardinality``, ``_uniqueness``, ``_composites``,
``_tx_entity``; then :func:`next_schema` (``schema.schema_after``, shared with
``peer`` for log records) and ``Db.apply_datoms``, the declared write path.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fact_store.datom import TX0, Datom, t_to_tx
from fact_store.dbapi import Database, WritableDatabase
from fact_store.errors import (CardinalityConflict, CasFailed, DatomsConflict, InvalidTxData,
                               LimitExceeded, SchemaError, TransactionError, UniqueConflict)
from fact_store.schema import (DB_TX_INSTANT, SCHEMA_PROPS, Schema, TupleValue, schema_after,
                               schema_entities, show)
from fact_store.tx.expand import ADD, expand
from fact_store.tx.resolve import Resolved, resolve

#: Default maximum number of datoms in one transaction (RELIABILITY V3).
MAX_TX_DATOMS = 100_000

D = TypeVar("D", bound=WritableDatabase)


@dataclass(frozen=True, slots=True)
class TxReport(Generic[D]):
    """What a transaction did: ``db_before``, ``db_after``, ``tx_data`` (the datoms) and ``tempids``."""

    db_before: D
    db_after: D
    tx_data: list[Datom]
    tempids: dict[Any, int]

    @property
    def t(self) -> int:
        return self.db_after.basis_t

    @property
    def tx(self) -> int:
        return t_to_tx(self.db_after.basis_t)


def _raise(errors: list[TransactionError]) -> None:
    first = errors[0]
    if len(errors) == 1:
        raise first
    # one line per distinct message (1,500 times the same mistake is one line), at most 20
    counts: dict[str, int] = {}
    for e in errors:
        counts[str(e)] = counts.get(str(e), 0) + 1
    lines = [f"- {m}" + (f" ({n:,} times)" if n > 1 else "") for m, n in list(counts.items())[:20]]
    rest = sum(list(counts.values())[20:])
    more = f"\n- … and {rest:,} more" if rest else ""
    msg = f"{len(errors):,} problems in this transaction:\n" + "\n".join(lines) + more
    err = type(first)(msg, violations=errors, **first.data)
    raise err


def transact(db: D, tx_data: Any, instant: _dt.datetime | None = None,
             max_datoms: int | None = MAX_TX_DATOMS) -> TxReport[D]:
    """Run ``tx_data`` against ``db``; return the TxReport. ``db`` is never changed.

    The passes, in order (each reads db-before and the changes so far):
    retract-entity, cas, the operations (with the in-transaction conflicts),
    cardinality (redundancy, implicit retraction), uniqueness, composite tuples,
    the transaction entity; then, if nothing failed, the schema and db-after.

    :raises TransactionError: (a subclass) listing every violation; nothing is applied.
    """
    if db.is_filtered:
        raise InvalidTxData("cannot transact against a filtered db (as_of, since or history)")
    t = db.basis_t + 1
    tx = t_to_tx(t)
    ex = expand(db, tx_data)
    rs = resolve(db, ex, tx)
    ch = Changes(rs.errors)
    _retract_entities(db, rs, ch)
    cas_ops = _cas(db, rs, ch)
    ops = rs.ops + cas_ops if cas_ops else rs.ops
    if max_datoms is not None and len(ops) > max_datoms:
        raise LimitExceeded(f"transaction has {len(ops)} datoms, more than the limit of "
                            f"{max_datoms}", limit=max_datoms, count=len(ops))
    _operations(db, ops, ch)
    new_adds = _cardinality(db, ch)
    _uniqueness(db, new_adds, ch)
    _composites(db, new_adds, ch)
    instant = _tx_entity(db, tx, instant, new_adds, ch)
    if ch.errors:
        _raise(ch.errors)

    retract_list = [(e, a, v, otx) for (e, a, v), otx in ch.retracts.items()]
    schema = db.schema
    schema_es = schema_entities(new_adds, retract_list)
    new_schema = next_schema(db, schema_es, new_adds, retract_list) if schema_es else schema
    next_eid = max(rs.next_eid, db.next_eid)
    for e, _, _ in new_adds:  # an explicit eid never handed out must not be handed out later
        if next_eid <= e < TX0:
            next_eid = e + 1
    db_after = db.apply_datoms(t, new_adds, retract_list, new_schema, next_eid, instant)
    if schema_es:
        _check_schema_data(schema, new_schema, db_after, schema_es)
    tx_datoms = [Datom(e, a, v, tx, True) for e, a, v in new_adds]
    tx_datoms.extend(Datom(e, a, v, tx, False) for e, a, v, _ in retract_list)
    return TxReport(db, db_after, tx_datoms, rs.tempids)


class Changes:
    """What the passes have decided so far, and every violation found."""

    __slots__ = ("errors", "adds", "retracts", "explicit_rm", "card_one")

    def __init__(self, errors: list[TransactionError]) -> None:
        self.errors = errors
        self.adds: dict[tuple[int, int, Any], Any] = {}       # (e, a, v) -> form
        self.retracts: dict[tuple[int, int, Any], int] = {}   # (e, a, v) -> tx of the datom
        self.explicit_rm: set[tuple[int, int, Any]] = set()   # retracted by the tx-data itself
        self.card_one: dict[tuple[int, int], Any] = {}        # (e, a) -> value asserted here


def _retract_entities(db: Database, rs: Resolved, ch: Changes) -> None:
    """``:db/retractEntity`` (its datoms, the refs to it, its components, recursively) and
    ``[:db/retract e a]`` without a value."""
    search = db.search
    schema = db.schema
    retracts, explicit_rm = ch.retracts, ch.explicit_rm
    if rs.retract_entities:
        seen: set[int] = set()
        stack = [e for e, _ in rs.retract_entities]
        component_ids = schema.component_ids
        while stack:
            e = stack.pop()
            if e in seen:
                continue
            seen.add(e)
            for r in search(e):
                retracts[(r[0], r[1], r[2])] = r[3]
                explicit_rm.add((r[0], r[1], r[2]))
                if r[1] in component_ids:
                    stack.append(r[2])
            for r in search(None, None, e):
                if r[1] in schema.ref_ids:
                    retracts[(r[0], r[1], r[2])] = r[3]
                    explicit_rm.add((r[0], r[1], r[2]))
    for e, attr, _form in rs.retract_all:
        for r in search(e, attr.id):
            retracts[(r[0], r[1], r[2])] = r[3]
            explicit_rm.add((r[0], r[1], r[2]))


def _cas(db: Database, rs: Resolved, ch: Changes) -> list[Any]:
    """``:db/cas`` against db-before: the assertions of those that hold."""
    cas_seen: set[tuple[int, int]] = set()
    cas_ops = []
    errors = ch.errors
    for e, attr, old, new, form in rs.cas:
        if (e, attr.id) in cas_seen:
            errors.append(DatomsConflict(
                f"two :db/cas on {attr.ident} of entity {e} in one transaction (refused: each must "
                "see db-before)", entity=e, attribute=attr.ident))
            continue
        cas_seen.add((e, attr.id))
        rows = db.search(e, attr.id)
        cur = rows[0][2] if rows else None
        if cur != old or (cur is not None and type(cur) is not type(old)):
            errors.append(CasFailed(
                f":db/cas failed on {attr.ident} of entity {e}: expected {show(old)}, found {show(cur)}",
                entity=e, attribute=attr.ident, expected=old, found=cur))
            continue
        cas_ops.append((ADD, e, attr, new, form))
    return cas_ops


def _operations(db: Database, ops: list[Any], ch: Changes) -> None:
    """Collect assertions and explicit retractions; refuse two values for one cardinality-one
    attribute, and a datom both asserted and retracted, in one transaction."""
    search = db.search
    schema = db.schema
    adds, retracts, explicit_rm, card_one, errors = (ch.adds, ch.retracts, ch.explicit_rm,
                                                     ch.card_one, ch.errors)
    for op, e, attr, v, form in ops:
        a = attr.id
        key = (e, a, v)
        if op == ADD:
            if key in adds:
                continue
            if not attr.many:
                prev = card_one.get((e, a))
                if prev is not None and (prev != v or type(prev) is not type(v)):
                    errors.append(CardinalityConflict(
                        f"two values for cardinality-one {attr.ident} of entity {e} in one "
                        f"transaction: {show(prev)} and {show(v)}", entity=e, attribute=attr.ident,
                        values=[prev, v]))
                    continue
                card_one[(e, a)] = v
            adds[key] = form
        else:
            rows = search(e, a, v)
            if rows:
                retracts[key] = rows[0][3]
            explicit_rm.add(key)
    for key in explicit_rm:
        if key in adds:
            e, a, v = key
            ident = schema.require(a).ident
            errors.append(DatomsConflict(
                f"datom [{e} {ident} {show(v)}] is both asserted and retracted in one "
                "transaction", entity=e, attribute=ident, value=v))


def _cardinality(db: Database, ch: Changes) -> list[tuple[int, int, Any]]:
    """Drop redundant assertions; a new cardinality-one value retracts the old one.
    Returns the assertions that change the db."""
    search = db.search
    schema = db.schema
    retracts = ch.retracts
    new_adds: list[tuple[int, int, Any]] = []
    for key in ch.adds:
        e, a, v = key
        attr = schema.require(a)
        if attr.many:
            if search(e, a, v):
                continue
            new_adds.append(key)
        else:
            rows = search(e, a)
            present = False
            for r in rows:
                if r[2] == v and type(r[2]) is type(v):
                    present = True
                else:
                    retracts[(e, a, r[2])] = r[3]
            if not present:
                new_adds.append(key)
    return new_adds


def _uniqueness(db: Database, new_adds: list[tuple[int, int, Any]], ch: Changes) -> None:
    """A ``:db/unique`` value may be held by one entity, in db-after and in the transaction."""
    schema = db.schema
    errors, retracts = ch.errors, ch.retracts
    unique_seen: dict[tuple[int, Any], int] = {}
    for e, a, v in new_adds:
        attr = schema.require(a)
        if attr.unique is None:
            continue
        other = unique_seen.get((a, v))
        if other is not None and other != e:
            errors.append(UniqueConflict(
                f"{attr.ident} value {show(v)} asserted for two entities ({other} and {e}) in one "
                "transaction", attribute=attr.ident, value=v, entities=[other, e]))
            continue
        unique_seen[(a, v)] = e
        for r in db.search(None, a, v):
            if r[0] != e and (r[0], a, v) not in retracts:
                errors.append(UniqueConflict(
                    f"{attr.ident} value {show(v)} is already held by entity {r[0]}"
                    f" (asserted for {e})", attribute=attr.ident, value=v, existing=r[0], entity=e))


def _composites(db: Database, new_adds: list[tuple[int, int, Any]], ch: Changes) -> None:
    """Composite tuples (``:db/tupleAttrs``) follow their parts: appended to ``new_adds``."""
    composites = db.schema.composites
    if not composites:
        return
    search = db.search
    retracts, card_one, errors = ch.retracts, ch.card_one, ch.errors
    changed_keys = [k for k in new_adds if k[1] in composites]
    changed_keys += [k for k in retracts if k[1] in composites]
    done: set[tuple[int, int]] = set()
    for e, a, _v in changed_keys:
        for comp in composites[a]:
            if (e, comp.id) in done:
                continue
            done.add((e, comp.id))
            parts = []
            for part in comp.tuple_attrs or ():
                val = card_one.get((e, part))
                if val is None:
                    rows = [r for r in search(e, part) if (e, part, r[2]) not in retracts]
                    val = rows[0][2] if rows else None
                parts.append(val)
            cur_rows = search(e, comp.id)
            cur = cur_rows[0] if cur_rows else None
            newv = None if all(p is None for p in parts) else TupleValue(parts)
            if cur is not None and (newv is None or tuple(cur[2]) != tuple(newv)):
                retracts[(e, comp.id, cur[2])] = cur[3]
            if newv is not None and (cur is None or tuple(cur[2]) != tuple(newv)):
                if comp.unique is not None:
                    for r in search(None, comp.id, newv):
                        if r[0] != e:
                            errors.append(UniqueConflict(
                                f"{comp.ident} value {show(list(newv))} is already held by entity "
                                f"{r[0]}", attribute=comp.ident, value=newv, existing=r[0]))
                new_adds.append((e, comp.id, newv))


def _tx_entity(db: Database, tx: int, instant: _dt.datetime | None,
               new_adds: list[tuple[int, int, Any]], ch: Changes) -> _dt.datetime:
    """The transaction entity's ``:db/txInstant``: the caller's, never older than the last one."""
    instant = instant or _dt.datetime.now(_dt.timezone.utc)
    user_instant = ch.card_one.get((tx, DB_TX_INSTANT))
    if user_instant is not None:
        instant = user_instant
        if instant < db.last_instant:
            ch.errors.append(InvalidTxData(
                f":db/txInstant {instant.isoformat()} is older than the previous transaction's "
                f"{db.last_instant.isoformat()}", instant=instant))
    else:
        if instant < db.last_instant:
            instant = db.last_instant
        new_adds.append((tx, DB_TX_INSTANT, instant))
    return instant


def next_schema(db: Database, es: set[int], adds: list[tuple[int, int, Any]],
                retracts: list[tuple[int, int, Any, int]]) -> Schema:
    """The schema after ``adds`` and ``retracts`` change the schema entities ``es`` of ``db``
    (``schema.schema_entities``). Used for transactions and for log records alike."""
    before = {e: {r[1]: r[2] for r in db.search(e) if r[1] in SCHEMA_PROPS} for e in es}
    return schema_after(db.schema, before, adds, retracts)


def _check_schema_data(old_schema: Schema, new_schema: Schema, db_after: Database,
                       es: set[int]) -> None:
    """Data checks for changes Datomic allows only when the data already fits."""
    for e in es:
        old, new = old_schema.attr(e), new_schema.attr(e)
        if old is None or new is None:
            continue
        if new.unique is not None and old.unique is None:
            prev = None
            for r in db_after.index("avet").prefix((e,)):
                if prev is not None and prev[1] == r[1] and prev[2] != r[2]:
                    raise SchemaError(f"cannot make {new.ident} unique: value {r[1]!r} is held by "
                                      f"entities {prev[2]} and {r[2]}", attribute=new.ident)
                prev = r
        if old.many and not new.many:
            prev = None
            for r in db_after.index("aevt").prefix((e,)):
                if prev is not None and prev[1] == r[1]:
                    raise SchemaError(f"cannot make {new.ident} cardinality one: entity {r[1]} has "
                                      "several values", attribute=new.ident)
                prev = r
