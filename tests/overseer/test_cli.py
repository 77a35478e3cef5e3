"""`overseer worker` as a user starts it: the handlers module next to them, --path, --version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fact_store as fs
import overseer

HANDLERS = '''
def work(job):
    with open({out!r}, "a") as f:
        f.write(str(job[":job/type"]) + "\\n")

HANDLERS = {{"start": work, "finish": work}}
'''


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERSEER_")}
    env.pop("PYTHONPATH", None)  # the handlers module must be found without it
    return env


def _store(tmp_path: Path) -> str:
    uri = f"file:{tmp_path / 'jobs.db'}"
    conn = fs.connect(uri)
    overseer.install_schema(conn)
    conn.transact(overseer.graph_txns({"start": [], "finish": ["start"]}))
    conn.close()
    return uri


#: the console script pip installs (``python -m`` would put the current directory on the path itself)
OVERSEER = str(Path(sys.executable).parent / "overseer")


def _worker(uri: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OVERSEER, "worker", "myjobs:HANDLERS", "--store", uri,
                           "--exit-when-done", "--sleep-time", "0.2", *args],
                          cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120)


def test_worker_finds_the_handlers_module_in_the_current_directory(tmp_path):
    uri = _store(tmp_path)
    (tmp_path / "myjobs.py").write_text(HANDLERS.format(out=str(tmp_path / "ran.txt")))
    run = _worker(uri, tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "ran.txt").read_text().split() == [":start", ":finish"]


def test_worker_path_option_adds_a_directory(tmp_path):
    uri = _store(tmp_path)
    jobs = tmp_path / "app"
    jobs.mkdir()
    (jobs / "myjobs.py").write_text(HANDLERS.format(out=str(tmp_path / "ran.txt")))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = _worker(uri, elsewhere)
    assert run.returncode == 2
    assert "cannot import myjobs:" in run.stderr and "--path DIR" in run.stderr
    run = _worker(uri, elsewhere, "--path", str(jobs))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "ran.txt").read_text().split() == [":start", ":finish"]


def test_workers_in_two_processes_share_a_postgresql_store(request, tmp_path):
    """docs/OVERSEER.md, "Several machines": workers that share nothing but a PostgreSQL store."""
    from tests.pg import pg_server_uri

    uri = pg_server_uri(request)
    conn = fs.connect(uri)
    overseer.install_schema(conn)
    graph = {f"n{i}": ([f"n{i - 1}"] if i % 4 else []) for i in range(12)}
    conn.transact(overseer.graph_txns(graph, types=lambda n: "start"))
    conn.close()
    (tmp_path / "myjobs.py").write_text(HANDLERS.format(out=str(tmp_path / "ran.txt")))
    procs = [subprocess.Popen([OVERSEER, "worker", "myjobs:HANDLERS", "--store", uri, "--exit-when-done",
                               "--sleep-time", "0.2"], cwd=tmp_path, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert (tmp_path / "ran.txt").read_text().split() == [":start"] * 12  # each job once
    conn = fs.connect(uri)
    try:
        assert len(overseer.jobs_with_status(conn.db(), "finished")) == 12
    finally:
        conn.close()
