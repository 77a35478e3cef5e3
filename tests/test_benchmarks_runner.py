"""The benchmark runner's logic: interleaving, op selection, ratios (benchmarks/serve.py, benchmarks/__main__.py).

Real op servers over the real protocol (a subprocess serving tiny ops), no
timing judged: what is checked is the order the samples are taken in, what
every result line carries, and which ops a ``--ops`` filter runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as runner  # noqa: E402
from benchmarks.serve import Client, interleave, order  # noqa: E402

# A server with three systems in one process: "a" and "b" append their tag to one shared list
# on every execution, and the check reports the order the runner asked for as the tags of the
# runs of equal tags (1 1 2 2 2 1 -> 121, whatever the batch sizes); "c" fails.
TINY = """
import itertools, sys
from benchmarks.serve import Op, serve
seen = []
def runs():
    return len(seen), int("".join(str(k) for k, _ in itertools.groupby(seen)))
def op(tag, kind):
    def run(*_):
        seen.append(tag)
        return tag
    return lambda: Op(kind, run, lambda _: runs())
def broken():
    raise ValueError("no such thing")
serve({"a": {"x": op(1, "tx"), "r": op(1, "read")}, "b": {"x": op(2, "tx"), "r": op(2, "read")},
       "c": {"x": broken}}, quick="--quick" in sys.argv)
"""


@pytest.fixture
def tiny():
    client = Client("tiny", [sys.executable, "-c", TINY], str(ROOT))
    client.wait_ready()
    yield client
    assert client.close() == 0


def test_every_system_goes_first_equally_often():
    turns = [order(["a", "b", "c"], rep) for rep in range(6)]
    assert turns[:3] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    for system in "abc":
        assert sum(t[0] == system for t in turns) == 2


def test_a_transaction_op_alternates_the_systems_after_one_warm_up_round(tiny):
    rows = interleave("x", "tx", {"a": tiny, "b": tiny}, reps=3, load=lambda: 1.5)
    by = {r["system"]: r for r in rows}
    # warm-up round a b, then a b | b a | a b: the check of "b" sees the whole sequence
    assert by["b"]["checksum"] == 121212
    assert by["b"]["result_count"] == 8
    for r in rows:
        assert r["reps"] == 3 and len(r["samples_ms"]) == 3
        assert r["load_avg"] == [1.5, 1.5, 1.5]
        assert r["cpu_median_ms"] >= 0 and r["median_ms"] >= 0 and r["spread"] >= 1
        assert r["interleaved"] == ["a", "b"]


def test_a_read_op_alternates_after_each_servers_own_warm_ups(tiny):
    rows = interleave("r", "read", {"a": tiny, "b": tiny}, reps=2)
    by = {r["system"]: r for r in rows}
    # a's 3 warm-ups, b's 3 warm-ups, then a's batch, b's | b's, a's
    assert by["b"]["checksum"] == 12121
    assert by["b"]["result_count"] == 6 + 2 * by["a"]["batch"] + 2 * by["b"]["batch"]


def test_a_failing_system_is_reported_and_the_others_are_timed(tiny):
    rows = interleave("x", "tx", {"a": tiny, "c": tiny}, reps=1)
    by = {r["system"]: r for r in rows}
    assert "no such thing" in by["c"]["failed"]
    assert by["a"]["reps"] == 1


def test_ops_select_ops_of_every_group():
    served = {"fact-store": ["q1", "add-1", "avet-range"], "sqlite-mem": ["q1", "add-1"],
              "datascript-js": ["add-1"]}
    assert runner.plan(runner.ALL_OPS, served, {"add-1", "avet-range"}) == [
        ("avet-range", ["fact-store"]), ("add-1", ["fact-store", "sqlite-mem", "datascript-js"])]
    assert [op for op, _ in runner.plan(runner.ALL_OPS, served, None)] == ["q1", "avet-range", "add-1"]


def test_ratios_come_from_the_interleaved_medians_hot_cold_and_cpu():
    rows = [{"system": s, "op": "q1", "size": 10, "median_ms": m, "cpu_median_ms": c, "ok": True}
            for s, m, c in (("fact-store", 1.0, 0.5), ("fact-store-cold", 4.0, 2.0),
                            ("datascript-js", 2.0, 2.0))]
    out = runner.summarize(rows, ["datascript"])["10"]
    assert out["ratios"] == {"datascript-js": {"q1": 0.5}}
    assert out["cold_ratios"] == {"datascript-js": {"q1": 2.0}}
    assert out["cpu_ratios"] == {"datascript-js": {"q1": 0.25}}
    assert out["cold_cpu_ratios"] == {"datascript-js": {"q1": 1.0}}


def test_a_quick_run_with_ops_runs_exactly_those_ops_transactions_included():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--stores", "mem",
                           "--ops", "add-1,avet-range"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert sorted(r["op"] for r in rows) == ["add-1", "avet-range"]
    assert all(r["ok"] and r["checked"] for r in rows), rows
