"""Transaction ops of the workload: gen, init, add-all, add-entity, add-1, retract-entity.

Each prints its JSON line (WORKLOAD.md section 7) with the db fingerprint as
count and checksum. Transactions run through ``db.with_`` (pure, in memory),
as DataScript's ``db-with`` does in its own benchmark.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import fact_store as fs
from benchmarks.workload import (JOB_EXT, SCHEMA, generate, line, measure, set_checksum)

SYSTEM = "fact-store"


def schema_tx() -> list[dict[str, Any]]:
    out = []
    for ident, vt, card, unique, index in SCHEMA:
        m = {":db/ident": ":" + ident, ":db/valueType": ":db.type/" + vt,
             ":db/cardinality": ":db.cardinality/" + card}
        if unique:
            m[":db/unique"] = ":db.unique/" + unique
        if index:
            m[":db/index"] = True
        out.append(m)
    return out


def empty_db() -> Any:
    conn = fs.connect("mem:")
    conn.transact(schema_tx())
    return conn.db()


def add_all_tx(persons: list[Any], jobs: list[Any]) -> list[dict[str, Any]]:
    tx: list[dict[str, Any]] = []
    for p in persons:
        m: dict[str, Any] = {":db/id": f"p{p.id}", ":person/id": p.id, ":person/name": p.name,
                             ":person/last-name": p.last, ":person/sex": ":" + p.sex,
                             ":person/age": p.age, ":person/salary": p.salary}
        if p.aliases:
            m[":person/alias"] = p.aliases
        if p.follows:
            m[":person/follows"] = [f"p{c}" for c in p.follows]
        tx.append(m)
    for j in jobs:
        m = {":db/id": f"j{j.id}", ":job/id": j.id, ":job/status": ":" + j.status,
             ":job/priority": j.priority}
        if j.deps:
            m[":job/dep"] = [f"j{d}" for d in j.deps]
        tx.append(m)
    return tx


def fingerprint(db: Any) -> tuple[int, int]:
    """(count, checksum) of every current user datom as (ext(e), attr, v')."""
    schema = db.schema
    pid, jid = schema.attr(":person/id").id, schema.attr(":job/id").id
    ext = {r[0]: r[2] for r in db.search(a=pid)}
    ext.update({r[0]: JOB_EXT + r[2] for r in db.search(a=jid)})
    names = {a.id: (a.ident[1:], a.is_ref) for a in schema.attrs() if a.ident.namespace in ("person", "job")}
    rows = []
    for e, a, v, _tx, _ in db.search():
        info = names.get(a)
        if info is None:
            continue
        rows.append((ext[e], info[0], ext[v] if info[1] else v))
    return len(rows), set_checksum(rows)


def run(size: int, quick: bool = False) -> list[dict[str, Any]]:
    out = []
    t0 = time.perf_counter()
    persons, jobs = generate(size)
    gen_ms = (time.perf_counter() - t0) * 1000
    base = empty_db()
    big = base.with_  # noqa: F841 - keeps the attribute lookup out of the timings

    # add-all: one transaction with every entity
    tx = add_all_tx(persons, jobs)
    timing, rep = measure(lambda _: base.with_(tx), "tx", setup=lambda: None, quick=quick)
    standard = rep.db_after
    out.append(line(SYSTEM, "add-all", size, timing, *fingerprint(standard)))
    out.append(line(SYSTEM, "gen", size, {"median_ms": round(gen_ms, 3), "min_ms": round(gen_ms, 3),
                                           "reps": 1, "batch": 1, "attempts": 1}, *fingerprint(standard)))

    # init: build the indexes straight from the datom list (no tx processing)
    from fact_store.db import Db
    schema = base.schema
    aid = {a.ident[1:]: a.id for a in schema.attrs()}
    n = len(persons)
    tx0 = fs.t_to_tx(2)
    dat: list[tuple[int, int, Any, int]] = []
    E0 = 1 << 20
    for p in persons:
        e = E0 + p.id
        dat += [(e, aid["person/id"], p.id, tx0), (e, aid["person/name"], p.name, tx0),
                (e, aid["person/last-name"], p.last, tx0), (e, aid["person/sex"], fs.Keyword(p.sex), tx0),
                (e, aid["person/age"], p.age, tx0), (e, aid["person/salary"], p.salary, tx0)]
        dat += [(e, aid["person/alias"], a, tx0) for a in p.aliases]
        dat += [(e, aid["person/follows"], E0 + c, tx0) for c in p.follows]
    for j in jobs:
        e = E0 + n + j.id
        dat += [(e, aid["job/id"], j.id, tx0), (e, aid["job/status"], fs.Keyword(j.status), tx0),
                (e, aid["job/priority"], j.priority, tx0)]
        dat += [(e, aid["job/dep"], E0 + n + d, tx0) for d in j.deps]
    cur0 = [(r[0], r[1], r[2], r[3]) for r in base.search()]
    timing, init_db = measure(lambda _: Db.from_datoms(schema, cur0 + dat, basis_t=2), "tx",
                              setup=lambda: None, quick=quick)
    out.append(line(SYSTEM, "init", size, timing, *fingerprint(init_db)))

    # add-entity: one transaction per person
    ent_txs = []
    for p in persons:
        m = {":db/id": "p", ":person/id": p.id, ":person/name": p.name, ":person/last-name": p.last,
             ":person/sex": ":" + p.sex, ":person/age": p.age, ":person/salary": p.salary}
        if p.aliases:
            m[":person/alias"] = p.aliases
        ent_txs.append([m])

    def add_entity(_: Any) -> Any:
        db = base
        for t in ent_txs:
            db = db.with_(t).db_after
        return db
    timing, db = measure(add_entity, "tx", setup=lambda: None, quick=quick)
    out.append(line(SYSTEM, "add-entity", size, timing, *fingerprint(db)))

    # add-1: six single-datom transactions per person
    attrs = [":person/name", ":person/last-name", ":person/sex", ":person/age", ":person/salary"]
    vals = [(p.id, (p.name, p.last, ":" + p.sex, p.age, p.salary)) for p in persons]

    def add_1(_: Any) -> Any:
        db = base
        for pid, vs in vals:
            rep = db.with_([[":db/add", "p", ":person/id", pid]])
            db = rep.db_after
            e = rep.tempids["p"]
            for a, v in zip(attrs, vs):
                db = db.with_([[":db/add", e, a, v]]).db_after
        return db
    timing, db = measure(add_1, "tx", setup=lambda: None, quick=quick)
    out.append(line(SYSTEM, "add-1", size, timing, *fingerprint(db)))

    # retract-entity: every person, in order, from the standard db
    pid = standard.schema.attr(":person/id").id
    eids = [standard.search(a=pid, v=p.id)[0][0] for p in persons]

    def retract(_: Any) -> Any:
        db = standard
        for e in eids:
            db = db.with_([[":db/retractEntity", e]]).db_after
        return db
    timing, db = measure(retract, "tx", setup=lambda: None, quick=quick)
    out.append(line(SYSTEM, "retract-entity", size, timing, *fingerprint(db)))
    return out


def memory_per_datom(size: int) -> dict[str, Any]:
    """Bytes per current datom of the in-memory indexes (tracemalloc), for the standard db."""
    persons, jobs = generate(size)
    base = empty_db()
    tx = add_all_tx(persons, jobs)
    tracemalloc.start()
    snap0 = tracemalloc.take_snapshot()
    db = base.with_(tx).db_after
    del tx
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    n = len(db)
    return {"system": SYSTEM, "op": "memory", "size": size, "current_datoms": n,
            "bytes": grown, "bytes_per_datom": round(grown / n, 1)}


if __name__ == "__main__":
    import argparse
    import json
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memory", action="store_true")
    args = ap.parse_args()
    run(args.size, args.quick)
    if args.memory:
        print(json.dumps(memory_per_datom(args.size)))
