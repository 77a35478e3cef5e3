"""README.md stays true: its commands exist and its Python example runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S).group(1).splitlines()
    assert block[0].startswith("./dev demo") and block[1].startswith("./dev test")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in ci


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - our own README example
    db = ns["db"]
    assert db.q('[:find ?n . :where [?e :person/name "Ivan"] [?e :person/follows ?f] [?f :person/name ?n]]') == "Petr"
    ns["conn"].close()


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def test_readme_overseer_quickstart_runs_verbatim(tmp_path):
    """The quickstart's files and commands, exactly as written, in an empty directory with real
    worker processes: each ```python block is the file its first line names, the ```sh block runs."""
    import os
    import subprocess
    import sys

    section = _section((ROOT / "README.md").read_text(), "Overseer in five minutes")
    files = re.findall(r"```python\n# (\S+)\n(.*?)```", section, re.S)
    assert [name for name, _ in files] == ["myjobs.py", "submit.py"]
    for name, body in files:
        (tmp_path / name).write_text(body)
    (script,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OVERSEER_", "FACT_STORE_")) and k != "PYTHONPATH"}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["NO_COLOR"] = "1"
    run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "healthy" in run.stdout and "UNHEALTHY" not in run.stdout
    assert re.search(r"finished\s+4\b", run.stdout), run.stdout
    assert run.stdout.rstrip().endswith("2024-05-01: 42")
    assert len(list((tmp_path / "out").glob("*.txt"))) == 2


def test_docs_refer_to_nothing_outside_the_repository():
    """Users have the repository only: no ../shared, no design notes that live beside it."""
    banned = ("../shared", "DESIGN.md", "RELIABILITY.md", "STYLE.md", "WORKLOAD.md")
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(ROOT)}:{n}: {b}" for b in banned if b in line]
    assert not found, "\n".join(found)


def test_readme_links_the_user_docs():
    text = (ROOT / "README.md").read_text()
    for doc in ("docs/CLI.md", "docs/GUARANTEES.md", "docs/OVERSEER.md"):
        assert f"]({doc})" in text and (ROOT / doc).exists(), doc
