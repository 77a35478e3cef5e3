"""Transaction ops of the workload: gen, init, add-all, add-entity, add-1, retract-entity.

Each prints its JSON line (workload section 7) with the db fingerprint as
count and checksum. Transactions run through ``db.with_`` (pure, in memory),
as DataScript's ``db-with`` does in its own benchmark.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any, Callable

import fact_store as fs
from benchmarks.serve import Op
from benchmarks.workload import JOB_EXT, SCHEMA, generate, line, measure, set_checksum

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


def init_datoms(base: Any, persons: list[Any], jobs: list[Any]) -> list[tuple[int, int, Any, int]]:
    """The datoms of the standard db (and the schema's), as ``Db.from_datoms`` takes them (op init)."""
    schema = base.schema
    aid = {a.ident[1:]: a.id for a in schema.attrs()}
    n = len(persons)
    tx0 = fs.t_to_tx(2)
    dat: list[tuple[int, int, Any, int]] = []
    e0 = 1 << 20
    for p in persons:
        e = e0 + p.id
        dat += [(e, aid["person/id"], p.id, tx0), (e, aid["person/name"], p.name, tx0),
                (e, aid["person/last-name"], p.last, tx0), (e, aid["person/sex"], fs.Keyword(p.sex), tx0),
                (e, aid["person/age"], p.age, tx0), (e, aid["person/salary"], p.salary, tx0)]
        dat += [(e, aid["person/alias"], a, tx0) for a in p.aliases]
        dat += [(e, aid["person/follows"], e0 + c, tx0) for c in p.follows]
    for j in jobs:
        e = e0 + n + j.id
        dat += [(e, aid["job/id"], j.id, tx0), (e, aid["job/status"], fs.Keyword(j.status), tx0),
                (e, aid["job/priority"], j.priority, tx0)]
        dat += [(e, aid["job/dep"], e0 + n + d, tx0) for d in j.deps]
    return [(r[0], r[1], r[2], r[3]) for r in base.search()] + dat


def ops(size: int, persons: list[Any], jobs: list[Any], base: Any,
        standard: Callable[[], Any]) -> dict[str, Callable[[], Op]]:
    """The transaction ops as op-server factories (benchmarks/serve.py); ``standard()`` gives the standard db.

    Every op runs through ``db.with_`` (pure, in memory), as DataScript's
    ``db-with`` does in its own benchmark; each returns its db, and the check
    is the db's fingerprint.
    """

    def add_all() -> Op:
        tx = add_all_tx(persons, jobs)
        return Op("tx", lambda _: base.with_(tx).db_after, fingerprint)

    def init() -> Op:
        from fact_store.db import Db
        schema, dat = base.schema, init_datoms(base, persons, jobs)
        return Op("tx", lambda _: Db.from_datoms(schema, dat, basis_t=2), fingerprint)

    def add_entity() -> Op:
        txs = []
        for p in persons:
            m = {":db/id": "p", ":person/id": p.id, ":person/name": p.name, ":person/last-name": p.last,
                 ":person/sex": ":" + p.sex, ":person/age": p.age, ":person/salary": p.salary}
            if p.aliases:
                m[":person/alias"] = p.aliases
            txs.append([m])

        def run(_: Any) -> Any:
            db = base
            for t in txs:
                db = db.with_(t).db_after
            return db
        return Op("tx", run, fingerprint)

    def add_1() -> Op:  # six single-datom transactions per person
        attrs = [":person/name", ":person/last-name", ":person/sex", ":person/age", ":person/salary"]
        vals = [(p.id, (p.name, p.last, ":" + p.sex, p.age, p.salary)) for p in persons]

        def run(_: Any) -> Any:
            db = base
            for pid, vs in vals:
                rep = db.with_([[":db/add", "p", ":person/id", pid]])
                db = rep.db_after
                e = rep.tempids["p"]
                for a, v in zip(attrs, vs):
                    db = db.with_([[":db/add", e, a, v]]).db_after
            return db
        return Op("tx", run, fingerprint)

    def retract_entity() -> Op:  # every person, in order, from the standard db
        db0 = standard()
        pid = db0.schema.attr(":person/id").id
        eids = [db0.search(a=pid, v=p.id)[0][0] for p in persons]

        def run(_: Any) -> Any:
            db = db0
            for e in eids:
                db = db.with_([[":db/retractEntity", e]]).db_after
            return db
        return Op("tx", run, fingerprint)

    return {"gen": lambda: Op("tx", lambda _: generate(size), lambda _: fingerprint(standard())),
            "init": init, "add-all": add_all, "add-entity": add_entity, "add-1": add_1,
            "retract-entity": retract_entity}


def run(size: int, quick: bool = False, only: list[str] | None = None) -> list[dict[str, Any]]:
    """Time the transaction ops (``only``: a subset) in this process, one after another; print the lines."""
    persons, jobs = generate(size)
    base = empty_db()
    cache: list[Any] = []

    def standard() -> Any:
        if not cache:
            cache.append(base.with_(add_all_tx(persons, jobs)).db_after)
        return cache[0]
    out = []
    for name, make in ops(size, persons, jobs, base, standard).items():
        if only is None or name in only:
            op = make()
            timing, res = measure(op.fn, "tx", setup=lambda: None, quick=quick)
            out.append(line(SYSTEM, name, size, timing, *op.check(res)))
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
    ap.add_argument("ops", nargs="*")
    args = ap.parse_args()
    run(args.size, args.quick, args.ops or None)
    if args.memory:
        print(json.dumps(memory_per_datom(args.size)))
