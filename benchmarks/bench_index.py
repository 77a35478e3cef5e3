"""Index access ops of the workload (avet-range, eavt-lookup) and the memory per datom.

- ``avet-range``: one ``db.index_range(":person/salary", 20000, 30000)``
  materialized as a list. Datomic's index-range has an exclusive end, so 30000
  is the workload's inclusive 29999 (salaries are integers).
- ``eavt-lookup``: 2,000 ``list(db.datoms(":eavt", e))`` calls, for the
  persons with ``:person/id`` 5, 15, .., 19995 (eids looked up untimed).

Checksums as in workload section 4, with external ids. The standard db is
built as bench_transact builds it: ``db.with_`` of the add-all transaction.

``memory(size)`` measures the bytes per current datom of that db: tracemalloc
traces only what is allocated after it starts, so it starts after the
transaction data are built (and they stay alive), and it stops after the db
is built and the TxReport dropped: what remains is the db's own memory (the
covering indexes and the history kept beside them), without the input
strings that the db shares with the tx data. The DataScript runner measures
its heap growth the same way.

    .venv/bin/python -m benchmarks.bench_index [--size 20000] [--quick] [--memory]
"""

from __future__ import annotations

import gc
import itertools
import json
import sys
import time
import tracemalloc
from typing import Any, Callable

from benchmarks.bench_transact import add_all_tx, empty_db
from benchmarks.serve import Op
from benchmarks.workload import JOB_EXT, generate, line, measure, set_checksum

SYSTEM = "fact-store"
OPS = ["avet-range", "eavt-lookup"]


def standard_db(size: int) -> Any:
    persons, jobs = generate(size)
    return empty_db().with_(add_all_tx(persons, jobs)).db_after


def ext_map(db: Any) -> dict[int, int]:
    schema = db.schema
    ext = {r[0]: r[2] for r in db.search(a=schema.attr(":person/id").id)}
    ext.update((r[0], JOB_EXT + r[2]) for r in db.search(a=schema.attr(":job/id").id))
    return ext


def attr_names(db: Any) -> dict[int, tuple[str, bool]]:
    return {a.id: (str(a.ident)[1:], a.is_ref) for a in db.schema.attrs()}


def datom_checksum(datoms: Any, ext: dict[int, int], names: dict[int, tuple[str, bool]]) -> tuple[int, int]:
    rows = []
    for d in datoms:
        name, is_ref = names[d.a]
        v = d.v
        rows.append((ext[d.e], name, ext[v] if is_ref else getattr(v, "name", v)))
    return len(rows), set_checksum(rows)


def ops(db: Any, size: int) -> dict[str, Callable[[], Op]]:
    """avet-range and eavt-lookup as op-server factories (benchmarks/serve.py) on the standard db."""
    cache: list[Any] = []

    def maps() -> tuple[dict[int, int], dict[int, tuple[str, bool]]]:
        if not cache:
            cache.append((ext_map(db), attr_names(db)))
        return cache[0]  # type: ignore[no-any-return]

    def avet() -> Op:
        ext, _ = maps()
        return Op("read", lambda: list(db.index_range(":person/salary", 20000, 30000)),
                  lambda res: (len(res), set_checksum((ext[d.e], d.v) for d in res)))

    def eavt() -> Op:
        ext, names = maps()
        pid = db.schema.attr(":person/id").id
        eids = [db.search(a=pid, v=i)[0][0] for i in range(5, min(size, 20000) + 1, 10)]
        datoms = db.datoms
        return Op("read", lambda: [list(datoms(":eavt", e)) for e in eids],
                  lambda res: datom_checksum(itertools.chain.from_iterable(res), ext, names))
    return {"avet-range": avet, "eavt-lookup": eavt}


def run(size: int, quick: bool = False, ops: list[str] | None = None, db: Any = None) -> list[dict[str, Any]]:
    """Time avet-range and eavt-lookup on the standard db; print and return the JSON lines."""
    wanted = [op for op in OPS if ops is None or op in ops]
    if not wanted:
        return []
    db = db if db is not None else standard_db(size)
    ext, names = ext_map(db), attr_names(db)
    gc.collect()
    gc.freeze()  # a long-running peer's db lives in the permanent generation (as bench_query does)
    out = []
    if "avet-range" in wanted:
        timing, res = measure(lambda: list(db.index_range(":person/salary", 20000, 30000)), "read", quick=quick)
        rows = [(ext[d.e], d.v) for d in res]
        out.append(line(SYSTEM, "avet-range", size, timing, len(rows), set_checksum(rows)))
    if "eavt-lookup" in wanted:
        pid = db.schema.attr(":person/id").id
        eids = [db.search(a=pid, v=i)[0][0] for i in range(5, min(size, 20000) + 1, 10)]
        datoms = db.datoms
        timing, res = measure(lambda: [list(datoms(":eavt", e)) for e in eids], "read", quick=quick)
        out.append(line(SYSTEM, "eavt-lookup", size, timing,
                        *datom_checksum(itertools.chain.from_iterable(res), ext, names)))
    gc.unfreeze()
    return out


def memory(size: int) -> dict[str, Any]:
    """Bytes per current datom of the standard db's in-memory indexes (tracemalloc)."""
    persons, jobs = generate(size)
    base = empty_db()
    tx = add_all_tx(persons, jobs)
    gc.collect()
    t0 = time.perf_counter()
    tracemalloc.start()
    db = base.with_(tx).db_after
    gc.collect()
    grown, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    secs = time.perf_counter() - t0
    n = len(db) - len(base)
    assert len(tx) == len(persons) + len(jobs)  # the tx data stay alive through the measurement
    return {"system": SYSTEM, "op": "memory", "size": size, "datoms": n, "bytes": grown,
            "bytes_per_datom": round(grown / n, 1), "peak_bytes": peak, "seconds": round(secs, 1)}


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description="avet-range and eavt-lookup on fact-store")
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memory", action="store_true", help="only measure the bytes per datom")
    args = ap.parse_args(argv)
    if args.memory:
        print(json.dumps(memory(args.size)), flush=True)
        return 0
    rows = run(args.size, args.quick)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
