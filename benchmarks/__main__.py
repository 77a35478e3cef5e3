"""``python -m benchmarks``: the workload of benchmarks/workload.py on fact-store and its peers, interleaved.

    python -m benchmarks [--size 20000 [--size 200000]] [--peers datascript,sqlite[,huey]]
                         [--stores mem,file] [--ops q1,add-all,...] [--quick] [--no-memory]

Every system runs as an op server (benchmarks/serve.py): one process that
builds its standard db once, untimed, and then runs ops on command. The
servers start together; then, op by op, the runner sends each repetition to
every system in turn (A B C, B C A, ...), so all systems' samples of one op
are taken within seconds of each other, under the same load. Each result
line carries the wall-time median per execution, the process CPU-time
median (``cpu_median_ms``) and the 1-minute load average beside its samples
(``load_avg``: min, median, max), and the ratios are taken between these
interleaved medians. The systems:

- ``fact-store``: every op on the mem store (``db.with_`` for transactions);
- ``fact-store-cold``: the Datalog and pull ops with fact-store's parse and
  plan caches cleared before every call. DataScript's JS API reads the query
  text and converts its results on every call, while ``fact-store``'s calls
  hit those caches: both numbers are shown;
- ``fact-store-file`` and ``fact-store-file-fsync``: add-all, add-entity and
  job-cycle through ``conn.transact`` on a ``file:`` store (durability none;
  fsync, without add-entity);
- ``sqlite-mem`` (standard library, in memory) and ``datascript-js``
  (DataScript 1.8.1 on Node), with ``--peers``.

``--ops`` selects any ops of any system. Then the memory per datom
(fact-store's tracemalloc beside DataScript's heap growth, each in a fresh
process), overseer's job benchmarks (the raw fsync rate, our workers, and
Huey's SqliteHuey consumer with ``--peers huey``) and the store benchmarks
of bench_log and bench_open (and bench_postgres with ``--peers postgres``),
which are not interleaved (they have no peer to alternate with).

Every result is checked: its result_count and checksum against section 8
of the workload (``workload.EXPECTED``), or, for sizes that section 8 does
not list, against the SQLite peer run once untimed. Any mismatch, and any
server or group that crashes, makes the exit status 1, after everything is
printed. Then a table of medians with the ratio fact-store / peer per op
and the geometric mean of the ratios, and the results file
``benchmarks/results/<date>-<machine>.json`` (the machine, the versions, the
commit, every line).

``--quick`` is the regression guard CI runs: a small size (4,000), one
repetition, fact-store only (mem and file stores, no memory, no overseer, no
Node, no network), the two servers working in parallel, no results file; it
proves the benchmark code runs and every checksum matches, and judges no
speed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
QUICK_SIZE = 4000  # the smallest size at which job-cycle finds its 50 ready jobs
OURS = "fact-store"
COLD = "fact-store-cold"  # the Datalog and pull ops with the parse and plan caches cleared before each call
PEER_SYSTEMS = {"datascript": "datascript-js", "sqlite": "sqlite-mem"}
READ_OPS = ["q1", "q2", "q2-switch", "q3", "q4", "q5-ref", "qpred1", "qpred2", "rule-reach", "agg",
            "job-ready", "pull-nested", "pull-many", "avet-range", "eavt-lookup"]
TX_OPS = ["init", "add-all", "add-entity", "add-1", "retract-entity"]
ALL_OPS = ["gen"] + READ_OPS + ["job-cycle", "asof-ready", "history-status"] + TX_OPS
#: every system, in the order the runner sends each repetition's samples (rotated by one per repetition)
SYSTEMS = [OURS, COLD, "fact-store-file", "fact-store-file-fsync", "sqlite-mem", "datascript-js"]
#: beside DataScript's column: what its numbers include that fact-store's hot numbers do not
DATASCRIPT_NOTE = ("DataScript's JS API reads the query or pattern text and converts the results to JS "
                   "arrays on every call; fact-store's q and pull hit their parse and plan caches "
                   "(fact-store-cold: the same calls with those caches cleared before each one)")
JOB_READY = ('[:find ?j ?id ?p :where [?j :job/status :pending] [?j :job/id ?id] [?j :job/priority ?p] '
             '(not-join [?j] [?j :job/dep ?d] [?d :job/status ?s] [(not= ?s :done)])]')


# ==== workers: the op servers of fact-store (benchmarks/serve.py) ==============================================

def job_cycle(db: Any, transact: Callable[[Any, list[Any]], Any]) -> list[int]:
    """The workload's job-cycle from ``db``: 50 x (job-ready, pick, CAS claim, completion); the picked ids."""
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


def serve_fact_store(size: int, quick: bool) -> None:
    """Systems ``fact-store`` (every op, on the mem store through ``db.with_``) and ``fact-store-cold``
    (the Datalog and pull ops with their parse and plan caches cleared before every call)."""
    from benchmarks import bench_index, bench_pull, bench_query, bench_transact
    from benchmarks.serve import Op, serve
    from benchmarks.workload import generate
    persons, jobs = generate(size)
    base = bench_transact.empty_db()
    db = base.with_(bench_transact.add_all_tx(persons, jobs)).db_after
    hot: dict[str, Callable[[], Op]] = {}
    hot.update(bench_transact.ops(size, persons, jobs, base, lambda: db))
    hot.update(bench_query.ops(db))
    hot.update(bench_pull.server_ops(db))
    hot.update(bench_index.ops(db, size))
    hot["job-cycle"] = lambda: Op("tx", lambda _: job_cycle(db, lambda d, t: d.with_(t).db_after),
                                  cycle_checksum)
    cold = {**bench_query.ops(db, cold=True), **bench_pull.server_ops(db, cold=True)}
    serve({OURS: hot, COLD: cold}, quick)


def serve_file(size: int, quick: bool) -> None:
    """Systems ``fact-store-file`` and ``fact-store-file-fsync``: transactions on ``file:`` stores."""
    from benchmarks import bench_file
    from benchmarks.serve import serve
    serve({bench_file.SYSTEMS[d]: bench_file.ops(size, d, job_cycle, cycle_checksum)
           for d in (["none"] if quick else ["none", "fsync"])}, quick)


def worker(args: argparse.Namespace) -> int:
    size = args.size[0]
    if args.worker == "serve-fact-store":
        serve_fact_store(size, args.quick)
    elif args.worker == "serve-file":
        serve_file(size, args.quick)
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


def plan(ops: list[str], served: dict[str, list[str]], wanted: set[str] | None) -> list[tuple[str, list[str]]]:
    """(op, the systems that time it, in SYSTEMS order) for every wanted op that some system serves.

    >>> plan(["q1", "add-1"], {"fact-store": ["q1", "add-1"], "sqlite-mem": ["q1"]}, {"add-1"})
    [('add-1', ['fact-store'])]
    """
    out = []
    for op in ops:
        if wanted is not None and op not in wanted:
            continue
        systems = [s for s in SYSTEMS if op in served.get(s, [])]
        systems += [s for s in served if s not in SYSTEMS and op in served[s]]
        if systems:
            out.append((op, systems))
    return out


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.failures: list[str] = []
        self.checker = Checker(self.note)
        self.lock = threading.Lock()

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"# {text}", file=sys.stderr, flush=True)

    def take(self, row: dict[str, Any], group: str) -> None:
        """Check one result row, keep it, print it."""
        with self.lock:
            row = self.checker.check(row)
            row["group"] = group
            if not row["ok"]:
                why = row.get("failed") or (f"got {[row.get('result_count'), row.get('checksum')]}, "
                                            f"expected {row.get('expected')}")
                self.failures.append(f"{row.get('system')} {row['op']} @{row['size']}: {why}")
            self.rows.append(row)
            print(json.dumps(row), flush=True)

    def take_line(self, raw: str, group: str) -> None:
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
        if "op" in row:
            self.take(row, group)

    def start(self, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)

    def finish(self, group: str, proc: subprocess.Popen[str], fatal: bool = True) -> None:
        """Read a group's lines; a crash fails the run (``fatal``) or is only noted."""
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.take_line(raw, group)
        rc = proc.wait()
        if rc != 0:
            if fatal:
                self.failures.append(f"group {group} exited with status {rc}")
            self.note(f"group {group} exited with status {rc}")

    # -- the servers --------------------------------------------------------------------------------------

    def server_cmds(self, size: int) -> list[tuple[str, list[str], dict[str, str] | None]]:
        """(name, command, env) of every op server this run needs at ``size``."""
        a = self.args
        py = sys.executable
        common = ["--size", str(size)] + (["--quick"] if a.quick else [])
        out: list[tuple[str, list[str], dict[str, str] | None]] = []
        if "mem" in a.stores_list:
            out.append(("fact-store", [py, "-m", "benchmarks", "--worker", "serve-fact-store", *common], None))
        if "file" in a.stores_list:
            out.append(("file", [py, "-m", "benchmarks", "--worker", "serve-file", *common], None))
        if "sqlite" in a.peers_list:
            out.append(("sqlite", [py, "-m", "benchmarks.peers.sqlite_peer", "--serve", *common], None))
        if "datascript" in a.peers_list:
            cmd = self.datascript_cmd(size)
            if cmd:
                out.append(("datascript", *cmd))
        return out

    def datascript_cmd(self, size: int, memory: bool = False) -> tuple[list[str], dict[str, str]] | None:
        from benchmarks.peers import datascript_peer as dsp
        try:
            modules = dsp.ensure_installed()
        except dsp.Unavailable as exc:
            self.note(f"DataScript skipped: {exc}")
            self.failures.append(f"DataScript unavailable: {exc}")
            return None
        return dsp.command(size, self.args.quick, None, memory), dict(os.environ, NODE_PATH=str(modules))

    def timed(self, size: int) -> None:
        """Start every op server (they build their dbs at once), then time the ops, interleaved."""
        from benchmarks.serve import Client, ServerError, interleave
        a = self.args
        clients: list[Client] = []
        t0 = time.perf_counter()
        for name, cmd, env in self.server_cmds(size):
            clients.append(Client(name, cmd, str(ROOT), env))
        by_system: dict[str, Client] = {}
        for c in clients:
            try:
                c.wait_ready()
            except ServerError as exc:
                self.failures.append(str(exc))
                self.note(str(exc))
                continue
            for system in c.ops:
                by_system[system] = c
        self.note(f"size {size}: {len(by_system)} systems ready in {time.perf_counter() - t0:.1f} s: "
                  + ", ".join(by_system))
        served = {s: c.ops[s] for s, c in by_system.items()}
        todo = plan(ALL_OPS, served, a.ops_set)

        def run(op: str, systems: list[str]) -> None:
            kind = "read" if op in READ_OPS else "tx"
            t1 = time.perf_counter()
            rows = interleave(op, kind, {s: by_system[s] for s in systems}, quick=a.quick,
                              reps=a.tx_reps if kind == "tx" and not a.quick else None, log=self.note)
            for row in rows:
                row["size"] = size
                if row["system"] == COLD:
                    row["caches"] = "cleared before every call"
                self.take(row, "timed")
            if not a.quick:
                self.note(f"size {size}: {op} on {', '.join(systems)} in {time.perf_counter() - t1:.1f} s")

        try:
            if a.quick:  # no timing judged: each server works through its own ops, servers in parallel
                lanes: dict[int, list[tuple[str, list[str]]]] = {}
                for op, systems in todo:
                    for s in systems:
                        lanes.setdefault(id(by_system[s]), []).append((op, [s]))
                threads = [threading.Thread(target=lambda lane=lane: [run(*x) for x in lane])
                           for lane in lanes.values()]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            else:
                for op, systems in todo:
                    run(op, systems)
        finally:
            for c in clients:
                rc = c.close()
                if rc != 0:
                    self.failures.append(f"server {c.name} exited with status {rc}")
                    self.note(f"server {c.name} exited with status {rc}")

    # -- running --------------------------------------------------------------------------------------------

    def run(self) -> int:
        a = self.args
        self.info = machine_info(a.peers_list)
        t_start = time.perf_counter()
        for size in a.size:
            self.timed(size)
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
    """Medians per (size, op, system); ratios fact-store / peer per op and their geometric means.

    The medians come from one interleaved run per op, so each ratio compares
    samples taken under the same load. ``ratios`` divides fact-store's wall
    time, ``cold_ratios`` fact-store-cold's (caches cleared; against
    DataScript only), ``cpu_ratios`` and ``cold_cpu_ratios`` the same with
    the process CPU times. On a loaded machine the CPU ratios are the ones
    to read: a sample shorter than the scheduler's time slice mostly runs
    unpreempted while a longer one waits for a core, so wall-time ratios
    between a short and a long execution are bent by the load.

    >>> rows = [{"system": s, "op": "q1", "size": 10, "median_ms": m, "cpu_median_ms": m, "ok": True}
    ...         for s, m in (("fact-store", 1.0), ("fact-store-cold", 3.0), ("sqlite-mem", 2.0))]
    >>> out = summarize(rows, ["sqlite"])["10"]
    >>> out["ratios"], out["cold_ratios"], out["geomean"]
    ({'sqlite-mem': {'q1': 0.5}}, {}, {'sqlite-mem': 0.5})
    """
    med: dict[int, dict[str, dict[str, float]]] = {}
    cpu: dict[int, dict[str, dict[str, float]]] = {}
    for r in rows:  # the workload's ops only (overseer's rows have medians of their own kind)
        if "median_ms" in r and r.get("ok") and r.get("op") in ALL_OPS and r.get("system") != "overseer":
            med.setdefault(r["size"], {}).setdefault(r["op"], {})[r["system"]] = r["median_ms"]
            if "cpu_median_ms" in r:
                cpu.setdefault(r["size"], {}).setdefault(r["op"], {})[r["system"]] = r["cpu_median_ms"]

    def ratio_table(per_op: dict[str, dict[str, float]], ours: str) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for peer in peers:
            system = PEER_SYSTEMS.get(peer)
            if system is not None:
                out[system] = {op: round(s[ours] / s[system], 3) for op, s in per_op.items()
                               if ours in s and system in s and s[system] > 0 and op != "gen"}
        return out

    def geo(table: dict[str, dict[str, float]]) -> dict[str, float | None]:
        return {p: (round(g, 3) if (g := geomean(list(r.values()))) else None) for p, r in table.items()}

    out: dict[str, Any] = {}
    for size, per_op in med.items():
        ratios = ratio_table(per_op, OURS)
        # only DataScript's JS API reads the query text on every call: SQLite's statements are cached
        cold = {p: r for p, r in ratio_table(per_op, COLD).items() if p == "datascript-js"}
        cpu_ratios = ratio_table(cpu.get(size, {}), OURS)
        cold_cpu = {p: r for p, r in ratio_table(cpu.get(size, {}), COLD).items() if p == "datascript-js"}
        out[str(size)] = {"medians": per_op, "cpu_medians": cpu.get(size, {}), "ratios": ratios,
                          "geomean": geo(ratios), "cold_ratios": cold, "cold_geomean": geo(cold),
                          "cpu_ratios": cpu_ratios, "cpu_geomean": geo(cpu_ratios),
                          "cold_cpu_ratios": cold_cpu, "cold_cpu_geomean": geo(cold_cpu)}
    return out


def print_tables(rows: list[dict[str, Any]], summary: dict[str, Any], peers: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console(width=220)
    peer_systems = [PEER_SYSTEMS[p] for p in peers if p in PEER_SYSTEMS]
    for size, s in summary.items():
        per_op = s["medians"]
        systems = [x for x in SYSTEMS if any(x in v for v in per_op.values())]
        t = Table(title=f"median ms at size {int(size):,}, interleaved (ratio = fact-store / peer; "
                        "< 1 means fact-store is faster)")
        t.add_column("op")
        for x in systems:
            t.add_column(x + (" *" if x == "datascript-js" else ""), justify="right")
        columns = []  # (title, ratios per peer, geometric means per peer)
        for x in peer_systems:
            columns.append((f"÷ {x}", s["ratios"].get(x, {}), s["geomean"].get(x)))
            columns.append((f"cpu ÷ {x}", s["cpu_ratios"].get(x, {}), s["cpu_geomean"].get(x)))
            if s["cold_cpu_ratios"].get(x):
                columns.append((f"cold cpu ÷ {x}", s["cold_cpu_ratios"][x], s["cold_cpu_geomean"].get(x)))
        for title, _, _ in columns:
            t.add_column(title, justify="right")
        for op in ALL_OPS:
            if op not in per_op:
                continue
            cells = [f"{per_op[op][x]:,.3f}" if x in per_op[op] else "" for x in systems]
            cells += [f"{r[op]:.2f}" if op in r else "" for _, r, _ in columns]
            t.add_row(op, *cells)
        geo = [f"{g:.2f}" if g else "" for _, _, g in columns]
        t.add_row("geometric mean", *[""] * len(systems), *geo)
        console.print(t)
        if "datascript-js" in systems:
            console.print(f"* {DATASCRIPT_NOTE}")
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
    ap.add_argument("--tx-reps", type=int, default=5, help="timed repetitions of a transaction op (default 5)")
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
