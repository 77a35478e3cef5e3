"""O-11 (RELIABILITY.md §8): overseer workers stay alive through store outages.

Three worker processes run a graph of short jobs (handlers journal every execution, T9)
while the store goes away and comes back, several times per test:

- file store: the writer-lock holder is paused (SIGSTOP) for longer than the lease;
  the store directory is replaced by a copy taken a moment before (a restore);
- PostgreSQL: ``pg_ctl restart -m fast`` and ``-m immediate``; every server process
  paused (SIGSTOP) for longer than the lease; the workers' connections blackholed
  through the fault proxy (``tests/reliability/proxy.py``) for longer than the lease.

Checked: no job of a live worker is reset because of the outage (here every worker
lives, so a reset is a violation unless the restore took the attempt away), every job
finishes, no job has two outcomes, progress resumes after the store returns (the
measured resume times are reported), and no worker spins on a dead connection (its
WARNING+ log lines are counted and bounded).

Resume time: from the moment the store is back (SIGCONT sent, ``pg_ctl start``
returned, proxy released) to the first handler start journaled after it, which
needs a committed claim. Assertions wait on conditions with generous deadlines.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import overseer

from tests.reliability import sidefx
from tests.reliability.conftest import Scenario, scale
from tests.reliability.workers import connection, fork_child, overseer_config

#: lease = 0.3 s x 4 = 1.2 s; every outage below lasts about 3 leases
LEASE = {"heartbeat_interval": 0.3, "heartbeat_tolerance": 4.0, "detector_interval": 0.3,
         "detector_stagger": 0.2}
OUTAGE = 3.5
WORKERS = 3


def _outage_worker(uri: str, journal: str, logfile: str, seed: int) -> None:
    """An overseer worker that logs WARNING+ to ``logfile`` (one line per record)."""
    handler = logging.FileHandler(logfile)
    handler.setLevel(logging.WARNING)
    for name in ("overseer", "fact_store"):
        lg = logging.getLogger(name)
        lg.setLevel(logging.WARNING)
        lg.addHandler(handler)
    rng = random.Random(seed)
    h = sidefx.handler(journal, lambda: rng.uniform(0.05, 0.3))
    conn = connection(uri)
    w = overseer.Worker(conn, {"a": h}, overseer_config(**LEASE), rng=rng)
    w.run(install_signals=True, exit_when_done=True)
    with open(logfile + ".stats", "w") as f:
        json.dump(dict(w.stats), f)
    w.conn.close()


class Run:
    """A graph of ``n`` jobs and three worker processes on ``uri``."""

    def __init__(self, scenario: Scenario, uri: str, n: int) -> None:
        self.scenario = scenario
        self.uri = uri
        self.n = n
        conn = connection(uri)
        overseer.install_schema(conn)
        conn.transact(overseer.graph_txns({f"j{i}": [] for i in range(n)}, types=lambda _: "a",
                                          ids=lambda x: x))
        conn.close()
        self.journal = str(scenario.dir / "sidefx")
        self.logs = [str(scenario.dir / f"worker{i}.log") for i in range(WORKERS)]
        self.procs = [fork_child(_outage_worker, uri, self.journal, self.logs[i],
                                 scenario.seed + i) for i in range(WORKERS)]
        self.resumes: list[float] = []

    def starts(self) -> list[float]:
        return [r["t"] for r in sidefx.read(self.journal) if r["ev"] == "start"]

    def wait_progress(self, jobs: int, deadline: float = 120.0) -> None:
        """Wait until ``jobs`` more handler starts are journaled (or all work is done)."""
        base = len(self.starts())
        limit = time.monotonic() + deadline
        while len(self.starts()) < base + jobs and any(p.is_alive() for p in self.procs):
            assert time.monotonic() < limit, f"no progress: {len(self.starts())} starts"
            time.sleep(0.02)

    def outage(self, down: Callable[[], None], up: Callable[[], None],
               seconds: float = OUTAGE) -> None:
        """One outage: ``down()``, wait ``seconds``, ``up()``; then measure the resume time."""
        self.wait_progress(3)
        down()
        time.sleep(seconds)
        up()
        back = time.time()
        limit = time.monotonic() + 120
        while True:
            later = [t for t in self.starts() if t >= back]
            if later:
                self.resumes.append(min(later) - back)
                return
            if not any(p.is_alive() for p in self.procs):
                return  # everything finished meanwhile: nothing to resume
            assert time.monotonic() < limit, "no job started within 120 s of the store's return"
            time.sleep(0.01)

    def finish(self, check_resets: bool = True, **extra: Any) -> None:
        """Wait for the workers, then check the store, the journal and the logs; report."""
        for p in self.procs:
            p.join(180)
        codes = [p.exitcode for p in self.procs]
        for p in self.procs:
            if p.is_alive():
                p.kill()
        assert codes == [0] * WORKERS, f"worker exit codes {codes}"
        conn = connection(self.uri)
        db = conn.sync()
        violations = [f"j{i} not finished" for i in range(self.n)
                      if db.entity([":job/id", f"j{i}"])[":job/status"] != overseer.FINISHED]
        violations += _two_outcomes(db)
        resets = _resets(db)
        runs = sidefx.executions(sidefx.read(self.journal))
        if check_resets:
            violations += [f"job {e} reset (attempt {a}) though its worker lived" for e, a in resets]
        lines = [sum(1 for _ in open(p, encoding="utf-8")) for p in self.logs]
        stats = [json.load(open(p + ".stats", encoding="utf-8")) for p in self.logs]
        conn.close()
        outages = len(self.resumes) or 1
        # a worker retries with a backoff that doubles to 1 s: about a dozen lines per outage
        spin = [n for n in lines if n > 40 * outages + 20]
        violations += [f"a worker logged {n} lines over {outages} outages (spinning)" for n in spin]
        doubles = sum(1 for r in runs.values() if len(r) > 1)
        self.scenario.report(
            "O-11", outages, len(violations), jobs=self.n, resets=len(resets),
            re_executions=doubles,
            resume_s=",".join(f"{r:.2f}" for r in self.resumes),
            resume_max_s=f"{max(self.resumes, default=0):.2f}",
            resume_median_s=f"{statistics.median(self.resumes) if self.resumes else 0:.2f}",
            log_lines=",".join(map(str, lines)),
            reconnects=sum(s.get("reconnects", 0) for s in stats), **extra)
        assert not violations, violations[:10]
        self.scenario.require(len(self.resumes) >= 1, "no outage happened while jobs were left")


def _resets(db: Any) -> list[tuple[int, int]]:
    """(eid, attempt) of every reset in the job's history (each ``:job/resets`` increment)."""
    a_resets = db.schema.attr(":job/resets").id
    a_att = db.schema.attr(":job/attempt").id
    out = []
    for e, _a, v, tx, added in db.history().search(None, a_resets):
        if added:
            att = [r[2] for r in db.as_of(tx).search(e, a_att)]
            out.append((e, att[0] if att else 0))
    return out


def _two_outcomes(db: Any) -> list[str]:
    a = db.schema.attr(":job/status").id
    terminal = (overseer.FINISHED, overseer.FAILED, overseer.ABORTED)
    seen: dict[int, int] = {}
    for e, _a, v, _tx, added in db.history().search(None, a):
        if added and v in terminal:
            seen[e] = seen.get(e, 0) + 1
    return [f"job {e}: {k} terminal statuses" for e, k in seen.items() if k > 1]


# --- file store ------------------------------------------------------------------------------

def _lock_holder(uri: str, ready: str) -> None:
    from fact_store.log import open_store
    store = open_store(uri)
    with store.writer():
        Path(ready).touch()
        time.sleep(0.5)  # the test stops this process here, holding the lock
    store.close()


def test_o11_file_store_lock_holder_paused_resets_no_live_job(scenario: Scenario) -> None:
    outages = scale(2, 50)
    run = Run(scenario, f"file:{scenario.dir / 'db'}", scale(40, 2000))
    for k in range(outages):
        ready = scenario.dir / f"ready{k}"
        holder: list[Any] = []

        def down() -> None:
            holder.append(fork_child(_lock_holder, run.uri, str(ready)))
            limit = time.monotonic() + 60
            while not ready.exists():
                assert time.monotonic() < limit, "the lock holder never got the lock"
                time.sleep(0.002)
            os.kill(holder[0].pid, signal.SIGSTOP)

        def up() -> None:
            os.kill(holder[0].pid, signal.SIGCONT)

        run.outage(down, up)
        holder[0].join(60)
    run.finish(outage="lock-holder-sigstop")


def test_o11_file_store_directory_replaced_workers_reconnect(scenario: Scenario) -> None:
    outages = scale(2, 50)
    d = scenario.dir / "db"
    run = Run(scenario, f"file:{d}", scale(40, 2000))
    for k in range(outages):
        copy = scenario.dir / f"copy{k}"

        def down() -> None:
            shutil.copytree(d, copy)  # a backup taken while the workers run

        def up() -> None:
            os.rename(d, scenario.dir / f"old{k}")  # ... and restored a moment later
            os.rename(copy, d)

        run.outage(down, up, seconds=0.5)
    # The restore takes back claims and outcomes made after the copy: a job started in the
    # copy whose attempt no worker holds any more is reset (at-least-once). Every reset must
    # be of such an attempt: never of one a worker was still running (it re-heartbeats).
    run.finish(check_resets=False, outage="directory-restored")
    conn = connection(run.uri)
    db = conn.sync()
    violations = _live_resets(db, sidefx.read(run.journal))
    conn.close()
    assert not violations, violations[:10]


def _live_resets(db: Any, journal: list[dict[str, Any]]) -> list[str]:
    """Resets whose attempt was running (journal start, no end yet) at the reset's tx instant."""
    a_resets, a_own = db.schema.attr(":job/resets").id, db.schema.attr(":job/owner").id
    a_att, a_id = db.schema.attr(":job/attempt").id, db.schema.attr(":job/id").id
    spans: dict[tuple[str, int, int], list[float]] = {}
    for r in journal:
        spans.setdefault((r["id"], r["attempt"], r["pid"]), []).append(r["t"])
    bad = []
    for e, _a, _v, tx, added in db.history().search(None, a_resets):
        if not added:
            continue
        before = db.as_of(tx - 1) if tx > 0 else db
        att = [r[2] for r in before.search(e, a_att)]
        own = [r[2] for r in before.search(e, a_own)]
        jid = [r[2] for r in db.search(e, a_id)]
        when = next(iter(db.datoms(":eavt", tx, ":db/txInstant"))).v.timestamp()
        if not (att and own and jid):
            continue
        pid = int(str(own[0]).split(":")[1])
        ts = spans.get((jid[0], att[0], pid), [])
        if ts and min(ts) <= when and (len(ts) < 2 or max(ts) > when):
            bad.append(f"job {jid[0]} attempt {att[0]} of pid {pid} reset while running")
    return bad


# --- PostgreSQL --------------------------------------------------------------------------------

@pytest.fixture
def pg(request: pytest.FixtureRequest) -> tuple[Any, str]:
    pytest.importorskip("psycopg")
    from tests.pg import fresh_schema
    server, schema = fresh_schema(request)
    if not server.can_restart:
        pytest.skip("needs the harness's own server to restart and pause it")
    return server, schema


def _server_pids(server: Any) -> list[int]:
    """The postmaster and its children (every server process)."""
    master = int((server.data / "postmaster.pid").read_text().split()[0])
    pids = [master]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry))
    return pids


@pytest.mark.parametrize("how", ["restart-fast", "restart-immediate", "pause", "blackhole"])
def test_o11_postgres_outage_resets_no_live_job(scenario: Scenario, pg: tuple[Any, str],
                                                how: str) -> None:
    from tests.reliability.proxy import FaultProxy

    server, schema = pg
    # two restarts of each kind (they reset live jobs without the grace period), one pause
    # and one blackhole in the PR tier: the suite's time budget
    outages = scale(2 if how.startswith("restart") else 1, 20)
    uri = server.store_uri(schema)
    proxy = None
    if how == "blackhole":
        proxy = FaultProxy(server.port)
        uri = uri.replace(f":{server.port}/", f":{proxy.port}/")
    run = Run(scenario, uri, scale(40, 2000))
    paused: list[int] = []

    def down() -> None:
        if how.startswith("restart"):
            server.stop(how.split("-")[1])
        elif how == "pause":
            paused[:] = _server_pids(server)
            for pid in paused:
                os.kill(pid, signal.SIGSTOP)
        else:
            assert proxy is not None
            proxy.hold()

    def up() -> None:
        if how.startswith("restart"):
            server.start()
        elif how == "pause":
            for pid in paused:
                os.kill(pid, signal.SIGCONT)
        else:
            assert proxy is not None
            proxy.release()

    try:
        for _ in range(outages):
            run.outage(down, up)
        run.finish(outage=how)
    finally:
        if proxy is not None:
            proxy.close()
