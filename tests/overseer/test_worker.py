"""The worker, driven deterministically with step(now), sweep(now), beat(now) and a fake clock."""

from __future__ import annotations

import json
import os
import random
import time

import pytest

import overseer
from overseer import claim, queries
from overseer.worker import Config, Worker

from tests.overseer.conftest import NO_PULSE, run_all

SAMPLE = {"start": [], "result1": ["start"], "result2": ["start"], "finish": ["result1", "result2"]}


def _status(conn, jid):
    return conn.db().entity([":job/id", jid])[":job/status"]


def _worker(conn, handlers, clock=None, **cfg):
    config = {**NO_PULSE, **cfg}
    return Worker(conn, handlers, config, rng=random.Random(1), clock=clock or (lambda: 0.0))


def test_the_sample_graph_runs_in_dependency_order(oconn, clock):
    oconn.transact(overseer.graph_txns(SAMPLE, ids=lambda n: n))
    ran = []
    w = _worker(oconn, {t: (lambda job: ran.append(job[":job/id"])) for t in SAMPLE}, clock)
    assert run_all(w) == 4
    assert ran[0] == "start" and ran[-1] == "finish" and sorted(ran[1:3]) == ["result1", "result2"]
    assert overseer.jobs_with_status(oconn.db(), "finished") and not overseer.jobs_unstarted(oconn.db())
    assert w.step() == "idle"


def test_the_handler_gets_the_jobs_attributes(mem_conn):
    mem_conn.transact([{":db/ident": ":user-id", ":db/valueType": ":db.type/long",
                        ":db/cardinality": ":db.cardinality/one"}])
    mem_conn.transact([overseer.job_txn("t", {":job/id": "j", ":user-id": 456})])
    seen = []
    w = _worker(mem_conn, {"t": seen.append})
    run_all(w)
    job = seen[0]
    assert (job[":job/id"], job[":job/type"], job[":user-id"], job[":job/attempt"]) == ("j", ":t", 456, 1)
    assert job[":job/status"] == overseer.STARTED and job[":job/owner"] == w.owner


def test_a_worker_runs_only_the_types_it_handles(mem_conn):
    mem_conn.transact(overseer.graph_txns({"a1": [], "b1": [], "a2": ["b1"]}, ids=lambda n: n,
                                          types=lambda n: n[0]))
    ran = []
    wa = _worker(mem_conn, {"a": lambda job: ran.append(job[":job/id"])})
    assert run_all(wa) == 1 and ran == ["a1"]
    assert _status(mem_conn, "b1") == overseer.UNSTARTED
    wb = _worker(mem_conn, {"b": lambda job: ran.append(job[":job/id"])})
    assert run_all(wb) == 1
    assert run_all(wa) == 1 and ran == ["a1", "b1", "a2"]


def test_abort_cascades_to_every_transitive_dependent(mem_conn):
    mem_conn.transact(overseer.graph_txns(
        {"start": [], "mid": ["start"], "end": ["mid"], "free": []}, ids=lambda n: n))
    errors = []
    w = Worker(mem_conn, {"start": lambda job: overseer.abort("bad input"), "mid": print, "end": print,
                          "free": lambda job: None}, NO_PULSE, on_error=lambda *a: errors.append(a))
    run_all(w)
    st = {j: _status(mem_conn, j) for j in ("start", "mid", "end", "free")}
    assert st == {"start": overseer.ABORTED, "mid": overseer.ABORTED, "end": overseer.ABORTED,
                  "free": overseer.FINISHED}
    assert json.loads(mem_conn.db().entity([":job/id", "start"])[":job/failure"])["message"] == "bad input"
    assert len(errors) == 1


def test_an_exception_fails_the_job_records_why_and_aborts_dependents(mem_conn):
    mem_conn.transact(overseer.graph_txns({"a": [], "b": ["a"]}, ids=lambda n: n))
    w = _worker(mem_conn, {"a": lambda job: {}["missing"], "b": print})
    run_all(w)
    ent = mem_conn.db().entity([":job/id", "a"])
    info = json.loads(ent[":job/failure"])
    assert ent[":job/status"] == overseer.FAILED and info["type"] == "builtins.KeyError"
    assert "missing" in info["traceback"]
    assert _status(mem_conn, "b") == overseer.ABORTED


def test_fault_puts_the_job_back_and_it_runs_again_after_a_growing_backoff(mem_conn, clock):
    mem_conn.transact([overseer.job_txn("t", {":job/id": "j"})])
    attempts = []

    def flaky(job):
        attempts.append(job[":job/attempt"])
        if job[":job/attempt"] < 4:
            overseer.fault("try again")

    w = _worker(mem_conn, {"t": flaky}, clock, retry_delay=1.0, retry_delay_max=3.0)
    waits = []
    while run_all(w):
        ent = mem_conn.db().entity([":job/id", "j"])
        if ent[":job/status"] != overseer.UNSTARTED:
            break
        wait = ent[":job/not-before"] / 1000 - clock()
        waits.append(wait)
        clock.advance(wait * 0.99)
        assert run_all(w) == 0                   # not before its time
        clock.advance(wait * 0.02)
    assert attempts == [1, 2, 3, 4]
    # 1 x 2^(n-1) capped at 3 s, with equal jitter: [d/2, d]
    assert [lo <= x <= hi for x, (lo, hi) in zip(waits, [(0.5, 1), (1, 2), (1.5, 3)])] == [True] * 3
    ent = mem_conn.db().entity([":job/id", "j"])
    assert ent[":job/status"] == overseer.FINISHED and ent.get(":job/failure") is None


def test_fault_retry_in_and_per_type_options_set_the_delay(mem_conn, clock):
    mem_conn.transact([overseer.job_txn("t", {":job/id": "j"}), overseer.job_txn("u", {":job/id": "k"})])
    w = _worker(mem_conn, {"t": lambda job: overseer.fault("later", retry_in=30),
                           "u": {"process": lambda job: overseer.fault("soon"),
                                 "options": {"retry_delay": 0.2, "retry_delay_max": 0.2}}}, clock)
    assert run_all(w) == 2
    db = mem_conn.db()
    assert db.entity([":job/id", "j"])[":job/not-before"] == int((clock() + 30) * 1000)
    assert 0.1 <= db.entity([":job/id", "k"])[":job/not-before"] / 1000 - clock() <= 0.2


def test_fault_forever_ends_as_a_poison_job(mem_conn):
    mem_conn.transact([overseer.job_txn("t", {":job/id": "j"})])
    w = _worker(mem_conn, {"t": lambda job: overseer.fault("never")}, max_attempts=4, retry_delay=0)
    assert run_all(w) == 4
    ent = mem_conn.db().entity([":job/id", "j"])
    assert ent[":job/status"] == overseer.FAILED and "poison" in ent[":job/failure"]


def test_the_monitor_resets_a_dead_workers_job_and_another_worker_finishes_it(mem_conn, clock):
    mem_conn.transact([overseer.job_txn("t", {":job/id": "j"})])
    e = mem_conn.db().entid([":job/id", "j"])
    cfg = {"heartbeat": {"enabled": True, "sleep-time": 1000, "tolerance": 3}}
    w = Worker(mem_conn, {"t": lambda job: None}, cfg, rng=random.Random(2), clock=clock)
    claim.claim(mem_conn, e, "dead:1:w", now=int(clock() * 1000))   # a worker that then died
    assert w.sweep(clock.advance(2.9)) == []                         # within tolerance x interval
    assert w.sweep(clock.advance(0.2)) == [e]
    assert _status(mem_conn, "j") == overseer.UNSTARTED
    assert run_all(w) == 0                     # the retry waits for its backoff (0.5-1 s) ...
    clock.advance(1.0)
    assert run_all(w) == 1                     # ... and then runs
    ent = mem_conn.db().entity(e)
    assert (ent[":job/status"], ent[":job/attempt"], ent[":job/owner"], ent[":job/resets"]) == (
        overseer.FINISHED, 2, w.owner, 1)


def test_a_job_that_kills_every_worker_is_failed_after_its_reset_cap(mem_conn, clock):
    mem_conn.transact([overseer.job_txn("t", {":job/id": "j"}), overseer.job_txn("t", {":job/id": "ok"})])
    e = mem_conn.db().entid([":job/id", "j"])
    cfg = {"heartbeat": {"enabled": True, "sleep-time": 1000, "tolerance": 2}, "max_attempts": 3,
           "retry_delay": 0}
    monitor = Worker(mem_conn, {"other": print}, cfg, clock=clock)
    for n in range(1, 4):
        assert claim.claim(mem_conn, e, f"victim:{n}:w", now=int(clock() * 1000)) == n
        assert monitor.sweep(clock.advance(2.5)) == [e]
    ent = mem_conn.db().entity(e)
    assert ent[":job/status"] == overseer.FAILED and ent[":job/resets"] == 3
    assert "poison job" in json.loads(ent[":job/failure"])["message"]
    assert _status(mem_conn, "ok") == overseer.UNSTARTED   # other jobs keep flowing
    assert run_all(Worker(mem_conn, {"t": print}, NO_PULSE)) == 1


def test_heartbeats_renew_held_jobs_and_a_reset_job_is_abandoned(mem_conn, clock):
    mem_conn.transact([overseer.job_txn("t", {":job/id": "j"})])
    e = mem_conn.db().entid([":job/id", "j"])
    cfg = {"heartbeat": {"enabled": True, "sleep-time": 1000, "tolerance": 3}}
    beats = []

    def handler(job):
        beats.append(w.beat(clock.advance(1)))
        assert mem_conn.db().entity(e)[":job/heartbeat"] == int(clock() * 1000)
        # meanwhile a monitor elsewhere (clock skew, a long pause) gives up on this attempt
        claim.reset(mem_conn, e, job[":job/attempt"], int(clock() * 1000), int(clock() * 1000) + 10_000)
        beats.append(w.beat(clock.advance(1)))

    w = Worker(mem_conn, {"t": handler}, cfg, clock=clock, rng=random.Random(3))
    w.step()
    assert beats == [{e}, set()]
    assert w.stats["stale"] == 1                 # its finish was refused (fenced)
    ent = mem_conn.db().entity(e)                # and the same commit claimed the job afresh
    assert (ent[":job/status"], ent[":job/attempt"]) == (overseer.STARTED, 2)
    beats.clear()
    w.handlers = overseer.worker.Handlers({"t": lambda job: beats.append(job[":job/attempt"])})
    run_all(w)
    assert beats == [2] and _status(mem_conn, "j") == overseer.FINISHED


def test_stop_releases_claimed_jobs_that_were_not_run(mem_conn):
    mem_conn.transact(overseer.graph_txns({f"j{i}": [] for i in range(20)}, ids=lambda n: n,
                                          types=lambda n: "t"))
    w = _worker(mem_conn, {"t": lambda job: None}, batch_size=8)
    w._duration = 1e-6            # as after a few fast jobs: claim a full batch
    assert w.step() == "ran"
    assert len(w.held()) == 8     # 7 claimed and waiting, 1 run and not yet recorded
    w.stop()
    assert w.step() == "stopped"
    db = mem_conn.db()
    assert len(overseer.jobs_with_status(db, "finished")) == 1
    assert len(overseer.jobs_with_status(db, "unstarted")) == 19
    assert w.held() == []


def test_fast_jobs_share_commits_and_a_chain_hands_off_to_the_child(mem_conn):
    mem_conn.transact(overseer.graph_txns({f"i{i}": [] for i in range(200)}, ids=lambda n: n,
                                          types=lambda n: "t"))
    w = _worker(mem_conn, {"t": lambda job: None})
    assert run_all(w) == 200
    assert w.stats["commits"] < 60                   # batches grew past one job per commit
    mem_conn.transact(overseer.graph_txns({i: ([i - 1] if i else []) for i in range(10)},
                                          ids=lambda n: f"c{n}", types=lambda n: "t"))
    before = w.stats["commits"]
    assert run_all(w) == 10
    assert w.stats["commits"] - before == 11         # the head's claim, then each finish claims the child


def test_a_worker_learns_of_jobs_inserted_later(mem_conn):
    w = _worker(mem_conn, {"t": lambda job: None})
    assert w.step() == "idle"
    mem_conn.transact([overseer.job_txn("t", {":job/id": "late"})])
    assert run_all(w) == 1
    assert _status(mem_conn, "late") == overseer.FINISHED


def test_random_pick_among_ready_jobs_depends_on_the_rng(mem_conn):
    orders = []
    for seed in (1, 2):
        name = f"g{seed}"
        mem_conn.transact(overseer.graph_txns({f"{name}-{i}": [] for i in range(30)}, ids=lambda n: n,
                                              types=lambda n: name))
        ran = []
        w = Worker(mem_conn, {name: lambda job: ran.append(int(job[":job/id"].split("-")[1]))}, NO_PULSE,
                   rng=random.Random(seed))
        run_all(w)
        orders.append(ran)
    assert orders[0] != sorted(orders[0]) and orders[0] != orders[1]


def test_config_from_overseer_style_settings_and_environment():
    c = Config.from_mapping({"sleep-time": 2000, "heartbeat": {"enabled": "false", "tolerance": 4},
                             ":concurrency": 3}, env={"OVERSEER_MAX_ATTEMPTS": "9", "OVERSEER_SLEEP_TIME": "5"})
    assert (c.sleep_time, c.heartbeat_enabled, c.heartbeat_tolerance, c.concurrency, c.max_attempts) == (
        2.0, False, 4.0, 3, 9)
    with pytest.raises(overseer.ConfigError, match="unknown config key :sleeptime"):
        Config.from_mapping({"sleeptime": 1}, env={})
    with pytest.raises(overseer.ConfigError, match="concurrency must be 1 or more, got 0"):
        Config(concurrency=0)
    with pytest.raises(overseer.ConfigError, match='OVERSEER_HEARTBEAT_INTERVAL must be a duration: .* got "soon"' ):
        Config.from_mapping({}, env={"OVERSEER_HEARTBEAT_INTERVAL": "soon"})


def test_ready_pool_stays_current_without_full_queries(mem_conn):
    mem_conn.transact(overseer.graph_txns({i: ([i - 1] if i % 10 else []) for i in range(100)},
                                          ids=lambda n: f"j{n}", types=lambda n: "t"))
    w = _worker(mem_conn, {"t": lambda job: None}, sleep_time=3600)
    assert run_all(w) == 100
    assert w.stats["full_queries"] == 1
    assert not queries.jobs_unstarted(mem_conn.db())


def test_run_with_concurrency_uses_several_threads(mem_conn):
    import threading
    import time as _time

    mem_conn.transact(overseer.graph_txns({i: ([i - 1] if i % 3 else []) for i in range(90)},
                                          ids=lambda n: f"j{n}", types=lambda n: "t"))
    threads = set()

    def handler(job):
        threads.add(threading.current_thread().name)
        _time.sleep(0.002)

    w = Worker(mem_conn, {"t": handler}, {"concurrency": 3, "heartbeat": {"sleep-time": "50ms"},
                                          "detector-interval": "50ms", "detector-stagger": "10ms"})
    t = threading.Thread(target=w.run, kwargs={"exit_when_done": True})
    t.start()
    t.join(60)
    assert not t.is_alive()
    assert len(overseer.jobs_with_status(mem_conn.db(), "finished")) == 90
    assert len(threads) == 3


def test_start_runs_until_stopped(mem_conn):
    import threading

    mem_conn.transact([overseer.job_txn("t", {":job/id": "j"})])
    box = {}

    def handler(job):
        box["worker"] = w_holder[0]

    w_holder = []
    orig = Worker.__init__

    def run():
        box["result"] = overseer.start(mem_conn, {"t": handler}, NO_PULSE)

    def capture(self, *a, **k):
        orig(self, *a, **k)
        w_holder.append(self)

    Worker.__init__ = capture
    try:
        t = threading.Thread(target=run)
        t.start()
        for _ in range(500):
            if box.get("worker"):
                break
            threading.Event().wait(0.01)
        w_holder[0].stop()
        t.join(10)
    finally:
        Worker.__init__ = orig
    assert not t.is_alive() and box["result"] is w_holder[0]
    assert _status(mem_conn, "j") == overseer.FINISHED


def test_a_monitor_clock_that_jumps_back_never_resets_a_live_job(mem_conn, clock):
    """O-04 (file backend, one clock): a backward jump only makes heartbeats look younger."""
    mem_conn.transact([overseer.job_txn("t", {":job/id": "j"})])
    e = mem_conn.db().entid([":job/id", "j"])
    cfg = {"heartbeat": {"enabled": True, "sleep-time": 1000, "tolerance": 3}}
    monitor = Worker(mem_conn, {"x": print}, cfg, clock=clock)
    claim.claim(mem_conn, e, "live:1:w", now=int(clock() * 1000))
    assert monitor.sweep(clock.advance(-600)) == []
    assert monitor.sweep(clock.advance(600 + 2.5)) == []
    assert _status(mem_conn, "j") == overseer.STARTED


def test_exit_when_done_ends_when_a_late_job_waits_for_a_failed_one(mem_conn):
    mem_conn.transact(overseer.graph_txns({"bad": []}, ids=lambda n: n))
    w = _worker(mem_conn, {"bad": lambda job: {}["boom"], "child": lambda job: None})
    run_all(w)
    mem_conn.transact(overseer.graph_txns({"child": [[":job/id", "bad"]]}, ids=lambda n: n))
    w.run(install_signals=False, exit_when_done=True)   # returns: nothing is left to run
    assert _status(mem_conn, "child") == overseer.ABORTED


CHI2_999 = {4: 18.47, 9: 27.88}  # chi-square critical values at p = 0.001


def _chi2(observed, expected):
    return sum((o - e) ** 2 / e for o, e in zip(observed, expected))


def _chains(n):
    return {**{f"r{i:03}": [] for i in range(n)}, **{f"c{i:03}": [f"r{i:03}"] for i in range(n)}}


@pytest.mark.parametrize("batch_size", [1, 4])
def test_the_worker_picks_uniformly_among_every_ready_job(mem_conn, batch_size):
    """The seed: "executed jobs are selected randomly from the pool of all eligible jobs".

    150 chains r_i -> c_i. Each handler notes the rank (by eid) of its own job among the
    jobs that were ready when it was claimed (the ready ones now, plus itself and the rest
    of its claim). Under a uniform choice the rank's position falls in each fifth of
    that set as often as the set's size says; a worker that prefers the child its own
    finish made ready (children have the highest eids) fails the chi-square test.
    """
    mem_conn.transact(overseer.graph_txns(_chains(150), ids=lambda n: n, types=lambda n: "t"))
    buckets, observed, expected = 5, [0] * 5, [0.0] * 5
    order = []

    def handler(job):
        order.append(job[":job/id"])
        if len(held) == 0:     # the first job of a claim: note its whole claim
            held.extend(e for e, _ in w._slots[0].queue)
            eligible = sorted(set(queries.ready_eids(mem_conn.db(), ["t"])) | set(held) | {job[":db/id"]})
            ranks.clear()
            ranks.update({e: (i, len(eligible)) for i, e in enumerate(eligible)})
        else:
            held.pop(0)
        r, n = ranks[job[":db/id"]]
        observed[r * buckets // n] += 1
        for k in range(n):
            expected[k * buckets // n] += 1 / n

    held, ranks = [], {}
    w = Worker(mem_conn, {"t": handler}, {**NO_PULSE, "batch_size": batch_size, "batch_window": 1.0},
               rng=random.Random(12), clock=lambda: 0.0)
    w._duration = 1e-9  # claim full batches from the first commit on
    assert run_all(w) == 300
    assert _chi2(observed, expected) < CHI2_999[buckets - 1], (observed, expected)
    # and a child rarely runs right after its parent (a uniform choice: a few; hand-off: all 150)
    right_after = sum(1 for a, b in zip(order, order[1:]) if a[0] == "r" and b == "c" + a[1:])
    assert right_after < 30


def test_hand_off_is_an_opt_in_latency_first_policy(mem_conn):
    mem_conn.transact(overseer.graph_txns(_chains(50), ids=lambda n: n, types=lambda n: "t"))
    order = []
    w = Worker(mem_conn, {"t": lambda job: order.append(job[":job/id"])},
               {**NO_PULSE, "batch_size": 1, "hand_off": True}, rng=random.Random(3), clock=lambda: 0.0)
    assert run_all(w) == 100
    right_after = sum(1 for a, b in zip(order, order[1:]) if a[0] == "r" and b == "c" + a[1:])
    assert right_after == 50


def test_jobs_waiting_behind_a_long_handler_are_given_back_and_status_tells_claimed_from_running(mem_conn):
    from overseer import status
    mem_conn.transact(overseer.graph_txns({f"j{i}": [] for i in range(5)}, ids=lambda n: n,
                                          types=lambda n: "t"))
    seen = {}

    def handler(job):
        if seen:
            return
        seen["before"] = {j["id"]: j["state"] for j in status.running(mem_conn.db())}
        w.watch(time.monotonic() + 1.0)          # this handler has run for longer than max_hold
        seen["after"] = {j["id"]: j["state"] for j in status.running(mem_conn.db())}
        seen["me"] = job[":job/id"]

    w = _worker(mem_conn, {"t": handler}, batch_size=5, batch_window=1.0)
    w._duration = 1e-9                            # claim a full batch at once
    assert w.step() == "ran"
    me = seen["me"]
    assert seen["before"] == {f"j{i}": ("running" if f"j{i}" == me else "claimed") for i in range(5)}
    assert seen["after"] == {me: "running"}       # the other four went back to unstarted
    assert w.stats["given_back"] == 4
    assert run_all(w) == 4                       # and run later, their given-back attempt free
    db = mem_conn.db()
    for i in range(5):
        ent = db.entity([":job/id", f"j{i}"])
        assert ent[":job/status"] == overseer.FINISHED
        assert ent[":job/attempt"] - ent.get(":job/free-attempts", 0) == 1


def test_a_given_back_attempt_does_not_count_toward_max_attempts(mem_conn):
    mem_conn.transact([overseer.job_txn("t", {":job/id": "j"})])
    e = mem_conn.db().entid([":job/id", "j"])
    for n in range(1, 4):   # three claims given back unrun
        assert claim.claim(mem_conn, e, "w", now=0) == n
        assert claim.record(mem_conn, e, n, "w", "release", max_attempts=2)
    assert claim.claim(mem_conn, e, "w", now=0) == 4
    assert claim.record(mem_conn, e, 4, "w", "fault", max_attempts=2)   # counted attempt 1 of 2
    assert mem_conn.db().entity(e)[":job/status"] == overseer.UNSTARTED


def test_exit_when_done_ends_with_ready_jobs_no_live_worker_handles_and_warns(mem_conn, caplog):
    mem_conn.transact(overseer.graph_txns({"a1": [], "a2": ["a1"], "o1": [], "o2": [], "a3": ["o1"]},
                                          ids=lambda n: n, types=lambda n: n[0]))
    w = _worker(mem_conn, {"a": lambda job: None}, exit_grace=0.2)
    with caplog.at_level("WARNING", logger="overseer"):
        w.run(install_signals=False, exit_when_done=True)
    st = {j: _status(mem_conn, j) for j in ("a1", "a2", "o1", "o2", "a3")}
    assert st == {"a1": overseer.FINISHED, "a2": overseer.FINISHED, "o1": overseer.UNSTARTED,
                  "o2": overseer.UNSTARTED, "a3": overseer.UNSTARTED}
    msgs = [r.getMessage() for r in caplog.records]
    assert "2 ready jobs of type :o have no handler in this worker or any live worker (at start)" in msgs
    assert any("(left as they are: the worker is done)" in m for m in msgs)
    assert mem_conn.db().entid([":worker/id", w.owner]) is None      # it retracted its record


def test_exit_when_done_waits_while_a_live_worker_handles_the_ready_types(mem_conn, clock):
    from overseer.heartbeat import register, unregister
    mem_conn.transact(overseer.graph_txns({"o1": [], "a1": ["o1"]}, ids=lambda n: n,
                                          types=lambda n: n[0]))
    w = _worker(mem_conn, {"a": lambda job: None}, clock, exit_grace=0)
    assert w.is_done()                                   # nobody runs :o, and :a waits for it
    register(mem_conn, "other:1:w", ["o"], clock(), lease=30)
    assert not w.is_done() and w.unhandled() == {}       # the other worker will run o1
    clock.advance(31)
    assert w.is_done()                                   # its lease ran out
    unregister(mem_conn, "other:1:w")
    assert w.unhandled() == {overseer.graph.keyword("o"): 1}


def test_a_delayed_job_or_graph_runs_only_from_its_not_before_time(mem_conn, clock):
    import datetime as dt
    at = dt.datetime.fromtimestamp(clock() + 60, dt.timezone.utc)
    mem_conn.transact([overseer.job_txn("t", {":job/id": "later"}, not_before=clock() + 30)])
    mem_conn.transact(overseer.graph_txns({"g1": [], "g2": ["g1"]}, ids=lambda n: n, not_before=at))
    mem_conn.transact([overseer.job_txn("t", {":job/id": "now"})])
    ran = []
    w = _worker(mem_conn, {t: (lambda job: ran.append(job[":job/id"])) for t in ("t", "g1", "g2")}, clock)
    assert run_all(w) == 1 and ran == ["now"]
    assert not w.is_done()                          # delayed jobs are still to come
    clock.advance(30)
    assert run_all(w) == 1 and ran[-1] == "later"
    clock.advance(30)
    assert run_all(w) == 2 and ran[-2:] == ["g1", "g2"]


def test_a_handler_past_its_timeout_is_interrupted_and_its_attempt_faulted_then_failed(mem_conn):
    """Thread mode: the attempt is faulted at its timeout and the looping handler interrupted."""
    mem_conn.transact([overseer.job_txn("spin", {":job/id": "j"}), overseer.job_txn("ok", {":job/id": "k"})])
    loops = []

    def spin(job):
        n = 0
        loops.append(job[":job/attempt"])
        while True:        # pure Python: the JobTimedOut lands between two bytecodes
            n += 1

    w = Worker(mem_conn, {"spin": {"process": spin, "options": {"timeout": 0.2}}, "ok": lambda job: None},
               {**NO_PULSE, "max_attempts": 2, "retry_delay": 0, "exit_grace": 0})
    w.run(install_signals=False, exit_when_done=True)
    ent = mem_conn.db().entity([":job/id", "j"])
    assert loops == [1, 2] and ent[":job/status"] == overseer.FAILED
    assert "poison" in ent[":job/failure"] and w.stats["timed_out"] == 2
    assert _status(mem_conn, "k") == overseer.FINISHED


def test_with_isolate_a_timed_out_handler_process_is_killed(mem_conn, tmp_path):
    pids = tmp_path / "pids"

    def hang(job):
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(600)    # a blocking C call: only a kill stops it

    mem_conn.transact([overseer.job_txn("hang", {":job/id": "j", ":job/timeout": 200})])
    w = Worker(mem_conn, {"hang": hang, "ok": lambda job: None},
               {**NO_PULSE, "isolate": True, "max_attempts": 1, "exit_grace": 0})
    w.run(install_signals=False, exit_when_done=True)
    ent = mem_conn.db().entity([":job/id", "j"])
    assert ent[":job/status"] == overseer.FAILED and "timed out after 0.2 s" in ent[":job/failure"]
    (pid,) = [int(x) for x in pids.read_text().split()]
    assert pid != os.getpid()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)      # killed (and reaped)


def test_with_isolate_outcomes_come_back_from_the_child(mem_conn):
    mem_conn.transact(overseer.graph_txns({"a": [], "b": [], "c": []}, ids=lambda n: n))
    w = Worker(mem_conn, {"a": lambda job: None, "b": lambda job: {}["x"],
                          "c": lambda job: overseer.fault("later", retry_in=60)},
               {**NO_PULSE, "isolate": True}, clock=lambda: 0.0)
    assert run_all(w) == 3
    assert [_status(mem_conn, j) for j in "abc"] == [overseer.FINISHED, overseer.FAILED, overseer.UNSTARTED]
    assert "KeyError" in mem_conn.db().entity([":job/id", "b"])[":job/failure"]
    assert mem_conn.db().entity([":job/id", "c"])[":job/not-before"] == 60_000


def test_one_info_line_per_job_outcome_with_id_type_attempt_duration_and_worker(mem_conn, caplog, clock):
    mem_conn.transact(overseer.graph_txns({"a": [], "b": []}, ids=lambda n: "job-" + n))
    w = _worker(mem_conn, {"a": lambda job: None, "b": lambda job: {}["x"]}, clock)
    with caplog.at_level("INFO", logger="overseer"):
        run_all(w)
    lines = {r.job_id: r for r in caplog.records if hasattr(r, "outcome")}
    assert sorted(lines) == ["job-a", "job-b"]
    a = lines["job-a"]
    assert (a.job_type, a.attempt, a.outcome, a.worker, a.levelname) == (":a", 1, "finish", w.owner, "INFO")
    assert a.duration_ms >= 0 and a.getMessage().startswith("job job-a :a attempt 1 finished in ")
    assert lines["job-b"].outcome == "fail"


def test_the_monitor_logs_job_ids(mem_conn, clock, caplog):
    mem_conn.transact([overseer.job_txn("t", {":job/id": "the-job"})])
    e = mem_conn.db().entid([":job/id", "the-job"])
    w = Worker(mem_conn, {"t": print}, {"heartbeat": {"enabled": True, "sleep-time": 1000, "tolerance": 1}},
               clock=clock)
    claim.claim(mem_conn, e, "dead:1:w", now=int(clock() * 1000))
    with caplog.at_level("WARNING", logger="overseer"):
        assert w.sweep(clock.advance(2)) == [e]
    assert any(r.getMessage().startswith("monitor reset job the-job (attempt 1") for r in caplog.records)
