"""Handlers, stages, harnesses, and how a run becomes an outcome."""

from __future__ import annotations

import json
import logging

import pytest

import fact_store as fs
import overseer
from overseer.handlers import Handlers, execute, normalize, run_stages


def test_a_function_is_a_process_stage():
    assert run_stages(normalize(lambda job: job["x"] + 1), {"x": 1}) == 2


def test_stages_run_in_order_and_post_process_gets_the_result():
    seen = []
    h = {"pre_process": lambda job: seen.append("pre"),
         "process": lambda job: seen.append("process") or 10,
         "post-process": lambda job, res: seen.append(("post", res)) or res * 2}
    assert run_stages(normalize(h), {}) == 20
    assert seen == ["pre", "process", ("post", 10)]


def test_a_map_without_process_is_refused():
    with pytest.raises(overseer.HandlerNotFound, match="process stage"):
        normalize({"pre_process": print})
    with pytest.raises(overseer.HandlerNotFound, match="unknown handler stage"):
        normalize({"process": print, "cleanup": print})


def test_harness_wraps_a_function_like_middleware():
    def add_conn(f):
        return lambda job: f({**job, "conn": "CONN"})

    h = overseer.harness(lambda job: job["conn"], add_conn)
    assert run_stages(normalize(h), {}) == "CONN"


def test_harness_of_a_missing_stage_wraps_an_identity():
    calls = []

    def logging_harness(f):
        def g(job, *rest):
            calls.append("before")
            out = f(job, *rest)
            calls.append("after")
            return out
        return g

    h = overseer.harness({"process": lambda job: 7}, logging_harness, "post_process")
    assert run_stages(normalize(h), {}) == 7
    h2 = overseer.harness(lambda job: 7, logging_harness, stage="pre-process")
    assert run_stages(normalize(h2), {}) == 7
    assert calls == ["before", "after", "before", "after"]


def test_harness_takes_overseers_argument_order_too():
    def add_one(f):
        return lambda job, res: f(job, res) + 1

    handler = {"process": lambda job: 1}
    # Overseer: (harness handler :post-process wrapper), as spelled in Python and as a keyword
    for stage in ("post_process", "post-process", ":post-process", fs.Keyword(":post-process")):
        assert run_stages(normalize(overseer.harness(handler, stage, add_one)), {}) == 2
    assert run_stages(normalize(overseer.harness(handler, add_one, "post_process")), {}) == 2
    # (harness handler wrapper) wraps :process
    assert run_stages(normalize(overseer.harness(lambda job: 5, lambda f: lambda job: f(job) * 2)), {}) == 10


@pytest.mark.parametrize("args, message", [
    (("cleanup", lambda f: f), "unknown handler stage \"cleanup\"; expected one of pre_process"),
    ((fs.Keyword(":cleanup"), lambda f: f), "unknown handler stage :cleanup;"),
    (("process", "not a function"), 'must be a function of the stage\'s function, got "not a function"'),
    (("a", "b", "c"), "got 4 arguments"),
    ((42,), "a harness wrapper must be a function of the stage's function, got 42"),
    ((), "got 1 arguments"),
])
def test_harness_refuses_bad_arguments_in_edn(args, message):
    with pytest.raises(overseer.HandlerNotFound, match=message) as e:
        overseer.harness(lambda job: 1, *args)
    assert "Keyword(" not in str(e.value)


def test_handlers_registry_normalizes_type_spellings():
    hs = Handlers({"start": print, ":finish": {"process": print}})
    assert hs.types == [":start", ":finish"]
    assert "finish" in hs and ":start" in hs
    with pytest.raises(overseer.HandlerNotFound, match="no handler for job type :nope"):
        hs.get("nope")


def _run(fn, on_error=None):
    return execute(normalize(fn), {":job/id": "j1", ":job/attempt": 3, ":job/owner": "w"}, on_error)


def test_an_exception_fails_the_job_with_type_message_traceback_and_data(caplog):
    class Boom(Exception):
        pass

    errors = []

    def bad(job):
        raise Boom("disk on fire", {"sector": 7})

    with caplog.at_level(logging.ERROR, "overseer"):
        res = _run(bad, lambda job, exc, info: errors.append((job[":job/id"], type(exc).__name__)))
    assert res.kind == "fail"
    info = json.loads(res.failure)
    assert info["type"].endswith("Boom") and info["message"] == "('disk on fire', {'sector': 7})"
    assert "disk on fire" in info["traceback"] and info["data"] == [{"sector": 7}]
    assert info["attempt"] == 3
    assert errors == [("j1", "Boom")]
    assert "job j1 failed" in caplog.text


def test_abort_is_reported_and_abort_silent_is_not():
    errors = []
    res = _run(lambda job: overseer.abort("bad input"), lambda *a: errors.append(a))
    assert res.kind == "abort" and json.loads(res.failure)["type"] == "overseer/abort"
    res = _run(lambda job: overseer.abort_silent("nothing to do"), lambda *a: errors.append(a))
    assert res.kind == "abort" and json.loads(res.failure)["message"] == "nothing to do"
    assert len(errors) == 1


def test_fault_is_a_retry_not_an_error():
    errors = []
    res = _run(lambda job: overseer.fault("service down"), lambda *a: errors.append(a))
    assert res.kind == "fault" and json.loads(res.failure)["message"] == "service down"
    assert errors == []


def test_a_broken_on_error_callback_does_not_change_the_outcome():
    def on_error(*a):
        raise RuntimeError("sentry is down")

    assert _run(lambda job: 1 / 0, on_error).kind == "fail"


def test_system_exit_from_a_handler_fails_the_job_and_the_worker_lives():
    res = _run(lambda job: (_ for _ in ()).throw(SystemExit(3)))
    assert res.kind == "fail" and "SystemExit" in json.loads(res.failure)["type"]


def test_a_result_finishes_the_job():
    res = _run(lambda job: {"rows": 3})
    assert res.kind == "finish" and res.result == {"rows": 3} and res.failure is None
