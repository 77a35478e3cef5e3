"""The fuzz targets of ``fuzz/`` (RELIABILITY T5, B-01, B-03, B-06, B-08, S-07), run briefly.

Each target runs in its own interpreter under atheris (libFuzzer) when it is
installed, else under the targets' pure-Python mutation fallback, with
``-max_len=4096 -timeout=5 -rss_limit_mb=2048``, seeded from ``fuzz/corpus/<t>/``
(new corpus entries go to a scratch directory, never into the repo). Only the
project's own errors may escape a target; a finding fails the test and leaves
the input under ``reliability-artifacts/``. PR: a fixed number of inputs per
target from a fixed seed; ``RELIABILITY_SOAK=1``: 10^6 runs each (or an hour),
random seeds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.reliability.conftest import ARTIFACTS, ROOT, SOAK, Scenario

FUZZ = ROOT / "fuzz"
TARGETS = ["edn", "query", "txdata", "record", "log", "snapshot", "graph"]

import importlib.util

ENGINE = ("atheris" if importlib.util.find_spec("atheris") is not None
          and os.environ.get("FUZZ_FALLBACK") != "1" else "fallback")


def _run(target: str, scenario: Scenario, seconds: int, runs: int,
         env_extra: dict[str, str] | None = None) -> tuple[int, str]:
    scratch = scenario.dir / f"corpus-{target}"
    scratch.mkdir()
    ARTIFACTS.mkdir(exist_ok=True)
    args = [sys.executable, str(FUZZ / f"fuzz_{target}.py"), f"-atheris_runs={runs}",
            "-max_len=4096", "-timeout=5", "-rss_limit_mb=2048",
            f"-max_total_time={seconds}", f"-seed={scenario.seed}",
            f"-artifact_prefix={ARTIFACTS}/fuzz-{target}-", "-print_final_stats=0",
            str(scratch), str(FUZZ / "corpus" / target)]
    env = dict(os.environ, **(env_extra or {}))
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120, env=env,
                           cwd=scenario.dir)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"fuzz_{target} hung past its time budget: {exc}")
    out = r.stdout + r.stderr
    m = re.findall(r"Done (\d+) (?:runs )?in (\d+) second", out)
    done = int(m[-1][0]) if m else 0
    assert r.returncode == 0, f"fuzz_{target} found something (seed {scenario.seed}):\n{out[-4000:]}"
    return done, out


# The snapshot corpus keeps the input that once broke db_from_snapshot (a regression seed).


#: PR-tier runs per target: a fixed number of inputs (about a second each here), not a
#: time budget, so a loaded machine runs the same inputs, only more slowly. The log
#: target opens a store per input, hence fewer.
PR_RUNS = {"log": 300}


@pytest.mark.parametrize("target", [
    t for t in TARGETS])

def test_fuzz_target(scenario: Scenario, target: str) -> None:
    runs = 1_000_000 if SOAK else PR_RUNS.get(target, 4000)
    seconds = 3600 if SOAK else 600  # PR: a guard against a hang, not a budget
    done, _out = _run(target, scenario, seconds, runs)
    scenario.report(f"FUZZ-{target}", done, 0, engine=ENGINE, runs=runs)
    corpus = len(list((FUZZ / "corpus" / target).iterdir()))
    if not SOAK:
        scenario.require(done >= runs, f"only {done} of {runs} inputs ran ({corpus} seeds)")


def test_fuzz_fallback_engine_runs_and_reports_findings(scenario: Scenario) -> None:
    """The pure-Python fallback (used where atheris is missing) fuzzes, and a finding fails."""
    done, out = _run("record", scenario, 2, 5000, {"FUZZ_FALLBACK": "1"})
    assert "fallback fuzzer" in out and done > 100
    bad = scenario.dir / "fuzz_bad.py"
    bad.write_text("import sys\nsys.path.insert(0, %r)\nfrom _common import main\n"
                   "def t(data):\n    if data[:1] == b'x':\n        raise KeyError(data)\n"
                   "main(t, [b'x'])\n" % str(FUZZ))
    r = subprocess.run([sys.executable, str(bad), "-atheris_runs=20000", "-seed=1",
                        f"-artifact_prefix={scenario.dir}/"], capture_output=True, text=True,
                       env=dict(os.environ, FUZZ_FALLBACK="1"), timeout=120)
    assert r.returncode != 0 and "KeyError" in r.stderr, r.stdout + r.stderr
    scenario.report("FUZZ-fallback", done, 0)
