"""The type check: mypy over fact_store with pyproject.toml's settings (the core strictly).

The package ships ``py.typed``, so its annotations are a promise to users; this keeps them true.
mypy's cache lives in .venv (or a temporary directory without one), never in the repository.
"""

import os
import pathlib
import sys
import tempfile

from mypy import api

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _cache_dir() -> str:
    venv = pathlib.Path(sys.prefix)
    if venv != pathlib.Path(sys.base_prefix) and os.access(venv, os.W_OK):
        return str(venv / ".mypy_cache")
    return str(pathlib.Path(tempfile.gettempdir()) / "fact-store-mypy-cache")


def _mypy(*args: str) -> tuple[str, int]:
    cwd = os.getcwd()
    os.chdir(ROOT)  # the config names files relative to the repository
    try:
        stdout, stderr, status = api.run(["--cache-dir", _cache_dir(), "--no-error-summary",
                                          "--config-file", str(ROOT / "pyproject.toml"), *args])
    finally:
        os.chdir(cwd)
    return stdout + stderr, status


def test_fact_store_type_checks():
    out, status = _mypy()
    assert status == 0, "mypy found type errors:\n" + out[-20000:]


def test_the_type_check_can_fail(tmp_path):
    """The same invocation reports an error in a strictly checked module."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x: int) -> str:\n    return x\n")
    out, status = _mypy(str(bad))
    assert status == 1 and "Incompatible return value type" in out
