"""The wheel works for a stranger: ``.ci/wheel-check`` builds it, installs it into a fresh venv
and runs the first commands a user runs from an empty directory (see that script).

It runs here, once, so ``./dev test`` (and so CI) proves every change still installs.
"""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_wheel_installs_and_its_commands_run_from_an_empty_directory():
    env = {**os.environ, "PYTHON": sys.executable}
    for var in ("PYTHONPATH", "FACT_STORE_URI", "OVERSEER_STORE"):
        env.pop(var, None)
    run = subprocess.run(["bash", str(ROOT / ".ci" / "wheel-check")], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-5000:]
    assert run.stderr.rstrip().endswith("wheel-check: ok")
