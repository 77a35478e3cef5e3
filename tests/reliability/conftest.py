"""The reliability tier (RELIABILITY.md §12): PR sizes by default, soak sizes with RELIABILITY_SOAK=1.

Every scenario test takes the ``scenario`` fixture and ends with
``scenario.report(iterations=N, violations=0, ...)``, which prints the line
``SCENARIO-ID iterations=N violations=0 seed=S`` (visible with ``-s``), adds it
to the junit properties of the test, and collects it for a
"reliability scenarios" section at the end of the terminal summary.

``scenario.require(cond, why)`` fails the test when its fault was not injected
often enough to mean anything (a harness that stopped injecting must not
pass silently).

Seeds: each scenario has a fixed seed (from its test id), so every default run
draws the same cases and a failure is never a flake of the draw; under
``RELIABILITY_SOAK=1`` seeds are random, to find new cases. Every run prints its
seed; set ``RELIABILITY_SEED=S`` to replay one. When a test fails, its working
directory (``scenario.dir``: logs, journals, histories) is copied to
``reliability-artifacts/<test>-seed<S>/`` (git-ignored) and the path is
printed with the seed.
"""

from __future__ import annotations

import os
import random
import re
import resource
import shutil
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOG_TESTS = ROOT / "tests" / "fact_store" / "log"
ARTIFACTS = ROOT / "reliability-artifacts"

# The storage-test harness another suite built (FaultyFS, ack journals, workers): reused,
# imported the way its own conftest imports it, so there is one copy of each module.
if str(LOG_TESTS) not in sys.path:
    sys.path.insert(0, str(LOG_TESTS))

SOAK = os.environ.get("RELIABILITY_SOAK") == "1"

_LINES: list[str] = []


def scale(pr: int, soak: int) -> int:
    """The PR-tier number, or the soak number under RELIABILITY_SOAK=1."""
    return soak if SOAK else pr


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: a RELIABILITY.md scenario (tests/reliability)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = str(Path(__file__).resolve().parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.reliability)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class Scenario:
    """One scenario run: its id, seed, rng, working directory and report line."""

    def __init__(self, request: pytest.FixtureRequest, workdir: Path) -> None:
        self.request = request
        env_seed = os.environ.get("RELIABILITY_SEED")
        if env_seed:
            self.seed = int(env_seed)
        elif not SOAK:
            # The same seed per test on every default run (CI's and developers'), so a run
            # is repeatable and a new finding shows up in a soak run, not as a flake.
            self.seed = zlib.crc32(request.node.nodeid.encode()) & 0x7FFFFFFF
        else:
            self.seed = random.randrange(1 << 31)
        self.rng = random.Random(self.seed)
        self.dir = workdir
        self.started = time.monotonic()
        self.cpu0 = _cpu()
        self.reported: list[str] = []

    def report(self, scenario_id: str, iterations: int, violations: int = 0, **extra: Any) -> str:
        """Print and collect ``ID iterations=N violations=V seed=S [k=v ...]``."""
        parts = [f"{scenario_id} iterations={iterations} violations={violations} seed={self.seed}"]
        parts += [f"{k}={v}" for k, v in extra.items()]
        wall = time.monotonic() - self.started
        cpu = _cpu() - self.cpu0
        parts.append(f"wall={wall:.1f}s cpu={cpu:.1f}s")
        line = " ".join(parts)
        print(line)
        _LINES.append(line)
        self.reported.append(line)
        self.request.node.user_properties.append(("scenario", line))
        return line

    def require(self, cond: bool, why: str) -> None:
        """Fail when the fault was not injected often enough (module doc)."""
        if not cond:
            pytest.fail(f"fault not injected often enough: {why} (seed={self.seed})")


def _cpu() -> float:
    """CPU seconds of this process plus its reaped children (the forked workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _slug(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:120]


@pytest.fixture
def scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scenario]:
    sc = Scenario(request, tmp_path)
    yield sc
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        dest = ARTIFACTS / f"{_slug(request.node.nodeid)}-seed{sc.seed}"
        try:
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(tmp_path, dest, symlinks=True,
                            ignore=lambda d, names: [n for n in names
                                                     if n.endswith((".sock", ".lock.pg"))])
            where = str(dest)
        except OSError as exc:  # artefacts are a courtesy; the failure itself stands
            where = f"(could not copy: {exc})"
        msg = f"reliability failure: seed={sc.seed} artefacts={where}"
        print(msg)
        _LINES.append(f"FAILED {request.node.nodeid} {msg}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _LINES:
        return
    terminalreporter.section("reliability scenarios" + (" (soak)" if SOAK else " (PR tier)"))
    for line in _LINES:
        terminalreporter.write_line(line)
