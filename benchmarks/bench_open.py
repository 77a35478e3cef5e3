"""Open time of a file store holding the standard db: from a snapshot vs full replay; bytes per datom.

Builds the workload's standard database in a ``file:`` store (in transactions of 1,000
entities, refs added afterwards through lookup refs), writes a checkpoint, then times
``fact_store.connect`` with the snapshot and with the snapshot moved away (full replay).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import tempfile
import time
from typing import Any

import fact_store as fs
from benchmarks.bench_transact import schema_tx
from benchmarks.workload import generate


def build(path: str, size: int) -> int:
    persons, jobs = generate(size)
    conn = fs.connect(f"file:{path}?durability=none", max_tx_datoms=None)
    conn.transact(schema_tx())
    step = 1000
    for i in range(0, len(persons), step):
        conn.transact([{":person/id": p.id, ":person/name": p.name, ":person/last-name": p.last,
                        ":person/sex": ":" + p.sex, ":person/age": p.age, ":person/salary": p.salary,
                        **({":person/alias": p.aliases} if p.aliases else {})}
                       for p in persons[i:i + step]])
    for i in range(0, len(jobs), step):
        conn.transact([{":job/id": j.id, ":job/status": ":" + j.status, ":job/priority": j.priority}
                       for j in jobs[i:i + step]])
    for i in range(0, len(persons), step):
        conn.transact([[":db/add", [":person/id", p.id], ":person/follows", [":person/id", c]]
                       for p in persons[i:i + step] for c in p.follows])
    for i in range(0, len(jobs), step):
        conn.transact([[":db/add", [":job/id", j.id], ":job/dep", [":job/id", d]]
                       for j in jobs[i:i + step] for d in j.deps])
    conn.checkpoint()
    n = len(conn.db())
    conn.close()
    return n


def time_open(uri: str, reps: int) -> tuple[list[float], Any]:
    samples = []
    db = None
    for _ in range(reps):
        t0 = time.perf_counter()
        conn = fs.connect(uri)
        db = conn.db()
        samples.append((time.perf_counter() - t0) * 1000)
        conn.close()
    return samples, db


def run(size: int, reps: int = 3) -> list[dict[str, Any]]:
    out = []
    tmp = tempfile.mkdtemp(prefix="fs-open-")
    try:
        path = os.path.join(tmp, "store")
        t0 = time.perf_counter()
        datoms = build(path, size)
        build_ms = (time.perf_counter() - t0) * 1000
        disk = sum(f.stat().st_size for f in pathlib.Path(path).iterdir())
        log_bytes = (pathlib.Path(path) / "log").stat().st_size
        snap, db = time_open(f"file:{path}", reps)
        row = {"system": "fact-store-file", "op": "open-snapshot", "size": size,
               "median_ms": round(statistics.median(snap), 1), "min_ms": round(min(snap), 1),
               "reps": reps, "current_datoms": datoms, "basis_t": db.basis_t,
               "bytes_on_disk": disk, "log_bytes_per_datom": round(log_bytes / datoms, 1),
               "build_ms": round(build_ms)}
        print(json.dumps(row), flush=True)
        out.append(row)
        aside = os.path.join(tmp, "snapshots-aside")
        os.makedirs(aside)
        for f in pathlib.Path(path).iterdir():
            if f.name.startswith("snapshot"):
                shutil.move(str(f), aside)
        replay, db2 = time_open(f"file:{path}", reps)
        assert len(db2) == datoms
        row = {"system": "fact-store-file", "op": "open-replay", "size": size,
               "median_ms": round(statistics.median(replay), 1), "min_ms": round(min(replay), 1),
               "reps": reps, "current_datoms": datoms, "basis_t": db2.basis_t}
        print(json.dumps(row), flush=True)
        out.append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    run(args.size, args.reps)
