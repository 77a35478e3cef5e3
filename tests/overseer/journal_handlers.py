"""Handlers for the process tests: each run appends to a side-effect journal (RELIABILITY T9).

A worker started as ``overseer worker tests.overseer.journal_handlers:AB`` runs job
types ``a`` and ``b``. Every run appends a ``start`` line before the work and an
``end`` line after it to the file named by ``OVERSEER_TEST_JOURNAL``, with
``O_APPEND`` (one ``write`` per line, so lines from several processes never
interleave). ``slow`` jobs sleep ``OVERSEER_TEST_SLOW`` seconds.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


def _append(rec: dict[str, Any]) -> None:
    fd = os.open(os.environ["OVERSEER_TEST_JOURNAL"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(rec) + "\n").encode())
    finally:
        os.close(fd)


def _record(job: Any, sleep: float = 0.0) -> None:
    base = {"id": job[":job/id"], "type": job[":job/type"][1:], "attempt": job[":job/attempt"],
            "pid": os.getpid()}
    _append({**base, "ev": "start", "t": time.time()})
    if sleep:
        time.sleep(sleep)
    _append({**base, "ev": "end", "t": time.time()})


def _plain(job: Any) -> None:
    _record(job)


def _slow(job: Any) -> None:
    _record(job, float(os.environ.get("OVERSEER_TEST_SLOW", "1.0")))


def _suicide(job: Any) -> None:
    """A poison job: it kills its own worker every time (RELIABILITY O-09)."""
    _append({"id": job[":job/id"], "type": "suicide", "attempt": job[":job/attempt"], "pid": os.getpid(),
             "ev": "start", "t": time.time()})
    os.kill(os.getpid(), 9)


AB = {"a": _plain, "b": _plain}
POISON = {"suicide": _suicide}
BC = {"b": _plain, "c": _plain}
AC = {"a": _plain, "c": _plain}
SLOW = {"slow": _slow, "a": _plain}


def read(path: str) -> list[dict[str, Any]]:
    """The journal's records, in append order."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
