"""The side-effect journal for overseer handlers (RELIABILITY.md T9).

Test handlers append ``{id, attempt, pid, ev: start|end, t}`` lines to a
journal file with ``O_APPEND`` and fsync, one ``write`` per line (lines from
several processes never interleave), so a scenario can count real executions
against the outcomes recorded in the store.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from typing import Any, Callable

ENV = "RELIABILITY_SIDEFX"


def append(path: str, rec: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(rec) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(ln) for ln in text.split("\n")[:-1] if ln.strip()]


def handler(path: str, sleep: Callable[[], float] | float = 0.0) -> Callable[[Any], None]:
    """A job handler that journals its start and end around an optional sleep."""
    def run(job: Any) -> None:
        base = {"id": job[":job/id"], "attempt": job[":job/attempt"], "pid": os.getpid()}
        append(path, {**base, "ev": "start", "t": time.time()})
        s = sleep() if callable(sleep) else sleep
        if s:
            time.sleep(s)
        append(path, {**base, "ev": "end", "t": time.time()})
    return run


def executions(recs: list[dict[str, Any]]) -> dict[str, list[tuple[int, int, bool]]]:
    """job id -> [(attempt, pid, ended)] in journal order."""
    out: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    ends = {(r["id"], r["attempt"], r["pid"]) for r in recs if r["ev"] == "end"}
    for r in recs:
        if r["ev"] == "start":
            out[r["id"]].append((r["attempt"], r["pid"], (r["id"], r["attempt"], r["pid"]) in ends))
    return out
