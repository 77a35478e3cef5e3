"""Faults on the postgresql store (RELIABILITY.md P-01, P-02, T-07, T2w): several peer
processes, sessions killed around COMMIT, the server crashed and restarted mid-run.

What every test checks, from the log read back on a fresh connection: every
acknowledged transaction is present exactly once (at the t it was
acknowledged with), every transaction that failed with a plain StorageError
is absent, an unknown outcome is present at most once, and t has no gaps.

Each scenario prints ``SCENARIO-ID iterations=N violations=0 ...``.
``RELIABILITY_SOAK=1`` runs the soak sizes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

import fact_store as fs
from fact_store.errors import StorageError, TransactionOutcomeUnknown
from fact_store.log import open_store
from tests.pg import PgServer, fresh_schema

psycopg = pytest.importorskip("psycopg")

SOAK = os.environ.get("RELIABILITY_SOAK") == "1"
ROOT = Path(__file__).resolve().parents[3]

VALUE_SCHEMA = [{":db/ident": ":k/v", ":db/valueType": ":db.type/string",
                 ":db/cardinality": ":db.cardinality/one"}]
COUNTER_SCHEMA = [
    {":db/ident": ":c/name", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":c/n", ":db/valueType": ":db.type/long",
     ":db/cardinality": ":db.cardinality/one"},
]


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> tuple[PgServer, str]:
    return fresh_schema(request)


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=str(ROOT), env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 90) -> str:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"worker hung:\n{out}\n{err}") from None
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{out}\n{err}"
    return out


def _values_by_t(uri: str) -> dict[str, list[int]]:
    """value of :k/v -> the t of every transaction asserting it; checks t is gap-free."""
    conn = fs.connect(uri)
    try:
        conn.sync()
        seen: dict[str, list[int]] = defaultdict(list)
        ts = []
        v_attr = conn.db().entid(":k/v")
        for tx in conn.log().tx_range():
            ts.append(tx.t)
            for d in tx.data:
                if d.a == v_attr and d.added:
                    seen[d.v].append(tx.t)
        assert ts == list(range(1, len(ts) + 1)), "t has gaps"
        return seen
    finally:
        conn.close()


def _check_outcomes(outcomes: list[tuple[str, str, int | None]],
                    seen: dict[str, list[int]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    violations = []
    for kind, value, t in outcomes:
        counts[kind] += 1
        got = seen.get(value, [])
        if kind == "ack" and got != [t]:
            violations.append(f"acknowledged {value} at t={t}, log has {got}")
        elif kind == "fail" and got:
            violations.append(f"failed {value} is in the log at {got}")
        elif kind == "unknown" and len(got) > 1:
            violations.append(f"unknown {value} applied {len(got)} times")
    known = {v for _, v, _ in outcomes}
    extra = [v for v in seen if v not in known]
    assert not extra, f"values nobody transacted: {extra[:5]}"
    dup = {v: ts for v, ts in seen.items() if len(ts) > 1}
    assert not dup, f"duplicated transactions: {dup}"
    assert not violations, "\n".join(violations[:20])
    return counts


# --- several peers ------------------------------------------------------------------------------

COUNTER_WORKER = r"""
import json, sys
import fact_store as fs
uri, n = sys.argv[1], int(sys.argv[2])
conn = fs.connect(uri)
done = retries = 0
while done < n:
    db = conn.sync()
    e = db.entid([":c/name", "counter"])
    v = db.entity(e)[":c/n"]
    try:
        conn.transact([[":db/cas", e, ":c/n", v, v + 1]])
        done += 1
    except fs.CasFailed:
        retries += 1
print(json.dumps({"done": done, "retries": retries}))
conn.close()
"""


def test_processes_incrementing_one_counter_with_cas_lose_no_update(
        pg: tuple[PgServer, str]) -> None:
    """T-07 on PostgreSQL: N peer processes x M :db/cas increments -> exactly N x M."""
    server, schema = pg
    uri = server.store_uri(schema)
    n_procs, m = (8, 200) if SOAK else (4, 25)
    conn = fs.connect(uri)
    conn.transact(COUNTER_SCHEMA)
    conn.transact([{":c/name": "counter", ":c/n": 0}])
    conn.close()
    procs = [_python(COUNTER_WORKER, uri, str(m)) for _ in range(n_procs)]
    results = [json.loads(_finish(p)) for p in procs]
    conn = fs.connect(uri)
    try:
        db = conn.sync()
        value = db.entity([":c/name", "counter"])[":c/n"]
        assert value == n_procs * m
        assert db.basis_t == 2 + n_procs * m  # one record per successful cas, nothing else
        retries = sum(r["retries"] for r in results)
    finally:
        conn.close()
    print(f"T-07-pg processes={n_procs} increments={n_procs * m} cas_retries={retries} "
          f"violations=0")


# --- sessions killed around COMMIT ----------------------------------------------------------------

def _terminate(server: PgServer, schema: str, role: str) -> int:
    rows = server.admin_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (f"fact-store {schema} {role}",))
    return sum(1 for r in rows if r[0])


def _backend_pids(server: PgServer, schema: str, role: str) -> list[int]:
    return [r[0] for r in server.admin_execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
        (f"fact-store {schema} {role}",))]


def test_a_session_killed_just_before_commit_is_found_absent(
        pg: tuple[PgServer, str], monkeypatch: pytest.MonkeyPatch) -> None:
    server, schema = pg
    store = open_store(server.store_uri(schema))
    try:
        with store.writer() as head:
            store.append(head + 1, uuid.uuid4(), b"before")
        u = uuid.uuid4()
        with store.writer() as head:
            target = store._writer.conn  # type: ignore[attr-defined]
            real_commit = psycopg.Connection.commit

            def kill_then_commit(self: Any) -> None:
                if self is target:
                    pids = _backend_pids(server, schema, "writer")
                    _terminate(server, schema, "writer")
                    deadline = time.monotonic() + 5
                    while set(pids) & set(_backend_pids(server, schema, "writer")):
                        assert time.monotonic() < deadline
                        time.sleep(0.005)
                real_commit(self)

            monkeypatch.setattr(psycopg.Connection, "commit", kill_then_commit)
            with pytest.raises(StorageError, match="not committed, nothing was written") as err:
                store.append(head + 1, u, b"lost")
            assert not isinstance(err.value, TransactionOutcomeUnknown)
            monkeypatch.undo()
        assert [r.payload for r in store.read_after(0)] == [b"before"]
        with store.writer() as head:
            store.append(head + 1, u, b"retried")  # the same tx uuid: a safe retry
        assert [(r.t, r.tx_uuid) for r in store.read_after(1)] == [(2, u)]
    finally:
        store.close()


def test_a_commit_whose_reply_is_lost_is_found_committed(
        pg: tuple[PgServer, str], caplog: pytest.LogCaptureFixture) -> None:
    """pg_terminate_backend *during* COMMIT, after the commit record is durable.

    With ``synchronous_standby_names`` naming a standby that does not exist, a
    COMMIT waits (wait_event SyncRep) after flushing its commit record;
    terminating the backend then ends the wait, the transaction stays
    committed, and the client sees the connection die instead of a reply.
    """
    server, schema = pg
    if not server.can_restart:
        pytest.skip("changes the server's configuration; only on the harness's own server")
    store = open_store(server.store_uri(schema))
    u = uuid.uuid4()
    result: dict[str, Any] = {}

    def commit() -> None:
        try:
            with store.writer() as head:
                store.append(head + 1, u, b"reply lost")
            result["ok"] = head + 1
        except Exception as exc:  # noqa: BLE001 - asserted below
            result["error"] = exc

    def set_standby(value: str | None) -> None:
        if value is None:
            server.admin_execute("ALTER SYSTEM RESET synchronous_standby_names")
        else:
            server.admin_execute(psycopg.sql.SQL(  # a utility statement takes no parameters
                "ALTER SYSTEM SET synchronous_standby_names = {}").format(psycopg.sql.Literal(value)))
        server.admin_execute("SELECT pg_reload_conf()")
        want = value or ""
        deadline = time.monotonic() + 5
        while server.admin_execute("SHOW synchronous_standby_names")[0][0] != want:
            assert time.monotonic() < deadline, "the server did not reload its configuration"
            time.sleep(0.01)

    try:
        with store.writer():
            pass  # the writer session exists before the server starts waiting on standbys
        set_standby("fact_store_test_nobody")
        with caplog.at_level(logging.WARNING, logger="fact_store"):
            th = threading.Thread(target=commit)
            th.start()
            deadline = time.monotonic() + 10
            while not server.admin_execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
                    "AND wait_event = 'SyncRep'", (f"fact-store {schema} writer",)):
                assert time.monotonic() < deadline, "COMMIT never waited for the standby"
                time.sleep(0.005)
            assert _terminate(server, schema, "writer") == 1
            th.join(30)
        assert result == {"ok": 1}, result
        assert "did commit; acknowledged" in caplog.text
    finally:
        set_standby(None)
        try:
            assert [(r.t, r.tx_uuid) for r in store.read_after(0)] == [(1, u)]
        finally:
            store.close()


def test_random_backend_kills_lose_and_duplicate_nothing(
        pg: tuple[PgServer, str], caplog: pytest.LogCaptureFixture) -> None:
    """P-02 (PR size): pg_terminate_backend of the writer session at random moments of
    transact, including between sending COMMIT and reading its reply."""
    server, schema = pg
    uri = server.store_uri(schema)
    iterations = 2000 if SOAK else 150
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    conn = fs.connect(uri)
    outcomes: list[tuple[str, str, int | None]] = []
    try:
        conn.transact(VALUE_SCHEMA)
        probe = time.perf_counter()
        conn.transact([{":k/v": "probe"}])
        outcomes.append(("ack", "probe", conn.db().basis_t))
        tx_time = time.perf_counter() - probe
        with caplog.at_level(logging.WARNING, logger="fact_store"):
            for i in range(iterations):
                value = f"v{i}"
                killer = threading.Timer(rng.uniform(0, tx_time * 1.5),
                                         _terminate, (server, schema, "writer"))
                killer.start()
                try:
                    rep = conn.transact([{":k/v": value}])
                    outcomes.append(("ack", value, rep.db_after.basis_t))
                except TransactionOutcomeUnknown:
                    outcomes.append(("unknown", value, None))
                except StorageError:
                    outcomes.append(("fail", value, None))
                killer.join()
        resolved = caplog.text.count("did commit; acknowledged")
        commit_failed = caplog.text.count("finding out whether it committed")
    finally:
        conn.close()
    counts = _check_outcomes(outcomes, _values_by_t(uri))
    print(f"P-02 iterations={iterations} violations=0 seed={seed} acks={counts['ack']} "
          f"fails={counts['fail']} unknown={counts['unknown']} commit_failed={commit_failed} "
          f"resolved_committed={resolved}")
    assert counts["unknown"] == 0  # the server stayed up: every outcome was found out
    assert counts["fail"] + commit_failed >= iterations // 20, \
        "too few kills hit a transaction: the test would pass vacuously"


# --- white-box crash points (T2w) ---------------------------------------------------------------------

CRASH_WORKER = r"""
import sys, uuid
from fact_store.log import open_store
store = open_store(sys.argv[1])
for i in range(5):
    with store.writer() as head:
        store.append(head + 1, uuid.uuid4(), b"w%d" % i)
    print(head + 1, flush=True)
"""


@pytest.mark.parametrize("point, present", [("pg-before-commit", 2),
                                            ("pg-after-commit-before-return", 3)])
def test_a_writer_killed_at_a_crash_point_leaves_a_whole_prefix(
        point: str, present: int, pg: tuple[PgServer, str]) -> None:
    server, schema = pg
    uri = server.store_uri(schema)
    open_store(uri).close()
    proc = _python(CRASH_WORKER, uri, env={"FACTSTORE_CRASH_AT": f"{point}:3"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -9, err
    assert out.split() == ["1", "2"]  # acknowledged before the crash
    store = open_store(uri)
    try:
        # the dead session's transaction is rolled back (or committed) and its lock freed
        with store.writer(timeout=10) as head:
            assert head == present
            store.append(head + 1, uuid.uuid4(), b"after")
        assert [r.payload for r in store.read_after(0)][:present] == \
            [b"w%d" % i for i in range(present)]
    finally:
        store.close()


# --- P-01: the server crashes mid-run --------------------------------------------------------------------

VALUE_WORKER = r"""
import os, sys, time
import fact_store as fs
uri, wid, stop, journal = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
conn = fs.connect(uri)
acks = attempt = moved = 0
with open(journal, "a") as j:
    while not os.path.exists(stop):
        attempt += 1
        value = f"{wid}-{attempt}"
        try:
            rep = conn.transact([{":k/v": value}])
            j.write(f"ack {value} {rep.db_after.basis_t}\n")
            acks += 1
        except fs.TransactionOutcomeUnknown:
            j.write(f"unknown {value} -\n")
        except fs.StoreMoved:  # group mode: the crash lost what this peer had read
            j.write(f"unknown {value} -\n")
            conn.close()
            conn = fs.connect(uri)
            moved += 1
        except fs.StorageError as exc:
            j.write(f"fail {value} -\n")
            time.sleep(0.01)
        j.flush()
        time.sleep(0.002)
conn.close()
"""


def _journal(path: Path) -> list[tuple[str, str, int | None]]:
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            kind, value, t = line.split()
            out.append((kind, value, None if t == "-" else int(t)))
    return out


@pytest.mark.parametrize("durability", ["fsync", "group"])
def test_server_crashes_mid_run_lose_and_duplicate_nothing(durability: str,
                                                            pg: tuple[PgServer, str],
                                                            tmp_path: Path) -> None:
    """P-01 (PR size): 3 peer processes transact while the server is crashed
    (``pg_ctl stop -m immediate``) and restarted; they reconnect and go on.

    In group mode a crash may also take transactions other peers had already
    read: those peers get StoreMoved and reconnect (the worker does), and the
    journal's verdicts must still hold."""
    server, schema = pg
    if not server.can_restart:
        pytest.skip("needs the harness's own server to crash it")
    uri = server.store_uri(schema, durability=durability)
    conn = fs.connect(uri)
    conn.transact(VALUE_SCHEMA)
    conn.close()
    workers, crashes = (4, 20) if SOAK else (3, 3)
    journals = [tmp_path / f"w{i}.journal" for i in range(workers)]
    stop = tmp_path / "stop"
    procs = [_python(VALUE_WORKER, uri, f"w{i}", str(stop), str(journals[i]))
             for i in range(workers)]

    def progress(min_new_acks: int) -> None:
        base = [sum(k == "ack" for k, _, _ in _journal(j)) for j in journals]
        deadline = time.monotonic() + 60
        while True:
            now = [sum(k == "ack" for k, _, _ in _journal(j)) for j in journals]
            if min(n - b for n, b in zip(now, base)) >= min_new_acks:
                return
            for p in procs:
                if p.poll() is not None:
                    raise AssertionError(f"a worker exited early: {p.communicate()}")
            assert time.monotonic() < deadline, f"workers make no progress: {now}"
            time.sleep(0.02)

    try:
        for _ in range(crashes):
            progress(5)  # every worker acknowledged transactions since the last crash
            server.stop("immediate")
            time.sleep(0.3)
            server.start()
        progress(5)  # ... and after the last one
        stop.touch()
        for p in procs:
            _finish(p)
    finally:
        stop.touch()
        for p in procs:
            if p.poll() is None:
                p.kill()
    outcomes = [o for j in journals for o in _journal(j)]
    counts = _check_outcomes(outcomes, _values_by_t(uri))
    print(f"P-01 durability={durability} crash_cycles={crashes} workers={workers} violations=0 "
          f"acks={counts['ack']} fails={counts['fail']} unknown={counts['unknown']}")
