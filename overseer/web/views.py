"""What the Jobs tab shows, as data: pure functions of a Db value (and the log for graphs).

A job graph is the set of jobs one transaction inserted (``graph_txns`` puts a
whole graph in one transaction), named by that transaction's t: its jobs are
read from that log record, so opening a graph costs O(its size) among any
number of other jobs.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import OrderedDict, defaultdict
from typing import Any

import fact_store as fs

from overseer import queries, status_cli
from overseer.schema import STATUSES, STARTED, UNSTARTED

K = fs.Keyword
#: a started job whose heartbeat is older than this is shown under dead workers
STALE_AFTER_MS = int(status_cli.DEFAULT_STALE_AFTER * 1000)


@functools.lru_cache(maxsize=4096)
def name(s: Any) -> str:
    """``:failed`` → ``failed`` (statuses and types, as pages show them)."""
    return str(s).rsplit("/", 1)[-1].lstrip(":")


def has_jobs(db: Any) -> bool:
    return db.schema.attr(":job/id") is not None and db.schema.attr(":job/status") is not None


def instant(db: Any, t: int) -> Any:
    d = next(iter(db.datoms("eavt", fs.t_to_tx(t), ":db/txInstant")), None)
    return d.v if d is not None else None


def status_counts(db: Any) -> dict[str, int]:
    """Jobs per status: one AVET count each on a current db, the status query otherwise."""
    counts = {name(s): 0 for s in STATUSES}
    if not has_jobs(db):
        return counts
    if not db.is_filtered:
        a = db.schema.attr(":job/status").id
        for s in STATUSES:
            counts[name(s)] = db.count(a=a, v=s)
        return counts
    for s, n in queries.status_counts(db).items():
        counts[name(s)] = counts.get(name(s), 0) + n
    return counts


# -- graphs -----------------------------------------------------------------------------

GRAPHS = "[:find ?tx (count ?j) :where [?j :job/id _ ?tx]]"
_graph_cache: dict[Any, tuple[int, list[dict[str, Any]]]] = {}
_graph_lock = threading.Lock()


def graph_list(db: Any, limit: int = 50) -> list[dict[str, Any]]:
    """The newest job graphs: ``{t, jobs, when}``. Cached until the number of jobs changes."""
    if not has_jobs(db):
        return []
    n_jobs = db.count(a=db.schema.attr(":job/id").id) if not db.is_filtered else -1
    key = (id(db.schema), db.as_of_t)
    with _graph_lock:
        hit = _graph_cache.get(key)
    if hit is not None and hit[0] == n_jobs and n_jobs >= 0:
        return hit[1][:limit]
    rows = sorted(fs.q(GRAPHS, db), reverse=True)
    out = [{"t": fs.tx_to_t(tx), "jobs": n, "when": instant(db, fs.tx_to_t(tx))} for tx, n in rows]
    with _graph_lock:
        _graph_cache.clear()
        _graph_cache[key] = (n_jobs, out)
    return out[:limit]


_members: OrderedDict[tuple[int, int], list[int]] = OrderedDict()
_members_lock = threading.Lock()


def members(conn: Any, t: int, a_id: int) -> list[int]:
    """The entities whose :job/id transaction t asserted, from its log record (cached: a record
    never changes, and decoding a 10,000-job record takes most of a second)."""
    key = (id(conn), t)
    with _members_lock:
        hit = _members.get(key)
        if hit is not None:
            _members.move_to_end(key)
            return hit
    eids: list[int] = []
    for tx in conn.log().tx_range(t, t + 1):
        eids = [d.e for d in tx.data if d.a == a_id and d.added]
    with _members_lock:
        _members[key] = eids
        while len(_members) > 64:
            _members.popitem(last=False)
    return eids


def graph_jobs(conn: Any, db: Any, t: int) -> dict[str, Any] | None:
    """The graph inserted at t as of ``db``: ``{ids, deps, status, types}``; None if no jobs then."""
    if not has_jobs(db) or (db.as_of_t is not None and t > db.as_of_t) or t > db.basis_t:
        return None
    a_id = db.schema.attr(":job/id").id
    eids = members(conn, t, a_id)
    if not eids:
        return None
    a_status, a_type, a_dep = (db.schema.attr(x).id for x in (":job/status", ":job/type", ":job/dep"))
    ids: dict[int, str] = {}
    status: dict[str, str] = {}
    types: dict[str, str] = {}
    dep_eids: dict[str, list[int]] = {}
    for e in eids:
        rows = db.search(e=e)
        jid = next((r[2] for r in rows if r[1] == a_id), None)
        if jid is None:
            continue
        ids[e] = jid
        for r in rows:
            if r[1] == a_status:
                status[jid] = name(r[2])
            elif r[1] == a_type:
                types[jid] = name(r[2])
        dep_eids[jid] = [r[2] for r in rows if r[1] == a_dep]
    deps = {jid: [ids[d] for d in ds if d in ids] for jid, ds in dep_eids.items()}
    return {"t": t, "ids": sorted(deps), "deps": deps, "status": status, "types": types, "eids": ids}


def counts_text(status: dict[str, str]) -> str:
    c: dict[str, int] = defaultdict(int)
    for s in status.values():
        c[s] += 1
    return " · ".join(f"{c[name(s)]} {name(s)}" for s in STATUSES if c.get(name(s)))


def changes(db: Any, jobs: dict[int, str], t1: int, t2: int, limit: int = 500) -> list[dict[str, Any]]:
    """Status changes of the ``jobs`` ({eid: id}) with ``t1 < t <= t2``, oldest first.

    Read from the history index, job by job: O(jobs x their status changes), whatever
    else the store did meanwhile. ``db`` must not be filtered to before ``t2``.
    """
    if not has_jobs(db):
        return []
    hist = db.history()
    lo, hi = fs.t_to_tx(t1), fs.t_to_tx(t2)
    rows = []
    for e, jid in jobs.items():
        for d in hist.datoms("eavt", e, ":job/status"):
            if d.added and lo < d.tx <= hi:
                rows.append((d.tx, jid, name(d.v)))
    rows.sort()
    rows = rows[-limit:]
    when: dict[int, Any] = {}
    out = []
    for tx, jid, st in rows:
        t = fs.tx_to_t(tx)
        if tx not in when:
            when[tx] = instant(db, t)
        out.append({"t": t, "when": when[tx], "id": jid, "status": st})
    return out


# -- overview ---------------------------------------------------------------------------

class Throughput:
    """Finished and failed jobs per minute over the last hour, read from the log incrementally.

    The first call reads the last hour's records (found by a binary search on
    tx instants); later calls read only the records since the previous one.
    """

    def __init__(self, conn: Any, minutes: int = 60) -> None:
        self.conn = conn
        self.minutes = minutes
        self.buckets: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.last_t = 0
        self.lock = threading.Lock()

    def _first_t(self, db: Any, since_s: float) -> int:
        lo, hi = 1, db.basis_t
        while lo < hi:
            mid = (lo + hi) // 2
            when = instant(db, mid)
            if when is not None and when.timestamp() < since_s:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def update(self, db: Any, now_s: float) -> list[tuple[str, int, int]]:
        """``(label, finished, failed)`` per minute, oldest first, the current minute last."""
        now_min = int(now_s // 60)
        with self.lock:
            if has_jobs(db) and db.basis_t > self.last_t:
                start = self.last_t + 1
                if self.last_t == 0:
                    start = self._first_t(db, (now_min - self.minutes + 1) * 60)
                a = db.schema.attr(":job/status").id
                fin, fail = K(":finished"), K(":failed")
                for tx in self.conn.log().tx_range(start, db.basis_t + 1):
                    m = int(tx.instant.timestamp() // 60)
                    for d in tx.data:
                        if d.a == a and d.added and (d.v == fin or d.v == fail):
                            self.buckets[m][0 if d.v == fin else 1] += 1
                self.last_t = db.basis_t
            for m in [m for m in self.buckets if m <= now_min - self.minutes]:
                del self.buckets[m]
            out = []
            for m in range(now_min - self.minutes + 1, now_min + 1):
                fin_n, fail_n = self.buckets.get(m, (0, 0))
                out.append((time.strftime("%H:%M", time.gmtime(m * 60)) + " UTC", fin_n, fail_n))
            return out


RESETS = "[:find (sum ?r) . :where [?j :job/resets ?r]]"


def ever_claimed(db: Any, job_type: Any) -> bool:
    """Has any job of this type been claimed? Walks the type's jobs (AVET) to the first with an
    attempt: one step for a type workers run, all its jobs only for a type nobody handles."""
    return any(next(iter(db.datoms("eavt", d.e, ":job/attempt")), None) is not None
               for d in db.datoms("avet", ":job/type", job_type))


def overview(db: Any, now_ms: int, chart: list[tuple[str, int, int]]) -> dict[str, Any]:
    """Counts, throughput, live and dead workers, unhandled types, the oldest ready job's wait."""
    counts = status_counts(db)
    data: dict[str, Any] = {"t": db.basis_t, "counts": counts, "total": sum(counts.values()),
                            "chart": [{"minute": m, "finished": f, "failed": x} for m, f, x in chart]}
    last5 = chart[-5:]
    fin5, fail5 = sum(f for _, f, _ in last5), sum(x for _, _, x in last5)
    fin60, fail60 = sum(f for _, f, _ in chart), sum(x for _, _, x in chart)
    data["rates"] = {"finished_per_min_5m": round(fin5 / 5, 1),
                     "failure_rate_5m": round(fail5 / (fin5 + fail5), 3) if fin5 + fail5 else 0.0,
                     "finished_60m": fin60, "failed_60m": fail60,
                     "failure_rate_60m": round(fail60 / (fin60 + fail60), 3) if fin60 + fail60 else 0.0}
    workers: dict[str, dict[str, Any]] = {}
    dead = []
    if has_jobs(db):
        for jid, typ, owner, attempt, hb, run in sorted(fs.q(status_cli.RUNNING, db)):
            age = now_ms - hb if hb else None
            job = {"id": jid, "type": name(typ), "attempt": attempt, "heartbeat_age_ms": age,
                   "state": "running" if run == attempt else "claimed"}
            if age is None or age > STALE_AFTER_MS:
                dead.append(dict(job, worker=owner))
                continue
            w = workers.setdefault(owner, {"worker": owner, "jobs": [], "heartbeat_age_ms": age})
            w["jobs"].append(job)
            w["heartbeat_age_ms"] = min(w["heartbeat_age_ms"], age)
    data["workers"] = sorted(workers.values(), key=lambda w: w["worker"])
    data["dead"] = dead
    data["resets"] = (fs.q(RESETS, db) or 0) if db.schema.attr(":job/resets") else 0
    ready = sorted(queries.jobs_ready(db)) if has_jobs(db) else []
    data["ready"] = len(ready)
    ready_types: dict[str, int] = defaultdict(int)
    type_kw: dict[str, Any] = {}
    oldest: dict[str, Any] | None = None
    for jid in ready[:2000]:
        e = db.entid((":job/id", jid))
        typ_v = next(iter(db.datoms("eavt", e, ":job/type"))).v
        typ = name(typ_v)
        type_kw[typ] = typ_v
        ready_types[typ] += 1
        since = max([d.tx for d in db.datoms("eavt", e, ":job/status")] +
                    [s.tx for d in db.datoms("eavt", e, ":job/dep")
                     for s in db.datoms("eavt", d.v, ":job/status")])
        when = instant(db, fs.tx_to_t(since))
        if when is not None and (oldest is None or when < oldest["ready_since"]):
            oldest = {"id": jid, "type": typ, "ready_since": when,
                      "wait_ms": max(0, now_ms - int(when.timestamp() * 1000))}
    # Workers do not register their types in the store, so "no handler anywhere" is read
    # from what happened: ready jobs of a type no worker has ever claimed.
    data["unhandled"] = [{"type": t, "ready": n} for t, n in sorted(ready_types.items())
                         if not ever_claimed(db, type_kw[t])]
    data["oldest_ready"] = oldest
    data["failures"] = _failures(db)
    return data


def _failures(db: Any, limit: int = 10) -> list[dict[str, Any]]:
    if not has_jobs(db) or not db.count(a=db.schema.attr(":job/status").id, v=K(":failed")):
        return []
    rows = sorted(fs.q(status_cli.FAILURES, db), key=lambda r: (r[3], r[0]), reverse=True)[:limit]
    out = []
    for jid, typ, failure, when in rows:
        info = _decode(failure)
        out.append({"id": jid, "type": name(typ), "when": when,
                    "reason": f"{info.get('type', '')}: {info.get('message', '')}".strip(": ")})
    return out


def _decode(failure: Any) -> dict[str, Any]:
    if not failure:
        return {}
    try:
        info = json.loads(failure)
    except ValueError:
        return {"message": str(failure)}
    return info if isinstance(info, dict) else {"message": str(failure)}


# -- one job ----------------------------------------------------------------------------

def job(db: Any, job_id: str) -> dict[str, Any] | None:
    """One job as of ``db``: attributes, deps and dependents with statuses, failure, the status
    history with tx times, workers and who/why of console actions, and its attempts."""
    if not has_jobs(db):
        return None
    eid = db.entid((":job/id", job_id))
    if eid is None:
        return None
    attrs: dict[str, Any] = {}
    deps: list[int] = []
    for d in db.datoms("eavt", eid):
        a = str(db.schema.attr(d.a).ident)
        if a == ":job/dep":
            deps.append(d.v)
        else:
            attrs[a] = d.v

    def brief(e: int) -> dict[str, Any]:
        jid = next(iter(db.datoms("eavt", e, ":job/id")), None)
        st = next(iter(db.datoms("eavt", e, ":job/status")), None)
        return {"id": jid.v if jid else str(e), "status": name(st.v) if st else ""}

    dependents = [brief(d.e) for d in db.datoms("vaet", eid, ":job/dep")]
    hist = db.history()
    by_tx: dict[int, dict[str, Any]] = defaultdict(dict)
    for d in hist.datoms("eavt", eid):
        a = str(db.schema.attr(d.a).ident)
        if d.added and a in (":job/status", ":job/owner", ":job/attempt", ":job/failure"):
            by_tx[d.tx][a] = d.v
    audit = db.schema.attr(":audit/who") is not None
    history, attempts = [], []
    owner, attempt = "", 0
    open_attempt: dict[str, Any] | None = None
    for tx in sorted(by_tx):
        ch = by_tx[tx]
        owner = ch.get(":job/owner", owner)
        attempt = ch.get(":job/attempt", attempt)
        if ":job/status" not in ch:
            continue
        st = name(ch[":job/status"])
        t = fs.tx_to_t(tx)
        when = instant(db, t)
        row: dict[str, Any] = {"t": t, "when": when, "status": st, "attempt": attempt,
                               "worker": owner if st not in ("unstarted",) or ":job/owner" in ch else ""}
        if audit:
            who = next(iter(db.datoms("eavt", tx, ":audit/who")), None)
            why = next(iter(db.datoms("eavt", tx, ":audit/why")), None)
            if who is not None:
                row["by"] = who.v
                row["why"] = why.v if why else ""
        history.append(row)
        if open_attempt is not None:
            open_attempt.update(ended=when, outcome=st,
                                duration_ms=int((when - open_attempt["started"]).total_seconds() * 1000))
            open_attempt = None
        if ch[":job/status"] == STARTED:
            open_attempt = {"attempt": attempt, "worker": owner, "started": when, "ended": None,
                            "outcome": "running", "duration_ms": None}
            attempts.append(open_attempt)
    status = name(attrs.get(":job/status", ""))
    failure = _decode(attrs.get(":job/failure"))
    args = {a: v for a, v in attrs.items() if not a.startswith(":job/")}
    return {"id": job_id, "eid": eid, "type": name(attrs.get(":job/type", "")), "status": status,
            "attributes": attrs, "args": args, "deps": [brief(d) for d in sorted(deps)],
            "dependents": sorted(dependents, key=lambda x: x["id"]), "failure": failure or None,
            "history": history, "attempts": attempts,
            "can_retry": status in ("failed", "aborted"),
            "can_abort": status in (name(UNSTARTED), name(STARTED))}


def graph_of(db: Any, eid: int) -> int | None:
    """The t of the transaction that inserted the job (its graph)."""
    d = next(iter(db.datoms("eavt", eid, ":job/id")), None)
    return fs.tx_to_t(d.tx) if d is not None else None
