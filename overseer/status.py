"""Read-only views: graph progress, failed jobs, who is running what.

Each view reads one Db value (a consistent snapshot) with the queries of
:mod:`overseer.queries`; none writes anything.

>>> import fact_store as fs, overseer
>>> conn = fs.connect("mem:overseer-status-doc")
>>> _ = overseer.install_schema(conn)
>>> _ = conn.transact(overseer.graph_txns({"a": [], "b": ["a"]}))
>>> p = progress(conn.db())
>>> p.total, p.done, p.counts[overseer.UNSTARTED], p.is_complete
(2, 0, 2, False)
>>> conn.close()
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import fact_store as fs

from overseer import queries
from overseer.schema import STATUSES, TERMINAL

@dataclass(frozen=True, slots=True)
class Progress:
    """How many jobs have each status."""

    counts: dict[fs.Keyword, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        """Jobs in a terminal status (finished, failed, aborted)."""
        return sum(n for s, n in self.counts.items() if s in TERMINAL)

    @property
    def is_complete(self) -> bool:
        return self.done == self.total


def progress(db: Any) -> Progress:
    """Job counts by status (every status present, zeros included)."""
    counts = {s: 0 for s in STATUSES}
    counts.update(queries.status_counts(db))
    return Progress(counts)


def running(db: Any) -> list[dict[str, Any]]:
    """The started jobs: id, type, the worker holding it, attempt, last heartbeat (epoch ms) and state.

    ``state`` is ``"running"`` when the job's handler is known to have started, and
    ``"claimed"`` when the job waits in its worker's batch (for at most the worker's
    ``max_hold``, after which it is given back or marked running).
    """
    return [{"id": i, "type": t, "owner": o, "attempt": a, "heartbeat": h,
             "state": "running" if r == a else "claimed"}
            for i, t, o, a, h, r in sorted(fs.q(queries.RUNNING, db))]


def failed(db: Any) -> list[dict[str, Any]]:
    """The failed jobs with their failure info (decoded from ``:job/failure``)."""
    out = []
    for i, t, f in sorted(fs.q(queries.FAILED_JOBS, db)):
        try:
            info = json.loads(f)
        except ValueError:
            info = {"message": f}
        out.append({"id": i, "type": t, "failure": info})
    return out


def worker_name(owner: str) -> str:
    """``host:pid:uuid`` → ``host:pid`` (what a person reads in a table)."""
    parts = owner.split(":")
    return ":".join(parts[:2]) if len(parts) >= 2 else owner
