"""Stage 2: lookup refs, upserts and tempids -> entity ids.

Rules (Datomic's): a lookup ref must name an existing entity. A tempid that
asserts a ``:db.unique/identity`` value some entity already holds becomes that
entity (upsert); if it upserts to two different entities that is a conflict.
Tempids asserting the same new identity value become one new entity. Other
tempids used as an entity get new ids in order of first appearance; a tempid
used only as a value is an error. ``"datomic.tx"`` is the transaction itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from fact_store.dbapi import Database
from fact_store.errors import TransactionError, UniqueConflict, UnknownEntity, UnresolvedTempid
from fact_store.schema import Attr, show
from fact_store.tx.expand import (ADD, TX_TEMPID, AutoTempId, Expanded, LookupRef, Op, TempId)


@dataclass(slots=True)
class Resolved:
    """Stage-2 output: every entity and ref value is an int."""

    ops: list[tuple[int, int, Attr, Any, Any]] = field(default_factory=list)  # (op, e, attr, v, form)
    cas: list[tuple[int, Attr, Any, Any, Any]] = field(default_factory=list)
    retract_entities: list[tuple[int, Any]] = field(default_factory=list)
    retract_all: list[tuple[int, Attr, Any]] = field(default_factory=list)
    tempids: dict[Any, int] = field(default_factory=dict)
    next_eid: int = 0
    errors: list[TransactionError] = field(default_factory=list)


def resolve(db: Database, ex: Expanded, tx_eid: int) -> Resolved:
    """Stage 2 of a transaction: returns ints only (errors collected in ``Resolved.errors``)."""
    out = Resolved(errors=list(ex.errors))
    errors = out.errors
    mapping: dict[TempId, int] = {TX_TEMPID: tx_eid}
    search = db.search

    lookups: dict[LookupRef, int | None] = {}

    def lookup(ref: LookupRef) -> int | None:
        if ref in lookups:
            return lookups[ref]
        v = ref.value
        if isinstance(v, LookupRef):
            v = lookup(v)
        elif isinstance(v, TempId):
            v = mapping.get(v)
        eid = None
        if v is not None:
            rows = search(None, ref.attr.id, v)
            eid = rows[0][0] if rows else None
        if eid is None:
            errors.append(UnknownEntity(f"lookup ref {show(list(ref.form))} names no entity",
                                        lookup_ref=ref.form))
        lookups[ref] = eid
        return eid

    ops = ex.ops
    # -- upserts: iterate to a fixpoint (a ref identity value may be a tempid resolved later)
    pending: dict[tuple[int, Any], list[TempId]] = {}
    changed = True
    conflicts: dict[TempId, set[int]] = {}
    while changed:
        changed = False
        pending.clear()
        for o in ops:
            if o.op != ADD or not isinstance(o.e, TempId) or not o.attr.is_identity:
                continue
            v = o.v
            if isinstance(v, TempId):
                if v not in mapping:
                    continue
                v = mapping[v]
            elif isinstance(v, LookupRef):
                v = lookup(v)
                if v is None:
                    continue
            rows = search(None, o.attr.id, v)
            if rows:
                found = rows[0][0]
                have = mapping.get(o.e)
                if have is None:
                    mapping[o.e] = found
                    changed = True
                elif have != found:
                    conflicts.setdefault(o.e, {have}).add(found)
            else:
                pending.setdefault((o.attr.id, v), []).append(o.e)
    for tid, eids in conflicts.items():
        errors.append(UniqueConflict(
            f"tempid {show(tid.name)} upserts to different entities {sorted(eids)} through "
            "unique identity attributes", tempid=tid.name, entities=sorted(eids)))

    # -- allocate: tempids sharing a new identity value become one entity
    next_eid = db.next_eid
    alias: dict[TempId, TempId] = {}
    for tids in pending.values():
        root = tids[0]
        for t in tids[1:]:
            if t != root and t not in mapping:
                alias.setdefault(t, root)

    def alloc(t: TempId) -> int:
        nonlocal next_eid
        r = alias.get(t, t)
        eid = mapping.get(r)
        if eid is None:
            eid = next_eid
            next_eid += 1
            mapping[r] = eid
        if r is not t:
            mapping[t] = eid
        return eid

    def ent(x: Any, allocate: bool) -> int | None:
        if type(x) is int:
            return x
        if isinstance(x, TempId):
            eid = mapping.get(x)
            if eid is None:
                if not allocate:
                    r = alias.get(x)
                    if r is not None and r in mapping:
                        return mapping[r]
                    return None
                eid = alloc(x)
            return eid
        if isinstance(x, LookupRef):
            return lookup(x)
        return cast(int, x)

    for o in ops:  # first appearance order in entity position
        if isinstance(o.e, TempId):
            ent(o.e, True)
    res_ops = out.ops
    for o in ops:
        e = ent(o.e, True)
        if e is None:
            continue
        v = o.v
        if o.attr.is_ref:
            rv = ent(v, False)
            if rv is None:
                if isinstance(v, TempId):
                    errors.append(UnresolvedTempid(
                        f"tempid {show(v.name)} is used as a value of {o.attr.ident} but never as an "
                        "entity", tempid=v.name, attribute=o.attr.ident))
                continue
            v = rv
        res_ops.append((o.op, e, o.attr, v, o.form))
    for e, attr, old, new, form in ex.cas:
        ee = ent(e, False)
        if ee is None:
            if isinstance(e, TempId):
                errors.append(UnresolvedTempid(f":db/cas needs an existing entity, got tempid {show(e.name)}",
                                               tempid=e.name, form=form))
            continue
        if attr.is_ref:
            old = None if old is None else ent(old, False)
            new = ent(new, False)
        out.cas.append((ee, attr, old, new, form))
    for e, form in ex.retract_entities:
        ee = ent(e, False)
        if ee is not None:
            out.retract_entities.append((ee, form))
    for e, attr, form in ex.retract_all:
        ee = ent(e, False)
        if ee is not None:
            out.retract_all.append((ee, attr, form))
    out.tempids = {t.name: eid for t, eid in mapping.items()
                   if not isinstance(t, AutoTempId)}
    out.next_eid = next_eid
    return out


__all__ = ["Resolved", "resolve", "Op"]
