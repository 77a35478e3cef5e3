"""The console as a person uses it, in a real browser (Chromium driven by Playwright).

One server (``overseer web``, a real process) on a fresh file store, real worker
processes running a demo graph with one job that fails on its first attempt.
The tests run in order: watch the graph's nodes change colour live, open the
failed job's traceback and retry it, run a query and page through it, and move
the time slider. A failing test saves a screenshot under ``artifacts/browser/``.

Under ``CI=true`` they always run (a missing browser fails them); elsewhere they
are skipped when Chromium or Playwright is missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import pathlib
import shutil
import signal
import subprocess
import sys
from urllib.parse import quote

import pytest

import fact_store as fs
import overseer
from overseer.demo import generated_graph

ROOT = pathlib.Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None

if not CI and (CHROMIUM is None or sync_playwright is None):
    pytest.skip("needs Chromium and Playwright (CI installs both)", allow_module_level=True)

WAIT_MS = 90_000  # generous: the machine running CI may be busy


def _graph():
    graph, types = generated_graph(60, seed=11)
    extract = sorted(n for n in graph if n.startswith("extract"))[0]
    graph["explode"], types["explode"] = [extract], "explode"
    graph["report"], types["report"] = ["explode"], "load"
    return graph, types


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(base URL, store URI, graph t, graph) with the server running; workers not yet started."""
    assert CHROMIUM is not None, "CI=true: install Debian's chromium (.ci/run does)"
    assert sync_playwright is not None, "CI=true: pip install playwright (the test extra has it)"
    path = tmp_path_factory.mktemp("web") / "store"
    uri = f"file:{path}"
    conn = fs.connect(uri)
    overseer.install_schema(conn)
    graph, types = _graph()
    t = conn.transact(overseer.graph_txns(graph, types=types, ids=lambda n: f"b/{n}")).db_after.basis_t
    conn.close()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    server = subprocess.Popen([sys.executable, "-m", "overseer.cli", "web", "--store", uri, "--port", "0",
                               "--allow-writes"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env, cwd=ROOT)
    try:
        line = server.stdout.readline().strip()
        assert line.startswith("http://"), line
        base = line.rsplit("/jobs", 1)[0]
        yield {"base": base, "uri": uri, "t": t, "graph": graph, "env": env, "workers": []}
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        server.stdout.close()


@pytest.fixture(scope="module")
def workers(site):
    procs = []

    def start(n=2):
        for _ in range(n):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "overseer.cli", "worker", "tests.overseer.web.browser_handlers:HANDLERS",
                 "--store", site["uri"], "--sleep-time", "0.2", "--heartbeat-interval", "1",
                 "--log-level", "ERROR"], env=site["env"], cwd=ROOT, stdin=subprocess.DEVNULL))

    yield start
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture()
def page(browser, request):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(WAIT_MS)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs  # type: ignore[attr-defined]
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    assert not dialogs, f"a page ran script from the data: {dialogs}"
    ctx.close()


def node(job):
    return f'[data-job="b/{job}"]'


def test_graph_nodes_change_colour_live(site, workers, page):
    page.goto(f"{site['base']}/jobs/graph/{site['t']}")
    assert page.locator("[data-job]").count() == len(site["graph"])
    assert page.locator('[data-job][data-status="unstarted"]').count() == len(site["graph"])
    page.wait_for_selector("#live-dot.on")  # the event stream is open
    page.evaluate("window.__samePage = 42")
    workers(2)
    last_load = sorted(n for n in site["graph"] if n.startswith("load"))[-1]
    page.wait_for_selector(node(last_load) + '[data-status="finished"]')
    page.wait_for_selector(node("explode") + '[data-status="failed"]')
    page.wait_for_selector(node("report") + '[data-status="aborted"]')
    assert page.locator(node("explode") + " rect").evaluate(
        "r => getComputedStyle(r).fill") != page.locator(node(last_load) + " rect").evaluate(
        "r => getComputedStyle(r).fill")
    assert page.evaluate("window.__samePage") == 42  # updated in place, never reloaded
    assert "failed" in page.inner_text("#graph-counts")


def test_open_a_failed_jobs_traceback_and_retry_it(site, page):
    page.goto(f"{site['base']}/jobs/graph/{site['t']}")
    page.click(node("explode"))
    page.wait_for_url("**/jobs/job/**")
    assert page.inner_text("#job-status") == "failed"
    trace = page.inner_text("#traceback")
    assert "RuntimeError" in trace and '<script>alert("xss")</script>' in trace  # shown as text
    assert page.locator("#failure script, #failure img").count() == 0
    page.fill('input[name="who"]', "browser test")
    page.click("#retry")
    page.wait_for_url(f"**/jobs/job/{quote('b/explode', safe='')}")
    # (not wait_for_function: a string predicate is an eval, which the page's CSP forbids)
    expect(page.locator("#job-status")).to_have_text("finished", timeout=60_000)
    page.wait_for_selector('#history :text("browser test")')


def test_run_a_query_and_page_through_results(site, page):
    page.goto(f"{site['base']}/query")
    page.fill("#q", "[:find ?id ?status\n :where [?j :job/id ?id] [?j :job/status ?status]]")
    page.click("#run")
    page.wait_for_selector("#results")
    assert page.inner_text("#count") == str(len(site["graph"]))
    first = page.inner_text("#results tbody tr:first-child td:first-child")
    assert page.inner_text("#page") == "1"
    assert "page=1" not in page.url and "q=" in page.url  # a shareable URL
    page.click("#next")
    page.wait_for_selector("#page:text('2')")
    assert page.inner_text("#results tbody tr:first-child td:first-child") != first
    page.click("#prev")
    page.wait_for_selector("#page:text('1')")
    assert page.inner_text("#results tbody tr:first-child td:first-child") == first


def test_the_time_slider_shows_the_graph_in_the_past(site, page):
    page.goto(f"{site['base']}/jobs/graph/{site['t']}")
    page.wait_for_selector(node("explode") + '[data-status="finished"]')
    page.locator("#as_of").evaluate(
        "(el, t) => { el.value = t; el.dispatchEvent(new Event('change')); }", site["t"])
    page.wait_for_url(re.compile(rf"as_of={site['t']}$"))
    page.wait_for_selector("#timetravel")
    assert page.locator('[data-job][data-status="unstarted"]').count() == len(site["graph"])
    assert page.locator("#changes tbody tr").count() == 0
    page.click("#now")
    page.wait_for_selector(node("explode") + '[data-status="finished"]')
