"""The benchmark guard: ``python -m benchmarks --quick`` runs and every checksum matches.

Not a timed test: quick mode (small size, one repetition, fact-store only, no
Node, no network) proves that the benchmark code still runs and that every
op's result count and checksum still equal the expected values (the SQLite
peer's, run once untimed, at this size). It judges no speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmarks_all_ok() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    rows = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert rows, proc.stdout[-3000:]
    bad = [r for r in rows if r.get("ok") is not True]
    assert not bad, bad
    ops = {r["op"] for r in rows if r.get("checked")}
    # the ops the guard must check whatever else joins: fact-store's own index and transaction ops
    assert {"avet-range", "eavt-lookup", "add-all", "init", "add-entity", "add-1", "retract-entity",
            "job-cycle"} <= ops, sorted(ops)
    # every timed line carries its CPU time and the load average beside its samples
    timed = [r for r in rows if r.get("group") == "timed"]
    assert timed and all("cpu_median_ms" in r and len(r["load_avg"]) == 3 for r in timed), timed[:3]
    # the cold variant (caches cleared before every call) is there beside the hot one
    assert {r["op"] for r in timed if r["system"] == "fact-store-cold"} >= {"q1", "pull-many"}
