"""Every Datalog query and rule overseer runs, as named EDN strings, each with a comment.

The query engine parses a query once and caches it by its text, so keeping the
texts as module constants makes every run after the first a cache hit. Each
function below runs exactly one query against one Db value, so its answer is
consistent (a snapshot), and never does I/O.

Status values are plain keywords (``:unstarted`` …, see ``overseer/schema.edn``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import fact_store as fs

from overseer.config import epoch_ms

# -- rules ------------------------------------------------------------------------------

# (depends-on ?j ?d): job ?j waits for job ?d, directly or through other jobs.
# Recursive, as Overseer's own `transitive-dependents`; the engine evaluates rules
# iteratively (semi-naive), so a chain 100,000 deep does not hit the recursion limit.
DEPENDS_ON_RULES = """
[[(depends-on ?j ?d) [?j :job/dep ?d]]
 [(depends-on ?j ?d) [?j :job/dep ?m] (depends-on ?m ?d)]]
"""

# -- queries ----------------------------------------------------------------------------

# The ids of the jobs with one status. The AVET index on :job/status makes this
# O(log n + matches): a few unstarted jobs among a million finished ones are cheap.
JOBS_WITH_STATUS = """
[:find [?id ...]
 :in $ ?status
 :where [?j :job/status ?status]
        [?j :job/id ?id]]
"""

# Ready jobs: unstarted, and no dependency that is anything but finished.
# `not-join` keeps only ?j from the outer clauses: "there is no dep ?d of ?j whose
# status ?s differs from :finished". A job without deps is ready at once.
JOBS_READY = """
[:find [?id ...]
 :where [?j :job/status :unstarted]
        (not-join [?j]
          [?j :job/dep ?d]
          [?d :job/status ?s]
          [(not= ?s :finished)])
        [?j :job/id ?id]]
"""

# The worker's form of JOBS_READY: entity ids (what the claim needs) of ready jobs of
# the types it handles. The handled types come as one set, tested with a predicate
# after the type lookup: bound as a collection (`[?type ...]`), they would let the
# planner start from the type and visit every job of that type, finished or not.
# ?nb is the job's not-before time (epoch ms, 0 when none): the worker keeps a delayed
# job aside until then.
READY_EIDS_OF_TYPES = """
[:find ?j ?nb
 :in $ ?types
 :where [?j :job/status :unstarted]
        (not-join [?j]
          [?j :job/dep ?d]
          [?d :job/status ?s]
          [(not= ?s :finished)])
        [?j :job/type ?type]
        [(contains? ?types ?type)]
        [(get-else $ ?j :job/not-before 0) ?nb]]
"""

# The same check restricted to candidate entities (the dependents of jobs that just
# finished, jobs that just became unstarted): what keeps a worker's view of the ready
# jobs current without re-running READY_EIDS_OF_TYPES over every unstarted job.
READY_AMONG = """
[:find ?j ?nb
 :in $ [?j ...] ?types
 :where [?j :job/status :unstarted]
        [?j :job/type ?type]
        [(contains? ?types ?type)]
        (not-join [?j]
          [?j :job/dep ?d]
          [?d :job/status ?s]
          [(not= ?s :finished)])
        [(get-else $ ?j :job/not-before 0) ?nb]]
"""

# Ready jobs of every type, counted by type: what `--exit-when-done` and `status` compare
# with the types live workers handle.
READY_TYPE_COUNTS = """
[:find ?type (count ?j)
 :where [?j :job/status :unstarted]
        (not-join [?j]
          [?j :job/dep ?d]
          [?d :job/status ?s]
          [(not= ?s :finished)])
        [?j :job/type ?type]]
"""

# Registered workers with their last heartbeat and lease (0 when heartbeats are off).
WORKERS = """
[:find ?id ?hb ?lease
 :where [?w :worker/id ?id]
        [(get-else $ ?w :worker/heartbeat 0) ?hb]
        [(get-else $ ?w :worker/lease 0) ?lease]]
"""

# The job types of one registered worker.
WORKER_TYPES = """
[:find [?type ...]
 :in $ ?id
 :where [?w :worker/id ?id]
        [?w :worker/types ?type]]
"""

# Started jobs whose heartbeat is older than ?threshold (epoch ms): their worker is
# presumed dead. A job without a heartbeat datom counts as never alive.
JOBS_DEAD = """
[:find [?id ...]
 :in $ ?threshold
 :where [?j :job/status :started]
        [(get-else $ ?j :job/heartbeat 0) ?h]
        [(< ?h ?threshold)]
        [?j :job/id ?id]]
"""

# What a monitor needs to reset a dead job with compare-and-set: its entity, the
# attempt and the heartbeat it saw.
DEAD_ATTEMPTS = """
[:find ?j ?attempt ?h
 :in $ ?threshold
 :where [?j :job/status :started]
        [(get-else $ ?j :job/heartbeat 0) ?h]
        [(< ?h ?threshold)]
        [(get-else $ ?j :job/attempt 0) ?attempt]]
"""

# The ids of every job that transitively depends on the job with ?id.
TRANSITIVE_DEPENDENTS = """
[:find [?dep-id ...]
 :in $ % ?id
 :where [?j0 :job/id ?id]
        (depends-on ?j ?j0)
        [?j :job/id ?dep-id]]
"""

# Entity ids of the *unstarted* transitive dependents of any of the jobs ?j0: what
# an abort or a failure marks :aborted, in the same transaction (RELIABILITY J4).
UNSTARTED_DEPENDENTS = """
[:find [?j ...]
 :in $ % [?j0 ...]
 :where (depends-on ?j ?j0)
        [?j :job/status :unstarted]]
"""

# Jobs by status, for progress displays: [status count].
STATUS_COUNTS = """
[:find ?status (count ?j)
 :where [?j :job/status ?status]]
"""

# One row per job: id, type, status and the worker that ran its last attempt.
JOB_ROWS = """
[:find ?id ?type ?status ?owner ?attempt
 :in $ [?id ...]
 :where [?j :job/id ?id]
        [?j :job/type ?type]
        [?j :job/status ?status]
        [(get-else $ ?j :job/owner "") ?owner]
        [(get-else $ ?j :job/attempt 0) ?attempt]]
"""

# -- the views' queries (status, status_cli, the web console) --------------------------

# Jobs by type and status: the matrix of `overseer status`.
TYPE_STATUS_COUNTS = """
[:find ?type ?status (count ?j)
 :where [?j :job/type ?type]
        [?j :job/status ?status]]
"""

# Started jobs with their worker, attempt, last heartbeat (0 when none yet) and the
# attempt known to have started its handler (a job whose ?running differs from its
# ?attempt is claimed, waiting in its worker's batch, not yet running).
RUNNING = """
[:find ?id ?type ?owner ?attempt ?hb ?running
 :where [?j :job/status :started]
        [?j :job/id ?id]
        [?j :job/type ?type]
        [(get-else $ ?j :job/owner "") ?owner]
        [(get-else $ ?j :job/attempt 0) ?attempt]
        [(get-else $ ?j :job/heartbeat 0) ?hb]
        [(get-else $ ?j :job/running 0) ?running]]
"""

# Failed jobs, the transaction that made them fail (its instant says when) and why.
FAILURES = """
[:find ?id ?type ?failure ?when
 :where [?j :job/status :failed ?tx]
        [?j :job/id ?id]
        [?j :job/type ?type]
        [(get-else $ ?j :job/failure "") ?failure]
        [?tx :db/txInstant ?when]]
"""

# Every job, for `jobs list`.
ALL_JOBS = """
[:find ?id ?type ?status ?owner ?attempt
 :where [?j :job/id ?id]
        [?j :job/type ?type]
        [?j :job/status ?status]
        [(get-else $ ?j :job/owner "") ?owner]
        [(get-else $ ?j :job/attempt 0) ?attempt]]
"""

# The status changes of one job, from the history db (assertions only).
STATUS_HISTORY = """
[:find ?status ?tx
 :in $ ?j
 :where [?j :job/status ?status ?tx true]]
"""

# The direct dependents of one job.
DEPENDENTS = """
[:find [?id ...]
 :in $ ?j
 :where [?d :job/dep ?j]
        [?d :job/id ?id]]
"""

# Failed jobs with their failure JSON ("{}" when none).
FAILED_JOBS = """
[:find ?id ?type ?failure
 :where [?j :job/status :failed]
        [?j :job/id ?id]
        [?j :job/type ?type]
        [(get-else $ ?j :job/failure "{}") ?failure]]
"""

# The ids of the direct dependencies of one job.
DEPS = "[:find [?id ...] :in $ ?j :where [?j :job/dep ?d] [?d :job/id ?id]]"

# The status of the job with one id.
STATUS_OF = "[:find ?s . :in $ ?id :where [?d :job/id ?id] [?d :job/status ?s]]"


# -- the functions ----------------------------------------------------------------------

def has_jobs(db: Any) -> bool:
    """Is overseer's schema (``:job/id``, ``:job/status``) installed in ``db``?"""
    return db.schema.attr(":job/id") is not None and db.schema.attr(":job/status") is not None


def _kw(x: Any) -> fs.Keyword:
    if isinstance(x, fs.Keyword):
        return x
    s = str(x)
    return fs.Keyword(s if s.startswith(":") else ":" + s)


def jobs_with_status(db: Any, status: Any) -> list[str]:
    """The ids of the jobs whose status is ``status`` (``"unstarted"`` or ``":unstarted"``)."""
    return list(fs.q(JOBS_WITH_STATUS, db, _kw(status)))


def jobs_unstarted(db: Any) -> list[str]:
    """The ids of the unstarted jobs (ready or still waiting for dependencies)."""
    return jobs_with_status(db, ":unstarted")


def jobs_ready(db: Any) -> list[str]:
    """The ids of the jobs ready to run: unstarted, and every dependency finished.

    O(unstarted jobs × their deps); finished jobs cost nothing beyond the index seek.
    """
    return list(fs.q(JOBS_READY, db))


def ready_timed(db: Any, types: Iterable[Any]) -> list[tuple[int, int]]:
    """``(eid, not-before ms or 0)`` of the jobs of ``types`` whose dependencies all finished."""
    ts = frozenset(_kw(t) for t in types)
    if not ts:
        return []
    return [tuple(r) for r in fs.q(READY_EIDS_OF_TYPES, db, ts)]


def ready_eids(db: Any, types: Iterable[Any], now_ms: int | None = None) -> list[int]:
    """Entity ids of ready jobs whose type is one of ``types`` (and, given ``now_ms``, whose
    not-before time has come)."""
    return [e for e, nb in ready_timed(db, types) if now_ms is None or nb <= now_ms]


def ready_among(db: Any, eids: Iterable[int], types: Iterable[Any]) -> list[tuple[int, int]]:
    """``(eid, not-before ms or 0)`` of the ones of ``eids`` that are ready jobs of one of ``types``."""
    es = list(eids)
    ts = frozenset(_kw(t) for t in types)
    if not es or not ts:
        return []
    return [tuple(r) for r in fs.q(READY_AMONG, db, es, ts)]


def ready_type_counts(db: Any) -> dict[fs.Keyword, int]:
    """``{job type: number of ready jobs}`` over every type. O(unstarted jobs × their deps)."""
    return {t: n for t, n in fs.q(READY_TYPE_COUNTS, db)}


def live_workers(db: Any, now_ms: int) -> dict[str, set[fs.Keyword]]:
    """``{worker id: its job types}`` of the registered workers whose lease has not run out at ``now_ms``.

    A worker without a lease (heartbeats off) counts as live until it retracts itself.
    """
    if db.schema.attr(":worker/id") is None:
        return {}
    out: dict[str, set[fs.Keyword]] = {}
    for wid, hb, lease in fs.q(WORKERS, db):
        if not lease or now_ms - hb <= lease:
            out[wid] = set(fs.q(WORKER_TYPES, db, wid))
    return out


def unhandled_ready(db: Any, now_ms: int, also: Iterable[Any] = ()) -> dict[fs.Keyword, int]:
    """``{type: ready jobs}`` for the ready types that no live worker (nor ``also``) handles."""
    handled = {_kw(t) for t in also}
    for types in live_workers(db, now_ms).values():
        handled |= types
    return {t: n for t, n in ready_type_counts(db).items() if t not in handled}


def jobs_dead(db: Any, threshold: Any) -> list[str]:
    """The ids of started jobs whose last heartbeat is older than ``threshold``.

    ``threshold`` is epoch **milliseconds** (the unit of ``:job/heartbeat``) or
    an aware datetime. Overseer's ``jobs-dead`` takes epoch seconds: a number
    that looks like epoch seconds is refused with a ConfigError that says so.
    """
    return list(fs.q(JOBS_DEAD, db, epoch_ms(threshold)))


def dead_attempts(db: Any, threshold: int) -> list[tuple[int, int, int]]:
    """``(eid, attempt, heartbeat)`` of every started job with a heartbeat older than ``threshold``."""
    return [tuple(r) for r in fs.q(DEAD_ATTEMPTS, db, int(threshold))]


def transitive_dependents(db: Any, job_id: str) -> set[str]:
    """The ids of every job that depends on ``job_id``, directly or transitively."""
    return set(fs.q(TRANSITIVE_DEPENDENTS, db, DEPENDS_ON_RULES, job_id))


def unstarted_dependents(db: Any, eids: Iterable[int]) -> list[int]:
    """Entity ids of the unstarted transitive dependents of the jobs ``eids``."""
    es = list(eids)
    if not es:
        return []
    return list(fs.q(UNSTARTED_DEPENDENTS, db, DEPENDS_ON_RULES, es))


def status_counts(db: Any) -> dict[fs.Keyword, int]:
    """``{status: number of jobs}``."""
    return {s: n for s, n in fs.q(STATUS_COUNTS, db)}


def job_rows(db: Any, ids: Iterable[str]) -> list[tuple[str, fs.Keyword, fs.Keyword, str, int]]:
    """``(id, type, status, owner, attempt)`` of each job of ``ids`` that exists."""
    ids = list(ids)
    if not ids:
        return []
    return [tuple(r) for r in fs.q(JOB_ROWS, db, ids)]
