"""P-series and the PostgreSQL T-scenarios (RELIABILITY.md §7, §10), on a real server.

The server is ``tests/pg.py``'s (one per session, a fresh schema per test);
these tests skip without PostgreSQL locally and fail under ``CI=true``.
P-01 (server crash cycles), P-02 (backends killed around COMMIT), P-04 (unsafe
server settings) and P-06 (hostile strings, the SQL grep test) live with the
backend's own suite in ``tests/fact_store/log/test_postgres*.py``; this module
adds T-02 (list-append over 3 processes with killed sessions), T-09 (visible
prefix under 8 appenders and 4 readers) and P-05 (concurrent first opens and
installs).
"""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from fact_store.log import open_store

from tests.reliability.conftest import Scenario, scale
from tests.reliability.history import check
from tests.reliability.journal import JsonJournal
from tests.reliability.workers import (LA_SCHEMA, connection, fork_child, la_read, la_worker,
                                       register_la)

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> tuple[Any, str]:
    from tests.pg import fresh_schema
    return fresh_schema(request)


def _kill_sessions(server: Any, schema: str, rng: random.Random) -> int:
    """pg_terminate_backend one client session of this store; returns how many died."""
    rows = server.admin_execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
        (f"fact-store {schema}%",))
    if not rows:
        return 0
    pid = rng.choice(rows)[0]
    server.admin_execute("SELECT pg_terminate_backend(%s)", (pid,))
    return 1


def _la_final_any(uri: str, keys: int) -> tuple[dict[str, list[int]], dict[int, int]]:
    register_la()
    conn = connection(uri)
    try:
        db = conn.sync()
        final = {f"k{i}": la_read(db, f"k{i}") for i in range(keys)}
        key_a, list_a = db.schema.attr(":la/key").id, db.schema.attr(":la/list").id
        ekey: dict[int, str] = {}
        cur: dict[str, list[int]] = {}
        appended_at: dict[int, int] = {}
        ts = []
        for tx in conn.log().tx_range():
            ts.append(tx.t)
            for d in tx.data:
                if d.a == key_a and d.added:
                    ekey[d.e] = d.v
            for d in tx.data:
                if d.a == list_a and d.added:
                    k = ekey[d.e]
                    new = [int(x) for x in d.v.split(",")] if d.v else []
                    old = cur.get(k, [])
                    assert new[:len(old)] == old, f"t={tx.t} rewrote {k}"
                    for x in new[len(old):]:
                        appended_at[x] = tx.t
                    cur[k] = new
        assert ts == list(range(1, len(ts) + 1)), "t has gaps"
    finally:
        conn.close()
    return final, appended_at


def _history(journals: list[Path]) -> list[dict[str, Any]]:
    hist: list[dict[str, Any]] = []
    for j in journals:
        pending = None
        for e in JsonJournal.read(j):
            if e["type"] == "invoke":
                if pending is not None:
                    hist.append({**pending, "type": "info", "t": None})
                pending = e
            else:
                hist.append(e)
                pending = None
        if pending is not None:
            hist.append({**pending, "type": "info", "t": None})
    return hist


# --- T-02: list-append on PostgreSQL, 3 processes, sessions killed -------------------------------

def test_t02_list_append_on_postgres_with_killed_sessions(scenario: Scenario,
                                                          pg: tuple[Any, str]) -> None:
    server, schema = pg
    uri = server.store_uri(schema, reconnect_timeout="20")
    txs, keys = scale(3000, 1_000_000), 25
    conn = connection(uri)
    conn.transact(LA_SCHEMA)
    conn.close()
    journals = [scenario.dir / f"h{p}" for p in range(3)]
    procs = [fork_child(la_worker, uri, str(journals[p]), p + 1, scenario.seed + p, txs // 3, keys)
             for p in range(3)]
    kills = 0
    rng = scenario.rng
    while any(p.is_alive() for p in procs):
        time.sleep(rng.uniform(0.1, 0.4))
        kills += _kill_sessions(server, schema, rng)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0, p.exitcode
    hist = _history(journals)
    final, appended_at = _la_final_any(uri, keys)
    anomalies = check(hist, final, appended_at)
    ok = sum(h["type"] == "ok" for h in hist)
    info = sum(h["type"] == "info" for h in hist)
    scenario.report("T-02", len(hist), len(anomalies), ok=ok, info=info, sessions_killed=kills)
    assert not anomalies, anomalies[:10]
    scenario.require(kills >= 5, f"only {kills} sessions killed")


# --- T-09: the visible prefix ---------------------------------------------------------------------

def test_t09_readers_never_see_t_plus_1_before_t(scenario: Scenario, pg: tuple[Any, str]) -> None:
    from tests.reliability.workers import generic_tail_reader, raw_count_writer

    server, schema = pg
    uri = server.store_uri(schema)
    open_store(uri).close()
    per = scale(300, 600_000)
    stop = scenario.dir / "stop"
    readers = [fork_child(generic_tail_reader, uri, str(stop), str(scenario.dir / f"r{i}.json"))
               for i in range(4)]
    journals = [scenario.dir / f"a{w}" for w in range(8)]
    writers = [fork_child(raw_count_writer, uri, str(journals[w]), w, scenario.seed + w, per)
               for w in range(8)]
    for w in writers:
        w.join(600)
        assert w.exitcode == 0, w.exitcode
    stop.touch()
    for r in readers:
        r.join(120)
        assert r.exitcode == 0, r.exitcode
    s = open_store(uri)
    records = list(s.read_after(0))
    s.close()
    assert [r.t for r in records] == list(range(1, 8 * per + 1))
    from tests.reliability.journal import AckJournal
    acks = [a for j in journals for a in AckJournal.read(j)]
    by_t = {r.t: r.tx_uuid for r in records}
    assert all(by_t.get(t) == u for t, u, _d in acks), "an acknowledged record is missing"
    outs = [json.loads((scenario.dir / f"r{i}.json").read_text()) for i in range(4)]
    assert all(o["last"] == 8 * per for o in outs), outs
    scenario.report("T-09", 8 * per, 0, appenders=8, readers=4,
                    reads=sum(o["reads"] for o in outs))


# --- P-05: concurrent first opens and installs --------------------------------------------------

def test_p05_concurrent_installs_make_one_schema(scenario: Scenario, pg: tuple[Any, str]) -> None:
    from tests.pg import new_schema_name

    from tests.reliability.workers import install_worker

    server, _schema = pg
    races = scale(20, 5000)
    for r in range(races):
        schema = new_schema_name()
        uri = server.store_uri(schema)
        outs = [scenario.dir / f"o{r}-{p}" for p in range(3)]
        procs = [fork_child(install_worker, uri, str(outs[p])) for p in range(3)]
        for p in procs:
            p.join(120)
            assert p.exitcode == 0, p.exitcode
        ts = sorted(json.loads(o.read_text())["t"] for o in outs)
        conn = connection(uri)
        db = conn.sync()
        assert db.schema.attr(":la/key") is not None
        # the first install creates the attributes; the others are redundant (no new datoms)
        datoms = [len(tx.data) for tx in conn.log().tx_range()]
        conn.close()
        assert len(ts) == 3 and datoms[0] > 1 and all(n == 1 for n in datoms[1:]), datoms
        server.drop_schema(schema)
    scenario.report("P-05", races, 0, processes=3)


# --- P-03: network faults through a loopback proxy ---------------------------------------------------

def test_p03_network_faults_never_acknowledge_without_a_commit(scenario: Scenario,
                                                               pg: tuple[Any, str]) -> None:
    from tests.reliability.proxy import FaultProxy
    from tests.reliability.workers import value_writer

    server, schema = pg
    direct = server.store_uri(schema)
    conn = connection(direct)
    conn.transact([{":db/ident": ":p/v", ":db/valueType": ":db.type/string",
                    ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/value"}])
    conn.close()
    proxy = FaultProxy(server.port)
    via = direct.replace(f":{server.port}/", f":{proxy.port}/") + "&reconnect_timeout=3"
    faults_wanted = scale(40, 20_000)
    seconds = faults_wanted * 0.45
    journals = [scenario.dir / f"p{w}" for w in range(3)]
    procs = [fork_child(value_writer, via, str(journals[w]), w, seconds) for w in range(3)]
    rng = scenario.rng
    try:
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            time.sleep(rng.uniform(0.1, 0.3))
            kind = rng.choice(("drop", "reset", "delay", "hold"))
            if kind == "drop":
                proxy.drop()
            elif kind == "reset":
                proxy.reset()
            elif kind == "delay":
                proxy.delay(rng.uniform(0.0, 0.5))
            else:
                proxy.hold()
            time.sleep(rng.uniform(0.05, 0.3))
            proxy.release()
        for p in procs:
            p.join(120)
            assert p.exitcode == 0, f"a client raised something else than StorageError: {p.exitcode}"
    finally:
        proxy.close()
    outcomes = JsonJournal.read_all(journals)
    c = connection(direct)
    seen: dict[str, list[int]] = {}
    a = c.sync().schema.attr(":p/v").id
    ts = []
    for tx in c.log().tx_range():
        ts.append(tx.t)
        for d in tx.data:
            if d.a == a and d.added:
                seen.setdefault(d.v, []).append(tx.t)
    c.close()
    violations = []
    assert ts == list(range(1, len(ts) + 1)), "t has gaps"
    for o in outcomes:
        got = seen.get(o["v"], [])
        if o["kind"] == "ack" and got != [o["t"]]:
            violations.append(f"acknowledged {o['v']} at t={o['t']}, log has {got}")
        elif o["kind"] == "fail" and got:
            violations.append(f"failed {o['v']} ({o['err']}) is in the log at {got}")
        elif o["kind"] == "unknown" and len(got) > 1:
            violations.append(f"unknown {o['v']} applied {len(got)} times")
    known = {o["v"] for o in outcomes}
    violations += [f"{v} in the log, never transacted" for v in seen if v not in known and
                   not v.startswith("w")]
    counts = {k: sum(o["kind"] == k for o in outcomes) for k in ("ack", "fail", "unknown")}
    total_faults = sum(proxy.faults.values())
    scenario.report("P-03", total_faults, len(violations), **counts, **proxy.faults)
    assert not violations, violations[:10]
    scenario.require(total_faults >= faults_wanted // 2, f"only {total_faults} faults")
    scenario.require(counts["fail"] + counts["unknown"] >= 1, "no fault ever reached a client")


# Was xfail (P03_BUG_SILENT_PEER): with no client-side deadline on PostgreSQL calls, a silent
# server connection (TCP up, nothing forwarded: keepalives and tcp_user_timeout cannot see it)
# blocked transact() forever. Every network wait now has a deadline (log/postgres.py, "Deadlines").


def _silent_peer_client(uri: str, out: str, ready: Any, go: Any) -> None:
    from fact_store.errors import StorageError
    conn = connection(uri)
    conn.transact([{":p/v": "warm-up"}])  # every session of this client is open now
    ready.set()
    go.wait(30)
    t0 = time.monotonic()
    try:
        conn.transact([{":p/v": "into-the-void"}])
        result = "ack"
    except StorageError as exc:
        result = type(exc).__name__
    with open(out, "w") as f:
        json.dump({"result": result, "seconds": time.monotonic() - t0}, f)


def test_p03_a_silent_server_connection_fails_within_the_configured_time(
        tmp_path: Path, pg: tuple[Any, str]) -> None:
    from tests.reliability.proxy import FaultProxy

    server, schema = pg
    direct = server.store_uri(schema)
    conn = connection(direct)
    conn.transact([{":db/ident": ":p/v", ":db/valueType": ":db.type/string",
                    ":db/cardinality": ":db.cardinality/one"}])
    conn.close()
    proxy = FaultProxy(server.port)
    try:
        via = (direct.replace(f":{server.port}/", f":{proxy.port}/") +
               "&reconnect_timeout=2&statement_timeout=2")
        import multiprocessing
        ctx = multiprocessing.get_context("fork")
        ready, go = ctx.Event(), ctx.Event()
        child = fork_child(_silent_peer_client, via, str(tmp_path / "out"), ready, go)
        assert ready.wait(60)
        proxy.hold()  # the link goes silent; TCP stays up
        go.set()
        child.join(12)
        hung = child.exitcode is None
        if hung:
            child.kill()
            child.join(5)
    finally:
        proxy.close()
    assert not hung, "transact() was still blocked 12 s after the server went silent"
    assert json.loads((tmp_path / "out").read_text())["result"] != "ack"


# --- F-03 on PostgreSQL: the two crash points around COMMIT x k -------------------------------------

@pytest.mark.parametrize("point,in_flight_present", [("pg-before-commit", False),
                                                     ("pg-after-commit-before-return", True)])
def test_f03_pg_crash_points_leave_acknowledged_txs_and_no_partial_one(
        scenario: Scenario, pg: tuple[Any, str], point: str, in_flight_present: bool) -> None:
    from tests.pg import new_schema_name

    from tests.reliability.journal import datom_digest
    from tests.reliability.workers import F01_SCHEMA, f01_writer

    server, _schema = pg
    ks = list(range(1, scale(20, 500) + 1))
    for k in ks:
        schema = new_schema_name()
        uri = server.store_uri(schema)
        conn = connection(uri)
        conn.transact(F01_SCHEMA)
        conn.close()
        journal = scenario.dir / f"{point}-{k}"
        child = fork_child(f01_writer, uri, str(journal), 0, scenario.seed + k, count=k + 2,
                           crash_at=f"{point}:{k}")
        child.join(120)
        assert child.exitcode == -signal.SIGKILL, (point, k, child.exitcode)
        acks = JsonJournal.read(journal)
        assert len(acks) == k - 1, (point, k, len(acks))
        c = connection(uri)
        try:
            txs = list(c.log().tx_range())
            assert [tx.t for tx in txs] == list(range(1, len(txs) + 1))
            by_t = {tx.t: datom_digest([tuple(d) for d in tx.data]) for tx in txs}
            for a in acks:
                assert by_t.get(a["t"]) == a["d"], f"{point}:{k}: acknowledged t={a['t']} lost"
            assert len(txs) == (k + 1 if in_flight_present else k), (point, k, len(txs))
            c.transact([{":w/key": "after"}])  # the dead session's lock was released
        finally:
            c.close()
        server.drop_schema(schema)
    scenario.report("F-03-pg", len(ks), 0, point=point)
