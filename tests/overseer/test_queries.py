"""Status queries: each one Datalog query on one Db value."""

from __future__ import annotations

import overseer
from overseer import queries
from overseer.graph import job_txn

DIAMOND = {"start": [], "left": ["start"], "right": ["start"], "finish": ["left", "right"],
           "after": ["finish"], "other": []}


def _insert(conn, graph=DIAMOND):
    conn.transact(overseer.graph_txns(graph, ids=lambda n: n))


def _set(conn, **status):
    conn.transact([[":db/add", [":job/id", j], ":job/status", ":" + s] for j, s in status.items()])


def test_the_schema_install_is_idempotent(mem_conn):
    t = mem_conn.db().basis_t
    assert overseer.install_schema(mem_conn) == 0
    assert mem_conn.db().basis_t == t
    for ident in (":job/id", ":job/status", ":job/dep", ":job/heartbeat", ":job/failure", ":job/attempt",
                  ":job/owner", ":job/resets", ":job/type"):
        assert mem_conn.db().schema.attr(ident) is not None


def test_jobs_with_status_accepts_plain_and_keyword_spellings(oconn):
    _insert(oconn)
    _set(oconn, start="finished")
    db = oconn.db()
    assert overseer.jobs_with_status(db, "finished") == ["start"]
    assert overseer.jobs_with_status(db, ":finished") == ["start"]
    assert sorted(overseer.jobs_unstarted(db)) == sorted(set(DIAMOND) - {"start"})


def test_jobs_ready_needs_every_dependency_finished(oconn):
    _insert(oconn)
    assert sorted(overseer.jobs_ready(oconn.db())) == ["other", "start"]
    _set(oconn, start="finished")
    assert sorted(overseer.jobs_ready(oconn.db())) == ["left", "other", "right"]
    _set(oconn, left="finished", right="started")
    assert sorted(overseer.jobs_ready(oconn.db())) == ["other"]
    _set(oconn, right="failed")
    assert sorted(overseer.jobs_ready(oconn.db())) == ["other"]   # a failed dep never readies a job
    _set(oconn, right="finished")
    assert sorted(overseer.jobs_ready(oconn.db())) == ["finish", "other"]


def test_ready_eids_keeps_only_handled_types(mem_conn):
    mem_conn.transact([job_txn("a", {":job/id": "a1"}), job_txn("b", {":job/id": "b1"})])
    db = mem_conn.db()
    assert queries.ready_eids(db, ["a"]) == [db.entid([":job/id", "a1"])]
    assert sorted(queries.ready_eids(db, ["a", ":b"])) == sorted(
        [db.entid([":job/id", "a1"]), db.entid([":job/id", "b1"])])
    assert queries.ready_eids(db, []) == []


def test_jobs_dead_compares_heartbeats_with_the_threshold(mem_conn):
    _insert(mem_conn)
    mem_conn.transact([[":db/add", [":job/id", "start"], ":job/status", ":started"],
                       [":db/add", [":job/id", "start"], ":job/heartbeat", 1000],
                       [":db/add", [":job/id", "other"], ":job/status", ":started"],
                       [":db/add", [":job/id", "other"], ":job/heartbeat", 5000]])
    db = mem_conn.db()
    assert overseer.jobs_dead(db, 999) == []
    assert overseer.jobs_dead(db, 1001) == ["start"]
    assert sorted(overseer.jobs_dead(db, 6000)) == ["other", "start"]
    assert queries.dead_attempts(db, 1001) == [(db.entid([":job/id", "start"]), 0, 1000)]


def test_transitive_dependents_follow_every_path(oconn):
    _insert(oconn)
    db = oconn.db()
    assert overseer.transitive_dependents(db, "start") == {"left", "right", "finish", "after"}
    assert overseer.transitive_dependents(db, "right") == {"finish", "after"}
    assert overseer.transitive_dependents(db, "after") == set()


def test_status_counts_and_job_rows(mem_conn):
    _insert(mem_conn)
    _set(mem_conn, start="finished")
    db = mem_conn.db()
    assert queries.status_counts(db) == {overseer.FINISHED: 1, overseer.UNSTARTED: 5}
    assert queries.job_rows(db, ["start"]) == [("start", ":start", overseer.FINISHED, "", 0)]


def test_status_views(mem_conn):
    from overseer import claim, status
    _insert(mem_conn)
    e = mem_conn.db().entid([":job/id", "start"])
    claim.claim(mem_conn, e, "host:7:w", now=99)
    other = mem_conn.db().entid([":job/id", "other"])
    a = claim.claim(mem_conn, other, "host:8:w", now=100)
    claim.record(mem_conn, other, a, "host:8:w", "fail", '{"type": "x", "message": "boom"}')
    db = mem_conn.db()
    p = status.progress(db)
    assert (p.total, p.done, p.counts[overseer.STARTED], p.counts[overseer.FAILED]) == (6, 1, 1, 1)
    assert status.running(db) == [{"id": "start", "type": ":start", "owner": "host:7:w", "attempt": 1,
                                   "heartbeat": 99, "state": "running"}]
    assert status.failed(db) == [{"id": "other", "type": ":other", "failure": {"type": "x", "message": "boom"}}]
    assert status.worker_name("host:7:abc") == "host:7"
