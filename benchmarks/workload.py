"""The benchmark workload, version 1: its data, checksums, timing protocol and expected values.

This module is the workload's home in the repository; the benchmarks refer to
its sections by number:

- section 1, the schema (``SCHEMA``); section 2, the data: persons 1..N and
  jobs 1..N/10 from one splitmix64 stream, seed 42 (``generate``);
- section 4, the checksums of results, with entities as external ids
  (person i -> i, job j -> 1,000,000 + j) (``hv``, ``th``, ``set_checksum``);
- section 5, the timing protocol (``measure``): transactions 1 warm-up + 5
  repetitions, each after an untimed setup and a collection; reads 3
  warm-ups, then 11 repetitions of a batch of B executions (B x the fastest
  warm-up >= 20 ms). ``python -m benchmarks`` takes the same samples but
  interleaves the systems (benchmarks/serve.py);
- section 6, the ops (their text: bench_query.OPS, bench_pull, bench_index,
  bench_transact; SQLite's and DataScript's translations under peers/);
- section 7, one JSON line per op (``line``); section 8, the expected
  (count, checksum) per op at 20,000 and 200,000 (``EXPECTED``), which two
  independent implementations, SQLite and DataScript, reproduce; section 9,
  the rules of the SQLite translation (peers/sqlite_peer.py); section 10,
  the history ops (asof-ready, history-status).

Everything here is untimed scaffolding.
"""

from __future__ import annotations

import gc
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

M = 2147483647
JOB_EXT = 1_000_000
FIRST = ["Ivan", "Petr", "Sergei", "Oleg", "Yuri", "Dmitry", "Fedor", "Denis"]
LAST = ["Ivanov", "Petrov", "Sidorov", "Kovalev", "Kuznetsov", "Voronoi"]
ALIASES = ["Ace", "Bolt", "Cobra", "Dash", "Echo", "Falcon", "Ghost", "Hawk", "Iris", "Jade", "Kite"]

# (ident, valueType, cardinality, unique, index) in attribute-id order
SCHEMA = [
    ("person/id", "long", "one", "identity", False),
    ("person/name", "string", "one", None, True),
    ("person/last-name", "string", "one", None, False),
    ("person/sex", "keyword", "one", None, False),
    ("person/age", "long", "one", None, True),
    ("person/salary", "long", "one", None, True),
    ("person/alias", "string", "many", None, False),
    ("person/follows", "ref", "many", None, False),
    ("job/id", "long", "one", "identity", False),
    ("job/status", "keyword", "one", None, True),
    ("job/priority", "long", "one", None, False),
    ("job/dep", "ref", "many", None, False),
]
REF_ATTRS = {s[0] for s in SCHEMA if s[1] == "ref"}

EXPECTED = {  # op: (count, checksum) at 20,000 and 200,000 (workload section 8)
    20000: {"gen": (168623, 17596281), "init": (168623, 17596281), "add-all": (168623, 17596281),
            "add-entity": (139684, 121821020), "add-1": (120000, 2048728547),
            "retract-entity": (8940, 1736291009), "q1": (2456, 25052836), "q2": (2456, 367054957),
            "q2-switch": (2456, 367054957), "q3": (1220, 728302267), "q4": (1220, 1062347934),
            "q5-ref": (374, 1369939296), "qpred1": (9941, 1799248153), "qpred2": (9941, 1799248153),
            "rule-reach": (9840, 96855120), "agg": (16, 807190886), "pull-nested": (9959, 844528364),
            "pull-many": (14000, 1309769774), "avet-range": (2024, 1131430392),
            "eavt-lookup": (15943, 1593101357), "job-ready": (255, 1920511387),
            "job-cycle": (50, 1259204)},
    200000: {"gen": (1688784, 785946574), "init": (1688784, 785946574),
             "add-all": (1688784, 785946574), "add-entity": (1399193, 231352852),
             "add-1": (1200000, 128360596), "retract-entity": (89592, 1774320839),
             "q1": (24968, 355537115), "q2": (24968, 790254718), "q2-switch": (24968, 790254718),
             "q3": (12372, 1520561358), "q4": (12372, 1099537297), "q5-ref": (4100, 318348577),
             "qpred1": (99762, 407049581), "qpred2": (99762, 407049581),
             "rule-reach": (88572, 1402813959), "agg": (16, 1173406347),
             "pull-nested": (9959, 844528364), "pull-many": (14000, 1309769774),
             "avet-range": (19922, 1944920898), "eavt-lookup": (19942, 696374983),
             "job-ready": (2796, 1343146543), "job-cycle": (50, 2271061)},
}


class SplitMix64:
    __slots__ = ("state",)

    def __init__(self, seed: int = 42) -> None:
        self.state = seed

    def below(self, n: int) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return (z ^ (z >> 31)) % n


@dataclass
class Person:
    id: int
    name: str
    last: str
    sex: str
    age: int
    salary: int
    aliases: list[str]
    follows: list[int]


@dataclass
class Job:
    id: int
    status: str
    priority: int
    deps: list[int] = field(default_factory=list)


def generate(n: int) -> tuple[list[Person], list[Job]]:
    """Persons 1..n and jobs 1..n/10 from one splitmix64 stream (seed 42)."""
    rng = SplitMix64()
    b = rng.below
    persons = []
    for i in range(1, n + 1):
        name, last = FIRST[b(8)], LAST[b(6)]
        sex = "male" if b(2) == 0 else "female"
        age, salary, k, a = b(100), b(100000), b(3), b(11)
        persons.append(Person(i, name, last, sex, age, salary, [ALIASES[(a + t) % 11] for t in range(k)],
                              [c for c in (3 * i - 1, 3 * i, 3 * i + 1) if c <= n]))
    jobs = []
    for j in range(1, n // 10 + 1):
        r = b(100)
        status = "done" if r < 60 else "running" if r < 70 else "failed" if r < 75 else "pending"
        priority, k = b(10), b(4)
        deps: set[int] = set()
        if j > 1:
            w = min(j - 1, 50)
            for _ in range(k):
                deps.add(j - 1 - b(w))
        jobs.append(Job(j, status, priority, sorted(deps)))
    return persons, jobs


# --- checksums (section 4) -----------------------------------------------------

def hv(x: Any) -> int:
    if isinstance(x, bool):
        return 1 if x else 0
    if isinstance(x, int):
        return x % M
    if isinstance(x, float):
        return math.floor(x * 1000 + 0.5) % M
    s = str(x)
    if s.startswith(":"):
        s = s[1:]
    h = 0
    for byte in s.encode("utf-8"):
        h = (h * 131 + byte) % M
    return h


def th(values: Any) -> int:
    h = 0
    for x in values:
        h = (h * 1000003 + hv(x)) % M
    return h


def set_checksum(tuples: Any) -> int:
    return sum(th(t) for t in tuples) % M


# --- timing protocol (section 5) -----------------------------------------------

def measure(fn: Callable[[], Any], kind: str, setup: Callable[[], Any] | None = None,
            quick: bool = False) -> tuple[dict[str, Any], Any]:
    """Run ``fn`` per the protocol; return (timing fields, the last result).

    kind "tx": 1 warm-up + 5 timed reps, ``setup()`` (untimed) before each, its
    value passed to fn. kind "read": 3 warm-ups + 11 reps of a batch B.
    """
    result = None
    if kind == "tx":
        warm, reps = (0, 1) if quick else (1, 5)
        def one() -> float:
            nonlocal result
            arg = setup() if setup else None
            gc.collect()
            t0 = time.perf_counter()
            result = fn(arg) if setup else fn()
            return (time.perf_counter() - t0) * 1000
        for _ in range(warm):
            one()
        batch = 1
    else:
        warm, reps = (1, 1) if quick else (3, 11)
        fastest = float("inf")
        for _ in range(warm):
            t0 = time.perf_counter()
            result = fn()
            fastest = min(fastest, (time.perf_counter() - t0) * 1000)
        batch = next((b for b in (1, 10, 100, 1000) if b * fastest >= 20), 1000)
        if quick:
            batch = 1

        def one() -> float:
            nonlocal result
            t0 = time.perf_counter()
            for _ in range(batch):
                result = fn()
            return (time.perf_counter() - t0) * 1000 / batch
    best = None
    attempts = 0
    while attempts < (1 if quick else 3):
        attempts += 1
        samples = [one() for _ in range(reps)]
        spread = max(samples) / max(min(samples), 1e-9)
        if best is None or spread < best[1]:
            best = (samples, spread, attempts)
        if spread <= 1.30:
            break
    samples, _, att = best
    return ({"median_ms": round(statistics.median(samples), 3), "min_ms": round(min(samples), 3),
             "max_ms": round(max(samples), 3), "reps": len(samples), "batch": batch,
             "attempts": att}, result)


def line(system: str, op: str, size: int, timing: dict[str, Any], count: int, checksum: int,
         **extra: Any) -> dict[str, Any]:
    """The JSON line of section 7, checked against the expected values of section 8."""
    exp = EXPECTED.get(size, {}).get(op)
    ok = exp is None or exp == (count, checksum)
    row = {"system": system, "op": op, "size": size, **timing, "result_count": count,
           "checksum": checksum, "ok": ok, **extra}
    if exp is not None and not ok:
        row["expected"] = list(exp)
    print(json.dumps(row), flush=True)
    return row


def _generate_dicts(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    persons, jobs = generate(n)
    return [vars(p) for p in persons], [vars(j) for j in jobs]


#: The generator's interface as dicts (persons and jobs with the same keys as the dataclasses),
#: for the scripts that take the workload in that form.
ref = SimpleNamespace(generate=_generate_dicts, SCHEMA=SCHEMA, JOB_EXT_OFFSET=JOB_EXT,
                      set_checksum=set_checksum, hv=hv, th=th, M=M)
