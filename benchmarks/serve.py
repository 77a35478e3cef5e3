"""Interleaved timing: each system serves its ops from one process, the runner alternates systems per repetition.

A benchmark on a shared machine measures the machine's load as much as the
system: run one system's ops as a block and the next system's an hour later,
and the ratio between them moves with whatever else the machine was doing.
So every system (fact-store in Python, SQLite in Python, DataScript on Node)
runs as an *op server*: one process that builds its standard db once,
untimed, then answers commands, one JSON object per line on stdin/stdout:

- ``{"cmd": "prepare", "system": s, "op": o}``: build the op (untimed); for a
  read, run its 3 warm-ups, choosing the batch B with B x fastest >= 20 ms of
  CPU time (CPU, not wall: on a loaded machine every system's samples then
  last longer than a time slice, and the scheduler's preemption weighs on
  all of them alike);
  answer ``{"batch": B}`` (a transaction op's warm-up is a sample that the
  runner throws away);
- ``{"cmd": "sample", ...}``: one timed repetition (a transaction op's untimed
  setup and a ``gc.collect()`` first); answers ``{"ms": ..., "cpu_ms": ...}``,
  wall and process CPU time per execution;
- ``{"cmd": "check", ...}``: the last result's ``result_count`` and ``checksum``
  (untimed), then the op's state is dropped;
- ``{"cmd": "quit"}``.

Any error answers ``{"error": "..."}`` and the server goes on. The runner
(:func:`interleave`) sends the samples of one op to the systems in turn,
A B C, B C A, C A B, ... (every system runs first equally often), reads the
load average beside each sample, and reports each system's median; the
ratios are taken between medians of the same interleaved run.

The workload's noise rule (repeat the 11 samples while the slowest is more
than 1.3x the fastest, up to 3 attempts) is replaced by the interleaving:
on a shared machine the rule fires on nearly every op, tripling the run,
while samples taken side by side already see the same load. Each line
keeps its ``spread`` (slowest / fastest sample) so the noise stays visible.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import IO, Any, Callable

READ_WARMUPS, READ_REPS = 3, 11
TX_WARMUPS, TX_REPS = 1, 5
LONG_MS, LONG_REPS = 4000, 3  # a transaction op whose warm-up took > 4 s on some system: 3 repetitions
BATCH_MS = 20  # a read sample runs the op B times, B in 1, 10, 100, 1000, so that it lasts >= 20 ms


@dataclass
class Op:
    """One op of one system: ``kind`` "read" (``fn()``) or "tx" (``fn(setup())``, ``setup`` untimed)."""

    kind: str
    fn: Callable[..., Any]
    check: Callable[[Any], tuple[int, int]]
    setup: Callable[[], Any] | None = None
    done: Callable[[], Any] | None = None  # untimed clean-up after the check (closing stores ...)
    extra: dict[str, Any] = field(default_factory=dict)


class Server:
    """The serving side, in Python: ``systems`` maps system -> op -> a factory of :class:`Op`."""

    def __init__(self, systems: dict[str, dict[str, Callable[[], Op]]], quick: bool = False) -> None:
        self.systems = systems
        self.quick = quick
        self.current: dict[tuple[str, str], tuple[Op, int]] = {}
        self.result: dict[tuple[str, str], Any] = {}

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        key = (req.get("system", ""), req.get("op", ""))
        if cmd == "prepare":
            op = self.systems[key[0]][key[1]]()
            batch = self.warm(key, op)
            self.current[key] = (op, batch)
            return {"batch": batch}
        if cmd == "sample":
            op, batch = self.current[key]
            return self.sample(key, op, batch)
        if cmd == "check":
            op, _ = self.current.pop(key)
            count, checksum = op.check(self.result.pop(key))
            if op.done:
                op.done()
            return {"result_count": count, "checksum": checksum, **op.extra}
        raise ValueError(f"unknown command {cmd!r}")

    def warm(self, key: tuple[str, str], op: Op) -> int:
        if op.kind == "tx":
            return 1
        fastest = float("inf")
        for _ in range(1 if self.quick else READ_WARMUPS):
            c0 = time.process_time()
            self.result[key] = op.fn()
            fastest = min(fastest, (time.process_time() - c0) * 1000)
        if self.quick:
            return 1
        return next((b for b in (1, 10, 100, 1000) if b * fastest >= BATCH_MS), 1000)

    def sample(self, key: tuple[str, str], op: Op, batch: int) -> dict[str, Any]:
        fn = op.fn
        if op.kind == "tx":
            state = op.setup() if op.setup else None
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            res = fn(state)
            ms, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        else:
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(batch):
                res = fn()
            ms = (time.perf_counter() - t0) * 1000 / batch
            cpu = (time.process_time() - c0) * 1000 / batch
        self.result[key] = res
        return {"ms": round(ms, 4), "cpu_ms": round(cpu, 4)}

    def loop(self, inp: IO[str], out: IO[str], ready: dict[str, Any]) -> None:
        out.write(json.dumps({"ready": {s: list(ops) for s, ops in self.systems.items()}, **ready}) + "\n")
        out.flush()
        for raw in inp:
            req = json.loads(raw)
            if req.get("cmd") == "quit":
                break
            try:
                resp = self.handle(req)
            except Exception as exc:  # an op that fails is reported; the other ops go on
                traceback.print_exc(file=sys.stderr)
                resp = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            out.write(json.dumps(resp) + "\n")
            out.flush()


def serve(systems: dict[str, dict[str, Callable[[], Op]]], quick: bool = False, **ready: Any) -> None:
    """Serve on this process's stdin/stdout (the protocol's lines only: anything else goes to stderr)."""
    out = sys.stdout
    sys.stdout = sys.stderr  # a stray print must not break the protocol
    gc.collect()
    gc.freeze()  # the standard db lives in the permanent generation, as in a long-running peer
    try:
        Server(systems, quick).loop(sys.stdin, out, ready)
    finally:
        sys.stdout = out


# ==== the runner's side ====================================================================================

class ServerError(RuntimeError):
    """A server died or answered an error."""


class Client:
    """A server process, started with ``cmd``; its ready line says which systems and ops it serves."""

    def __init__(self, name: str, cmd: list[str], cwd: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.ops: dict[str, list[str]] = {}
        self.info: dict[str, Any] = {}

    def wait_ready(self) -> None:
        ready = self._read()
        self.ops = ready.pop("ready")
        self.info = ready

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if raw.startswith("{"):
                return json.loads(raw)  # type: ignore[no-any-return]
        raise ServerError(f"server {self.name} exited with status {self.proc.wait()}")

    def request(self, cmd: str, system: str, op: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"cmd": cmd, "system": system, "op": op}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise ServerError(f"server {self.name} is gone") from None
        resp = self._read()
        if "error" in resp:
            raise ServerError(f"{system} {op}: {resp['error']}")
        return resp

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"cmd": "quit"}\n')
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def order(systems: list[str], rep: int) -> list[str]:
    """The systems' turn in repetition ``rep``: rotated by one each repetition (A B C, B C A, C A B, ...).

    >>> [order(["a", "b"], r) for r in range(3)]
    [['a', 'b'], ['b', 'a'], ['a', 'b']]
    """
    k = rep % len(systems) if systems else 0
    return systems[k:] + systems[:k]


def spread(samples: list[float]) -> float:
    return max(samples) / max(min(samples), 1e-9)


def interleave(op: str, kind: str, clients: dict[str, Client], quick: bool = False,
               reps: int | None = None, load: Callable[[], float] = lambda: os.getloadavg()[0],
               log: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    """Time ``op`` on every system of ``clients`` (system -> its server), alternating per repetition.

    Reads: 11 repetitions (after the servers' own warm-ups). Transactions:
    one interleaved warm-up round, thrown away, then ``reps`` (5)
    repetitions, or 3 when some system's warm-up took more than 4 s (the
    long ops, add-entity and add-1, would otherwise take most of the run).
    A system that fails is left out of the op and its row says why.
    Returns one row per system.
    """
    rows: dict[str, dict[str, Any]] = {}
    live: list[str] = []
    for system, client in clients.items():
        try:
            rows[system] = {"batch": client.request("prepare", system, op)["batch"]}
            live.append(system)
        except ServerError as exc:
            rows[system] = {"failed": str(exc)}

    def one_round(rep: int, got: dict[str, dict[str, list[float]]]) -> None:
        for system in order(live, rep):
            if "failed" in rows[system]:
                continue
            try:
                resp = clients[system].request("sample", system, op)
            except ServerError as exc:
                rows[system] = {"failed": str(exc)}
                continue
            got[system]["ms"].append(resp["ms"])
            got[system]["cpu_ms"].append(resp["cpu_ms"])
            got[system]["load"].append(round(load(), 2))

    if quick:
        reps = 1
    elif kind == "read":
        reps = reps or READ_REPS
    else:
        reps = reps or TX_REPS
        warm: dict[str, dict[str, list[float]]] = {s: {"ms": [], "cpu_ms": [], "load": []} for s in live}
        for _ in range(TX_WARMUPS):
            one_round(0, warm)
        slowest = max((max(g["ms"]) for g in warm.values() if g["ms"]), default=0.0)
        if slowest > LONG_MS and reps > LONG_REPS:
            log(f"{op}: warm-up took {slowest / 1000:.1f} s: {LONG_REPS} repetitions")
            reps = LONG_REPS
    got: dict[str, dict[str, list[float]]] = {s: {"ms": [], "cpu_ms": [], "load": []} for s in live}
    for rep in range(reps):
        one_round(rep, got)
    for system in live:
        g = got[system]
        if "failed" in rows[system] or not g["ms"]:
            continue
        try:
            check = clients[system].request("check", system, op)
        except ServerError as exc:
            rows[system] = {"failed": str(exc)}
            continue
        rows[system].update(timing(g["ms"], g["cpu_ms"], g["load"]), interleaved=live, **check)
    return [{"system": s, "op": op, **r} for s, r in rows.items()]


def timing(ms: list[float], cpu: list[float], load: list[float]) -> dict[str, Any]:
    """The timing fields of a result line: wall and CPU medians per execution, the load beside the samples."""
    return {"median_ms": round(statistics.median(ms), 3), "min_ms": round(min(ms), 3),
            "max_ms": round(max(ms), 3), "cpu_median_ms": round(statistics.median(cpu), 3),
            "reps": len(ms), "spread": round(spread(ms), 2),
            "load_avg": [min(load), round(statistics.median(load), 2), max(load)],
            "samples_ms": [round(x, 3) for x in ms]}
