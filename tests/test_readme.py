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
