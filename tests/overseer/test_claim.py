"""Claims, outcomes, heartbeats and resets as transactions; fencing (RELIABILITY J2, J3, R9, O-05)."""

from __future__ import annotations

import threading

import pytest

import fact_store as fs
import overseer
from overseer import claim
from overseer.claim import ABORT, FAIL, FAULT, FINISH, RELEASE, Outcome
from overseer.graph import job_txn

W1, W2 = "host:1:w1", "host:2:w2"


def _job(conn, jid="j", jtype="t", deps=()):
    m = job_txn(jtype, {":job/id": jid})
    if deps:
        m[":job/dep"] = [[":job/id", d] for d in deps]
    conn.transact([m])
    return conn.db().entid([":job/id", jid])


def _get(conn, jid, attr):
    return conn.db().entity([":job/id", jid]).get(attr)


def test_claim_sets_started_attempt_owner_heartbeat(oconn):
    e = _job(oconn)
    assert claim.claim(oconn, e, W1, now=1234) == 1
    ent = oconn.db().entity(e)
    assert (ent[":job/status"], ent[":job/attempt"], ent[":job/owner"], ent[":job/heartbeat"]) == (
        overseer.STARTED, 1, W1, 1234)


def test_losing_a_claim_is_a_return_value(mem_conn):
    e = _job(mem_conn)
    assert claim.claim(mem_conn, e, W1, now=1) == 1
    assert claim.claim(mem_conn, e, W2, now=2) is None
    assert _get(mem_conn, "j", ":job/owner") == W1


def test_a_job_with_unfinished_deps_cannot_be_claimed(mem_conn):
    _job(mem_conn, "parent")
    child = _job(mem_conn, "child", deps=["parent"])
    assert claim.claim(mem_conn, child, W1, now=1) is None
    mem_conn.transact([[":db/add", [":job/id", "parent"], ":job/status", ":failed"]])
    assert claim.claim(mem_conn, child, W1, now=1) is None


def test_a_claim_keeps_to_the_handled_types(mem_conn):
    e = _job(mem_conn, jtype="a")
    assert claim.claim(mem_conn, e, W1, now=1, types=["b"]) is None
    assert claim.claim(mem_conn, e, W1, now=1, types=["a"]) == 1


def test_threads_racing_for_one_job_exactly_one_wins(oconn):
    e = _job(oconn)
    wins, go = [], threading.Barrier(8)

    def racer(i):
        go.wait()
        if claim.claim(oconn, e, f"h:{i}:w", now=i) is not None:
            wins.append(i)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert _get(oconn, "j", ":job/attempt") == 1


def test_finish_records_and_retracts_a_previous_failure(mem_conn):
    e = _job(mem_conn)
    a = claim.claim(mem_conn, e, W1, now=1)
    assert claim.record(mem_conn, e, a, W1, FAULT, '{"type": "overseer/fault"}')
    assert _get(mem_conn, "j", ":job/failure") is not None
    a = claim.claim(mem_conn, e, W1, now=2)
    assert a == 2
    assert claim.record(mem_conn, e, a, W1, FINISH)
    assert _get(mem_conn, "j", ":job/status") == overseer.FINISHED
    assert _get(mem_conn, "j", ":job/failure") is None


def test_a_stale_attempt_cannot_record_any_outcome(mem_conn):
    e = _job(mem_conn)
    a1 = claim.claim(mem_conn, e, W1, now=1)
    assert claim.reset(mem_conn, e, a1, 1, now=100)                 # the monitor gave up on W1
    a2 = claim.claim(mem_conn, e, W2, now=101)
    assert a2 == a1 + 1
    for kind in (FINISH, FAIL, ABORT, FAULT, RELEASE):
        assert not claim.record(mem_conn, e, a1, W1, kind)          # fenced
        assert not claim.record(mem_conn, e, a2, W1, kind)          # right attempt, wrong owner
    assert claim.heartbeat(mem_conn, W1, [(e, a1)], now=102) == set()
    assert claim.heartbeat(mem_conn, W2, [(e, a2)], now=103) == {e}
    assert claim.record(mem_conn, e, a2, W2, FINISH)
    ent = mem_conn.db().entity(e)
    assert (ent[":job/status"], ent[":job/attempt"], ent[":job/owner"], ent[":job/resets"]) == (
        overseer.FINISHED, 2, W2, 1)
    assert not claim.record(mem_conn, e, a2, W2, FINISH)            # terminal at most once


def test_two_monitors_reset_one_dead_job_exactly_once(oconn):
    e = _job(oconn)
    a = claim.claim(oconn, e, W1, now=5)
    results, go = [], threading.Barrier(4)

    def monitor():
        go.wait()
        results.append(claim.reset(oconn, e, a, 5, now=1000))

    ts = [threading.Thread(target=monitor) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert _get(oconn, "j", ":job/resets") == 1


def test_a_heartbeat_that_lands_first_beats_the_reset(mem_conn):
    e = _job(mem_conn)
    a = claim.claim(mem_conn, e, W1, now=5)
    assert claim.heartbeat(mem_conn, W1, [(e, a)], now=900) == {e}
    assert not claim.reset(mem_conn, e, a, 5, now=1000)             # it saw heartbeat 5, now 900
    assert _get(mem_conn, "j", ":job/status") == overseer.STARTED


def test_no_transaction_holds_two_cas_on_one_attribute(mem_conn):
    """R9: the store refuses two :db/cas on one entity and attribute; settle never emits them."""
    a, b = _job(mem_conn, "a"), _job(mem_conn, "b", deps=["a"])
    att = claim.claim(mem_conn, a, W1, now=1)
    got = claim.settle(mem_conn, W1, [Outcome(a, att, FINISH)], [b, a, b], 5, ["t"], 2)
    assert got.recorded == [a] and [e for e, _ in got.claimed] == [b]
    db = mem_conn.db()
    assert db.entity(b)[":job/status"] == overseer.STARTED


def test_fail_and_abort_abort_every_unstarted_transitive_dependent_in_one_transaction(mem_conn):
    mem_conn.transact(overseer.graph_txns(
        {"root": [], "mid": ["root"], "leaf": ["mid"], "side": ["root", "other"], "other": []},
        ids=lambda n: n, types=lambda n: "t"))
    for kind, status in ((FAIL, overseer.FAILED), (ABORT, overseer.ABORTED)):
        db = mem_conn.db()
        root = db.entid([":job/id", "root"])
        if kind == ABORT:  # put the graph back
            mem_conn.transact([[":db/add", [":job/id", j], ":job/status", ":unstarted"]
                               for j in ("root", "mid", "leaf", "side")])
        a = claim.claim(mem_conn, root, W1, now=1)
        t0 = mem_conn.db().basis_t
        assert claim.record(mem_conn, root, a, W1, kind, '{"type": "x"}')
        db = mem_conn.db()
        assert db.basis_t == t0 + 1
        st = {j: db.entity([":job/id", j])[":job/status"] for j in ("root", "mid", "leaf", "side", "other")}
        assert st == {"root": status, "mid": overseer.ABORTED, "leaf": overseer.ABORTED,
                      "side": overseer.ABORTED, "other": overseer.UNSTARTED}


def test_fault_at_max_attempts_fails_the_job_as_poison(mem_conn):
    e = _job(mem_conn)
    for n in range(1, 4):
        a = claim.claim(mem_conn, e, W1, now=n)
        assert a == n
        assert claim.record(mem_conn, e, a, W1, FAULT, max_attempts=3)
    ent = mem_conn.db().entity(e)
    assert ent[":job/status"] == overseer.FAILED
    assert "poison job" in ent[":job/failure"] and "max_attempts is 3" in ent[":job/failure"]


def test_reset_at_max_attempts_fails_the_job_as_poison(mem_conn):
    e = _job(mem_conn)
    _job(mem_conn, "child", deps=["j"])
    for n in range(1, 3):
        a = claim.claim(mem_conn, e, W1, now=n)
        assert claim.reset(mem_conn, e, a, n, now=100 + n, max_attempts=2)
    ent = mem_conn.db().entity(e)
    assert ent[":job/status"] == overseer.FAILED and ent[":job/resets"] == 2
    assert "poison job" in ent[":job/failure"]
    assert _get(mem_conn, "child", ":job/status") == overseer.ABORTED


def test_release_never_counts_as_poison(mem_conn):
    e = _job(mem_conn)
    a = claim.claim(mem_conn, e, W1, now=1)
    assert claim.record(mem_conn, e, a, W1, RELEASE, max_attempts=1)
    assert _get(mem_conn, "j", ":job/status") == overseer.UNSTARTED


def test_settle_without_the_schema_says_what_to_do():
    conn = fs.connect("mem:overseer-no-schema")
    try:
        with pytest.raises(fs.FactStoreError, match="install_schema"):
            claim.settle(conn, W1, [], [1], 1, ["t"], 0)
    finally:
        conn.close()
