"""overseer status / jobs list / job show / retry / abort / submit, against a store holding
jobs in every status, made by plain transactions and read at a fixed clock."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import fact_store as fs
import overseer
from overseer.claim import failure_json
from overseer.status_cli import (abort_txn, attach, job_detail, job_rows, retry_txn,
                                 status_commands, status_report)

NOW = 1_700_000_000_000  # epoch ms
GRAPH = {"a": [], "b": ["a"], "c": ["b"], "d": [], "e": ["d"], "f": [], "g": ["f"], "h": ["g"],
         "i": []}


def _set(conn, job_id, status, **attrs):
    tx = [[":db/add", [":job/id", job_id], ":job/status", fs.Keyword(status)]]
    tx += [[":db/add", [":job/id", job_id], f":job/{k}", v] for k, v in attrs.items()]
    conn.transact(tx)


@pytest.fixture()
def store(tmp_path):
    """Jobs in every status: a finished, b running (fresh heartbeat), c waiting on b,
    d running with a stale heartbeat, e waiting on d, f failed with g and h aborted after
    it, i ready."""
    uri = f"file:{tmp_path}/overseer.db"
    conn = fs.connect(uri)
    overseer.install_schema(conn)
    conn.transact(overseer.graph_txns(GRAPH, ids=lambda n: "job-" + n))
    _set(conn, "job-a", ":started", owner="w1", attempt=1, heartbeat=NOW - 60_000)
    _set(conn, "job-a", ":finished")
    _set(conn, "job-b", ":started", owner="w1", attempt=1, heartbeat=NOW - 4_000)
    _set(conn, "job-d", ":started", owner="w2", attempt=2, heartbeat=NOW - 600_000)
    _set(conn, "job-f", ":started", owner="w2", attempt=1, heartbeat=NOW - 9_000)
    conn.transact([[":db/add", [":job/id", "job-f"], ":job/status", fs.Keyword(":failed")],
                   [":db/add", [":job/id", "job-f"], ":job/failure",
                    failure_json("builtins.ValueError", "bad input")],
                   [":db/add", [":job/id", "job-g"], ":job/status", fs.Keyword(":aborted")],
                   [":db/add", [":job/id", "job-h"], ":job/status", fs.Keyword(":aborted")]])
    conn.close()
    return uri


@pytest.fixture()
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(status_commands, list(args))


def _db(uri):
    conn = fs.connect(uri)
    try:
        return conn.db()
    finally:
        conn.close()


# -- the views -------------------------------------------------------------------------

def test_status_report_counts_every_status_and_finds_stale_and_failed_jobs(store):
    rep = status_report(_db(store), NOW)
    assert rep.counts == {"unstarted": 3, "started": 2, "finished": 1, "failed": 1, "aborted": 2}
    assert rep.by_type[":a"]["finished"] == 1 and rep.by_type[":g"]["aborted"] == 1
    assert rep.ready == ["job-i"]
    assert [(j["id"], j["owner"], j["heartbeat_age_ms"]) for j in rep.running] == [
        ("job-b", "w1", 4_000), ("job-d", "w2", 600_000)]
    assert [j["id"] for j in rep.stale] == ["job-d"]
    assert [(f["id"], f["reason"]) for f in rep.failures] == [
        ("job-f", "builtins.ValueError: bad input")]
    assert not rep.healthy and rep.problems() == ["1 stale", "1 failed"]


def test_a_longer_stale_threshold_makes_no_job_stale(store):
    assert status_report(_db(store), NOW, stale_after_ms=3_600_000).stale == []


def test_job_rows_are_ordered_by_lifecycle_and_filtered(store):
    db = _db(store)
    assert [r[2] for r in job_rows(db)] == ["unstarted"] * 3 + ["started"] * 2 + ["finished"] + \
        ["failed"] + ["aborted"] * 2
    assert job_rows(db, status="started") == [("job-b", ":b", "started", "w1", 1),
                                              ("job-d", ":d", "started", "w2", 2)]
    assert [r[0] for r in job_rows(db, job_type="g")] == ["job-g"]


def test_job_detail_has_the_history_of_status_changes(store):
    d = job_detail(_db(store), "job-f")
    assert [h["status"] for h in d["history"]] == ["unstarted", "started", "failed"]
    assert d["history"][0]["t"] < d["history"][1]["t"] < d["history"][2]["t"]
    assert d["failure"]["message"] == "bad input" and d["dependents"] == ["job-g"]
    assert job_detail(_db(store), "job-g")["deps"] == [{"id": "job-f", "status": "failed"}]
    assert job_detail(_db(store), "nope") is None


# -- overseer status -----------------------------------------------------------------------

def test_status_exit_code_is_a_health_check(runner, store):
    res = invoke(runner, "status", "--store", store, "--now", str(NOW))
    assert res.exit_code == 1
    out = res.output
    assert "UNHEALTHY: 1 stale, 1 failed" in out
    for word in ("unstarted", "started", "finished", "failed", "aborted", "(1 ready)", "job-d",
                 "STALE", "w2", "builtins.ValueError: bad input"):
        assert word in out


def test_status_json(runner, store):
    res = invoke(runner, "status", "--store", store, "--now", str(NOW), "--json")
    data = json.loads(res.output)
    assert res.exit_code == 1 and data["healthy"] is False
    assert data["counts"]["aborted"] == 2 and data["stale"][0]["id"] == "job-d"


def test_status_is_healthy_once_problems_are_gone(runner, store):
    conn = fs.connect(store)
    _set(conn, "job-d", ":finished")
    conn.transact(retry_txn(conn.db(), "job-f"))
    conn.close()
    res = invoke(runner, "status", "--store", store, "--now", str(NOW))
    assert res.exit_code == 0 and "healthy" in res.output and "UNHEALTHY" not in res.output


def test_status_watch_redraws(runner, store):
    res = invoke(runner, "status", "--store", store, "--now", str(NOW), "--watch", "--interval",
                 "0", "--count", "2", "--json")
    lines = res.output.strip().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["t"] for line in lines)
    res = invoke(runner, "status", "--store", store, "--now", str(NOW), "--watch", "--interval",
                 "0", "--count", "2")
    assert res.exit_code == 1 and "jobs by status" in res.output


def test_status_of_a_missing_store_fails_without_creating_it(runner, tmp_path):
    res = invoke(runner, "status", "--store", f"file:{tmp_path}/none")
    assert res.exit_code == 1 and "no store at" in res.output
    assert not (tmp_path / "none").exists()


def test_status_of_a_store_without_jobs_is_healthy(runner, tmp_path):
    uri = f"file:{tmp_path}/empty"
    fs.connect(uri).close()
    res = invoke(runner, "status", "--store", uri, "--json")
    assert res.exit_code == 0 and json.loads(res.output)["counts"]["unstarted"] == 0


def test_status_watch_exits_1_when_any_refresh_was_unhealthy(runner, store):
    from overseer.status_cli import _watch

    res = invoke(runner, "status", "--store", store, "--now", str(NOW), "--watch", "--interval",
                 "0", "--count", "2", "--json")
    assert res.exit_code == 1
    assert [json.loads(line)["healthy"] for line in res.output.splitlines()] == [False, False]
    # a problem that is gone by the last refresh still counts
    sick = status_report(_db(store), NOW)
    assert invoke(runner, "retry", "job-f", "--store", store).exit_code == 0  # the failure is gone
    well = status_report(_db(store), NOW, stale_after_ms=10**9)  # and nothing is stale
    assert not sick.healthy and well.healthy
    reports = iter([sick, well])
    assert _watch(lambda: next(reports), store, 0, 2, as_json=True) is False
    reports = iter([well, well])
    assert _watch(lambda: next(reports), store, 0, 2, as_json=True) is True


def test_json_commands_report_errors_as_json(runner, tmp_path):
    missing = f"file:{tmp_path}/none"
    for args in (["status", "--json"], ["status", "--json", "--watch", "--count", "1"],
                 ["jobs", "list", "--json"], ["job", "show", "x", "--json"]):
        res = invoke(runner, *args, "--store", missing)
        assert res.exit_code == 1, args
        assert json.loads(res.output) == {"error": f"no store at {tmp_path}/none: name one with "
                                                   "--store or OVERSEER_STORE"}


# -- jobs list / job show --------------------------------------------------------------------

def test_jobs_list(runner, store):
    res = invoke(runner, "jobs", "list", "--store", store, "--status", "aborted")
    assert res.exit_code == 0 and "job-g" in res.output and "job-h" in res.output
    assert "job-a" not in res.output and "(2 jobs)" in res.output
    res = invoke(runner, "jobs", "list", "--store", store, "--json", "--limit", "2")
    assert [j["id"] for j in json.loads(res.output)] == ["job-c", "job-e"]
    assert invoke(runner, "jobs", "list", "--store", store, "--status", "bogus").exit_code == 2


def test_jobs_list_never_cuts_ids_when_piped(runner, tmp_path):
    uri = f"file:{tmp_path}/long"
    conn = fs.connect(uri)
    overseer.install_schema(conn)
    long_id = "nightly-report/" + "x" * 60 + "/0f5e7c1a-3b9d-4e2f-8a61-5d0c9b7e4f12"
    conn.transact(overseer.graph_txns({"only": []}, ids={"only": long_id}))
    _set(conn, long_id, ":started", owner="worker-on-a-host-with-a-long-name:12345:" + "w" * 40,
         attempt=1, heartbeat=NOW)
    conn.close()
    res = invoke(runner, "jobs", "list", "--store", uri)  # CliRunner's stdout is not a terminal
    assert res.exit_code == 0
    row = next(line for line in res.output.splitlines() if "nightly" in line)
    assert long_id in row and "w" * 40 in row  # whole, on one line
    assert "(1 job)" in res.output
    res = invoke(runner, "status", "--store", uri, "--now", str(NOW))
    assert long_id in res.output


def test_job_show(runner, store):
    res = invoke(runner, "job", "show", "job-f", "--store", store)
    assert res.exit_code == 0
    assert "failure: builtins.ValueError: bad input" in res.output
    assert "history" in res.output and "started" in res.output and "job-g" in res.output
    res = invoke(runner, "job", "show", "job-b", "--store", store, "--json")
    assert json.loads(res.output)["attributes"]["job/owner"] == "w1"
    res = invoke(runner, "job", "show", "nope", "--store", store)
    assert res.exit_code == 1 and 'no job with id "nope"' in res.output


# -- retry / abort ---------------------------------------------------------------------------

def test_retry_resets_a_failed_job_and_the_dependents_it_aborted(runner, store):
    res = invoke(runner, "retry", "job-f", "--store", store)
    assert res.exit_code == 0 and "and 2 aborted dependents" in res.output
    db = _db(store)
    assert {r[0]: r[2] for r in job_rows(db)}["job-h"] == "unstarted"
    assert "job-f" in status_report(db, NOW).ready
    assert job_detail(db, "job-f")["failure"] is None
    # the failure is still in the history db
    assert [h["status"] for h in job_detail(db, "job-f")["history"]][-2:] == ["failed", "unstarted"]


def test_retry_refuses_a_job_that_did_not_fail(runner, store):
    res = invoke(runner, "retry", "job-a", "--store", store)
    assert res.exit_code == 1 and "is :finished: only failed or aborted jobs" in res.output


def test_abort_marks_the_job_and_its_unstarted_dependents(runner, store):
    res = invoke(runner, "abort", "job-d", "--store", store, "--reason", "not needed")
    assert res.exit_code == 0 and "aborted job-d and 1 dependent\n" in res.output
    db = _db(store)
    statuses = {r[0]: r[2] for r in job_rows(db)}
    assert statuses["job-d"] == statuses["job-e"] == "aborted"
    assert job_detail(db, "job-d")["failure"]["message"] == "not needed"
    res = invoke(runner, "abort", "job-a", "--store", store)
    assert res.exit_code == 1 and "only unstarted or started jobs" in res.output


def test_abort_and_retry_are_compare_and_set(store):
    conn = fs.connect(store)
    try:
        tx = abort_txn(conn.db(), "job-i")
        _set(conn, "job-i", ":started")  # a worker claims it meanwhile
        with pytest.raises(fs.CasFailed):
            conn.transact(tx)
    finally:
        conn.close()


# -- submit ------------------------------------------------------------------------------------

def test_submit_inserts_a_graph(runner, tmp_path):
    uri = f"file:{tmp_path}/new"
    graph = tmp_path / "graph.edn"
    graph.write_text("{:start [] :result1 [:start] :result2 [:start] :finish [:result1 :result2]}")
    res = invoke(runner, "submit", str(graph), "--store", uri, "--id-prefix", "run1-")
    assert res.exit_code == 0 and "submitted 4 jobs" in res.output
    db = _db(uri)
    assert status_report(db, NOW).ready == ["run1-start"]
    assert job_detail(db, "run1-finish")["deps"] == [{"id": "run1-result1", "status": "unstarted"},
                                                      {"id": "run1-result2", "status": "unstarted"}]
    res = invoke(runner, "submit", str(graph), "--store", uri, "--id-prefix", "run1-")
    assert res.exit_code == 1 and "already exist" in res.output
    graph.write_text("{:a [:b] :b [:a]}")
    res = invoke(runner, "submit", str(graph), "--store", uri)
    assert res.exit_code == 1 and "cycle" in res.output


def test_submit_without_id_prefix_gives_random_ids(runner, tmp_path):
    uri = f"file:{tmp_path}/new"
    graph = tmp_path / "graph.edn"
    graph.write_text("{:start [] :finish [:start]}")
    res = invoke(runner, "submit", str(graph), "--store", uri, "--json")
    assert res.exit_code == 0, res.output
    jobs = json.loads(res.output)["jobs"]
    assert sorted(j["type"] for j in jobs) == [":finish", ":start"]
    assert sorted(overseer.jobs_unstarted(_db(uri))) == sorted(j["id"] for j in jobs)


def test_submit_if_exists_skip_is_idempotent(runner, tmp_path):
    uri = f"file:{tmp_path}/new"
    graph = tmp_path / "graph.edn"
    graph.write_text("{:start [] :finish [:start]}")
    args = ["submit", str(graph), "--store", uri, "--id-prefix", "day1-", "--if-exists", "skip"]
    res = invoke(runner, *args)
    assert res.exit_code == 0 and "submitted 2 jobs" in res.output
    res = invoke(runner, *args)
    assert res.exit_code == 0 and res.output.startswith("skipped: job ids of this graph already exist")
    res = invoke(runner, *args, "--json")
    assert res.exit_code == 0 and json.loads(res.output)["skipped"] is True
    assert sorted(overseer.jobs_unstarted(_db(uri))) == ["day1-finish", "day1-start"]


def test_attach_adds_the_commands_to_another_group():
    import click

    @click.group()
    def main():
        pass

    attach(main)
    assert {"status", "jobs", "job", "retry", "abort", "submit"} <= set(main.commands)


def test_ready_jobs_no_live_worker_handles_are_reported_unhandled(runner, store):
    from overseer.heartbeat import register
    conn = fs.connect(store)
    _set(conn, "job-d", ":finished")
    _set(conn, "job-b", ":finished")
    conn.transact(retry_txn(conn.db(), "job-f"))
    register(conn, "host:1:w", ["a", "b"], NOW / 1000, lease=30)          # live, handles :a and :b
    register(conn, "host:2:gone", ["i"], (NOW - 60_000) / 1000, lease=30)  # its lease ran out
    conn.close()
    res = invoke(runner, "status", "--store", store, "--now", str(NOW), "--json")
    data = json.loads(res.output)
    assert res.exit_code == 1 and data["healthy"] is False
    assert data["unhandled"] == {":c": 1, ":e": 1, ":f": 1, ":i": 1} and data["workers"] == ["host:1:w"]
    res = invoke(runner, "status", "--store", store, "--now", str(NOW))
    assert "4 unhandled" in res.output and "no live worker handles" in res.output


def test_retry_gives_a_poison_job_a_fresh_count_of_attempts(tmp_path):
    uri = f"file:{tmp_path}/db"
    conn = fs.connect(uri)
    overseer.install_schema(conn)
    conn.transact([overseer.job_txn("t", {":job/id": "p"})])
    w = overseer.Worker(conn, {"t": lambda job: overseer.fault("never")},
                        {"heartbeat": {"enabled": False}, "max_attempts": 2, "retry_delay": 0})
    while w.step(now=0.0) == "ran":
        pass
    assert conn.db().entity([":job/id", "p"])[":job/status"] == overseer.FAILED
    conn.transact(retry_txn(conn.db(), "p"))
    runs = 0
    while w.step(now=0.0) == "ran":
        runs += 1
    ent = conn.db().entity([":job/id", "p"])
    assert runs == 2 and ent[":job/status"] == overseer.FAILED and ent[":job/attempt"] == 4
    conn.close()
