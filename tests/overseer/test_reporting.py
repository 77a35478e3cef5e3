"""overseer.reporting: the on_error hook (from code, config and the CLI) and Sentry, for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fact_store as fs
import overseer
from overseer.reporting import adapt, job_context
from tests.overseer import report_hooks
from tests.overseer.conftest import NO_PULSE

REPO = Path(__file__).resolve().parents[2]
ORG = [{":db/ident": ":org/id", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one"}]


def _graph(conn, **graph_args):
    overseer.install_schema(conn)
    conn.transact(ORG)
    conn.transact(overseer.graph_txns({"boom": [], "fine": []}, {":org/id": 12}, ids=lambda n: f"{n}-1",
                                      **graph_args))


def _run(w):
    while w.step(now=1000.0) == "ran":
        pass
    w.close()


def test_on_error_from_config_gets_the_job_and_the_exception(mem_conn):
    report_hooks.SEEN.clear()
    _graph(mem_conn)
    w = overseer.Worker(mem_conn, report_hooks.HANDLERS,
                        {**NO_PULSE, "on-error": "tests.overseer.report_hooks:record"})
    _run(w)
    assert len(report_hooks.SEEN) == 1
    job, exc = report_hooks.SEEN[0]
    assert isinstance(exc, ValueError) and str(exc) == "boom in boom-1"
    assert job_context(job) == {"id": "boom-1", "type": ":boom", "attempt": 1, "args": {":org/id": 12}}


def test_the_on_error_argument_wins_over_the_config(mem_conn):
    report_hooks.SEEN.clear()
    _graph(mem_conn)
    mine = []
    w = overseer.Worker(mem_conn, report_hooks.HANDLERS, {**NO_PULSE, "on_error": report_hooks.record},
                        on_error=lambda job, exc, failure: mine.append(failure["type"]))
    _run(w)
    assert mine == ["builtins.ValueError"] and report_hooks.SEEN == []


def test_silent_aborts_and_faults_are_not_reported(mem_conn):
    overseer.install_schema(mem_conn)
    mem_conn.transact(overseer.graph_txns({"quiet": [], "flaky": [], "loud": []}))
    seen = []
    handlers = {"quiet": lambda job: overseer.abort_silent("no"), "flaky": lambda job: overseer.fault("later"),
                "loud": lambda job: overseer.abort("stop")}
    w = overseer.Worker(mem_conn, handlers, {**NO_PULSE, "max_attempts": 1}, on_error=lambda j, e: seen.append(e))
    _run(w)
    assert [str(e) for e in seen] == ["stop"]


def test_a_reporter_must_take_job_and_exception():
    with pytest.raises(overseer.ConfigError, match="must take \\(job, exc\\) or \\(job, exc, failure\\)"):
        adapt(lambda job: None)
    three = adapt(lambda job, exc, failure: failure)
    assert three({}, ValueError(), {"x": 1}) == {"x": 1}


@pytest.fixture
def sentry_events():
    import sentry_sdk  # the test extra installs it
    events: list[dict] = []

    def before_send(event, hint):  # capture, and send nothing anywhere
        events.append(event)
        return None

    yield {"dsn": "http://public@127.0.0.1:9/1", "before_send": before_send, "default_integrations": False,
           "send_client_reports": False}, events
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def test_sentry_gets_each_reported_failure_with_the_job_as_context(mem_conn, sentry_events):
    options, events = sentry_events
    _graph(mem_conn)
    w = overseer.Worker(mem_conn, report_hooks.HANDLERS, {**NO_PULSE, "sentry": options})
    _run(w)
    assert len(events) == 1
    ev = events[0]
    assert ev["exception"]["values"][-1]["type"] == "ValueError"
    assert ev["exception"]["values"][-1]["value"] == "boom in boom-1"
    assert ev["contexts"]["job"] == {"id": "boom-1", "type": ":boom", "attempt": 1, "args": {":org/id": 12}}
    assert ev["tags"]["job.type"] == ":boom" and ev["tags"]["job.id"] == "boom-1"


def test_sentry_and_on_error_both_report(mem_conn, sentry_events):
    options, events = sentry_events
    report_hooks.SEEN.clear()
    _graph(mem_conn)
    w = overseer.Worker(mem_conn, report_hooks.HANDLERS,
                        {**NO_PULSE, "sentry": options, "on-error": "tests.overseer.report_hooks:record"})
    _run(w)
    assert len(events) == 1 and len(report_hooks.SEEN) == 1


def test_a_bad_sentry_dsn_is_a_config_error(mem_conn, sentry_events):
    with pytest.raises(overseer.ConfigError, match="config :sentry: sentry-sdk refused the options"):
        overseer.Worker(mem_conn, {}, {**NO_PULSE, "sentry": {"dsn": "not a dsn"}})


def test_worker_command_on_error_option_and_config_file(tmp_path):
    store = f"file:{tmp_path / 'db'}"
    conn = fs.connect(store)
    _graph(conn)
    conn.close()
    reports = tmp_path / "reports.jsonl"
    cfg = tmp_path / "overseer.edn"
    cfg.write_text("{:sleep-time 500 :heartbeat {:sleep-time 200 :tolerance 4}}")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OVERSEER_TEST_REPORTS": str(reports)}
    cmd = [sys.executable, "-m", "overseer.cli", "worker", "tests.overseer.report_hooks:HANDLERS", "--store", store,
           "--config", str(cfg), "--on-error", "tests.overseer.report_hooks:to_file", "--exit-when-done"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    # the settings in effect, in seconds: the file's milliseconds were read as Overseer's
    assert "{:sleep-time-s 0.5, :heartbeat-enabled true, :heartbeat-interval-s 0.2, :heartbeat-tolerance 4.0" \
        in p.stderr
    assert ':on-error "tests.overseer.report_hooks:to_file"' in p.stderr
    [line] = reports.read_text().splitlines()
    assert json.loads(line) == {"id": "boom-1", "type": ":boom", "attempt": 1, "exc": "ValueError",
                                "message": "boom in boom-1", "failure_type": "builtins.ValueError"}


def test_worker_command_refuses_seconds_in_an_overseer_config_with_exit_2(tmp_path):
    cfg = tmp_path / "overseer.edn"
    cfg.write_text("{:heartbeat {:sleep-time 60}}")
    cmd = [sys.executable, "-m", "overseer.cli", "worker", "tests.overseer.report_hooks:HANDLERS",
           "--store", f"file:{tmp_path / 'db'}", "--config", str(cfg)]
    p = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 2
    assert "config :heartbeat :sleep-time 60 is read in milliseconds" in p.stderr
    assert "Traceback" not in p.stderr


def test_worker_command_names_the_option_and_its_unit(tmp_path):
    cmd = [sys.executable, "-m", "overseer.cli", "worker", "tests.overseer.report_hooks:HANDLERS",
           "--store", f"file:{tmp_path / 'db'}", "--heartbeat-interval", "60000"]
    p = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 2
    assert ("config --heartbeat-interval 60000 is read in seconds (command-line options take seconds): "
            "16.7 hours is implausibly long") in p.stderr
