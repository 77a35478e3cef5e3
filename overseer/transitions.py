"""Every state change of a job, as tx-data built from one Db value: the job state machine.

The states are ``:job/status`` values (``overseer/schema.edn``); the arrows are the
only ways a status changes, each written by one function of this module::

                          claim
      +-----------+ ------------------------> +---------+   finish   +----------+
      | unstarted |                           | started | ---------> | finished |
      +-----------+ <------------------------ +---------+            +----------+
        |  ^  ^      fault, release, reset      |     |
        |  |  |                                 |     | fail; poison (a fault or
        |  |  |          retry                  |     v   reset at max_attempts)
        |  |  +---------------------------------|-- +--------+
        |  |                                    |   | failed |
        |  |             retry                  |   +--------+
        |  +-------------------------------+    |
        |                                  |    v  abort (handler or operator)
        +--------------------------------> +---------+
          abort (operator); a dependency   | aborted |
          failed or was aborted            +---------+

- unstarted → started: a claim (in ``:overseer/settle``), only when every dependency
  is finished, the job's type is one the worker handles and its ``:job/not-before``
  has passed; ``:job/attempt`` goes up by one (a fencing token for its outcome).
- started → finished / failed / aborted / unstarted: an outcome of the attempt's
  worker (``:overseer/settle``: finish, fail, abort, fault, release), or a monitor's
  reset of a dead attempt (``:overseer/reset``). Each counts only while the job is
  still started by that attempt (J2).
- started → failed also when a fault or reset finds the counted attempts at
  ``max_attempts`` (a poison job, J7).
- unstarted → aborted: the job depends, transitively, on a job that failed or was
  aborted (:func:`abort_dependents`, in the same transaction as that failure), or an
  operator aborted it (:func:`abort_txn`).
- started → aborted by an operator (:func:`abort_txn`): the worker's outcome is
  fenced off, as the job is no longer started.
- failed / aborted → unstarted: an operator's retry (:func:`retry_txn`), with the
  dependents the failure aborted; the attempts already spent become free.

Every status change is a ``:db/cas`` from the status the change was decided on, so
one that raced with another change fails (``CasFailed``) instead of overwriting it:
one abort semantics, whether the tx-data is built inside a transaction function or
by an operator from a Db value that may be old. No transaction holds two
``:db/cas`` on one entity and attribute (RELIABILITY I2).

The transaction functions, registered when overseer is imported (every process that
transacts imports overseer); :mod:`overseer.claim` is the Python API over them.

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
from collections.abc import Callable, Sequence
from typing import Any

import fact_store as fs
from fact_store.edn import show

from overseer import queries
from overseer.errors import OverseerError, StaleAttempt
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


def value_of(db: Any, e: int, a: int) -> Any:
    """The value of cardinality-one attribute id ``a`` of entity ``e``, or None."""
    rows = db.search(e, a)
    return rows[0][2] if rows else None


def failure_json(kind: str, message: str, **extra: Any) -> str:
    """The ``:job/failure`` text: JSON with at least ``type`` and ``message``."""
    return json.dumps({"type": kind, "message": message, **extra}, default=repr, sort_keys=True)


def _is_current(db: Any, at: _Attrs, e: int, attempt: int, owner: str) -> bool:
    return (value_of(db, e, at.st) == STARTED and value_of(db, e, at.att) == attempt
            and value_of(db, e, at.own) == owner)


def is_current(db: Any, e: int, attempt: int, owner: str) -> bool:
    """Is ``attempt`` of job ``e`` still ``owner``'s, started (not reset, not recorded)?"""
    return _is_current(db, attrs(db), e, attempt, owner)


def _deps_done(db: Any, at: _Attrs, e: int, finishing: set[int]) -> bool:
    for row in db.search(e, at.dep):
        d = row[2]
        if d not in finishing and value_of(db, d, at.st) != FINISHED:
            return False
    return True


def counted(db: Any, at: _Attrs, e: int, attempt: int) -> int:
    """The attempts of job ``e`` that count toward max_attempts (``attempt`` minus the free ones)."""
    return attempt - (value_of(db, e, at.free) or 0)


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


def abort_dependents(db: Any, eids: Sequence[int]) -> list[Any]:
    """tx-data that aborts the unstarted transitive dependents of the jobs ``eids`` (J4).

    Each is a ``:db/cas`` from ``:unstarted``: inside a transaction function (``db`` is
    the latest value) it always holds; in tx-data built from an older value (an
    operator's :func:`abort_txn`) a dependent claimed meanwhile makes the whole
    transaction fail rather than abort a job that started. Each dependent once.
    """
    return [[":db/cas", d, _ST, UNSTARTED, ABORTED]
            for d in dict.fromkeys(queries.unstarted_dependents(db, eids))]


# -- the transaction functions ----------------------------------------------------------

def heartbeat_stamp(now: int | Callable[[], int]) -> int:
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
        if _is_current(db, at, e, attempt, owner) and value_of(db, e, at.run) != attempt:
            out.append([":db/add", e, _RUN, attempt])
    finishing: set[int] = set()
    doomed: list[int] = []  # jobs whose failure or abort aborts their dependents
    for e, attempt, kind, failure, *more in outcomes:
        not_before = more[0] if more else None
        if not _is_current(db, at, e, attempt, owner):
            continue  # fenced: the attempt was reset (and maybe re-claimed) meanwhile
        if kind == FINISH:
            out.append([":db/cas", e, _ST, STARTED, FINISHED])
            old = value_of(db, e, at.fail)
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
                out.append([":db/add", e, _FREE, (value_of(db, e, at.free) or 0) + 1])
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
        cascade = abort_dependents(db, doomed)
        aborted.update(op[1] for op in cascade)
        out.extend(cascade)
    if want > 0:
        type_set = {K(t) for t in types}
        stamp = heartbeat_stamp(now)  # under the writer lock: claims and not-before times use this time

        def eligible(c: int) -> bool:
            return (value_of(db, c, at.st) == UNSTARTED and value_of(db, c, at.type) in type_set
                    and (value_of(db, c, at.nb) or 0) <= stamp and _deps_done(db, at, c, finishing))

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
            attempt = (value_of(db, c, at.att) or 0) + 1
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
    stamp = heartbeat_stamp(now)
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
    status, cur_attempt = value_of(db, e, at.st), value_of(db, e, at.att) or 0
    cur_hb = value_of(db, e, at.hb) or 0
    if status != STARTED or cur_attempt != attempt or cur_hb != heartbeat:
        raise StaleAttempt(f"job {e} moved on since the monitor saw it (status {status}, attempt "
                           f"{cur_attempt}, heartbeat {cur_hb}); not reset", eid=e)
    resets = value_of(db, e, at.resets)
    out: list[Any] = [[":db/cas", e, _RESETS, resets, (resets or 0) + 1]]
    if counted(db, at, e, attempt) >= max_attempts:
        out.append([":db/cas", e, _ST, STARTED, FAILED])
        out.append([":db/add", e, _FAIL, _poison(attempt, max_attempts,
                                                 f"heartbeat stale since {heartbeat} (now {now})")])
        out.extend(abort_dependents(db, [e]))
    else:
        out.append([":db/cas", e, _ST, STARTED, UNSTARTED])
        if not_before is not None:  # the retry's backoff
            out.append([":db/add", e, _NB, int(not_before)])
    return out


fs.register_tx_fn(":overseer/settle", settle_fn)
fs.register_tx_fn(":overseer/heartbeat", heartbeat_fn)
fs.register_tx_fn(":overseer/reset", reset_fn)


# -- an operator's steering: tx-data built from a Db value, submitted as is -------------

def _status(db: fs.Db, eid: int) -> Any:
    rows = list(db.datoms("eavt", eid, ":job/status"))
    return rows[0].v if rows else None


def _require(db: fs.Db, job_id: str) -> int:
    eid = db.entid((":job/id", job_id)) if queries.has_jobs(db) else None
    if eid is None:
        raise OverseerError(f"no job with id {show(job_id)}", id=job_id)
    return eid


def abort_txn(db: fs.Db, job_id: str, reason: str = "aborted by an operator") -> list[Any]:
    """tx-data that aborts an unstarted or started job and its unstarted transitive dependents.

    Each status change is a ``:db/cas``, so a worker that claims or finishes
    the job meanwhile makes the transaction fail instead of being overwritten;
    a started job's worker is fenced (its outcome needs the job still started).

    :raises OverseerError: no such job, or it already ended.
    """
    eid = _require(db, job_id)
    st = _status(db, eid)
    if st not in (UNSTARTED, STARTED):
        raise OverseerError(f"job {show(job_id)} is {st}: only unstarted or started jobs can be "
                            "aborted", id=job_id, status=st)
    tx: list[Any] = [[":db/cas", eid, ":job/status", st, ABORTED],
                     [":db/add", eid, ":job/failure", failure_json("overseer/abort", reason)]]
    tx.extend(abort_dependents(db, [eid]))
    return tx


def retry_txn(db: fs.Db, job_id: str) -> list[Any]:
    """tx-data that puts a failed or aborted job back to unstarted, with the dependents it aborted.

    Their attempt count starts again (every attempt so far becomes free, so a poison
    job gets ``max_attempts`` new tries) and any backoff is dropped.

    An aborted transitive dependent is reset too when every one of its deps is
    reset by this transaction or has not failed or been aborted (otherwise it
    would wait forever). Status changes are ``:db/cas``; ``:job/failure`` is
    retracted (the history db keeps it).

    :raises OverseerError: no such job, or it is not failed or aborted.
    """
    eid = _require(db, job_id)
    st = _status(db, eid)
    if st not in (FAILED, ABORTED):
        raise OverseerError(f"job {show(job_id)} is {st}: only failed or aborted jobs can be retried",
                            id=job_id, status=st)
    reset = {eid}
    dependents = fs.q("[:find [?j ...] :in $ % ?j0 :where (depends-on ?j ?j0)]", db,
                      queries.DEPENDS_ON_RULES, eid)
    aborted = [d for d in dependents if _status(db, d) == ABORTED]
    changed = True
    while changed:
        changed = False
        for d in aborted:
            if d in reset:
                continue
            deps = [r.v for r in db.datoms("eavt", d, ":job/dep")]
            if all(x in reset or _status(db, x) not in (FAILED, ABORTED) for x in deps):
                reset.add(d)
                changed = True
    tx: list[Any] = []
    for e in sorted(reset):
        tx.append([":db/cas", e, ":job/status", _status(db, e), UNSTARTED])
        for f in db.datoms("eavt", e, ":job/failure"):
            tx.append([":db/retract", e, ":job/failure", f.v])
        # a fresh count of attempts (toward max_attempts) and no backoff left to wait
        for a in db.datoms("eavt", e, ":job/attempt"):
            tx.append([":db/add", e, ":job/free-attempts", a.v])
        for nb in db.datoms("eavt", e, ":job/not-before"):
            tx.append([":db/retract", e, ":job/not-before", nb.v])
    return tx
