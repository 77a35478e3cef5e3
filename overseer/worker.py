"""Worker.step(now) runs one iteration; run() loops with backoff until the stop flag is set.

How a worker finds, claims and runs jobs
----------------------------------------

1. **Ready jobs.** At start (and every ``sleep_time`` as a safety net) the worker
   runs one Datalog query on its caught-up Db: unstarted jobs of the types it
   handles whose every dependency is finished. It keeps the answer as a *pool*
   and keeps the pool current from the transactions it sees (a ``listen``
   callback): a job that became ``:unstarted`` and the dependents of a job that
   became ``:finished`` are re-checked with the same query restricted to them;
   a job that left ``:unstarted`` leaves the pool. So finding work costs
   O(what changed), not O(unstarted jobs), per step.
2. **Claim: a uniform random choice.** The seed promises that "executed jobs are
   selected randomly from the pool of all eligible jobs", and no order among ready
   jobs. The worker draws a uniform random sample of its pool (``rng``) and claims
   with the ``:overseer/settle`` transaction function, which re-checks each under
   the writer lock (a lost race is simply a job that was not claimed) and mixes in
   the jobs that the same transaction's finishes make ready, so that every job
   ready at the claim, of a type the worker handles, is equally likely to be
   chosen (:func:`overseer.claim.pick`). ``hand_off=True`` is an opt-in
   latency-first policy that takes those children first, a departure from the seed.
3. **One commit serves more.** The same transaction records the outcomes of the
   jobs the worker just ran and claims the next ones. When jobs are short, a worker claims
   several at once (up to ``batch_size``, sized so a batch runs in about
   ``batch_window`` seconds) and records their outcomes together, at most
   ``batch_window`` after the first of them ended; a slow job is claimed alone
   and recorded as soon as it ends. Every claim and every outcome is durable
   when its transaction returns.
4. **Run.** The handler runs with the job's attributes (a pull of ``[*]``); its
   result or exception becomes the outcome (see :mod:`overseer.handlers`).

Heartbeats and the monitor run in a background thread (:mod:`overseer.heartbeat`).

Store outages (:meth:`Worker.run`): every store error is classified by
``fact_store.recovery``. A *transient* one (the store is unreachable) is retried
with a backoff that grows to ``max(1, sleep_time)`` seconds. A *reconnect* one
(``StoreMoved``, ``ConnectionClosed``: this connection will never work again)
makes the worker open the store afresh from its URI, listen again, rebuild its
ready pool, renew the heartbeats of the jobs it holds, and go on; it logs
"store ... lost ... reconnecting" and "reconnected", counts ``stats["reconnects"]``
and shows ``store_state`` (``"ok"``, ``"unavailable"``, ``"reconnecting"``). A *fatal*
one (a damaged store, a refused transaction) stops the worker and :meth:`Worker.run`
raises it (the CLI exits 1, so a supervisor restarts it). Every store error also
opens the monitor's grace period (:mod:`overseer.heartbeat`).

Stopping: ``stop()`` (or a first SIGINT/SIGTERM under :meth:`Worker.run`) stops
taking jobs; the running one finishes and is recorded, claimed jobs not yet run
are released to ``:unstarted``. A second signal interrupts the running handler
and releases its job too.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import heapq
import json
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import fact_store as fs
from fact_store.edn import show

from overseer import claim, queries, reporting
from overseer.claim import FAIL, FAULT, RELEASE, Outcome
from overseer.config import Config
from overseer.errors import JobTimedOut, WorkerInterrupted
from overseer.handlers import Handlers, OnError, RunResult, execute
from overseer.heartbeat import Heartbeat, Monitor, Pulse, job_id, register, to_ms, unregister
from overseer.schema import FINISHED, STARTED, UNSTARTED, install_schema

log = logging.getLogger("overseer")

IDLE, RAN, STOPPED = "idle", "ran", "stopped"
_PAST = {"finish": "finished", "fail": "failed", "abort": "aborted", "fault": "faulted",
         "release": "released"}
#: seconds between warnings about ready jobs that no live worker handles
UNHANDLED_WARNING_INTERVAL = 60.0


def _async_raise(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in the thread ``thread_id`` at its next bytecode (None cancels a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exc) if exc is not None else None)


_DB_ID = fs.Keyword(":db/id")
_ATTEMPT = fs.Keyword(":job/attempt")


def job_dict(db: Any, e: int) -> dict[Any, Any]:
    """The job a handler receives: ``{:db/id e, attribute ident value}``.

    Every key is a :class:`fact_store.Keyword`, ``:db/id`` included; a Keyword
    is a ``str`` equal to its text, so ``job[":job/id"]`` works as well.

    Cardinality-many attributes give lists; refs (``:job/dep``) give entity ids.
    What ``db.pull("[*]", e)`` gives, flattened, read straight from the EAVT index.
    """
    schema = db.schema
    job: dict[Any, Any] = {_DB_ID: e}
    for _e, a, v, _tx, _added in db.search(e):
        attr = schema.attr(a)
        if attr is None:
            continue
        if attr.many:
            job.setdefault(attr.ident, []).append(v)
        else:
            job[attr.ident] = v
    return job


# -- the pool of ready candidates -----------------------------------------------------------

class _RandomSet:
    """A set with O(1) add, discard and random sampling."""

    __slots__ = ("items", "pos")

    def __init__(self) -> None:
        self.items: list[int] = []
        self.pos: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, x: int) -> bool:
        return x in self.pos

    def add(self, x: int) -> None:
        if x not in self.pos:
            self.pos[x] = len(self.items)
            self.items.append(x)

    def discard(self, x: int) -> None:
        i = self.pos.pop(x, None)
        if i is None:
            return
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.pos[last] = i

    def clear(self) -> None:
        self.items.clear()
        self.pos.clear()

    def sample(self, rng: random.Random, k: int) -> list[int]:
        n = len(self.items)
        if n <= k:
            out = list(self.items)
            rng.shuffle(out)
            return out
        return rng.sample(self.items, k)


class _Slot:
    """One lane of execution: the jobs it claimed and the outcomes it has not recorded yet."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.queue: collections.deque[tuple[int, int]] = collections.deque()  # (eid, attempt)
        self.pending: list[Outcome] = []
        self.claimed_at: dict[int, float] = {}  # eid -> monotonic time its claim committed
        self.running: tuple[int, int] | None = None
        self.running_since = 0.0                 # monotonic time the running handler started
        self.deadline: float | None = None       # monotonic time the running attempt times out
        self.timed_out = False                   # the watchdog ended the running attempt
        self.in_handler = False                  # the slot's thread is inside the handler
        self.injected = False                    # a JobTimedOut was sent to that thread
        self.thread_id = 0
        self.child_pid: int | None = None        # the handler's process (isolate=True)
        self.marked: set[int] = set()            # jobs recorded as :job/running
        self.last_commit = 0.0
        self.active = False   # inside a handler (a second signal may interrupt it)


# -- the worker ---------------------------------------------------------------------------------

class Worker:
    """A worker: runs the jobs of the types in ``handlers`` from the store behind ``conn``.

    ``conn`` is a connection or a store URI. ``rng`` and ``clock`` (epoch seconds)
    are parameters so tests are deterministic; ``step(now)`` runs one iteration.
    """

    def __init__(self, conn: Any, handlers: Mapping[Any, Any], config: Config | Mapping[str, Any] | None = None,
                 *, on_error: OnError | None = None, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time, owner: str | None = None) -> None:
        self.conn = fs.connect(conn) if isinstance(conn, str) else conn
        self.config = config if isinstance(config, Config) else Config.from_mapping(config)
        self.handlers = Handlers(handlers)
        self.types = self.handlers.types
        self.on_error = reporting.on_error_for(self.config, on_error)
        self.rng = rng or random.Random()
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4()}"
        self.stats = collections.Counter[str]()
        install_schema(self.conn)
        self._lock = threading.Lock()
        self._pool = _RandomSet()
        self._delayed: list[tuple[int, int]] = []  # heap of (not-before ms, eid): ready later
        self._touched: set[int] = set()
        self._finished: list[int] = []
        self._lost: set[int] = set()
        self._need_full = True
        self._last_full = 0.0
        self._wake = threading.Event()
        self._idle_since: float | None = None
        self._stop = threading.Event()
        self._interrupts = 0
        self._slots = [_Slot(i) for i in range(self.config.concurrency)]
        self._duration = 0.0  # moving average of a job's run time, for batch sizing
        self._last_unhandled_warning = time.monotonic()
        self._activity = time.monotonic()  # last job status change or worker (un)registration seen
        self._watch = threading.Event()
        self._watch_stop = threading.Event()
        self._listen_key = self.conn.listen(self._on_report)
        cfg = self.config
        self.heartbeat = Heartbeat(self.conn, self.owner, self.held, self._on_lost)
        self.monitor = Monitor(self.conn, cfg.heartbeat_interval, cfg.heartbeat_tolerance,
                               cfg.max_attempts, self.rng, clock=self.clock, retry_delay=cfg.retry_delay,
                               retry_delay_max=cfg.retry_delay_max)
        self._pulse: Pulse | None = None
        #: "ok", "unavailable" (transient store errors) or "reconnecting"
        self.store_state = "ok"
        self._reconnect_lock = threading.Lock()
        self._fatal: BaseException | None = None

    def _clock_ms(self) -> int:
        """The clock in epoch ms, for transaction functions to read under the writer lock."""
        return to_ms(self.clock())

    # -- what the worker holds ---------------------------------------------------------------

    def held(self) -> list[tuple[int, int]]:
        """``(eid, attempt)`` of every attempt this worker claimed and has not recorded."""
        out: list[tuple[int, int]] = []
        for s in self._slots:  # called from the heartbeat thread: copy each container at once
            out.extend(list(s.queue))
            running = s.running
            if running is not None and not s.timed_out:
                out.append(running)
            out.extend((o.eid, o.attempt) for o in list(s.pending))
        return out

    def _on_lost(self, lost: set[int]) -> None:
        with self._lock:
            self._lost |= lost
            for s in self._slots:
                if s.queue:
                    s.queue = collections.deque(j for j in s.queue if j[0] not in lost)

    # -- keeping the pool current --------------------------------------------------------------

    def _on_report(self, report: Any) -> None:
        """Listener: note status changes (runs in whichever thread caught up; keep it cheap)."""
        schema = report.db_after.schema
        st = schema.attr(":job/status")
        if st is None:
            return
        sid = st.id
        wid = schema.attr(":worker/id")
        wid = wid.id if wid is not None else None
        touched = finished = False
        with self._lock:
            for d in report.tx_data:
                if d.a == wid:
                    self._activity = time.monotonic()
                if d.a != sid or not d.added:
                    continue
                self._activity = time.monotonic()
                if d.v == UNSTARTED:
                    self._touched.add(d.e)
                    touched = True
                elif d.v == FINISHED:
                    self._finished.append(d.e)
                    finished = True
                else:
                    self._pool.discard(d.e)
        if touched or finished:
            self._wake.set()

    def _refresh(self, db: Any, now: float) -> None:
        with self._lock:
            touched, self._touched = self._touched, set()
            finished, self._finished = self._finished, []
        with self._lock:
            empty = not self._pool
        # The pool is kept current from the transactions this process sees, so the full
        # query runs at start and, as a safety net, when there is nothing to do and the
        # last full query is older than sleep_time.
        now_ms = to_ms(now)
        if self._need_full or (empty and now - self._last_full >= self.config.sleep_time):
            rows = queries.ready_timed(db, self.types)
            with self._lock:
                self._pool.clear()
                self._delayed.clear()
                self._add_ready(rows, now_ms)
            self._need_full = False
            self._last_full = now
            self.stats["full_queries"] += 1
            return
        if finished:
            dep = db.schema.attr(":job/dep")
            if dep is not None:
                for e in finished:
                    for row in db.search(None, dep.id, e):
                        touched.add(row[0])
        if touched:
            # most are claimed already (a hand-off claims a child in its parent's finish
            # transaction): drop those with one index read before the Datalog check
            st = db.schema.attr(":job/status")
            if st is not None:
                sid = st.id
                touched = {e for e in touched if any(r[2] == UNSTARTED for r in db.search(e, sid))}
        if touched:
            rows = queries.ready_among(db, touched, self.types)
            self.stats["among_queries"] += 1
            with self._lock:
                self._add_ready(rows, now_ms)
        if self._delayed and self._delayed[0][0] <= now_ms:  # delayed jobs whose time has come
            st = db.schema.attr(":job/status")
            with self._lock:
                while self._delayed and self._delayed[0][0] <= now_ms:
                    _nb, e = heapq.heappop(self._delayed)
                    if st is not None and any(r[2] == UNSTARTED for r in db.search(e, st.id)):
                        self._pool.add(e)

    def _add_ready(self, rows: Iterable[tuple[int, int]], now_ms: int) -> None:
        """Ready jobs ``(eid, not-before ms)`` into the pool, or aside until their time (holds the lock)."""
        for e, nb in rows:
            if nb <= now_ms:
                self._pool.add(e)
            else:
                heapq.heappush(self._delayed, (nb, e))

    # -- committing outcomes and claims --------------------------------------------------------

    def _target(self) -> int:
        d = self._duration
        if d <= 0:
            return 1
        return max(1, min(self.config.batch_size, int(self.config.batch_window / d)))

    def _commit(self, slot: _Slot, now: float, claim_more: bool = True,
                stamp: float | None = None) -> bool:
        """Record ``slot``'s pending outcomes and claim its next jobs in one transaction.

        Claims are stamped with ``stamp`` when given (a test's fixed time), else with
        the clock read under the writer lock (RELIABILITY O-01).
        Returns whether the slot has a job to run.
        """
        want = 0
        pool_size = 0
        candidates: list[int] = []
        if claim_more and not self._stop.is_set():
            want = max(0, self._target() - len(slot.queue))
            if want:
                # catch up *before* the transaction: applying other processes' records
                # then happens outside the writer lock, in parallel with their commits
                db = self.conn.sync()
                self._refresh(db, now)
                with self._lock:
                    candidates = self._pool.sample(self.rng, want + max(2, want // 4))
                    pool_size = len(self._pool)
        if not slot.pending and not candidates:
            return bool(slot.queue)
        outcomes = list(slot.pending)
        got = claim.settle(self.conn, self.owner, outcomes, candidates, want if candidates or outcomes else 0,
                           self.types, self._clock_ms if stamp is None else to_ms(stamp),
                           self.config.max_attempts, pool_size=pool_size,
                           seed=self.rng.getrandbits(32), hand_off=self.config.hand_off)
        slot.pending.clear()
        slot.last_commit = time.monotonic()
        self.stats["commits"] += 1
        if got.stale:
            self.stats["stale"] += len(got.stale)
            log.warning("worker %s: outcome of %d stale attempt(s) refused (the jobs were reset): %s",
                        self.owner, len(got.stale), ", ".join(job_id(got.report.db_after, e) for e in got.stale))
        with self._lock:  # candidates lost to others leave the pool when their status change is seen
            for e, _ in got.claimed[1:]:
                slot.marked.discard(e)
            if got.claimed:
                slot.marked.add(got.claimed[0][0])  # the claim marked it :job/running
            for e, attempt in got.claimed:
                self._pool.discard(e)
                slot.queue.append((e, attempt))
                slot.claimed_at[e] = slot.last_commit
                self._lost.discard(e)
        if len(slot.queue) > 1:
            self._watch.set()  # the watchdog gives back what waits too long
        self.stats["claimed"] += len(got.claimed)
        return bool(slot.queue)

    def _timeout_of(self, job: Mapping[Any, Any]) -> float | None:
        """Seconds the attempt may run: the job's ``:job/timeout`` (ms), else its type's, else the worker's."""
        ms = job.get(":job/timeout")
        if ms:
            return ms / 1000
        t = self.handlers.options.get(job.get(":job/type"), {}).get("timeout", self.config.timeout)
        return t or None

    def _run_one(self, slot: _Slot, e: int, attempt: int, main_thread: bool,
                 now: float | None = None) -> None:
        t0 = time.perf_counter()  # the batch size follows the whole per-job cost, not only the handler's
        job = job_dict(self.conn.db(), e)
        job[_ATTEMPT] = attempt
        handler = self.handlers.get(job.get(":job/type"))
        timeout = self._timeout_of(job)
        with self._lock:
            slot.running_since = time.monotonic()
            slot.deadline = slot.running_since + timeout if timeout else None
            slot.timed_out = False
            slot.thread_id = threading.get_ident()
            slot.running = (e, attempt)
        if timeout:
            self._watch.set()
        if self.config.isolate:
            res = self._execute_in_child(slot, handler, job)
        else:
            try:
                with self._lock:
                    slot.in_handler = True
                res = execute(handler, job, self.on_error, guard=slot if main_thread else None)
            except JobTimedOut:  # arrived just after the handler returned: the outcome is recorded
                res = RunResult(FAULT)
            finally:
                with self._lock:
                    slot.in_handler = False
                    if slot.injected:  # cancel a JobTimedOut still pending for this thread
                        _async_raise(slot.thread_id, None)
                        slot.injected = False
        took = time.perf_counter() - t0
        self._duration = took if self._duration == 0 else 0.8 * self._duration + 0.2 * took
        with self._lock:
            timed_out, slot.timed_out = slot.timed_out, False
            slot.deadline = None
        if timed_out:  # the watchdog recorded this attempt's end already
            slot.running = None
            slot.marked.discard(e)
            self.stats["timed_out"] += 1
            return
        self._log_outcome(job, attempt, res.kind, took)
        nb = None
        if res.kind == FAULT:
            n = attempt - (job.get(":job/free-attempts") or 0)
            opts = self.handlers.options.get(job.get(":job/type"), {})
            delay = res.retry_in if res.retry_in is not None else claim.retry_delay(
                n, opts.get("retry_delay", self.config.retry_delay),
                opts.get("retry_delay_max", self.config.retry_delay_max), self.rng)
            nb = to_ms((self.clock() if now is None else now) + delay) if delay > 0 else None
        slot.pending.append(Outcome(e, attempt, res.kind, res.failure, nb))
        slot.running = None
        slot.marked.discard(e)
        self.stats[res.kind] += 1

    def _log_outcome(self, job: Mapping[Any, Any], attempt: int, kind: str, took: float) -> None:
        """One INFO line per job outcome: id, type, attempt, duration, worker (and as record fields)."""
        if not log.isEnabledFor(logging.INFO):
            return
        jid, jtype = job.get(":job/id"), job.get(":job/type")
        log.info("job %s %s attempt %d %s in %.1f ms (worker %s)", jid, jtype, attempt, _PAST.get(kind, kind),
                 took * 1000, self.owner,
                 extra={"job_id": jid, "job_type": str(jtype), "attempt": attempt, "outcome": kind,
                        "duration_ms": round(took * 1000, 3), "worker": self.owner})

    def _execute_in_child(self, slot: _Slot, handler: Mapping[str, Callable[..., Any]],
                          job: Mapping[Any, Any]) -> RunResult:
        """Run the handler in a forked child process; its outcome comes back through a pipe.

        The watchdog kills the child (SIGKILL) when the attempt times out. A child that
        dies without an outcome (a crash, a kill) fails the job.
        """
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; coverage does not follow forks
            try:
                os.close(r)
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                res = execute(handler, job, self.on_error)
                with os.fdopen(w, "wb") as f:
                    f.write(json.dumps([res.kind, res.failure, res.retry_in]).encode())
            finally:
                os._exit(0)
        os.close(w)
        with self._lock:
            slot.child_pid = pid
        try:
            with os.fdopen(r, "rb") as f:
                data = f.read()
        finally:
            _, status = os.waitpid(pid, 0)
            with self._lock:
                slot.child_pid = None
        if data:
            kind, failure, retry_in = json.loads(data)
            return RunResult(kind, failure, retry_in=retry_in)
        how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit status {os.WEXITSTATUS(status)}")
        return RunResult(FAIL, claim.failure_json("overseer/handler-died",
                                                  f"the handler's process ended ({how}) without an outcome"))

    def step(self, now: float | None = None, slot_index: int = 0, *, _main: bool = False) -> str:
        """One iteration of one slot: claim if it has nothing, run one job, record when due.

        Returns ``"ran"``, ``"idle"`` (nothing ready for this worker) or ``"stopped"``.
        Deterministic given ``now`` (epoch seconds; the clock is read when None),
        the worker's ``rng`` and the store's state.
        """
        slot = self._slots[slot_index]
        fixed = now
        now = self.clock() if fixed is None else fixed
        if self._stop.is_set():
            self._release(slot, now)
            return STOPPED
        if not slot.queue and not self._commit(slot, now, stamp=fixed):
            return IDLE
        with self._lock:
            if not slot.queue:
                return IDLE
            e, attempt = slot.queue.popleft()
            slot.claimed_at.pop(e, None)
            lost = e in self._lost
        if lost:  # reset while it waited in the queue: do not run it
            return RAN
        self._run_one(slot, e, attempt, _main, fixed)
        if self._stop.is_set():
            self._release(slot, self.clock() if fixed is None else fixed)
            return STOPPED
        if not slot.queue or time.monotonic() - slot.last_commit >= self.config.batch_window:
            self._commit(slot, self.clock() if fixed is None else fixed, stamp=fixed)
        return RAN

    def _release(self, slot: _Slot, now: float) -> None:
        """Record pending outcomes and give back claimed jobs that were not run."""
        with self._lock:
            queued, slot.queue = list(slot.queue), collections.deque()
            slot.claimed_at.clear()
        for e, attempt in queued:
            slot.pending.append(Outcome(e, attempt, RELEASE, None))
        if slot.pending:
            try:
                self._commit(slot, now, claim_more=False)
            except fs.FactStoreError as exc:
                log.error("worker %s could not record its last outcomes: %s", self.owner, exc)

    # -- no hoarding: the watchdog ------------------------------------------------------------------

    def watch(self, mono: float | None = None) -> float | None:
        """Give back jobs waiting behind a slow handler, end timed-out attempts; return when to look again.

        Batch claims keep commits few, but a slow handler in the middle of a batch
        would hold the jobs claimed behind it while other workers sit idle. So, for
        each slot, once its running handler has run for ``max_hold`` seconds while
        jobs wait in its queue (``mono``: ``time.monotonic()``), the queue is released to
        ``:unstarted`` in one transaction (a release does not count as an attempt);
        the same transaction marks a handler that has run longer than ``max_hold`` as
        ``:job/running``. :meth:`run` calls this from a watchdog thread. Returns the
        monotonic time of the next deadline, or None when nothing waits.
        """
        mono = time.monotonic() if mono is None else mono
        hold = self.config.max_hold
        nxt: float | None = None
        for slot in self._slots:
            with self._lock:
                running = slot.running
                unmarked = running is not None and running[0] not in slot.marked
                since = slot.running_since
                oldest = min((slot.claimed_at.get(e, mono) for e, _ in slot.queue), default=None)
                # only behind a slow handler: a batch that moves on (short jobs sized to run in
                # about batch_window, and the slot's own commits) is the worker working for it;
                # giving it back would cost commits exactly when the store is slowest
                slow = running is not None and mono - since >= hold
                give = oldest is not None and slow
                queued: list[tuple[int, int]] = []
                if give:
                    queued, slot.queue = list(slot.queue), collections.deque()
                    for e, _ in queued:
                        slot.claimed_at.pop(e, None)
            with self._lock:
                deadline = slot.deadline if running is not None and not slot.timed_out else None
                expired = deadline is not None and mono >= deadline
                if expired:
                    slot.timed_out = True
            if expired and running is not None:
                self._time_out(slot, running, deadline - since)
                running = None
            elif deadline is not None:
                nxt = deadline if nxt is None else min(nxt, deadline)
            mark = [running] if running is not None and unmarked and mono - since >= hold else []
            if queued or mark:
                try:
                    claim.settle(self.conn, self.owner, [Outcome(e, a, RELEASE, None) for e, a in queued],
                                 max_attempts=self.config.max_attempts, running=mark)
                except fs.FactStoreError as exc:  # the jobs stay started; the monitor resets them
                    log.error("worker %s could not give back %d job(s): %s", self.owner, len(queued), exc)
                if mark:
                    slot.marked.add(mark[0][0])
                if queued:
                    self.stats["given_back"] += len(queued)
                    log.debug("worker %s gave back %d job(s) claimed %.0f ms ago", self.owner,
                              len(queued), (mono - (oldest or mono)) * 1000)
            for t in ([since + hold] if running is not None and (unmarked or oldest is not None)
                      and not mark and not give else []):
                nxt = t if nxt is None else min(nxt, t)
        return nxt

    def _time_out(self, slot: _Slot, running: tuple[int, int], limit: float) -> None:
        """End an attempt that ran past its timeout: fault it (fail it at max_attempts), stop its handler."""
        e, attempt = running
        failure = claim.failure_json("overseer/timeout", f"timed out after {limit:g} s", attempt=attempt)
        delay = claim.retry_delay(attempt, self.config.retry_delay, self.config.retry_delay_max, self.rng)
        nb = to_ms(self.clock() + delay) if delay > 0 else None
        log.warning("job %s (attempt %d) timed out after %g s: abandoned, %s", job_id(self.conn.db(), e),
                    attempt, limit,
                    "its process killed" if self.config.isolate else "its thread interrupted")
        try:
            claim.settle(self.conn, self.owner, [Outcome(e, attempt, FAULT, failure, nb)],
                         max_attempts=self.config.max_attempts)
        except fs.FactStoreError as exc:  # the monitor resets it once its heartbeat goes stale
            log.error("worker %s could not record the timeout of job %s: %s", self.owner, e, exc)
        with self._lock:
            if slot.child_pid is not None:
                try:
                    os.kill(slot.child_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            elif slot.in_handler and slot.running == running:
                _async_raise(slot.thread_id, JobTimedOut)
                slot.injected = True

    def _watchdog(self) -> None:
        while not self._watch_stop.is_set():
            try:
                nxt = self.watch()
            except Exception:  # a bug here must not stop the worker
                log.exception("worker %s: watchdog failed", self.owner)
                nxt = time.monotonic() + 1.0
            busy = any(s.running is not None for s in self._slots)
            if nxt is None and busy:
                nxt = time.monotonic() + self.config.max_hold  # a running handler may need its mark
            self._watch.wait(None if nxt is None else max(0.0, nxt - time.monotonic()))
            self._watch.clear()

    # -- heartbeats and the monitor, for deterministic tests -------------------------------------

    def beat(self, now: float | None = None) -> set[int]:
        """One heartbeat of every held attempt (the Pulse thread does this in ``run``)."""
        return self.heartbeat.beat(self.clock() if now is None else now)

    def sweep(self, now: float | None = None) -> list[int]:
        """One monitor sweep (the Pulse thread does this in ``run``)."""
        return self.monitor.sweep(self.clock() if now is None else now)

    # -- the loop ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop taking jobs; the running ones finish and are recorded. Thread-safe."""
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _idle_wait(self) -> None:
        """Wait for a new transaction (or ``sleep_time``).

        The file store learns of other processes' appends by polling ``stat`` with a
        backoff that grows to 50 ms; right after activity a worker waits in short
        slices (the poll restarts at 0.5 ms), so a job another worker makes ready
        starts within a few ms; after a second of quiet it waits in longer slices.
        """
        if self._wake.is_set():
            self._wake.clear()
            return
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        quiet = now - self._idle_since
        timeout = min(self.config.sleep_time, 0.005 if quiet < 1.0 else 0.25)
        with self._lock:
            nxt = self._delayed[0][0] if self._delayed else None
        if nxt is not None:  # wake when the next delayed job's time comes
            timeout = max(0.0, min(timeout, nxt / 1000 - self.clock()))
        started = time.monotonic()
        self.conn.wait(timeout)  # a store error goes to _loop, which classifies it
        if time.monotonic() - started > timeout + self.monitor.slow:
            self.monitor.note_outage(self.clock())  # the store was unreachable meanwhile
        self._wake.clear()

    @staticmethod
    def _any_with_status(db: Any, status: Any) -> bool:
        d = next(iter(db.seek_datoms(":avet", ":job/status", status)), None)  # one seek, O(log n)
        return d is not None and d.v == status and db.ident(d.a) == ":job/status"

    def unhandled(self, db: Any | None = None, now: float | None = None) -> dict[fs.Keyword, int]:
        """``{type: ready jobs}`` of the ready types that neither this worker nor any live worker handles."""
        db = self.conn.sync() if db is None else db
        if db.schema.attr(":job/status") is None or not self._any_with_status(db, UNSTARTED):
            return {}
        return queries.unhandled_ready(db, to_ms(self.clock() if now is None else now), self.types)

    def is_done(self, now: float | None = None) -> bool:
        """Whether nothing is left for live workers to run (what ``exit_when_done`` waits for).

        Done means: no job is ``:started`` (anywhere), and no ready job is of a type
        that this worker or another live worker (registered, lease not run out)
        handles. Jobs still waiting for dependencies do not count: their dependencies
        are unstarted jobs that are themselves waiting or ready but unhandled (a failed
        or aborted dependency aborts them). So a store left with ready jobs of a type
        no live worker handles is done (they are logged as unhandled), and a worker
        whose types wait for another worker's jobs keeps running while that one is live.
        In that case no job may have changed status, and no worker registered or left,
        for ``exit_grace`` seconds, so that workers started together have time to register.
        Syncs first; O(log n) when nothing is unstarted, else one ready-jobs query.
        """
        db = self.conn.sync()
        if db.schema.attr(":job/status") is None:
            return True
        if self._any_with_status(db, STARTED):
            return False
        if not self._any_with_status(db, UNSTARTED):
            return True
        ready = queries.ready_type_counts(db)
        if not ready:
            return True
        if not set(ready) <= set(self.unhandled(db, now)):
            return False
        return time.monotonic() - self._activity >= self.config.exit_grace

    def _warn_unhandled(self, when: str) -> None:
        try:
            missing = self.unhandled()
        except fs.FactStoreError as exc:
            log.warning("worker %s could not count unhandled jobs: %s", self.owner, exc)
            return
        for t, n in sorted(missing.items()):
            log.warning("%d ready job%s of type %s %s no handler in this worker or any live worker%s",
                        n, "" if n == 1 else "s", t, "has" if n == 1 else "have", when)
        self._last_unhandled_warning = time.monotonic()

    def _loop(self, slot_index: int, main: bool, exit_when_done: bool = False) -> None:
        backoff = 0.01
        while True:
            try:
                r = self.step(slot_index=slot_index, _main=main)
                if r == STOPPED:
                    return
                if r == RAN:
                    self._idle_since = None
                elif r == IDLE:
                    if time.monotonic() - self._last_unhandled_warning >= UNHANDLED_WARNING_INTERVAL:
                        self._warn_unhandled("")
                    if exit_when_done and self.is_done():
                        if slot_index == 0:
                            self._warn_unhandled(" (left as they are: the worker is done)")
                        self.stop()
                        continue
                    self._idle_wait()
                backoff = 0.01
                if self.store_state != "ok":
                    log.warning("worker %s: the store %s is available again", self.owner, self.conn.uri)
                    self.store_state = "ok"
            except fs.FactStoreError as exc:
                if not self._on_store_error(exc, backoff):
                    return
                self._stop.wait(backoff)
                backoff = min(backoff * 2, max(1.0, self.config.sleep_time))

    def _on_store_error(self, exc: BaseException, backoff: float | None = None) -> bool:
        """Handle a store error by its class (``fs.recovery``); False when the worker must stop.

        Called by the job loops and by the Pulse thread (``backoff`` None).
        """
        self.monitor.note_outage(self.clock())
        how = fs.recovery(exc)
        if how == fs.FATAL:
            log.critical("worker %s: fatal store error, stopping (exit non-zero): %s", self.owner, exc)
            self._fatal = self._fatal or exc
            self.stop()
            return False
        if how == fs.RECONNECT:
            try:
                self._reconnect(exc)
            except fs.FactStoreError as again:
                if fs.recovery(again) == fs.FATAL:
                    return self._on_store_error(again, backoff)
                log.error("worker %s: reconnecting to %s failed (retrying%s): %s", self.owner,
                          self.conn.uri, "" if backoff is None else f" in {backoff:.2f}s", again)
            return True
        if backoff is not None:
            if self.store_state == "ok":
                self.stats["outages"] += 1
            self.store_state = "unavailable"
            log.error("worker %s step failed (retrying in %.2fs): %s", self.owner, backoff, exc)
        return True

    def _reconnect(self, why: BaseException) -> None:
        """Open the store afresh from its URI: listen again, rebuild the pool, re-heartbeat.

        Thread-safe: the first thread that sees the closed connection reconnects; the
        others find it replaced. On failure the caller backs off and tries again.
        """
        old = self.conn
        with self._reconnect_lock:
            if self.conn is not old and not self.conn.closed:
                return  # another thread reconnected meanwhile
            self.store_state = "reconnecting"
            log.warning("worker %s: store %s lost (%s: %s); reconnecting", self.owner, old.uri,
                        type(why).__name__, why)
            started = time.monotonic()
            with contextlib.suppress(Exception):
                old.unlisten(self._listen_key)
            with contextlib.suppress(Exception):
                old.close()
            conn = fs.connect(old.uri)  # a store error here is retried by the caller
            self.conn = conn
            self.heartbeat.conn = conn
            self.monitor.conn = conn
            with self._lock:
                self._need_full = True  # rebuild the ready pool from the new connection
                self._touched.clear()
                self._finished.clear()
            self._listen_key = conn.listen(self._on_report)
            self.stats["reconnects"] += 1
            db = conn.db()
            with self._lock:  # claims the new store does not hold are not ours: never run them
                for s in self._slots:
                    s.queue = collections.deque(j for j in s.queue
                                                if claim.is_current(db, j[0], j[1], self.owner))
            held = self.held()
            if held and self.config.heartbeat_enabled:
                try:  # first thing: renew the held jobs' heartbeats
                    self.heartbeat.beat(self.clock())
                except fs.FactStoreError as exc:
                    log.warning("worker %s: heartbeat after reconnecting failed: %s", self.owner, exc)
            self.monitor.note_outage(self.clock())
            self.store_state = "ok"
            log.warning("worker %s: reconnected to %s in %.2f s (t=%s); renewed %d held attempt(s)",
                        self.owner, conn.uri, time.monotonic() - started, conn.db().basis_t, len(held))

    def _signal(self, signum: int, frame: Any) -> None:
        self._interrupts += 1
        if self._interrupts == 1:
            log.warning("worker %s: signal %s, finishing the running job and stopping", self.owner, signum)
            self.stop()
            return
        log.warning("worker %s: second signal, releasing the running job", self.owner)
        for s in self._slots:
            if s.active:
                s.active = False
                raise WorkerInterrupted(f"signal {signum}")
        if self.config.concurrency > 1:
            self._release_running()

    def _release_running(self) -> None:
        """Second signal with handler threads: give their running jobs back now."""
        outs = [Outcome(s.running[0], s.running[1], RELEASE, None) for s in self._slots
                if s.running is not None]
        if outs:
            try:
                claim.settle(self.conn, self.owner, outs, max_attempts=self.config.max_attempts)
            except fs.FactStoreError as exc:
                log.error("worker %s could not release its running jobs: %s", self.owner, exc)
        os._exit(130)

    def run(self, install_signals: bool = True, exit_when_done: bool = False) -> None:
        """Run until :meth:`stop` (or SIGINT/SIGTERM when called in the main thread).

        ``exit_when_done`` stops the worker once no job in the store is unstarted
        or started (for demos, tests and batch runs).
        """
        main = threading.current_thread() is threading.main_thread()
        old: dict[int, Any] = {}
        if install_signals and main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, self._signal)
        cfg = self.config
        if cfg.heartbeat_enabled:
            self._pulse = Pulse(self.heartbeat, self.monitor, cfg.heartbeat_interval,
                                cfg.detector_interval, cfg.detector_stagger, self.rng, self.clock,
                                on_store_error=self._on_store_error)
            self._pulse.start()
        log.info("worker %s started: types %s", self.owner, ", ".join(self.types))
        try:
            register(self.conn, self.owner, self.types, self.clock(),
                     cfg.heartbeat_interval * cfg.heartbeat_tolerance if cfg.heartbeat_enabled else None)
            self.heartbeat.registered = True
        except fs.FactStoreError as exc:
            log.warning("worker %s could not register itself: %s", self.owner, exc)
        self._warn_unhandled(" (at start)")
        watchdog = threading.Thread(target=self._watchdog, daemon=True, name="overseer-watchdog")
        watchdog.start()
        try:
            if cfg.concurrency == 1:
                self._loop(0, main, exit_when_done)
            else:
                threads = [threading.Thread(target=self._loop, args=(i, False, exit_when_done), daemon=True,
                                            name=f"overseer-slot-{i}") for i in range(cfg.concurrency)]
                for t in threads:
                    t.start()
                while any(t.is_alive() for t in threads):
                    for t in threads:
                        t.join(0.2)
        finally:
            self._watch_stop.set()
            self._watch.set()
            watchdog.join(5)
            registered, self.heartbeat.registered = self.heartbeat.registered, False
            if self._pulse is not None:
                self._pulse.stop()
                self._pulse.join(5)
            if registered:  # after the heartbeats stopped: none may renew a retracted record
                try:
                    unregister(self.conn, self.owner)
                except fs.FactStoreError as exc:
                    log.warning("worker %s could not retract its record: %s", self.owner, exc)
            for sig, h in old.items():
                signal.signal(sig, h)
            log.info("worker %s stopped: %s", self.owner, show({fs.Keyword(k): n for k, n in self.stats.items()}))
        if self._fatal is not None:
            raise self._fatal

    def close(self) -> None:
        """Stop listening to the connection (the connection stays open); flush error reports."""
        self.conn.unlisten(self._listen_key)
        if self.on_error is not None and hasattr(self.on_error, "close"):
            self.on_error.close()


def start(conn_or_uri: Any, handlers: Mapping[Any, Any], config: Config | Mapping[str, Any] | None = None,
          **kwargs: Any) -> Worker:
    """Start a worker and run it until it is stopped (SIGINT/SIGTERM); return it.

    ``conn_or_uri`` is a connection or a store URI such as ``"file:./jobs.db"``.
    Keyword arguments go to :class:`Worker` (``on_error``, ``rng``, ``clock``, ``owner``).
    """
    w = Worker(conn_or_uri, handlers, config, **kwargs)
    try:
        w.run()
    finally:
        w.close()
    return w
