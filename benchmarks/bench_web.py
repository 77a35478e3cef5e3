"""The web console's benchmarks (issue 15's targets), one JSON line each.

    python -m benchmarks.bench_web [--finished 100000] [--graph 1000] [--clients 50] [--jobs 2000]

- ``page-*``: server-side time of the overview and graph pages (HTML, through
  the ASGI app in process, median of 7 after 2 warm-ups) of a store with
  ``--finished`` finished jobs (inserted 10,000 to a graph) and a
  ``--graph``-node graph in mixed statuses. Target: < 300 ms.
- ``live-latency``: a real server process on a file store, an event stream
  open; another process commits a status change; the time until the stream
  reports it, and until the status JSON a graph page then fetches shows it
  (median of 30 changes 300 ms apart; under a continuous stream of changes a
  page is up to 250 ms behind, the events' and the page's throttle). Target: < 100 ms.
- ``sse-load``: ``--jobs`` no-op jobs run by 2 worker processes, alone and
  then with a server (three rounds, alternating; medians) and ``--clients`` open pages (each an event stream that
  fetches the graph's statuses after every event, as the page's script
  does); jobs/s from the claims' and finishes' tx instants. Target: < 5 %
  slower.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def noop(job: Any) -> None:
    """The benchmark's job: nothing."""


NOOP = {"noop": noop}


def _emit(row: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps(row), flush=True)
    return row


def _median_ms(f: Any, reps: int = 7, warm: int = 2) -> float:
    for _ in range(warm):
        f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


# -- page render times ------------------------------------------------------------------

def pages(finished: int, graph_n: int) -> None:
    from starlette.testclient import TestClient

    import fact_store as fs
    import overseer
    from fact_store.web import Settings, create_app
    from overseer import web
    from overseer.demo import generated_graph

    conn = fs.connect(f"mem:bench-web-{os.getpid()}", max_tx_datoms=None)
    overseer.install_schema(conn)
    fin = fs.kw(":finished")
    t0 = time.perf_counter()
    batch = 10_000
    big_t = 0
    for start in range(0, finished, batch):
        n = min(batch, finished - start)
        g = {f"done-{start + i}": [] for i in range(n)}
        rep = conn.transact(overseer.graph_txns(g, types=lambda _n: "noop", ids=lambda x: x))
        big_t = rep.db_after.basis_t
        conn.transact([op for e in rep.tempids.values() if isinstance(e, int)
                       for op in ([":db/add", e, ":job/status", fin], [":db/add", e, ":job/attempt", 1],
                                  [":db/add", e, ":job/owner", "bench:1:w"])])
    graph, types = generated_graph(graph_n, seed=1)
    rep = conn.transact(overseer.graph_txns(graph, types=types, ids=lambda x: f"g/{x}"))
    graph_t = rep.db_after.basis_t
    db = conn.db()
    # mixed statuses: the first half finished, a few started / failed, the rest unstarted
    ids = sorted(graph)
    tx = []
    for i, node in enumerate(ids):
        e = db.entid((":job/id", f"g/{node}"))
        s = ":finished" if i < len(ids) // 2 else ":started" if i % 17 == 0 else \
            ":failed" if i % 29 == 0 else None
        if s:
            tx.append([":db/add", e, ":job/status", fs.kw(s)])
    conn.transact(tx)
    build_s = time.perf_counter() - t0
    from overseer import status
    counts = dict(status.progress(conn.db()).counts)
    client = TestClient(create_app(conn, Settings(), tabs=[web.tab]), base_url="http://127.0.0.1")

    def get(path: str) -> None:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])

    common = {"finished_jobs": finished, "graph_nodes": graph_n, "build_s": round(build_s, 1),
              "counts": {str(k): v for k, v in counts.items()}, "target_ms": 300}
    for op, path in (("page-overview", "/jobs"), ("page-graph-1000", f"/jobs/graph/{graph_t}"),
                     ("page-graph-status-1000-cached", f"/jobs/graph/{graph_t}/status"),
                     ("page-graph-10000-collapsed", f"/jobs/graph/{big_t}"),
                     ("page-job", f"/jobs/job/g/{ids[0]}"),
                     ("page-graph-1000-as-of", f"/jobs/graph/{graph_t}?as_of={graph_t}")):
        ms = _median_ms(lambda: get(path))
        _emit({"op": op, "ms": ms, "ok": ms < 300, **common})
    conn.close()


# -- a live server ----------------------------------------------------------------------

def _server(uri: str) -> tuple[subprocess.Popen[str], str]:
    p = subprocess.Popen([sys.executable, "-m", "overseer.cli", "web", "--store", uri, "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    url = p.stdout.readline().strip()  # type: ignore[union-attr]
    assert url.startswith("http://"), url
    return p, url.rsplit("/jobs", 1)[0]


def _stop(p: subprocess.Popen[str]) -> None:
    p.send_signal(signal.SIGINT)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()


def live_latency(reps: int = 30) -> None:
    import httpx

    import fact_store as fs
    import overseer

    tmp = tempfile.mkdtemp(prefix="bench-web-")
    uri = f"file:{tmp}/store"
    conn = fs.connect(uri)
    overseer.install_schema(conn)
    graph = {f"n{i}": [] for i in range(reps)}
    t_graph = conn.transact(overseer.graph_txns(graph, ids=lambda x: x)).db_after.basis_t
    server, base = _server(uri)
    event_ms, page_ms = [], []
    try:
        with httpx.Client(timeout=30) as http, http.stream("GET", f"{base}/events") as stream:
            lines = stream.iter_lines()
            while next(lines) != "":  # the hello event
                pass
            for i in range(reps):
                e = conn.db().entid((":job/id", f"n{i}"))
                conn.transact([[":db/cas", e, ":job/status", overseer.UNSTARTED, overseer.FINISHED]])
                t_commit = time.perf_counter()
                for line in lines:
                    if line.startswith("data: "):
                        break
                event_ms.append((time.perf_counter() - t_commit) * 1000)
                st = http.get(f"{base}/jobs/graph/{t_graph}/status").json()
                assert st["statuses"][f"n{i}"] == "finished"
                page_ms.append((time.perf_counter() - t_commit) * 1000)
                time.sleep(0.3)  # isolated changes: a stream sends at most one event per 250 ms
    finally:
        _stop(server)
        conn.close()
        shutil.rmtree(tmp, ignore_errors=True)
    _emit({"op": "live-latency", "reps": reps, "median_event_ms": round(statistics.median(event_ms), 1),
           "median_page_ms": round(statistics.median(page_ms), 1),
           "p90_page_ms": round(statistics.quantiles(page_ms, n=10)[-1], 1), "target_ms": 100,
           "ok": statistics.median(page_ms) < 100})


def _run_jobs(n: int, clients: int, fetch: bool = True) -> dict[str, Any]:
    import httpx

    import fact_store as fs
    import overseer

    tmp = tempfile.mkdtemp(prefix="bench-web-load-")
    uri = f"file:{tmp}/store?durability=group"
    conn = fs.connect(uri)
    overseer.install_schema(conn)
    t_graph = conn.transact(overseer.graph_txns({f"j{i}": [] for i in range(n)}, types=lambda _n: "noop",
                                                ids=lambda x: x)).db_after.basis_t
    server = clients_proc = None
    if clients:
        server, base = _server(uri)
        # the pages: one asyncio process of raw sockets (so the clients' own CPU stays small)
        clients_proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_web", "--pages-of", base,
                                         str(t_graph), str(clients), "1" if fetch else "0"],
                                        cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert clients_proc.stdout is not None and clients_proc.stdout.readline().strip() == "connected"
    cmd = [sys.executable, "-m", "overseer.cli", "worker", "benchmarks.bench_web:NOOP", "--store", uri,
           "--exit-when-done", "--sleep-time", "0.5", "--log-level", "ERROR"]
    workers = [subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL) for _ in range(2)]
    for w in workers:
        w.wait(600)
    fetched = events = 0
    if clients_proc is not None:
        clients_proc.send_signal(signal.SIGINT)
        out, _ = clients_proc.communicate(timeout=30)
        fetched, events = (int(x) for x in (out.split() or ["0", "0"]))
    db = conn.sync()
    a = db.schema.attr(":job/status").id
    stamps = {"started": [], "finished": []}
    for _e, _a, v, tx, added in db.history().search(None, a):
        if added and db.tx_to_t(tx) > t_graph and str(v)[1:] in stamps:
            inst = next(iter(db.datoms("eavt", tx, ":db/txInstant"))).v.timestamp()
            stamps[str(v)[1:]].append(inst)
    span = max(stamps["finished"]) - min(stamps["started"])
    server_cpu = None
    if server is not None:
        with open(f"/proc/{server.pid}/stat") as f:  # utime + stime, in clock ticks
            fields = f.read().rsplit(")", 1)[1].split()
        server_cpu = round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)
        _stop(server)
    conn.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"jobs_per_s": round(len(stamps["finished"]) / span, 1), "finished": len(stamps["finished"]),
            "status_fetches": fetched, "events": events, "server_cpu_s": server_cpu, "seconds": round(span, 2)}


def pages_of(base: str, t_graph: int, n: int, fetch: bool) -> None:
    """``n`` open graph pages on ``base``: event streams that (with ``fetch``) get the statuses after
    an event, at most every 250 ms, as the page's script does. Prints "connected", then on SIGINT the
    number of status fetches."""
    import asyncio
    from urllib.parse import urlsplit

    host, port = urlsplit(base).hostname, urlsplit(base).port
    fetched = events = 0

    async def get(path: str) -> None:
        r, w = await asyncio.open_connection(host, port)
        w.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await w.drain()
        while await r.read(65536):
            pass
        w.close()

    async def page(ready: asyncio.Event) -> None:
        nonlocal fetched, events
        r, w = await asyncio.open_connection(host, port)
        w.write(f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
                .encode())
        await w.drain()
        await r.readuntil(b"event: hello")
        ready.set()
        last = 0.0
        while True:
            chunk = await r.read(65536)
            if not chunk:
                return
            events += chunk.count(b"event: tx")
            if fetch and b"event: tx" in chunk and time.monotonic() - last >= 0.25:
                last = time.monotonic()
                await get(f"/jobs/graph/{t_graph}/status")
                fetched += 1

    async def main() -> None:
        readies = [asyncio.Event() for _ in range(n)]
        tasks = [asyncio.create_task(page(e)) for e in readies]
        for e in readies:
            await e.wait()
        print("connected", flush=True)
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    print(fetched, events, flush=True)


def sse_load(n: int, clients: int, rounds: int = 3) -> None:
    """Alternate runs without and with the clients (the machine's load drifts); medians.

    ``sse-load``: event streams only; ``sse-load-pages``: each stream also fetches the
    graph's statuses as an open graph page does."""
    for op, fetch in (("sse-load", False), ("sse-load-pages", True)):
        alone, watched, fetches, cpu = [], [], 0, []
        for _ in range(rounds):
            alone.append(_run_jobs(n, 0)["jobs_per_s"])
            w = _run_jobs(n, clients, fetch)
            watched.append(w["jobs_per_s"])
            fetches += w["status_fetches"]
            cpu.append(w["server_cpu_s"])
        slow = 1 - statistics.median(watched) / statistics.median(alone)
        _emit({"op": op, "jobs": n, "clients": clients, "alone_jobs_per_s": alone,
               "watched_jobs_per_s": watched, "status_fetches": fetches, "server_cpu_s": cpu,
               "slowdown_pct": round(slow * 100, 1), "target_pct": 5, "ok": slow < 0.05,
               "load": os.getloadavg()})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--finished", type=int, default=100_000)
    ap.add_argument("--graph", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--only", default="pages,latency,load")
    ap.add_argument("--pages-of", nargs=4, metavar=("URL", "T", "N", "FETCH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.pages_of:
        base, t, n, fetch = args.pages_of
        pages_of(base, int(t), int(n), fetch == "1")
        return
    only = set(args.only.split(","))
    _emit({"op": "machine", "load": os.getloadavg(), "cpus": os.cpu_count(), "python": sys.version.split()[0]})
    if "pages" in only:
        pages(args.finished, args.graph)
    if "latency" in only:
        live_latency()
    if "load" in only:
        sse_load(args.jobs, args.clients)


if __name__ == "__main__":
    main()
