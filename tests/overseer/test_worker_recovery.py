"""Worker recovery from store errors, by class (fs.recovery): reconnect, retry, exit; and the
monitor's grace period after an outage. Real file stores, a worker thread running ``run()``."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

import fact_store as fs
import overseer
from overseer.worker import Worker

GRAPH = {f"j{i}": [] for i in range(6)}


def _store(tmp_path: Path) -> tuple[str, fs.Connection]:
    uri = f"file:{tmp_path / 'db'}"
    conn = fs.connect(uri)
    overseer.install_schema(conn)
    conn.transact(overseer.graph_txns(GRAPH, ids=lambda n: n, types=lambda n: "t"))
    return uri, conn


def _run(w: Worker) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def go() -> None:
        try:
            w.run(install_signals=False, exit_when_done=True)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, errors


CFG = {"sleep-time": 200, "heartbeat": {"sleep-time": 200, "tolerance": 3},  # ms, as Overseer
       "detector-interval": 200, "detector-stagger": 100}


def test_a_worker_whose_store_was_restored_under_it_reconnects_and_finishes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    uri, conn = _store(tmp_path)
    shutil.copytree(tmp_path / "db", tmp_path / "backup")  # every job unstarted
    ran: list[str] = []

    def handler(job: dict) -> None:
        if not ran:  # the first job: the operator restores the store from the backup
            os.replace(tmp_path / "backup" / "log", tmp_path / "db" / "log")
        ran.append(job[":job/id"])

    w = Worker(conn, {"t": handler}, CFG)
    with caplog.at_level(logging.INFO, logger="overseer"):
        t, errors = _run(w)
        t.join(60)
    assert not t.is_alive() and not errors, errors
    assert w.stats["reconnects"] == 1 and w.store_state == "ok"
    assert conn.closed and w.conn is not conn and not w.conn.closed
    db = w.conn.sync()
    assert {db.entity([":job/id", j])[":job/status"] for j in GRAPH} == {overseer.FINISHED}
    assert sorted(set(ran)) == sorted(GRAPH)  # the first job ran again: its claim was restored away
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    # the loop or the heartbeat thread sees it first: StoreMoved, or the connection it closed
    assert any("lost (StoreMoved" in r.getMessage() or "lost (ConnectionClosed" in r.getMessage()
               for r in lines), [r.getMessage() for r in lines]
    assert any("reconnected to" in r.getMessage() for r in lines)
    assert len(lines) < 20, [r.getMessage() for r in lines]  # no spinning on a closed connection
    w.close()
    w.conn.close()


def test_a_worker_whose_store_became_unreadable_exits_with_the_fatal_error(tmp_path: Path) -> None:
    uri, conn = _store(tmp_path)

    def handler(job: dict) -> None:  # the log is replaced by something that is not a store
        (tmp_path / "junk").write_bytes(b"definitely not a fact-store log\n" * 8)
        os.replace(tmp_path / "junk", tmp_path / "db" / "log")

    w = Worker(conn, {"t": handler}, CFG)
    t, errors = _run(w)
    t.join(60)
    assert not t.is_alive()
    assert len(errors) == 1 and fs.recovery(errors[0]) == fs.FATAL, errors
    assert "not a fact-store" in str(errors[0])
    w.close()


def test_the_monitor_resets_nothing_during_the_grace_period_after_an_outage(tmp_path: Path) -> None:
    from tests.overseer.conftest import FakeClock

    clock = FakeClock()
    uri, conn = _store(tmp_path)
    cfg = {"heartbeat": {"enabled": False, "sleep-time": 1000, "tolerance": 3}}
    owner = Worker(conn, {"t": lambda job: None}, cfg, clock=clock)
    monitor = Worker(conn, {"other": lambda job: None}, cfg, clock=clock)
    e = conn.db().entid([":job/id", "j0"])
    assert overseer.claim.claim(conn, e, owner.owner, overseer.heartbeat.to_ms(clock())) == 1
    monitor.monitor.note_outage(clock.advance(10.0))  # the store was down 10 s: no beats landed
    assert monitor.sweep(clock.advance(2.9)) == []     # stale, but within the grace period
    assert monitor.monitor.skipped == 1
    overseer.claim.heartbeat(conn, owner.owner, [(e, 1)],  # the live owner renews meanwhile
                             overseer.heartbeat.to_ms(clock()))
    assert monitor.sweep(clock.advance(2.9)) == []     # grace over, heartbeat fresh
    assert monitor.sweep(clock.advance(3.1)) == [e]    # a really dead owner is reset
    for w in (owner, monitor):
        w.close()
    conn.close()
