"""The type check: mypy over fact_store with pyproject.toml's settings (the core strictly).

The package ships ``py.typed``, so its annotations are a promise to users; this keeps them true.
mypy's cache lives in .venv (or a temporary directory without one), never in the repository.
"""

import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _cache_dir() -> str:
    venv = pathlib.Path(sys.prefix)
    if venv != pathlib.Path(sys.base_prefix) and os.access(venv, os.W_OK):
        return str(venv / ".mypy_cache")
    return str(pathlib.Path(tempfile.gettempdir()) / "fact-store-mypy-cache")


def test_fact_store_type_checks():
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", _cache_dir(), "--no-error-summary",
         "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, "mypy found type errors:\n" + out.stdout[-20000:] + out.stderr[-2000:]


def test_the_type_check_can_fail(tmp_path):
    """The same invocation reports an error in a strictly checked module."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x: int) -> str:\n    return x\n")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", _cache_dir(), "--no-error-summary",
         "--config-file", str(ROOT / "pyproject.toml"), str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "Incompatible return value type" in out.stdout
