"""The job state machine: every status change is a :db/cas, one abort semantics (J2, J4)."""

from __future__ import annotations

import pytest

import fact_store as fs
import overseer
from overseer import transitions
from overseer.graph import job_txn

W1 = "host:1:w1"
ST = fs.Keyword(":job/status")


def _chain(conn, ids):
    """Jobs ``ids[0] <- ids[1] <- ...``: each depends on the one before; their eids."""
    prev = None
    for jid in ids:
        m = job_txn("t", {":job/id": jid})
        if prev is not None:
            m[":job/dep"] = [[":job/id", prev]]
        conn.transact([m])
        prev = jid
    db = conn.db()
    return [db.entid([":job/id", j]) for j in ids]


def test_abort_dependents_is_one_cas_from_unstarted_per_dependent(mem_conn):
    a, b, c = _chain(mem_conn, ["a", "b", "c"])
    ops = transitions.abort_dependents(mem_conn.db(), [a, a])
    assert sorted(op[1] for op in ops) == [b, c]
    assert all(op[0] == ":db/cas" and op[3] == overseer.UNSTARTED and op[4] == overseer.ABORTED
               for op in ops)


def test_a_failure_aborts_its_dependents_with_cas(mem_conn):
    a, b, c = _chain(mem_conn, ["a", "b", "c"])
    mem_conn.transact([[":db/add", a, ":job/status", overseer.STARTED], [":db/add", a, ":job/attempt", 1],
                       [":db/add", a, ":job/owner", W1]])
    db = mem_conn.db()
    at = transitions.attrs(db)
    tx = transitions.settle_fn(db, W1, [(a, 1, transitions.FAIL, "{}")], (), 0, (), 0, 5)
    status_ops = [op for op in tx if op[2] in (at.st, ST)]
    assert {op[1] for op in status_ops} == {a, b, c}
    assert all(op[0] == ":db/cas" for op in status_ops), status_ops
    # a monitor's reset that finds the job poisoned aborts the dependents the same way
    tx = transitions.reset_fn(db, a, 1, 0, 10, max_attempts=1)
    status_ops = [op for op in tx if op[2] in (at.st, ST)]
    assert {op[1] for op in status_ops} == {a, b, c}
    assert all(op[0] == ":db/cas" for op in status_ops), status_ops
    mem_conn.transact([[":overseer/settle", W1, [(a, 1, transitions.FAIL, "{}")], (), 0, (), 0, 5,
                        None, None, False, ()]])
    ent = mem_conn.db().entity
    assert [ent(e)[":job/status"] for e in (a, b, c)] == [overseer.FAILED, overseer.ABORTED,
                                                          overseer.ABORTED]


def test_an_operators_abort_never_overwrites_a_dependent_that_started_meanwhile(mem_conn):
    a, b = _chain(mem_conn, ["a", "b"])
    tx = transitions.abort_txn(mem_conn.db(), "a")
    mem_conn.transact([[":db/add", b, ":job/status", overseer.STARTED]])  # claimed meanwhile
    basis = mem_conn.db().basis_t
    with pytest.raises(fs.CasFailed):
        mem_conn.transact(tx)
    db = mem_conn.db()
    assert db.basis_t == basis  # no trace
    assert db.entity(a)[":job/status"] == overseer.UNSTARTED
    assert db.entity(b)[":job/status"] == overseer.STARTED


def test_retry_puts_back_the_job_and_the_dependents_its_failure_aborted(mem_conn):
    a, b, c = _chain(mem_conn, ["a", "b", "c"])
    mem_conn.transact([[":db/add", a, ":job/status", overseer.STARTED], [":db/add", a, ":job/attempt", 1],
                       [":db/add", a, ":job/owner", W1]])
    mem_conn.transact([[":overseer/settle", W1, [(a, 1, transitions.FAIL, "{}")], (), 0, (), 0, 5,
                        None, None, False, ()]])
    mem_conn.transact(transitions.retry_txn(mem_conn.db(), "a"))
    ent = mem_conn.db().entity
    assert [ent(e)[":job/status"] for e in (a, b, c)] == [overseer.UNSTARTED] * 3
    with pytest.raises(overseer.OverseerError):
        transitions.retry_txn(mem_conn.db(), "a")  # unstarted: nothing to retry
