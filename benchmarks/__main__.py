"""``python -m benchmarks``: the workload of shared/bench/WORKLOAD.md on fact-store and its peers, in one run.

    python -m benchmarks [--size 20000 [--size 200000]] [--peers datascript,sqlite[,huey]]
                         [--stores mem,file] [--ops q1,add-all,...] [--quick] [--no-memory]

For each size, each op group runs in a fresh process (WORKLOAD.md section 5
allows that instead of one ordered process): fact-store's index ops
(bench_index), Datalog ops (bench_query), pull ops (bench_pull), transaction
ops (bench_transact), the transaction ops on a ``file:`` store (systems
``fact-store-file``, durability=none, and ``fact-store-file-fsync``), then
each peer: SQLite (standard library, in memory) and DataScript 1.8.1 on Node.
Then the memory per datom (fact-store's tracemalloc beside DataScript's heap
growth, each in a fresh process) and, when benchmarks/bench_overseer.py
exists, overseer's job benchmarks (the raw fsync rate, our workers, and
Huey's SqliteHuey consumer with ``--peers huey``), and the store benchmarks of
bench_log and bench_open (and bench_postgres with ``--peers postgres``) when
they are there.

Every JSON line is checked here: its result_count and checksum against
section 8, or, for sizes and ops that section 8 does not list, against the
SQLite peer run once untimed (two independent implementations, SQLite and
DataScript, agree with the table at 20,000 and with each other at other
sizes). The line is printed with ``"ok"``; any mismatch, and any group that
crashes, makes the exit status 1, after everything is printed. Then a table
of medians with the ratio fact-store / peer per op and the geometric mean of
the ratios, and the results file ``benchmarks/results/<date>-<machine>.json``
(the machine, the versions, the commit, every line).

``--quick`` is the regression guard CI runs: a small size (4,000), one
repetition, fact-store only (mem and file stores, no memory, no overseer, no
Node, no network), op groups in parallel, no results file; it proves the
benchmark code runs and every checksum matches, and judges no speed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
QUICK_SIZE = 4000  # the smallest size at which job-cycle finds its 50 ready jobs
QUICK_PARALLEL = 2
OURS = "fact-store"
PEER_SYSTEMS = {"datascript": "datascript-js", "sqlite": "sqlite-mem"}
READ_OPS = ["q1", "q2", "q2-switch", "q3", "q4", "q5-ref", "qpred1", "qpred2", "rule-reach", "agg",
            "job-ready", "pull-nested", "pull-many", "avet-range", "eavt-lookup"]
TX_OPS = ["init", "add-all", "add-entity", "add-1", "retract-entity"]
ALL_OPS = ["gen"] + READ_OPS + ["job-cycle", "asof-ready", "history-status"] + TX_OPS
FILE_OPS = {"none": ["add-all", "add-entity", "job-cycle"], "fsync": ["add-all", "job-cycle"]}
JOB_READY = ('[:find ?j ?id ?p :where [?j :job/status :pending] [?j :job/id ?id] [?j :job/priority ?p] '
             '(not-join [?j] [?j :job/dep ?d] [?d :job/status ?s] [(not= ?s :done)])]')


# ==== workers: op groups that run in their own process ==================================================

def job_cycle(db: Any, transact: Callable[[Any, list[Any]], Any]) -> list[int]:
    """WORKLOAD.md job-cycle from ``db``: 50 x (job-ready, pick, CAS claim, completion); the picked ids."""
    picks = []
    for _ in range(50):
        rows = db.q(JOB_READY)
        if not rows:
            break
        j, jid, _p = min(rows, key=lambda r: (-r[2], r[1]))
        db = transact(db, [[":db/cas", j, ":job/status", ":pending", ":running"]])
        db = transact(db, [[":db/add", j, ":job/status", ":done"]])
        picks.append(jid)
    return picks


def cycle_checksum(picks: list[int]) -> tuple[int, int]:
    return len(picks), sum(k * jid for k, jid in enumerate(picks, 1)) % 2147483647


def worker_file(size: int, quick: bool, ops: set[str] | None, durability: str) -> None:
    """The transaction ops through ``conn.transact`` on a ``file:`` store (one fresh store per repetition)."""
    import fact_store as fs
    from benchmarks.bench_transact import add_all_tx, fingerprint, schema_tx
    from benchmarks.workload import generate, line, measure

    system = "fact-store-file" if durability == "none" else f"fact-store-file-{durability}"
    wanted = [op for op in FILE_OPS[durability] if ops is None or op in ops]
    persons, jobs = generate(size)
    tx = add_all_tx(persons, jobs)
    tmp = Path(tempfile.mkdtemp(prefix="bench-file-"))
    opened: list[Any] = []
    counter = iter(range(1 << 30))

    def uri() -> str:
        return f"file:{tmp / ('s%d' % next(counter))}?durability={durability}&max_tx_bytes={1 << 30}"

    def cleanup() -> None:
        while opened:
            conn = opened.pop()
            conn.close()
            shutil.rmtree(conn.uri[5:].split("?")[0], ignore_errors=True)

    def fresh() -> Any:  # untimed: an empty store with the schema
        cleanup()
        conn = fs.connect(uri(), max_tx_datoms=None)
        conn.transact(schema_tx())
        opened.append(conn)
        return conn

    extra = {"durability": durability}
    try:
        if "add-all" in wanted:
            timing, db = measure(lambda c: c.transact(tx).db_after, "tx", setup=fresh, quick=quick)
            line(system, "add-all", size, timing, *fingerprint(db), **extra)
        if "add-entity" in wanted:
            ent_txs = []
            for m in add_all_tx(persons, []):
                m = dict(m, **{":db/id": "p"})
                m.pop(":person/follows", None)
                ent_txs.append([m])

            def add_entity(conn: Any) -> Any:
                for t in ent_txs:
                    conn.transact(t)
                return conn.db()
            timing, db = measure(add_entity, "tx", setup=fresh, quick=quick)
            line(system, "add-entity", size, timing, *fingerprint(db), **extra)
        if "job-cycle" in wanted:
            template = fresh()
            template.transact(tx)
            template.close()
            src = template.uri[5:].split("?")[0]
            opened.clear()

            def standard() -> Any:  # untimed: a copy of the standard store, opened
                cleanup()
                u = uri()
                shutil.copytree(src, u[5:].split("?")[0])
                conn = fs.connect(u, max_tx_datoms=None)
                opened.append(conn)
                return conn

            def cycle(conn: Any) -> list[int]:
                return job_cycle(conn.db(), lambda _db, t: conn.transact(t).db_after)
            timing, picks = measure(cycle, "tx", setup=standard, quick=quick)
            line(system, "job-cycle", size, timing, *cycle_checksum(picks), **extra)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def worker_transact(size: int, quick: bool, ops: set[str] | None) -> None:
    """bench_transact's ops (all of them: its run() has no op filter, so a filter that leaves any out
    runs only the ones it keeps, here, with bench_transact's helpers)."""
    from benchmarks import bench_transact as bt
    from benchmarks.workload import generate, line, measure
    tx_ops = ["gen"] + TX_OPS
    if ops is None or all(op in ops for op in tx_ops):
        bt.run(size, quick)
        return
    wanted = [op for op in tx_ops if op in ops]
    if not wanted:
        return
    t0 = time.perf_counter()
    persons, jobs = generate(size)
    gen_ms = round((time.perf_counter() - t0) * 1000, 3)
    base = bt.empty_db()
    tx = bt.add_all_tx(persons, jobs)
    if "add-all" in wanted or "gen" in wanted:
        timing, rep = measure(lambda _: base.with_(tx), "tx", setup=lambda: None,
                              quick=quick or "add-all" not in wanted)
        fp = bt.fingerprint(rep.db_after)
        if "add-all" in wanted:
            line(bt.SYSTEM, "add-all", size, timing, *fp)
        if "gen" in wanted:
            line(bt.SYSTEM, "gen", size, {"median_ms": gen_ms, "min_ms": gen_ms, "reps": 1, "batch": 1,
                                          "attempts": 1}, *fp)
    for op in ("init", "add-entity", "add-1", "retract-entity"):
        if op in wanted:
            print(json.dumps({"system": bt.SYSTEM, "op": op, "size": size,
                              "skipped": "bench_transact.run has no op filter; run without --ops"}),
                  flush=True)


def worker_cycle(size: int, quick: bool) -> None:
    """job-cycle on the mem store (db.with_), for when bench_query does not time it."""
    from benchmarks.bench_index import standard_db
    from benchmarks.workload import line, measure
    db = standard_db(size)
    timing, picks = measure(lambda _: job_cycle(db, lambda d, t: d.with_(t).db_after), "tx",
                            setup=lambda: None, quick=quick)
    line(OURS, "job-cycle", size, timing, *cycle_checksum(picks), source="benchmarks/__main__.py")


def worker_reads(size: int, ops: set[str] | None) -> None:
    """Quick mode: bench_query's and bench_pull's ops, each executed once (their own scripts run the
    full protocol of section 5, which takes about a minute even at a small size)."""
    from benchmarks import bench_pull as bp
    from benchmarks import bench_query as bq
    from benchmarks.workload import line, measure
    db = bq.build(size)
    ext = bq.ext_map(db)
    for op, (text, inputs, kinds) in bq.OPS.items():
        if ops is None or op in ops:
            timing, res = measure(lambda: bq.q(text, db, *inputs), "read", quick=True)
            line(OURS, op, size, timing, *bq.checksum(res, kinds, ext), source="bench_query.OPS")
    for op, fn in bp.ops(db).items():
        if ops is None or op in ops:
            timing, res = measure(fn, "read", quick=True)
            line(OURS, op, size, timing, *bp.checksum(res), source="bench_pull.ops")


def worker(args: argparse.Namespace) -> int:
    ops = set(args.ops.split(",")) if args.ops else None
    size = args.size[0]
    if args.worker == "index":
        from benchmarks import bench_index
        bench_index.run(size, args.quick, sorted(ops) if ops else None)
    elif args.worker == "transact":
        worker_transact(size, args.quick, ops)
    elif args.worker in ("file-none", "file-fsync"):
        worker_file(size, args.quick, ops, args.worker.split("-")[1])
    elif args.worker == "reads":
        worker_reads(size, ops)
    elif args.worker == "cycle":
        worker_cycle(size, args.quick)
    elif args.worker == "memory":
        from benchmarks import bench_index
        print(json.dumps(bench_index.memory(size)), flush=True)
    else:
        raise SystemExit(f"unknown worker {args.worker!r}")
    return 0


# ==== the runner =========================================================================================

class Checker:
    """Expected (count, checksum) per (size, op): section 8, else the SQLite oracle (computed once per size)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        from benchmarks.workload import EXPECTED
        self.table = EXPECTED
        self.oracle: dict[int, dict[str, tuple[int, int]]] = {}
        self.log = log

    def expected(self, size: int, op: str) -> tuple[int, int] | None:
        exp = self.table.get(size, {}).get(op)
        if exp is not None:
            return tuple(exp)  # type: ignore[return-value]
        if op not in ALL_OPS:
            return None
        if size not in self.oracle:
            from benchmarks.peers import sqlite_peer
            t0 = time.perf_counter()
            self.oracle[size] = sqlite_peer.expected(size, tx_ops=size not in self.table)
            self.log(f"expected values at size {size} from the SQLite peer, untimed "
                     f"({time.perf_counter() - t0:.1f} s)")
        got = self.oracle[size].get(op)
        return tuple(got) if got is not None else None  # type: ignore[return-value]

    def check(self, row: dict[str, Any]) -> dict[str, Any]:
        if row.get("system") == "fact-store-py":  # bench_query's and bench_pull's name for fact-store
            row["system"] = OURS
        if "result_count" not in row or "checksum" not in row:
            row["ok"] = not row.get("failed", False)
            row["checked"] = False
            return row
        exp = self.expected(row["size"], row["op"])
        if exp is None:
            row["ok"] = bool(row.get("ok", True))
            row["checked"] = False
            return row
        row["ok"] = (row["result_count"], row["checksum"]) == exp
        row["checked"] = "section 8" if row["size"] in self.table and row["op"] in self.table[row["size"]] \
            else "sqlite oracle"
        if not row["ok"]:
            row["expected"] = list(exp)
        return row


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.failures: list[str] = []
        self.checker = Checker(self.note)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"# {text}", file=sys.stderr, flush=True)

    def take(self, raw: str, group: str) -> None:
        raw = raw.strip()
        if not raw.startswith("{"):
            if raw:
                print(raw, file=sys.stderr, flush=True)
            return
        try:
            row = json.loads(raw)
        except ValueError:
            print(raw, file=sys.stderr, flush=True)
            return
        if "op" not in row:
            return
        row = self.checker.check(row)
        row["group"] = group
        if not row["ok"]:
            self.failures.append(f"{row['system']} {row['op']} @{row['size']}: got "
                                 f"{[row.get('result_count'), row.get('checksum')]}, expected {row.get('expected')}")
        self.rows.append(row)
        print(json.dumps(row), flush=True)

    def start(self, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)

    def finish(self, group: str, proc: subprocess.Popen[str], fatal: bool = True) -> None:
        """Read a group's lines; a crash fails the run (``fatal``) or is only noted."""
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.take(raw, group)
        rc = proc.wait()
        if rc != 0:
            if fatal:
                self.failures.append(f"group {group} exited with status {rc}")
            self.note(f"group {group} exited with status {rc}")

    # -- the plan -------------------------------------------------------------------------------------------

    def groups(self, size: int) -> list[tuple[str, list[str] | None, dict[str, str] | None]]:
        """(name, command or None when skipped, env) per op group, in run order."""
        a = self.args
        py = sys.executable
        ops = a.ops_set
        common = ["--size", str(size)] + (["--quick"] if a.quick else [])
        opsarg = ["--ops", ",".join(sorted(ops))] if ops else []
        out: list[tuple[str, list[str] | None, dict[str, str] | None]] = []
        if "mem" in a.stores_list:
            if self.want(["avet-range", "eavt-lookup"]):
                out.append(("index", [py, "-m", "benchmarks", "--worker", "index", *common, *opsarg], None))
            query_ops = self.module_ops("bench_query")
            pull_ops = self.module_ops("bench_pull")
            quick_reads = a.quick and query_ops is not None and pull_ops is not None
            if quick_reads:  # one execution per op instead of their scripts' full protocol
                out.append(("reads", [py, "-m", "benchmarks", "--worker", "reads", *common, *opsarg], None))
            if query_ops is None:
                self.note("benchmarks/bench_query.py is not there yet: the Datalog ops are skipped")
            elif self.want(query_ops) and not quick_reads:
                sel = [op for op in query_ops if ops is None or op in ops]
                out.append(("query", [py, "-m", "benchmarks.bench_query", "--size", str(size),
                                      *(sel if ops else [])], None))
            if (query_ops is None or "job-cycle" not in query_ops) and self.want(["job-cycle"]):
                self.note("bench_query does not time job-cycle: the runner times it (benchmarks/__main__.py)")
                out.append(("cycle", [py, "-m", "benchmarks", "--worker", "cycle", *common], None))
            if pull_ops is None:
                self.note("benchmarks/bench_pull.py is not there yet: the pull ops are skipped")
            elif self.want(pull_ops) and not quick_reads:
                sel = [op for op in pull_ops if ops is None or op in ops]
                out.append(("pull", [py, "-m", "benchmarks.bench_pull", "--size", str(size),
                                     *(sel if ops else [])], None))
            if self.want(["gen"] + TX_OPS):
                out.append(("transact", [py, "-m", "benchmarks", "--worker", "transact", *common, *opsarg], None))
        if "file" in a.stores_list:
            for durability in ("none", "fsync"):
                if a.quick and durability == "fsync":
                    continue
                if self.want(FILE_OPS[durability]):
                    out.append((f"file-{durability}", [py, "-m", "benchmarks", "--worker", f"file-{durability}",
                                                       *common, *opsarg], None))
        if "sqlite" in a.peers_list:
            out.append(("sqlite", [py, "-m", "benchmarks.peers.sqlite_peer", *common,
                                   *(sorted(ops) if ops else [])], None))
        if "datascript" in a.peers_list:
            cmd = self.datascript_cmd(size, ops=sorted(ops) if ops else None)
            out.append(("datascript", cmd[0] if cmd else None, cmd[1] if cmd else None))
        return out

    def want(self, ops: list[str]) -> bool:
        return self.args.ops_set is None or any(op in self.args.ops_set for op in ops)

    def module_ops(self, name: str) -> list[str] | None:
        path = BENCH / f"{name}.py"
        if not path.exists():
            return None
        if name == "bench_pull":
            return ["pull-nested", "pull-many"]
        proc = subprocess.run([sys.executable, "-c", f"import json, benchmarks.{name} as m; "
                               "print(json.dumps(list(getattr(m, 'OPS', {}))))"],
                              cwd=ROOT, capture_output=True, text=True)
        try:
            ops = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.note(f"benchmarks/{name}.py does not import: {proc.stderr.strip()[-300:]}")
            self.failures.append(f"benchmarks/{name}.py does not import")
            return None
        return ops

    def datascript_cmd(self, size: int, ops: list[str] | None = None,
                       memory: bool = False) -> tuple[list[str], dict[str, str]] | None:
        from benchmarks.peers import datascript_peer as dsp
        try:
            modules = dsp.ensure_installed()
        except dsp.Unavailable as exc:
            self.note(f"DataScript skipped: {exc}")
            self.failures.append(f"DataScript unavailable: {exc}")
            return None
        return dsp.command(size, self.args.quick, ops, memory), dict(os.environ, NODE_PATH=str(modules))

    # -- running --------------------------------------------------------------------------------------------

    def run(self) -> int:
        a = self.args
        self.info = machine_info(a.peers_list)
        t_start = time.perf_counter()
        for size in a.size:
            plan = self.groups(size)
            if a.quick:  # timings are not judged in quick mode: two groups at a time
                todo = [(name, cmd, env) for name, cmd, env in plan if cmd]
                running: list[tuple[str, subprocess.Popen[str]]] = []
                while todo or running:
                    while todo and len(running) < QUICK_PARALLEL:
                        name, cmd, env = todo.pop(0)
                        running.append((name, self.start(cmd, env)))
                    self.finish(*running.pop(0))
            else:
                for name, cmd, env in plan:
                    if cmd:
                        self.note(f"size {size}: {name}")
                        self.finish(name, self.start(cmd, env))
            if not a.quick and not a.no_memory:
                self.note(f"size {size}: memory")
                self.finish("memory", self.start([sys.executable, "-m", "benchmarks", "--worker", "memory",
                                                  "--size", str(size)]))
                if "datascript" in a.peers_list:
                    cmd = self.datascript_cmd(size, memory=True)
                    if cmd:
                        self.finish("memory", self.start(*cmd))
        if not a.quick and not a.no_overseer:
            self.overseer()
        if not a.quick:
            self.extras()
        self.info["load_avg_end"] = os.getloadavg()[0]
        self.info["seconds"] = round(time.perf_counter() - t_start, 1)
        summary = summarize(self.rows, a.peers_list)
        print_tables(self.rows, summary, a.peers_list)
        if not a.quick or a.results:
            path = write_results(self, summary)
            self.note(f"results written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        for f in self.failures:
            print(f"FAILED: {f}", file=sys.stderr)
        return 1 if self.failures else 0

    def overseer(self) -> None:
        if not (BENCH / "bench_overseer.py").exists():
            self.note("benchmarks/bench_overseer.py is not there yet: the job benchmarks are skipped")
            return
        only = ["fsync", "independent", "chains", "layers", "ready-query"]
        if "huey" in self.args.peers_list:
            if ensure_huey(self.note):
                only.append("huey")
        cmd = [sys.executable, "-m", "benchmarks.bench_overseer", "--jobs", str(self.args.overseer_jobs),
               "--finished", str(self.args.overseer_finished), "--only", ",".join(only)]
        self.note("overseer: " + " ".join(cmd[2:]))
        self.finish("overseer", self.start(cmd), fatal=False)  # no checksums there; a crash is noted


    def extras(self) -> None:
        """The store benchmarks of other modules, when they are there: log appends, open time, PostgreSQL.
        Their lines carry no checksums; a crash is noted, not failed."""
        a = self.args
        plan = [("log", "bench_log", ["--seconds", "0.5"]),
                ("open", "bench_open", ["--size", str(a.size[0])])]
        if "postgres" in a.peers_list:
            plan.append(("postgres", "bench_postgres", []))
        for group, module, extra in plan:
            if a.extras is not None and group not in a.extras.split(","):
                continue
            if not (BENCH / f"{module}.py").exists():
                self.note(f"benchmarks/{module}.py is not there yet: skipped")
                continue
            self.note(f"{group}: {module} {' '.join(extra)}")
            self.finish(group, self.start([sys.executable, "-m", f"benchmarks.{module}", *extra]), fatal=False)


def ensure_huey(note: Callable[[str], None]) -> bool:
    """Huey in the project venv (installed with pip on request: --peers huey)."""
    if subprocess.run([sys.executable, "-c", "import huey"], capture_output=True).returncode == 0:
        return True
    note("installing huey with pip into the project venv (--peers huey)")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "huey"], capture_output=True, text=True)
    if proc.returncode != 0:
        note(f"huey could not be installed: {proc.stderr.strip()[-300:]}")
        return False
    return True


# ==== machine, summary, tables, results ====================================================================

def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(peers: list[str]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(), "cpu": cpu_model(), "cores": os.cpu_count(),
        "platform": platform.platform(), "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "commit": git("rev-parse", "HEAD"),
        "uncommitted": [ln for ln in git("status", "--porcelain", "--", "fact_store", "overseer",
                                         "benchmarks").splitlines() if ln],
        "load_avg_start": os.getloadavg()[0],
    }
    if "datascript" in peers:
        from benchmarks.peers import datascript_peer as dsp
        info["node"] = dsp.node_version()
        info["datascript"] = dsp.installed_version() or dsp.pinned_version()
    return info


def geomean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarize(rows: list[dict[str, Any]], peers: list[str]) -> dict[str, Any]:
    """Medians per (size, op, system), ratios fact-store / peer per op and their geometric means."""
    med: dict[int, dict[str, dict[str, float]]] = {}
    for r in rows:  # the workload's ops only (overseer's rows have medians of their own kind)
        if "median_ms" in r and r.get("ok") and r.get("op") in ALL_OPS and r.get("system") != "overseer":
            med.setdefault(r["size"], {}).setdefault(r["op"], {})[r["system"]] = r["median_ms"]
    out: dict[str, Any] = {}
    for size, per_op in med.items():
        ratios: dict[str, dict[str, float]] = {}
        for peer in peers:
            system = PEER_SYSTEMS.get(peer)
            if system is None:
                continue
            ratios[system] = {op: round(s[OURS] / s[system], 3) for op, s in per_op.items()
                              if OURS in s and system in s and s[system] > 0 and op != "gen"}
        out[str(size)] = {"medians": per_op, "ratios": ratios,
                          "geomean": {p: (round(g, 3) if (g := geomean(list(r.values()))) else None)
                                      for p, r in ratios.items()}}
    return out


def print_tables(rows: list[dict[str, Any]], summary: dict[str, Any], peers: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console(width=200)
    peer_systems = [PEER_SYSTEMS[p] for p in peers if p in PEER_SYSTEMS]
    for size, s in summary.items():
        per_op = s["medians"]
        systems = [OURS, "fact-store-file", "fact-store-file-fsync"] + peer_systems
        systems = [x for x in systems if any(x in v for v in per_op.values())]
        t = Table(title=f"median ms at size {int(size):,} (ratio = fact-store / peer; < 1 means fact-store is faster)")
        t.add_column("op")
        for x in systems:
            t.add_column(x, justify="right")
        for x in peer_systems:
            t.add_column(f"÷ {x}", justify="right")
        for op in ALL_OPS:
            if op not in per_op:
                continue
            cells = [f"{per_op[op][x]:,.3f}" if x in per_op[op] else "" for x in systems]
            cells += [f"{s['ratios'][x][op]:.2f}" if op in s["ratios"].get(x, {}) else "" for x in peer_systems]
            t.add_row(op, *cells)
        t.add_row("geometric mean", *[""] * len(systems),
                  *[f"{s['geomean'][x]:.2f}" if s["geomean"].get(x) else "" for x in peer_systems])
        console.print(t)
    mem = [r for r in rows if r.get("op") == "memory"]
    if mem:
        t = Table(title="memory of the standard db (fact-store: tracemalloc; DataScript: heapUsed growth after gc)")
        for c in ("system", "size", "datoms", "bytes", "bytes/datom"):
            t.add_column(c, justify="right")
        for r in mem:
            t.add_row(r["system"], f"{r['size']:,}", f"{r.get('datoms', 0):,}", f"{r.get('bytes', 0):,}",
                      f"{r.get('bytes_per_datom')}")
        console.print(t)
    others = [r for r in rows if r.get("group") in ("overseer", "log", "open", "postgres")
              and r.get("op") != "machine"]
    if others:
        t = Table(title="job and store benchmarks (overseer, log, open, postgres)")
        t.add_column("group")
        t.add_column("system")
        t.add_column("op")
        t.add_column("result")
        for r in others:
            t.add_row(r["group"], str(r.get("system", "")), str(r["op"]),
                      ", ".join(f"{k}={v}" for k, v in r.items()
                                if k not in ("system", "op", "ok", "checked", "group")))
        console.print(t)


def write_results(runner: Runner, summary: dict[str, Any]) -> Path:
    """benchmarks/results/<date>-<machine>.json; a later run on the same day replaces the sizes it ran."""
    info = runner.info
    name = f"{info['date'][:10]}-{info['hostname']}.json"
    path = Path(runner.args.results) if runner.args.results else RESULTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"runs": []}
    if path.exists():
        try:
            old = json.loads(path.read_text())
            sizes = set(runner.args.size)
            doc["runs"] = [r for r in old.get("runs", []) if not set(r["args"]["size"]) & sizes]
        except (ValueError, KeyError, TypeError):
            pass
    argv = {k: v for k, v in vars(runner.args).items() if k not in ("worker", "ops_set", "stores_list",
                                                                    "peers_list")}
    doc["runs"].append({"machine": info, "args": argv, "notes": runner.notes, "failures": runner.failures,
                        "summary": summary, "rows": runner.rows})
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, action="append", help="workload size N (repeatable; default 20000)")
    ap.add_argument("--peers", default=None, help="comma-separated: datascript, sqlite, huey, postgres "
                                                  "(default datascript,sqlite; none in --quick)")
    ap.add_argument("--stores", default="mem,file", help="fact-store stores: mem, file (default both)")
    ap.add_argument("--ops", default=None, help="comma-separated ops to run (default all)")
    ap.add_argument("--quick", action="store_true", help="CI guard: size 4000, one repetition, fact-store only")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory per datom")
    ap.add_argument("--no-overseer", action="store_true", help="skip overseer's job benchmarks")
    ap.add_argument("--overseer-jobs", type=int, default=2000)
    ap.add_argument("--overseer-finished", type=int, default=100_000)
    ap.add_argument("--extras", default=None, help="comma-separated: log, open (and postgres with --peers "
                                                   "postgres); default all that exist")
    ap.add_argument("--results", default=None, help="results file (default benchmarks/results/<date>-<host>.json)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.size = args.size or [QUICK_SIZE if args.quick else 20000]
    if args.peers is None:
        args.peers = "" if args.quick else "datascript,sqlite"
    args.peers_list = [p for p in args.peers.split(",") if p]
    if args.quick and any(p == "datascript" for p in args.peers_list):
        ap.error("--quick runs no Node: leave datascript out of --peers")
    unknown = set(args.peers_list) - {"datascript", "sqlite", "huey", "postgres"}
    if unknown:
        ap.error(f"unknown peers {sorted(unknown)}")
    args.stores_list = [s for s in args.stores.split(",") if s]
    args.ops_set = set(args.ops.split(",")) if args.ops else None
    if args.ops_set and args.worker is None:
        bad = args.ops_set - set(ALL_OPS)
        if bad:
            ap.error(f"unknown ops {sorted(bad)}; known: {', '.join(ALL_OPS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        return worker(args)
    return Runner(args).run()


if __name__ == "__main__":
    sys.exit(main())
