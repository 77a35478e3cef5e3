"""The Jobs tab through Starlette's test client: overview, graph, job detail, time travel, actions."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("starlette")

from starlette.testclient import TestClient  # noqa: E402

import fact_store as fs  # noqa: E402
import overseer  # noqa: E402
from fact_store.web import Settings, create_app, load_tabs  # noqa: E402
from overseer import web  # noqa: E402

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
GRAPH = {"start": [], "result1": ["start"], "result2": ["start"], "finish": ["result1", "result2"]}


def _boom(job):
    raise RuntimeError(PAYLOAD)


def run_all(conn, handlers):
    w = overseer.Worker(conn, handlers, {"heartbeat": {"enabled": False}})
    while w.step(now=0.0) == "ran":
        pass
    w.close()


@pytest.fixture()
def jobs(mem_conn):
    """A sample graph whose result1 fails (with an HTML payload), and the t it was inserted at."""
    report = mem_conn.transact(overseer.graph_txns(GRAPH, ids={n: f"g/{n}" for n in GRAPH}))
    handlers = {"start": lambda j: None, "result1": _boom, "result2": lambda j: None,
                "finish": lambda j: None}
    run_all(mem_conn, handlers)
    return mem_conn, report.db_after.basis_t


def client(conn, **settings):
    return TestClient(create_app(conn, Settings(**settings), tabs=[web.tab]), base_url="http://127.0.0.1:8765")


def csrf_of(html):
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def test_the_jobs_tab_is_found_through_its_entry_point():
    assert any(t.name == "jobs" and isinstance(t, web.JobsTab) for t in load_tabs())


def test_overview_counts_failures_and_graphs(jobs):
    conn, t = jobs
    d = client(conn).get("/jobs.json").json()
    assert d["counts"] == {"unstarted": 0, "started": 0, "finished": 2, "failed": 1, "aborted": 1}
    assert d["graphs"][0]["t"] == t and d["graphs"][0]["jobs"] == 4
    assert d["failures"][0]["id"] == "g/result1"
    assert sum(b["finished"] for b in d["chart"]) == 2 and sum(b["failed"] for b in d["chart"]) == 1
    assert d["rates"]["failed_60m"] == 1


def test_overview_names_unhandled_types_and_the_oldest_ready_job(mem_conn):
    mem_conn.transact(overseer.graph_txns({"orphan": [], "later": ["orphan"]},
                                          ids={"orphan": "o/1", "later": "o/2"}))
    d = client(mem_conn).get("/jobs.json").json()
    assert d["unhandled"] == [{"type": "orphan", "ready": 1}]
    assert d["oldest_ready"]["id"] == "o/1" and d["oldest_ready"]["wait_ms"] >= 0
    assert d["ready"] == 1


def test_graph_page_draws_every_job_coloured_by_status(jobs):
    conn, t = jobs
    c = client(conn)
    html = c.get(f"/jobs/graph/{t}").text
    nodes = dict(re.findall(r'<g class="node st-(\w+)" data-job="([^"]+)"', html)[i][::-1] for i in range(4))
    assert nodes == {"g/start": "finished", "g/result1": "failed", "g/result2": "finished",
                     "g/finish": "aborted"}
    assert html.count('class="edge"') == 4
    assert f'data-live-status="/jobs/graph/{t}/status"' in html
    assert c.get(f"/jobs/graph/{t}/status").json()["statuses"]["g/result1"] == "failed"
    assert c.get("/jobs/graph").headers.get("location") is None  # followed: the newest graph
    assert c.get("/jobs/graph", follow_redirects=False).headers["location"] == f"/jobs/graph/{t}"


def test_the_time_slider_shows_the_graph_as_of_a_moment_and_what_changed(jobs):
    conn, t = jobs
    c = client(conn)
    then = c.get(f"/jobs/graph/{t}.json", params={"as_of": t}).json()
    assert {n["status"] for n in then["nodes"]} == {"unstarted"}
    html = c.get(f"/jobs/graph/{t}", params={"as_of": t}).text
    assert "data-live-status" not in html and 'id="timetravel"' in html
    ch = c.get(f"/jobs/graph/{t}.json").json()["changes"]
    assert (ch["from"], ch["to"]) == (t, conn.db().basis_t)
    became = [(x["id"], x["status"]) for x in ch["list"]]
    assert ("g/result1", "failed") in became and ("g/finish", "aborted") in became
    assert became.index(("g/start", "started")) < became.index(("g/start", "finished"))
    assert c.get(f"/jobs/graph/{t}.json", params={"as_of": t - 1}).status_code == 400
    assert c.get("/jobs/graph/999999.json").status_code == 404


def test_job_detail_has_history_attempts_and_the_escaped_traceback(jobs):
    conn, t = jobs
    c = client(conn)
    d = c.get("/jobs/job/g/result1.json").json()
    assert [h["status"] for h in d["history"]] == ["unstarted", "started", "failed"]
    assert d["history"][1]["worker"] and d["history"][1]["attempt"] == 1
    assert d["attempts"][0]["outcome"] == "failed" and d["attempts"][0]["duration_ms"] >= 0
    assert d["failure"]["message"] == PAYLOAD and "RuntimeError" in d["failure"]["traceback"]
    assert [x["id"] for x in d["deps"]] == ["g/start"] and d["dependents"] == [
        {"id": "g/finish", "status": "aborted"}]
    html = c.get("/jobs/job/g/result1").text
    assert 'id="traceback"' in html and "&lt;script&gt;alert" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    past = c.get("/jobs/job/g/result1.json", params={"as_of": t}).json()
    assert past["status"] == "unstarted" and past["failure"] is None
    assert c.get("/jobs/job/no/such.json").status_code == 404


def test_the_overview_and_graph_escape_job_ids_and_types(mem_conn):
    evil = '"><script>alert(1)</script>'
    report = mem_conn.transact(overseer.graph_txns({"a": []}, ids={"a": evil}))
    c = client(mem_conn)
    for r in (c.get(f"/jobs/graph/{report.db_after.basis_t}"), c.get("/jobs")):
        assert "<script>alert(1)" not in r.text


def test_actions_need_allow_writes(jobs):
    conn, _ = jobs
    c = client(conn)
    html = c.get("/jobs/job/g/result1").text
    assert 'id="retry"' not in html
    r = c.post("/jobs/retry/g/result1", data={"csrf": "x"})
    assert r.status_code == 403 and "read-only" in r.text


def test_a_post_without_the_right_csrf_token_is_refused(jobs):
    conn, _ = jobs
    c = client(conn, allow_writes=True)
    c.get("/jobs/job/g/result1")
    assert c.post("/jobs/retry/g/result1").status_code == 403
    assert c.post("/jobs/retry/g/result1", data={"csrf": "0" * 64}).status_code == 403
    token = csrf_of(c.get("/jobs/job/g/result1").text)
    other = client(conn, allow_writes=True)  # another browser: its own cookie
    other.get("/jobs")
    assert other.post("/jobs/retry/g/result1", data={"csrf": token}).status_code == 403
    r = c.post("/jobs/retry/g/result1", data={"csrf": token},
               headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert conn.db().entity((":job/id", "g/result1"))[":job/status"] == fs.kw(":failed")


def test_retry_records_who_and_why_on_the_tx(jobs):
    conn, _ = jobs
    c = client(conn, allow_writes=True)
    token = csrf_of(c.get("/jobs/job/g/result1").text)
    r = c.post("/jobs/retry/g/result1", data={"csrf": token, "who": "ada", "why": "fixed the bug"},
               follow_redirects=False)
    assert r.status_code == 303
    db = conn.db()
    assert db.entity((":job/id", "g/result1"))[":job/status"] == fs.kw(":unstarted")
    assert db.entity((":job/id", "g/finish"))[":job/status"] == fs.kw(":unstarted")
    tx = db.entity(fs.t_to_tx(db.basis_t))
    assert tx[":audit/why"] == "fixed the bug" and tx[":audit/who"].startswith("ada (")
    hist = c.get("/jobs/job/g/result1.json").json()["history"]
    assert hist[-1]["status"] == "unstarted" and hist[-1]["why"] == "fixed the bug"
    again = c.post("/jobs/retry/g/result1", data={"csrf": token})
    assert again.status_code == 409 and "only failed or aborted" in again.text


def test_abort_previews_its_cascade_then_aborts(mem_conn):
    mem_conn.transact(overseer.graph_txns(GRAPH, ids={n: f"a/{n}" for n in GRAPH}))
    c = client(mem_conn, allow_writes=True)
    page = c.get("/jobs/abort/a/start")
    assert "This aborts <b>3</b> dependents" in page.text
    assert c.get("/jobs/abort/a/start.json").json()["count"] == 3
    r = c.post("/jobs/abort/a/start", data={"csrf": csrf_of(page.text), "why": "not today"},
               follow_redirects=False)
    assert r.status_code == 303
    counts = c.get("/jobs.json").json()["counts"]
    assert counts["aborted"] == 4


def test_submit_a_graph_in_edn(mem_conn):
    c = client(mem_conn, allow_writes=True)
    token = csrf_of(c.get("/jobs/submit").text)
    r = c.post("/jobs/submit", data={"csrf": token, "graph": "{:a [] :b [:a]}", "prefix": "s/",
                                     "why": "test"}, follow_redirects=False)
    assert r.status_code == 303
    t = int(r.headers["location"].rsplit("/", 1)[1])
    assert {n["id"] for n in c.get(f"/jobs/graph/{t}.json").json()["nodes"]} == {"s/a", "s/b"}
    bad = c.post("/jobs/submit", data={"csrf": token, "graph": "{:a [:b] :b [:a]}"})
    assert bad.status_code == 400 and "cycle" in bad.text
    bad = c.post("/jobs/submit", data={"csrf": token, "graph": "[1 2"})
    assert bad.status_code == 400 and "edn/syntax" in bad.text


def test_job_args_are_escaped(mem_conn):
    mem_conn.transact([{":db/ident": ":report/title", ":db/valueType": ":db.type/string",
                        ":db/cardinality": ":db.cardinality/one"}])
    mem_conn.transact(overseer.graph_txns({"a": []}, {":report/title": PAYLOAD}, ids={"a": "r/a"}))
    html = client(mem_conn).get("/jobs/job/r/a").text
    assert "&lt;script&gt;alert" in html and "<script>alert" not in html and "<img src=x" not in html


def test_a_get_to_a_mutating_route_changes_nothing(jobs):
    conn, _ = jobs
    c = client(conn, allow_writes=True)
    t = conn.db().basis_t
    assert c.get("/jobs/retry/g/result1").status_code == 405
    c.get("/jobs/abort/g/start")  # a preview (refused: the job already ended)
    c.get("/jobs/submit")
    assert conn.sync().basis_t == t


def test_a_big_graph_is_drawn_and_updated_collapsed(mem_conn):
    report = mem_conn.transact(overseer.graph_txns({f"n{i}": [] for i in range(1001)},
                                                   types=lambda _n: "wide", ids=lambda n: f"w/{n}"))
    t = report.db_after.basis_t
    c = client(mem_conn)
    html = c.get(f"/jobs/graph/{t}").text
    assert 'data-group="0:wide"' in html and 'class="node' not in html
    assert c.get(f"/jobs/graph/{t}/status").json()["groups"] == {"0:wide": "layer 0, wide: 1001 unstarted"}
    e = mem_conn.db().entid((":job/id", "w/n7"))
    mem_conn.transact([[":db/add", e, ":job/status", overseer.FAILED]])
    assert c.get(f"/jobs/graph/{t}/status").json()["groups"]["0:wide"] == \
        "layer 0, wide: 1000 unstarted, 1 failed"


def test_time_travel_takes_a_date_time_too(jobs):
    conn, t = jobs
    when = next(iter(conn.db().datoms("eavt", fs.t_to_tx(t), ":db/txInstant"))).v
    d = client(conn).get("/jobs/job/g/result1.json", params={"as_of": when.isoformat()}).json()
    assert d["status"] == "unstarted" and d["time"]["as_of"] == t
