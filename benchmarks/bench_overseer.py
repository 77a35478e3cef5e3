"""Overseer benchmarks: no-op job graphs run by worker processes on the file store.

Scenarios (each prints one JSON line, ``"system": "overseer"``):

``independent``
    N jobs without dependencies.
``chains``
    N/100 independent chains of 100 jobs.
``layers``
    100 layers of N/100 jobs; each job depends on 2 jobs of the layer before.
``fsync``
    the raw rate of small fdatasync'ed appends on the same disk, in the same run
    (the ceiling for one durable commit per transaction).
``ready-query``
    the ready-job query over F finished jobs (in chains of 10, so ``:job/dep``
    holds ~0.9 F edges) and 100 unstarted ones (median ms over repeated runs on
    one Db value).
``huey``
    Huey's SqliteHuey consumer on N independent no-op tasks with 2 worker
    processes, when huey is installed (``pip install huey``), as a baseline.

Every claim and outcome is durable (``durability=fsync`` unless ``--durability``
says otherwise). Throughput is jobs / (last finish − first claim), from the
transaction instants in the log. The delay of a job is its handler's start time
minus the instant of the transaction that recorded its last parent's finish (so
it includes that transaction's commit and fsync); the median over all jobs with
parents is reported, and also the median from the end of the last parent's
*handler* (which adds the time an outcome waits to share a commit).

Usage::

    python -m benchmarks.bench_overseer [--jobs 10000] [--workers 2] [--finished 1000000]
        [--durability fsync|group] [--only independent,chains,layers,fsync,ready-query,huey]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

SYSTEM = "overseer"


def _emit(row: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps({"system": SYSTEM, **row}), flush=True)
    return row


# -- graphs ---------------------------------------------------------------------------------

def chains_graph(n: int, length: int = 100) -> dict[str, list[str]]:
    g: dict[str, list[str]] = {}
    for c in range(max(1, n // length)):
        for i in range(length):
            g[f"c{c}-{i}"] = [f"c{c}-{i - 1}"] if i else []
    return g


def layers_graph(n: int, layers: int = 100) -> dict[str, list[str]]:
    width = max(2, n // layers)
    g: dict[str, list[str]] = {}
    for k in range(layers):
        for i in range(width):
            g[f"l{k}-{i}"] = [f"l{k - 1}-{i}", f"l{k - 1}-{(i + 1) % width}"] if k else []
    return g


def independent_graph(n: int) -> dict[str, list[str]]:
    return {f"j{i}": [] for i in range(n)}


# -- worker processes --------------------------------------------------------------------------

def _worker_main(uri: str, go: Any, out: Any, config: dict[str, Any]) -> None:
    import fact_store as fs

    import overseer

    starts: dict[str, float] = {}
    ends: dict[str, float] = {}

    def noop(job: Any) -> None:
        starts[job[":job/id"]] = time.time()
        ends[job[":job/id"]] = time.time()

    conn = fs.connect(uri)
    w = overseer.Worker(conn, {"noop": noop}, config)
    go.wait()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    w.run(install_signals=False, exit_when_done=True)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    stats = dict(w.stats)
    stats["cpu_s"] = round(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, 2)
    out.put((os.getpid(), (starts, ends), stats))
    w.close()
    conn.close()


def run_graph(name: str, graph: dict[str, list[str]], workers: int, durability: str,
              config: dict[str, Any]) -> dict[str, Any]:
    import fact_store as fs

    import overseer

    tmp = tempfile.mkdtemp(prefix=f"bench-overseer-{name}-")
    uri = f"file:{tmp}/store?durability={durability}"
    try:
        conn = fs.connect(uri)
        overseer.install_schema(conn)
        t0 = time.perf_counter()
        conn.transact(overseer.graph_txns(graph, types=lambda _n: "noop", ids=lambda n: n))
        insert_s = time.perf_counter() - t0
        base_t = conn.db().basis_t
        conn.close()
        ctx = mp.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_worker_main, args=(uri, go, out, config)) for _ in range(workers)]
        for p in procs:
            p.start()
        time.sleep(1.5)  # let them import, connect and catch up
        go.set()
        results = [out.get(timeout=600) for _ in procs]
        for p in procs:
            p.join(60)
        starts: dict[str, float] = {}
        ends: dict[str, float] = {}
        stats: dict[str, int] = {}
        for _pid, (s, en), st in results:
            for k, v in s.items():
                starts.setdefault(k, v)
            for k, v in en.items():
                ends.setdefault(k, v)
            for k, v in st.items():
                stats[k] = stats.get(k, 0) + v
        conn = fs.connect(uri)
        db = conn.sync()
        st_attr = db.schema.attr(":job/status").id
        id_attr = db.schema.attr(":job/id").id
        eid_to_id = {r[0]: r[2] for r in db.search(None, id_attr)}
        finish_at: dict[str, float] = {}
        claim_at: list[float] = []
        instants: dict[int, float] = {}

        def instant(tx: int) -> float:
            v = instants.get(tx)
            if v is None:
                v = instants[tx] = next(iter(db.datoms(":eavt", tx, ":db/txInstant"))).v.timestamp()
            return v

        for e, _a, v, tx, added in db.history().search(None, st_attr):
            if not added or db.tx_to_t(tx) <= base_t:
                continue
            if v == overseer.FINISHED:
                finish_at[eid_to_id[e]] = instant(tx)
            elif v == overseer.STARTED:
                claim_at.append(instant(tx))
        n = len(graph)
        finished = len(finish_at)
        span = max(finish_at.values()) - min(claim_at) if finish_at and claim_at else float("nan")
        delays, delays_end = [], []
        for node, deps in graph.items():
            if deps and node in starts and all(d in finish_at for d in deps):
                delays.append((starts[node] - max(finish_at[d] for d in deps)) * 1000)
                delays_end.append((starts[node] - max(ends[d] for d in deps)) * 1000)
        conn.close()
        row = {"op": f"jobs-{name}", "size": n, "workers": workers, "durability": durability,
               "finished": finished, "ran": len(starts), "seconds": round(span, 3),
               "jobs_per_s": round(finished / span, 1) if span == span and span > 0 else None,
               "median_delay_ms": round(statistics.median(delays), 2) if delays else None,
               "p90_delay_ms": round(statistics.quantiles(delays, n=10)[-1], 2) if len(delays) > 10 else None,
               "median_delay_from_handler_end_ms": round(statistics.median(delays_end), 2) if delays_end else None,
               "insert_s": round(insert_s, 2), "commits": stats.get("commits"),
               "given_back": stats.get("given_back", 0),
               "worker_cpu_s": stats.get("cpu_s"),
               "ok": finished == n and len(starts) == n}
        return _emit(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- the raw fsync rate ---------------------------------------------------------------------------

def fsync_rate(seconds: float = 2.0) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="bench-fsync-")
    try:
        fd = os.open(os.path.join(tmp, "f"), os.O_CREAT | os.O_WRONLY, 0o600)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            os.write(fd, b"x" * 200)
            os.fdatasync(fd)
            n += 1
        dt = time.perf_counter() - t0
        os.close(fd)
        return _emit({"op": "fsync", "size": n, "per_s": round(n / dt, 1)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- the ready query among many finished jobs ------------------------------------------------------

def ready_query(finished: int, unstarted: int = 100, reps: int = 21) -> dict[str, Any]:
    """Build the db in memory (one transaction per 15,000 jobs) and time the ready query on it."""
    import fact_store as fs

    import overseer
    from overseer import queries

    conn = fs.connect(f"mem:bench-ready-{os.getpid()}")
    overseer.install_schema(conn)
    t0 = time.perf_counter()
    chunk = 15_000  # a multiple of 10 (chains stay inside one transaction), < 100,000 datoms
    made = 0
    while made < finished:  # finished jobs in chains of 10, so :job/dep is as big as the store
        k = min(chunk, finished - made)
        bulk: list[dict[str, Any]] = []
        for i in range(k):
            f: dict[str, Any] = {":db/id": f"f{i}", ":job/id": f"f{made + i}", ":job/type": ":noop",
                                 ":job/status": ":finished"}
            if i % 10:
                f[":job/dep"] = [f"f{i - 1}"]
            bulk.append(f)
        conn.transact(bulk)
        made += k
    # 100 unstarted jobs, each depending on a finished one (half) or on another unstarted one
    tx: list[Any] = []
    for i in range(unstarted):
        m: dict[str, Any] = {":db/id": f"u{i}", ":job/id": f"u{i}", ":job/type": ":noop",
                             ":job/status": ":unstarted"}
        if i % 2 and finished:
            m[":job/dep"] = [[":job/id", f"f{i}"]]
        elif i % 4 == 2:
            m[":job/dep"] = [f"u{i - 1}"]
        tx.append(m)
    conn.transact(tx)
    build_s = time.perf_counter() - t0
    db = conn.db()
    times = []
    res: list[Any] = []
    for _ in range(3):
        queries.jobs_ready(db)
    for _ in range(reps):
        t = time.perf_counter()
        res = queries.jobs_ready(db)
        times.append((time.perf_counter() - t) * 1000)
    times_w = []
    for _ in range(reps):
        t = time.perf_counter()
        queries.ready_eids(db, ["noop"])
        times_w.append((time.perf_counter() - t) * 1000)
    conn.close()
    return _emit({"op": "ready-query", "size": finished, "unstarted": unstarted,
                  "median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3),
                  "max_ms": round(max(times), 3), "reps": reps, "result_count": len(res),
                  "worker_query_median_ms": round(statistics.median(times_w), 3),
                  "build_s": round(build_s, 1)})


# -- Huey, for comparison ---------------------------------------------------------------------------

def _huey_consumer(path: str, go: Any) -> None:
    from huey import SqliteHuey
    from huey.consumer import Consumer

    from benchmarks import bench_overseer as mod

    huey = SqliteHuey(filename=path, fsync=True)
    huey.task(name="noop")(mod._noop)
    go.wait()
    Consumer(huey, workers=1, worker_type="thread", periodic=False, initial_delay=0.001,
             max_delay=0.01, check_worker_health=False).run()


def _noop() -> float:
    return time.time()


def huey_independent(n: int, workers: int) -> dict[str, Any] | None:
    try:
        from huey import SqliteHuey
    except ImportError:
        return _emit({"op": "huey-independent", "size": n, "skipped": "huey is not installed"})
    tmp = tempfile.mkdtemp(prefix="bench-huey-")
    path = os.path.join(tmp, "huey.db")
    try:
        from benchmarks import bench_overseer as mod  # one module name in parent and consumers

        huey = SqliteHuey(filename=path, fsync=True)
        task = huey.task(name="noop")(mod._noop)
        results = [task() for _ in range(n)]
        ctx = mp.get_context("spawn")
        go = ctx.Event()
        procs = [ctx.Process(target=_huey_consumer, args=(path, go)) for _ in range(workers)]
        for p in procs:
            p.start()
        time.sleep(1.5)
        t0 = time.time()
        go.set()
        ends = [r.get(blocking=True, timeout=600) for r in results]
        span = max(ends) - t0
        for p in procs:
            p.terminate()
            p.join(10)
        return _emit({"op": "huey-independent", "size": n, "workers": workers,
                      "seconds": round(span, 3), "jobs_per_s": round(n / span, 1)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--finished", type=int, default=1_000_000)
    ap.add_argument("--durability", default="fsync", choices=["fsync", "group", "none"])
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--batch-window", type=float, default=None)
    ap.add_argument("--only", default="fsync,independent,chains,layers,huey,ready-query")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    config: dict[str, Any] = {"sleep_time": 1.0}
    if args.batch_size:
        config["batch_size"] = args.batch_size
    if args.batch_window is not None:
        config["batch_window"] = args.batch_window
    import platform
    _emit({"op": "machine", "python": platform.python_version(), "cpus": os.cpu_count(),
           "load_avg": os.getloadavg()[0], "platform": platform.platform()})
    if "fsync" in only:
        fsync_rate()
    if "independent" in only:
        run_graph("independent", independent_graph(args.jobs), args.workers, args.durability, config)
    if "chains" in only:
        run_graph("chains", chains_graph(args.jobs), args.workers, args.durability, config)
    if "layers" in only:
        run_graph("layers", layers_graph(args.jobs), args.workers, args.durability, config)
    if "huey" in only:
        huey_independent(args.jobs, args.workers)
    if "fsync" in only:
        fsync_rate()
    if "ready-query" in only:
        ready_query(args.finished)


if __name__ == "__main__":
    sys.exit(main())
