"""``fact-store web`` as a real process: binding, the generated token, live events from other processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

import fact_store as fs  # noqa: E402

SCHEMA = [{":db/ident": ":note/text", ":db/valueType": ":db.type/string",
           ":db/cardinality": ":db.cardinality/one"}]


@pytest.fixture()
def store(tmp_path):
    uri = f"file:{tmp_path / 'store'}"
    with fs.connect(uri) as c:
        c.transact(SCHEMA)
    return uri


def start(uri, *args):
    p = subprocess.Popen([sys.executable, "-m", "fact_store.cli", "web", "--uri", uri, "--port", "0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = p.stdout.readline().strip()
    _wait_listening(url)
    return p, url


def _wait_listening(url, timeout=60.0):
    """The URL is printed before the server accepts connections: wait for that (a loaded
    machine takes a while), never a fixed sleep."""
    import socket
    import time

    port = int(url.split(":")[2].split("/")[0])
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def stop(p):
    p.send_signal(signal.SIGINT)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    p.stdout.close()


def test_binding_all_addresses_generates_a_token_and_checks_it(store):
    p, url = start(store, "--host", "0.0.0.0")
    try:
        assert "?token=" in url, url
        token = url.split("?token=")[1]
        port = url.split(":")[2].split("/")[0]
        local = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{local}/query").status_code == 401
        assert httpx.get(f"{local}/query", params={"token": token[:-1]}).status_code == 401
        assert httpx.get(f"{local}/query", params={"token": token}).status_code == 200
        assert httpx.get(f"{local}/schema.json",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        stop(p)


def test_loopback_needs_no_token_by_default(store):
    p, url = start(store)
    try:
        assert url.startswith("http://127.0.0.1:") and "token" not in url
        assert httpx.get(url.replace("/query", "/schema.json")).status_code == 200
    finally:
        stop(p)


def test_a_missing_store_is_an_error_not_a_new_store(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fact_store.cli", "web", "--uri", f"file:{tmp_path / 'nope'}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no fact store at" in r.stderr
    assert not (tmp_path / "nope").exists()


def test_events_report_transactions_of_other_processes(store):
    p, url = start(store)
    base = url.rsplit("/", 1)[0]
    try:
        with httpx.stream("GET", f"{base}/events", timeout=60) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            assert next(lines) == "retry: 2000"
            assert next(lines) == "event: hello"
            hello = json.loads(next(lines)[len("data: "):])
            with fs.connect(store) as c:  # this process: another writer than the server
                t = c.transact([{":note/text": "hi"}]).db_after.basis_t
            assert t == hello["t"] + 1
            event = None
            for line in lines:
                if line.startswith("data: ") and event == "tx":
                    assert json.loads(line[6:])["t"] == t
                    break
                if line.startswith("event: "):
                    event = line[7:]
    finally:
        stop(p)
