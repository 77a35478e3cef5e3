"""PostgreSQL store: commits/s with 1 and 4 processes (durability fsync and group) beside
PostgreSQL's own one-row INSERT commit rate, and notification latency (a commit in one
process → visible in another).

Run from the repository root::

    python -m benchmarks.bench_postgres [--window 1] [--samples 5] [--dsn postgresql://...]

Without ``--dsn`` (or ``FACT_STORE_BENCH_PG_DSN``) it starts a throwaway
PostgreSQL with the test harness (``tests/pg.py``: ``fsync=on``,
``synchronous_commit=on``, loopback TCP) and removes it afterwards.

Protocol (STYLE.md §7): every rate is measured by worker *processes* that
connect and warm up, then count commits in ``--samples`` windows of
``--window`` seconds each; the line reports the median window (summed over
the workers), every sample, and the median of the per-window ratios. The
baseline is PostgreSQL's own commit rate for a one-row autocommit INSERT into
a table shaped like ``tx_log`` (same payload size), with the same number of
processes, measured in the same run: baseline and fact-store windows
alternate, so a drift in the machine's flush latency (a shared virtual disk)
hits both alike. Latency: one process transacts every 20 ms; this
process listens (``Connection.listen``) and notes when each transaction
becomes visible here; the median over 200 commits, from the writer's
``transact()`` returning and from its start, beside PostgreSQL's own
NOTIFY → LISTEN latency. Every measurement prints one JSON line; the first
line names the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

SYSTEM = "fact-store"
PAYLOAD_SIZE = 0  # set by main(): payload_size()


def payload_size() -> int:
    """The record size of a one-datom transaction, as the fact-store workers write it."""
    from datetime import datetime, timezone

    from fact_store.log.record import encode_tx
    return len(encode_tx(datetime.now(timezone.utc), [(1 << 40, 72, 123456, 1 << 41, True),
                                                      (1 << 41, 50, datetime.now(timezone.utc),
                                                       1 << 41, True)]))


# --- workers (run as separate processes) ----------------------------------------------------

def _windows(window: float, samples: int, slot: int, op: Any) -> list[int]:
    """Warm up, say ``ready``, read the common start instant from stdin, then count
    ``op()`` calls in this worker's windows: the baseline (slot 0) and fact-store
    (slot 1) alternate, window by window, so both see the same machine."""
    for _ in range(20):
        op()
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    counts = []
    for i in range(samples):
        begin = start_at + (2 * i + slot) * window
        end = begin + window
        time.sleep(max(begin - time.monotonic(), 0))
        n = 0
        while time.monotonic() < end:
            op()
            n += 1
        counts.append(n)
    return counts


def worker(kind: str, target: str, start_at: float, window: float, samples: int,
           wid: int) -> None:
    if kind == "pg-insert":
        import psycopg
        from psycopg import sql

        dsn, schema = target.split("|")
        conn = psycopg.connect(dsn, autocommit=True)
        stmt = sql.SQL("INSERT INTO {} (t, tx_uuid, payload, crc) VALUES (%s, %s, %b, %s)"
                       ).format(sql.Identifier(schema, "insert_rate"))
        payload = os.urandom(payload_size())
        counter = iter(range(wid * 10**12, (wid + 1) * 10**12))  # wid: unique per run

        def op() -> None:
            conn.execute(stmt, (next(counter), uuid.uuid4(), payload, 12345))

        counts = _windows(window, samples, wid % 2, op)
        conn.close()
    elif kind == "fact-store":
        import fact_store as fs

        conn = fs.connect(target)
        seq = iter(range(10**12))

        def op() -> None:
            conn.transact([{":b/n": next(seq)}])

        counts = _windows(window, samples, wid % 2, op)
        conn.close()
    elif kind == "latency-writer":
        import fact_store as fs

        conn = fs.connect(target)
        while time.monotonic() < start_at:
            time.sleep(0.005)
        for i in range(samples):
            t0 = time.monotonic()
            rep = conn.transact([{":b/n": i}])
            t1 = time.monotonic()
            print(json.dumps([rep.db_after.basis_t, t0, t1]), flush=True)
            time.sleep(window)
        conn.close()
        return
    elif kind == "notify-writer":
        import psycopg

        conn = psycopg.connect(target, autocommit=True)
        while time.monotonic() < start_at:
            time.sleep(0.005)
        for i in range(samples):
            t0 = time.monotonic()
            conn.execute("SELECT pg_notify('fact_store_bench', %s)", (f"{i} {t0!r}",))
            time.sleep(window)
        conn.close()
        return
    else:
        raise SystemExit(f"unknown worker kind {kind!r}")
    print(json.dumps(counts), flush=True)


# --- the parent ---------------------------------------------------------------------------------

def _spawn(kind: str, target: str, start_at: float, window: float, samples: int,
           wid: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "benchmarks.bench_postgres", "--worker", kind,
                             target, repr(start_at), repr(window), str(samples), str(wid)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collect(procs: list[subprocess.Popen[str]]) -> list[str]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"benchmark worker failed ({p.returncode}):\n{err}")
        outs.append(out)
    return outs


def paired_rates(baseline: str, ours: str, processes: int, window: float, samples: int,
                 startup: float) -> tuple[list[float], list[float]]:
    """Commits/s per window of PostgreSQL's one-row INSERT (``baseline``, a DSN|schema)
    and of fact-store (``ours``, a store URI), ``processes`` workers each, alternating."""
    procs = []
    for i in range(processes):  # even worker ids: slot 0 (baseline); odd: slot 1
        procs.append(_spawn("pg-insert", baseline, 0.0, window, samples, 2 * i))
        procs.append(_spawn("fact-store", ours, 0.0, window, samples, 2 * i + 1))
    for p in procs:  # every worker connected and warm
        assert p.stdout is not None and p.stdin is not None
        line = p.stdout.readline()
        if line.strip() != "ready":
            _collect([p])
            raise RuntimeError(f"benchmark worker said {line!r}")
    start_at = time.monotonic() + startup
    for p in procs:
        p.stdin.write(f"{start_at!r}\n")  # type: ignore[union-attr]
        p.stdin.flush()  # type: ignore[union-attr]
    counts = [json.loads(o.strip().splitlines()[-1]) for o in _collect(procs)]
    base = [sum(c[i] for c in counts[0::2]) / window for i in range(samples)]
    mine = [sum(c[i] for c in counts[1::2]) / window for i in range(samples)]
    return base, mine


def latency(uri: str, dsn: str, samples: int, interval: float, startup: float
            ) -> tuple[dict[str, float], dict[str, float]]:
    import psycopg

    import fact_store as fs

    conn = fs.connect(uri)
    seen: dict[int, float] = {}

    def on_tx(report: Any) -> None:
        seen[report.db_after.basis_t] = time.monotonic()

    conn.listen(on_tx)
    conn.store.wait(conn.db().basis_t, 0.01)  # the listener is up before the writer starts
    start_at = time.monotonic() + startup
    proc = _spawn("latency-writer", uri, start_at, interval, samples, 0)
    lines = _collect([proc])[0].strip().splitlines()
    deadline = time.monotonic() + 5
    acks = [json.loads(x) for x in lines]
    while time.monotonic() < deadline:
        if all(t in seen for t, _, _ in acks):
            break
        time.sleep(0.01)
    conn.close()
    skip = min(10, samples // 10)  # warm-up
    from_ack = [(seen[t] - t1) * 1000 for t, t0, t1 in acks[skip:] if t in seen]
    from_start = [(seen[t] - t0) * 1000 for t, t0, t1 in acks[skip:] if t in seen]
    fs_lat = {"median_ms_from_ack": statistics.median(from_ack),
              "p90_ms_from_ack": statistics.quantiles(from_ack, n=10)[-1],
              "median_ms_from_transact_start": statistics.median(from_start),
              "seen": len(from_ack), "sent": len(acks) - skip}

    # PostgreSQL's own NOTIFY -> LISTEN latency, same machine, same run
    listen = psycopg.connect(dsn, autocommit=True)
    listen.execute("LISTEN fact_store_bench")
    start_at = time.monotonic() + startup
    proc = _spawn("notify-writer", dsn, start_at, interval, samples, 0)
    lat: list[float] = []
    for n in listen.notifies(timeout=startup + samples * interval + 10, stop_after=samples):
        i, t0 = n.payload.split()
        if int(i) >= skip:
            lat.append((time.monotonic() - float(t0)) * 1000)
    _collect([proc])
    listen.close()
    pg_lat = {"median_ms": statistics.median(lat), "p90_ms": statistics.quantiles(lat, n=10)[-1]}
    return fs_lat, pg_lat


def machine(dsn: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn) as c:
        version = c.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        fsync, sync_commit = c.execute(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit')").fetchone()  # type: ignore[misc]
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                         "")
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = ""
    return {"system": SYSTEM, "op": "machine", "host": platform.node(), "cpus": os.cpu_count(),
            "cpu": model, "python": platform.python_version(), "postgres": version,
            "fsync": fsync, "synchronous_commit": sync_commit, "commit": commit,
            "loadavg_before": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", default=os.environ.get("FACT_STORE_BENCH_PG_DSN"),
                    help="a libpq URI of a server to use (default: start a throwaway one)")
    ap.add_argument("--window", type=float, default=1.0, help="seconds per sample")
    ap.add_argument("--samples", type=int, default=7,
                    help="windows per system (they alternate: baseline, fact-store, ...)")
    ap.add_argument("--startup", type=float, default=1.0,
                    help="seconds of common warm-up once every worker is connected")
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        kind, target, start_at, window, samples, wid = args.worker
        worker(kind, target, float(start_at), float(window), int(samples), int(wid))
        return

    import psycopg
    from psycopg import sql

    server = None
    dsn = args.dsn
    if not dsn:
        from tests.pg import PgServer, find_bindir
        bindir = find_bindir()
        if bindir is None:
            raise SystemExit("no PostgreSQL server binaries found; give --dsn")
        server = PgServer(bindir).start()
        dsn = server.dsn()
    tag = uuid.uuid4().hex[:8]
    raw_schema, store_schema = f"bench_raw_{tag}", f"bench_fs_{tag}"
    sep = "&" if "?" in dsn else "?"
    uri = f"{dsn}{sep}schema={store_schema}"
    global PAYLOAD_SIZE
    PAYLOAD_SIZE = payload_size()
    try:
        print(json.dumps(machine(dsn)), flush=True)
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(raw_schema)))
            c.execute(sql.SQL("CREATE TABLE {} (t bigint PRIMARY KEY, tx_uuid uuid UNIQUE NOT "
                              "NULL, instant timestamptz NOT NULL DEFAULT now(), payload bytea "
                              "NOT NULL, crc integer NOT NULL)").format(
                sql.Identifier(raw_schema, "insert_rate")))
        import fact_store as fs
        conn = fs.connect(uri)
        conn.transact([{":db/ident": ":b/n", ":db/valueType": ":db.type/long",
                        ":db/cardinality": ":db.cardinality/one"}])
        conn.close()
        for durability in ("fsync", "group"):
            for processes in (1, 4):
                base, ours = paired_rates(f"{dsn}|{raw_schema}", f"{uri}&durability={durability}",
                                          processes, args.window, args.samples, args.startup)
                ratios = [o / b for o, b in zip(ours, base) if b]
                print(json.dumps({
                    "system": SYSTEM, "op": "pg-commits-per-s", "durability": durability,
                    "processes": processes, "commits_per_s": round(statistics.median(ours), 1),
                    "samples": [round(x, 1) for x in ours],
                    "pg_insert_commits_per_s": round(statistics.median(base), 1),
                    "pg_insert_samples": [round(x, 1) for x in base],
                    "ratio": round(statistics.median(ratios), 3) if ratios else None,
                    "target_ratio": 0.5, "payload_bytes": PAYLOAD_SIZE,
                    "window_s": args.window}), flush=True)
                with psycopg.connect(dsn, autocommit=True) as c:  # fresh ids for the next run
                    c.execute(sql.SQL("TRUNCATE {}").format(
                        sql.Identifier(raw_schema, "insert_rate")))
        fs_lat, pg_lat = latency(uri, dsn, args.latency_samples, 0.02, args.startup)
        print(json.dumps({"system": SYSTEM, "op": "pg-notification-latency",
                          **{k: round(v, 3) if isinstance(v, float) else v
                             for k, v in fs_lat.items()},
                          "pg_notify_median_ms": round(pg_lat["median_ms"], 3),
                          "pg_notify_p90_ms": round(pg_lat["p90_ms"], 3),
                          "target_median_ms": 10.0,
                          "loadavg_after": [round(x, 2) for x in os.getloadavg()]}), flush=True)
    finally:
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                for s in (raw_schema, store_schema):
                    c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(s)))
        finally:
            if server is not None:
                server.destroy()


if __name__ == "__main__":
    main()
