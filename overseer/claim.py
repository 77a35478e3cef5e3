"""claim / finish / fail / abort / fault as transactions; losing a race is a return value.

Every state change of a job is a *registered transaction function*: it runs in
the transacting process, under the store's writer lock, against the latest db,
so its checks see the truth (RELIABILITY I1). The functions (registered when
overseer is imported; every process that transacts imports overseer):

``:overseer/settle`` (owner, outcomes, candidates, want, types, now, max_attempts, pool_size, seed, hand_off, running)
    Records the outcomes of attempts a worker ran *and* claims its next jobs, in
    one transaction: with no-op jobs the durable commit is the bottleneck, so one
    commit serves the finish of one batch and the claim of the next.

    - An outcome ``(eid, attempt, kind, failure_json)`` counts only if the job is
      still ``:started`` by that ``attempt`` and ``owner`` (fencing, J2); a stale
      one is dropped, and the worker sees it missing from the tx-data.
      ``finish`` → ``:finished`` (``:job/failure`` retracted);
      ``fail``/``abort`` → ``:failed``/``:aborted`` plus every unstarted transitive
      dependent ``:aborted`` (a recursive rule, same transaction, J4);
      ``fault`` → ``:unstarted`` with ``:job/not-before`` (its backoff), or ``:failed``
      as a poison job once the counted attempts reached ``max_attempts`` (J7); ``release`` → ``:unstarted`` and the
      attempt does not count (``:job/free-attempts`` + 1): a worker gives back a job
      it had not run (it was stopping, or the job waited in its batch longer than
      ``max_hold``), or was interrupted.
    - ``running`` ``(eid, attempt)``: handlers that started after their claim
      committed get ``:job/running`` = attempt (the first job of a claim gets it in
      the claim itself), so ``status`` tells a running job from a claimed one.
    - Then it claims up to ``want`` jobs chosen uniformly at random (:func:`pick`,
      with ``random.Random(seed)``) among ``candidates`` (a random sample of the
      ``pool_size`` jobs the worker saw ready) and the dependents that this
      transaction's finishes make ready (so one commit records a parent and can
      claim its child, without preferring it). A job is claimed only if it is
      still ``:unstarted``, of a type in ``types``, not before its ``:job/not-before``
      (``now``, epoch ms), and every dependency is
      ``:finished`` (or finished by this transaction). A claim sets status
      ``:started`` (``:db/cas`` from ``:unstarted``), ``:job/attempt`` n+1,
      ``:job/owner`` and ``:job/heartbeat``.

``:overseer/heartbeat`` (owner, attempts, now)
    Renews the heartbeat of each ``(eid, attempt)`` still current for ``owner``;
    raises :class:`~overseer.errors.StaleAttempt` when none is.

``:overseer/reset`` (eid, attempt, heartbeat, now, max_attempts)
    A monitor's reset of a dead job: only if the job is still ``:started`` by
    ``attempt`` with the stale ``heartbeat`` the monitor saw (else StaleAttempt: a
    heartbeat, an outcome or another monitor came first). ``:db/cas`` status
    ``:started``→``:unstarted`` and ``:job/resets`` r→r+1, or the poison outcome.

Attempt numbers go up at each claim (not at a reset), so the attempt a worker
holds is unique to it; resets and faults move the status away from ``:started``,
which fences the old attempt until the next claim gives the job a new number.
No transaction holds two ``:db/cas`` on one entity and attribute (RELIABILITY I2).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import fact_store as fs
from fact_store.edn import show

from overseer import queries
from overseer.errors import StaleAttempt
from overseer.schema import ABORTED, FAILED, FINISHED, STARTED, UNSTARTED

K = fs.Keyword
_ST, _ATT, _OWN, _HB, _DEP, _TYPE, _FAIL, _RESETS, _RUN, _FREE, _NB = (
    K(":job/status"), K(":job/attempt"), K(":job/owner"), K(":job/heartbeat"), K(":job/dep"),
    K(":job/type"), K(":job/failure"), K(":job/resets"), K(":job/running"), K(":job/free-attempts"),
    K(":job/not-before"))

FINISH, FAIL, ABORT, FAULT, RELEASE = "finish", "fail", "abort", "fault", "release"
OUTCOME_KINDS = (FINISH, FAIL, ABORT, FAULT, RELEASE)


class _Attrs:
    """Attribute ids of one schema version, for direct index reads under the lock."""

    __slots__ = ("st", "att", "own", "hb", "dep", "type", "fail", "resets", "run", "free", "nb")

    def __init__(self, db: Any) -> None:
        a = db.schema.attr
        ids = []
        for ident in (_ST, _ATT, _OWN, _HB, _DEP, _TYPE, _FAIL, _RESETS, _RUN, _FREE, _NB):
            attr = a(ident)
            if attr is None:
                raise fs.SchemaError(f"overseer's schema is not installed ({ident} is missing): "
                                     "call overseer.install_schema(conn) first", attribute=ident)
            ids.append(attr.id)
        (self.st, self.att, self.own, self.hb, self.dep, self.type, self.fail,
         self.resets, self.run, self.free, self.nb) = ids


_attr_cache: dict[int, tuple[Any, _Attrs]] = {}


def attrs(db: Any) -> _Attrs:
    """Overseer's attribute ids in ``db`` (cached per schema object)."""
    key = id(db.schema)
    hit = _attr_cache.get(key)
    if hit is not None and hit[0] is db.schema:
        return hit[1]
    at = _Attrs(db)
    if len(_attr_cache) > 64:
        _attr_cache.clear()
    _attr_cache[key] = (db.schema, at)
    return at


def _one(db: Any, e: int, a: int) -> Any:
    rows = db.search(e, a)
    return rows[0][2] if rows else None


def failure_json(kind: str, message: str, **extra: Any) -> str:
    """The ``:job/failure`` text: JSON with at least ``type`` and ``message``."""
    return json.dumps({"type": kind, "message": message, **extra}, default=repr, sort_keys=True)


def _is_current(db: Any, at: _Attrs, e: int, attempt: int, owner: str) -> bool:
    return (_one(db, e, at.st) == STARTED and _one(db, e, at.att) == attempt
            and _one(db, e, at.own) == owner)


def is_current(db: Any, e: int, attempt: int, owner: str) -> bool:
    """Is ``attempt`` of job ``e`` still ``owner``'s, started (not reset, not recorded)?"""
    return _is_current(db, attrs(db), e, attempt, owner)


def _deps_done(db: Any, at: _Attrs, e: int, finishing: set[int]) -> bool:
    for row in db.search(e, at.dep):
        d = row[2]
        if d not in finishing and _one(db, d, at.st) != FINISHED:
            return False
    return True


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


def counted(db: Any, at: _Attrs, e: int, attempt: int) -> int:
    """The attempts of job ``e`` that count toward max_attempts (``attempt`` minus the free ones)."""
    return attempt - (_one(db, e, at.free) or 0)


def _faulted(failure: str | None) -> str:
    """``faulted (why)`` from a fault's failure JSON."""
    try:
        msg = json.loads(failure)["message"] if failure else ""
    except (ValueError, KeyError, TypeError):
        msg = ""
    return f"faulted ({msg})" if msg else "faulted"


def _poison(attempt: int, max_attempts: int, why: str) -> str:
    return failure_json("overseer/poison",
                        f"poison job: {why} at attempt {attempt}, and max_attempts is {max_attempts}",
                        attempt=attempt)


# -- the transaction functions ----------------------------------------------------------

def _stamp(now: int | Callable[[], int]) -> int:
    """The heartbeat stamp: ``now`` itself, or read from it when it is a clock.

    A clock is read here, inside the transaction function, i.e. under the writer
    lock: a claim that waited long for the lock is stamped with the time it
    commits at, not the time the worker asked (else it could be born stale and be
    reset at once, RELIABILITY O-01).
    """
    return int(now() if callable(now) else now)


def pick(children: list[int], candidates: Sequence[int], pool_size: int | None, want: int,
         eligible: Any, rng: random.Random, hand_off: bool = False) -> list[int]:
    """Choose up to ``want`` jobs, uniformly at random, among ``children`` and the worker's pool.

    ``candidates`` is a uniform random sample, in random order, of the worker's pool
    of ``pool_size`` ready jobs; ``children`` are jobs made ready by the transaction
    itself. Each draw takes a child with probability ``children left / (children
    left + pool left)`` (a uniform child) and otherwise the next candidate that is
    still ``eligible``: a uniform choice without replacement from the union, so a
    job whose parent just finished is no likelier to run next than any other ready
    job (the seed: "executed jobs are selected randomly from the pool of all
    eligible jobs"). ``hand_off`` (opt-in, latency-first) takes children first.
    O(want + stale candidates).

    >>> pick([7], [1, 2, 3], 3, 4, lambda c: True, random.Random(0))
    [1, 2, 7, 3]
    >>> pick([7], [1, 2, 3], 3, 2, lambda c: True, random.Random(0), hand_off=True)
    [7, 1]
    """
    kids = list(children)
    pool_left = max(len(candidates), pool_size or 0)
    it = iter(candidates)
    out: list[int] = []
    taken = set(kids)  # a candidate listed twice, or also a child, counts once
    while len(out) < want and (kids or pool_left > 0):
        if kids and (hand_off or rng.random() * (len(kids) + pool_left) < len(kids)):
            i = 0 if hand_off else rng.randrange(len(kids))
            kids[i], kids[-1] = kids[-1], kids[i]
            out.append(kids.pop())
            continue
        pool_left -= 1
        for c in it:
            if c not in taken and eligible(c):
                taken.add(c)
                out.append(c)
                break
        else:
            pool_left = 0  # every candidate was taken by others meanwhile
    return out


def settle_fn(db: Any, owner: str, outcomes: Sequence[Sequence[Any]], candidates: Sequence[int],
              want: int, types: Sequence[Any], now: int | Callable[[], int], max_attempts: int,
              pool_size: int | None = None, seed: int | None = None, hand_off: bool = False,
              running: Sequence[Sequence[int]] = ()) -> list[Any]:
    at = attrs(db)
    out: list[Any] = []
    for e, attempt in running:  # handlers that started after their claim's commit
        if _is_current(db, at, e, attempt, owner) and _one(db, e, at.run) != attempt:
            out.append([":db/add", e, _RUN, attempt])
    finishing: set[int] = set()
    doomed: list[int] = []  # jobs whose failure or abort aborts their dependents
    for e, attempt, kind, failure, *more in outcomes:
        not_before = more[0] if more else None
        if not _is_current(db, at, e, attempt, owner):
            continue  # fenced: the attempt was reset (and maybe re-claimed) meanwhile
        if kind == FINISH:
            out.append([":db/cas", e, _ST, STARTED, FINISHED])
            old = _one(db, e, at.fail)
            if old is not None:
                out.append([":db/retract", e, _FAIL, old])
            finishing.add(e)
        elif kind in (FAIL, ABORT):
            out.append([":db/cas", e, _ST, STARTED, FAILED if kind == FAIL else ABORTED])
            if failure:
                out.append([":db/add", e, _FAIL, failure])
            doomed.append(e)
        elif kind in (FAULT, RELEASE):
            if kind == RELEASE:  # given back unrun (or interrupted): the attempt is free
                out.append([":db/add", e, _FREE, (_one(db, e, at.free) or 0) + 1])
            if kind == FAULT and counted(db, at, e, attempt) >= max_attempts:
                out.append([":db/cas", e, _ST, STARTED, FAILED])
                out.append([":db/add", e, _FAIL, _poison(attempt, max_attempts, _faulted(failure))])
                doomed.append(e)
            else:
                out.append([":db/cas", e, _ST, STARTED, UNSTARTED])
                if failure:
                    out.append([":db/add", e, _FAIL, failure])
                if kind == FAULT and not_before is not None:  # the retry's backoff
                    out.append([":db/add", e, _NB, int(not_before)])
        else:
            raise fs.InvalidTxData(f"unknown outcome kind {show(kind)}; expected one of {', '.join(OUTCOME_KINDS)}",
                                   kind=kind)
    aborted: set[int] = set()
    if doomed:
        for d in queries.unstarted_dependents(db, doomed):
            if d not in aborted:
                aborted.add(d)
                out.append([":db/add", d, _ST, ABORTED])
    if want > 0:
        type_set = {K(t) for t in types}
        stamp = _stamp(now)  # under the writer lock: claims and not-before times use this time

        def eligible(c: int) -> bool:
            return (_one(db, c, at.st) == UNSTARTED and _one(db, c, at.type) in type_set
                    and (_one(db, c, at.nb) or 0) <= stamp and _deps_done(db, at, c, finishing))

        # the jobs this transaction's finishes make ready join the ones the worker saw ready
        children: list[int] = []
        seen: set[int] = set(aborted) | set(candidates)
        for e in finishing:
            for row in db.search(None, at.dep, e):
                c = row[0]
                if c not in seen:
                    seen.add(c)
                    if eligible(c):
                        children.append(c)
        picked = pick(children, candidates, pool_size, want, eligible, random.Random(seed), hand_off)
        for i, c in enumerate(picked):
            attempt = (_one(db, c, at.att) or 0) + 1
            if i == 0:  # the worker starts this one as soon as the claim commits
                out.append([":db/add", c, _RUN, attempt])
            out.append([":db/cas", c, _ST, UNSTARTED, STARTED])
            out.append([":db/add", c, _ATT, attempt])
            out.append([":db/add", c, _OWN, owner])
            out.append([":db/add", c, _HB, stamp])
    return out


def heartbeat_fn(db: Any, owner: str, attempts: Sequence[Sequence[int]],
                 now: int | Callable[[], int]) -> list[Any]:
    at = attrs(db)
    stamp = _stamp(now)
    out = [[":db/add", e, _HB, stamp] for e, attempt in attempts if _is_current(db, at, e, attempt, owner)]
    if not out:
        raise StaleAttempt(f"no attempt of {owner} is current any more; heartbeat refused",
                           owner=owner, attempts=list(attempts))
    return out


def reset_fn(db: Any, e: int, attempt: int, heartbeat: int, now: int, max_attempts: int,
             clock: Callable[[], int] | None = None, not_after: int | None = None,
             not_before: int | None = None) -> list[Any]:
    if clock is not None and not_after is not None and clock() > not_after:
        # this reset waited for the writer lock past not_after: the store was unavailable
        # meanwhile, so the heartbeat may be stale only because it could not be written
        raise StaleAttempt(f"the reset of job {e} waited for the writer lock until after "
                           f"{not_after} ms (the store was unavailable); not reset", eid=e)
    at = attrs(db)
    status, cur_attempt = _one(db, e, at.st), _one(db, e, at.att) or 0
    cur_hb = _one(db, e, at.hb) or 0
    if status != STARTED or cur_attempt != attempt or cur_hb != heartbeat:
        raise StaleAttempt(f"job {e} moved on since the monitor saw it (status {status}, attempt "
                           f"{cur_attempt}, heartbeat {cur_hb}); not reset", eid=e)
    resets = _one(db, e, at.resets)
    out: list[Any] = [[":db/cas", e, _RESETS, resets, (resets or 0) + 1]]
    if counted(db, at, e, attempt) >= max_attempts:
        out.append([":db/cas", e, _ST, STARTED, FAILED])
        out.append([":db/add", e, _FAIL, _poison(attempt, max_attempts,
                                                 f"heartbeat stale since {heartbeat} (now {now})")])
        for d in queries.unstarted_dependents(db, [e]):
            out.append([":db/add", d, _ST, ABORTED])
    else:
        out.append([":db/cas", e, _ST, STARTED, UNSTARTED])
        if not_before is not None:  # the retry's backoff
            out.append([":db/add", e, _NB, int(not_before)])
    return out


fs.register_tx_fn(":overseer/settle", settle_fn)
fs.register_tx_fn(":overseer/heartbeat", heartbeat_fn)
fs.register_tx_fn(":overseer/reset", reset_fn)


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
    inside the transaction function, under the writer lock (use it: see ``_stamp``).

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
        t = _one(db, e, attrs(db).type)
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
    me = [{":worker/id": owner, ":worker/heartbeat": _stamp(now)}] if worker else []
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
    at = attrs(db)
    return {e for e, attempt in atts if _is_current(db, at, e, attempt, owner)}


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
