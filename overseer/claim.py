"""The Python API over overseer's transaction functions: settle, claim, record, heartbeat, reset.

The state changes themselves (the transaction functions and the job state machine)
are in :mod:`overseer.transitions`; this module sends them to a connection and
reads the answer, so losing a race is a return value, never an exception.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import fact_store as fs

from overseer.errors import StaleAttempt
from overseer.schema import STARTED
# the names workers, handlers and tests have always imported from here
from overseer.transitions import (ABORT, FAIL, FAULT, FINISH, OUTCOME_KINDS, RELEASE, attrs,
                                  failure_json, heartbeat_stamp, is_current, pick, value_of)

__all__ = ["Outcome", "Settled", "settle", "claim", "record", "heartbeat", "reset", "retry_delay",
           "failure_json", "is_current", "pick", "attrs", "FINISH", "FAIL", "ABORT", "FAULT", "RELEASE",
           "OUTCOME_KINDS"]

K = fs.Keyword


def retry_delay(n: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before counted attempt ``n + 1`` after a fault or reset: exponential backoff
    with "equal jitter", ``d/2 + uniform(0, d/2)`` where ``d = min(cap, base × 2^(n-1))``.

    >>> [round(retry_delay(n, 1.0, 10.0, random.Random(0)), 2) for n in (1, 2, 3, 4, 5)]
    [0.92, 1.84, 3.69, 7.38, 9.22]
    >>> retry_delay(3, 0.0, 10.0, random.Random(0))
    0.0
    """
    d = min(cap, base * 2.0 ** max(0, n - 1))
    return d / 2 + rng.uniform(0, d / 2)


# -- the Python API over them -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outcome:
    """What a worker reports for one attempt it ran."""

    eid: int
    attempt: int
    kind: str
    failure: str | None = None
    not_before: int | None = None  #: a fault's retry time (epoch ms)

    def as_arg(self) -> tuple[int, int, str, str | None, int | None]:
        return (self.eid, self.attempt, self.kind, self.failure, self.not_before)


@dataclass(frozen=True, slots=True)
class Settled:
    """The result of one settle transaction."""

    report: Any
    claimed: list[tuple[int, int]] = field(default_factory=list)  # (eid, attempt)
    recorded: list[int] = field(default_factory=list)             # outcome eids that counted
    stale: list[int] = field(default_factory=list)                # outcome eids fenced off


def settle(conn: Any, owner: str, outcomes: Iterable[Outcome] = (), candidates: Iterable[int] = (),
           want: int = 0, types: Iterable[Any] = (), now: int | Callable[[], int] = 0,
           max_attempts: int = 5, pool_size: int | None = None, seed: int | None = None,
           hand_off: bool = False, running: Iterable[tuple[int, int]] = ()) -> Settled:
    """Record ``outcomes`` and claim up to ``want`` jobs in one transaction (see the module doc).

    ``now`` (epoch ms) stamps the heartbeat of the claimed jobs; a callable is read
    inside the transaction function, under the writer lock (use it: see
    :func:`overseer.transitions.heartbeat_stamp`).

    Returns which jobs were claimed (with their new attempt numbers), which outcomes
    were recorded and which were stale. Never raises for a lost race.
    """
    outs = [o.as_arg() for o in outcomes]
    report = conn.transact([[":overseer/settle", owner, outs, tuple(candidates), int(want),
                             tuple(K(t) for t in types), now if callable(now) else int(now),
                             int(max_attempts), pool_size, seed, bool(hand_off),
                             tuple(tuple(r) for r in running)]])
    at = attrs(report.db_after)
    status_of: dict[int, Any] = {}
    attempt_of: dict[int, int] = {}
    first = None
    for d in report.tx_data:
        if d.added:
            if d.a == at.st:
                status_of[d.e] = d.v
            elif d.a == at.att:
                attempt_of[d.e] = d.v
            elif d.a == at.run:
                first = d.e
    claimed = [(e, attempt_of[e]) for e, s in status_of.items() if s == STARTED and e in attempt_of]
    claimed.sort(key=lambda c: c[0] != first)  # the one marked running first
    # an outcome never sets :started, so a job of ours that shows :started was fenced off
    # and then claimed afresh by this very transaction
    recorded = [o[0] for o in outs if status_of.get(o[0], STARTED) != STARTED]
    stale = [o[0] for o in outs if status_of.get(o[0], STARTED) == STARTED]
    return Settled(report, claimed, recorded, stale)


def claim(conn: Any, job: Any, owner: str, now: int, types: Iterable[Any] | None = None) -> int | None:
    """Claim one job (an eid, or a ``:job/id``); return the new attempt number, or None if lost.

    The claim checks under the writer lock that the job is unstarted and every
    dependency finished. ``types`` defaults to the job's own type.
    """
    db = conn.db()
    e = db.entid([":job/id", job]) if isinstance(job, str) else job
    if e is None:
        return None
    if types is None:
        t = value_of(db, e, attrs(db).type)
        types = [t] if t is not None else []
    got = settle(conn, owner, (), (e,), 1, types, now)
    return got.claimed[0][1] if got.claimed else None


def record(conn: Any, job: int, attempt: int, owner: str, kind: str, failure: str | None = None,
           max_attempts: int = 5) -> bool:
    """Record one outcome (finish, fail, abort, fault, release); False if the attempt was stale."""
    got = settle(conn, owner, [Outcome(job, attempt, kind, failure)], max_attempts=max_attempts)
    return bool(got.recorded)


def heartbeat(conn: Any, owner: str, attempts: Iterable[tuple[int, int]],
              now: int | Callable[[], int], worker: bool = False) -> set[int]:
    """Renew the heartbeats of ``attempts``; return the eids whose attempt is still current.

    ``now`` (epoch ms) may be a clock, read under the writer lock as for :func:`settle`.
    ``worker``: renew the registered worker's ``:worker/heartbeat`` in the same transaction.
    """
    atts = [tuple(a) for a in attempts]
    # an upsert, not a lookup ref: a renewal can never fail for want of the record
    me = [{":worker/id": owner, ":worker/heartbeat": heartbeat_stamp(now)}] if worker else []
    if not atts:
        if me:
            conn.transact(me)
        return set()
    try:
        report = conn.transact([[":overseer/heartbeat", owner, atts,
                                 now if callable(now) else int(now)], *me])
    except StaleAttempt:
        if me:
            conn.transact(me)
        return set()
    db = report.db_after
    return {e for e, attempt in atts if is_current(db, e, attempt, owner)}


def reset(conn: Any, job: int, attempt: int, heartbeat_seen: int, now: int,
          max_attempts: int = 5, *, clock: Callable[[], int] | None = None,
          not_after: int | None = None, not_before: int | None = None) -> bool:
    """A monitor's reset of a dead attempt; False if something else changed the job first.

    With ``clock`` (epoch ms) and ``not_after``, the reset is refused (False) when the
    transaction function runs after ``not_after``: it waited out an outage for the lock.
    ``not_before`` (epoch ms): the retry's backoff.
    """
    extra: list[Any] = [None, None] if clock is None or not_after is None else [clock, int(not_after)]
    try:
        conn.transact([[":overseer/reset", job, attempt, heartbeat_seen, int(now), int(max_attempts),
                        *extra, not_before]])
    except StaleAttempt:
        return False
    except fs.CasFailed:
        return False
    return True
