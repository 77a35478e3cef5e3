"""Heartbeats while a job runs; the monitor resets stale started jobs using :db/cas.

- :class:`Heartbeat` renews, every ``interval``, the heartbeat of every attempt
  the worker holds (claimed, running, or run but not yet recorded), in one
  transaction. The transaction function refuses attempts that are no longer
  current (fencing), and the worker learns which ones it lost.
- :class:`Monitor` (every worker runs one) finds started jobs whose heartbeat
  is older than ``tolerance × interval`` with one query, and resets each with
  the ``:overseer/reset`` transaction function: compare-and-set on the status
  and reset count, and only if the attempt and the stale heartbeat it saw are
  still there, so two monitors never both reset one job and a heartbeat that
  lands first wins. A job reset at its ``max_attempts``-th attempt is failed as
  a poison job instead (RELIABILITY J7).
- :class:`Pulse` is the background thread that drives both: heartbeats every
  ``interval``, sweeps every ``detector_interval`` plus a random stagger so the
  monitors of many workers rarely sweep together (J5's bound:
  ``interval × tolerance + detector_interval + stagger``).

Store outages. A heartbeat that cannot be written while the store is down is
not a dead worker, so staleness is measured only while the monitor itself can
reach the store: every store error the worker sees, a heartbeat or sweep that
took longer than ``slow`` = ``(tolerance - 1) × interval`` (a shorter stall cannot
make a live heartbeat stale), and a reset that waited longer than that for the
writer lock (checked inside the transaction function) mark an *outage*;
the monitor then resets nothing for a grace period of ``interval × tolerance``
after the last such mark, and the workers renew their heartbeats meanwhile
(first thing after a reconnect). So an outage resets no live worker's job, and
a dead worker's job stays started at most J5's bound plus the outage.

Time is a parameter everywhere (``now``, epoch seconds as ``time.time()``
gives); stored heartbeats are epoch milliseconds.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import fact_store as fs

from overseer import claim, queries

log = logging.getLogger("overseer")


def job_id(db: Any, e: int) -> str:
    """The ``:job/id`` of entity ``e`` (what logs show: people know jobs by id), else ``#e``."""
    attr = db.schema.attr(":job/id")
    rows = db.search(e, attr.id) if attr is not None else []
    return str(rows[0][2]) if rows else f"#{e}"


def to_ms(now: float) -> int:
    """Epoch seconds → the epoch milliseconds stored in ``:job/heartbeat``."""
    return int(now * 1000)


def register(conn: Any, owner: str, types: Iterable[Any], now: float, lease: float | None) -> None:
    """Record a running worker: its id, the job types it handles, a heartbeat and its lease (seconds).

    ``overseer status`` and ``--exit-when-done`` read these to tell ready jobs that
    some live worker will run from the ones no live worker handles.
    """
    m: dict[str, Any] = {":worker/id": owner, ":worker/types": [fs.Keyword(str(t)) for t in types],
                         ":worker/heartbeat": to_ms(now)}
    if lease:
        m[":worker/lease"] = int(lease * 1000)
    conn.transact([m])


def unregister(conn: Any, owner: str) -> None:
    """Retract a worker's record (it stops)."""
    db = conn.db()
    if db.schema.attr(":worker/id") is not None and db.entid([":worker/id", owner]) is not None:
        conn.transact([[":db/retractEntity", [":worker/id", owner]]])


class Heartbeat:
    """Renews the heartbeats of the attempts ``held()`` returns; reports lost ones to ``on_lost``.

    When ``registered`` (the worker recorded itself with :func:`register`), each beat
    also renews ``:worker/heartbeat``, in the same transaction.
    """

    def __init__(self, conn: Any, owner: str, held: Callable[[], Iterable[tuple[int, int]]],
                 on_lost: Callable[[set[int]], Any] | None = None) -> None:
        self.conn = conn
        self.owner = owner
        self.held = held
        self.on_lost = on_lost
        self.registered = False

    def beat(self, now: float) -> set[int]:
        """One heartbeat transaction; returns the eids still held. O(held)."""
        held = list(self.held())
        if not held:
            if self.registered:
                claim.heartbeat(self.conn, self.owner, [], to_ms(now), worker=True)
            return set()
        current = claim.heartbeat(self.conn, self.owner, held, to_ms(now), worker=self.registered)
        # an attempt whose outcome the worker recorded meanwhile is not lost: only the
        # ones it still holds after the heartbeat and that are not current were reset
        still = set(self.held())
        lost = {e for e, a in held if (e, a) in still} - current
        if lost:
            db = self.conn.db()
            log.warning("worker %s lost %d attempt(s) (reset by a monitor): %s", self.owner,
                        len(lost), ", ".join(job_id(db, e) for e in sorted(lost)))
            if self.on_lost is not None:
                self.on_lost(lost)
        return current


class Monitor:
    """Resets started jobs whose heartbeat is older than ``tolerance × interval``."""

    def __init__(self, conn: Any, interval: float, tolerance: float, max_attempts: int = 5,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time,
                 retry_delay: float = 0.0, retry_delay_max: float = 0.0) -> None:
        self.conn = conn
        self.interval = interval
        self.tolerance = tolerance
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self.clock = clock
        #: no reset before this time (epoch s): a grace period after the store was unavailable
        self.grace_until = float("-inf")
        self.skipped = 0  #: sweeps skipped for a grace period
        self.retry_delay = retry_delay          #: backoff of a reset job's next attempt (seconds)
        self.retry_delay_max = retry_delay_max

    def threshold(self, now: float) -> int:
        """Heartbeats older than this (epoch ms) are dead."""
        return to_ms(now) - int(self.interval * self.tolerance * 1000)

    @property
    def slow(self) -> float:
        """A store call slower than this (s) was an outage: ``(tolerance - 1) × interval``
        (at least ``interval``). A shorter stall cannot make a live heartbeat stale by
        itself, so mere load does not open a grace period."""
        return self.interval * max(1.0, self.tolerance - 1.0)

    def note_outage(self, now: float) -> None:
        """The store was unavailable at ``now``: reset nothing for ``interval × tolerance`` after it.

        >>> m = Monitor(None, 1.0, 3.0)
        >>> m.note_outage(100.0); m.grace_until
        103.0
        """
        self.grace_until = max(self.grace_until, now + self.interval * self.tolerance)

    def sweep(self, now: float | None = None) -> list[int]:
        """One pass: reset every dead job found (in random order); return the eids this monitor reset.

        Nothing is reset during a grace period after an outage (:meth:`note_outage`).
        With ``now`` None (the Pulse thread), the clock is read, a sweep whose read took
        longer than ``interval`` is an outage, and each reset is refused inside its
        transaction function if it waited longer than ``interval`` for the writer lock.
        """
        live = now is None
        if now is None:
            now = self.clock()
        if now < self.grace_until:
            self.skipped += 1
            return []
        started = time.monotonic()
        db = self.conn.sync()
        if live and time.monotonic() - started > self.slow:
            self.note_outage(self.clock())
            return []
        rows = queries.dead_attempts(db, self.threshold(now))
        self.rng.shuffle(rows)
        done = []
        not_after = to_ms(now) + int(self.slow * 1000) if live else None
        for e, attempt, hb in rows:
            delay = claim.retry_delay(attempt, self.retry_delay, self.retry_delay_max, self.rng)
            nb = to_ms(now + delay) if delay > 0 else None
            if claim.reset(self.conn, e, attempt, hb, to_ms(now), self.max_attempts,
                           clock=self._clock_ms if live else None, not_after=not_after, not_before=nb):
                log.warning("monitor reset job %s (attempt %s, heartbeat %s ms old)", job_id(db, e), attempt,
                            to_ms(now) - hb, extra={"job_id": job_id(db, e), "attempt": attempt})
                done.append(e)
            elif live and self._clock_ms() > (not_after or 0):
                self.note_outage(self.clock())  # the writer lock was unavailable: stop here
                break
        return done

    def _clock_ms(self) -> int:
        return to_ms(self.clock())


class Pulse(threading.Thread):
    """The background thread of a worker: heartbeats and staggered monitor sweeps."""

    def __init__(self, heartbeat: Heartbeat | None, monitor: Monitor | None, interval: float,
                 detector_interval: float, stagger: float, rng: random.Random,
                 clock: Callable[[], float] = time.time,
                 on_store_error: Callable[[BaseException], Any] | None = None) -> None:
        super().__init__(name="overseer-pulse", daemon=True)
        self.heartbeat = heartbeat
        self.monitor = monitor
        self.interval = interval
        self.detector_interval = detector_interval
        self.stagger = stagger
        self.rng = rng
        self.clock = clock
        #: called with each store error (the worker reconnects on a RECONNECT one)
        self.on_store_error = on_store_error
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        mono = time.monotonic
        next_beat = mono() + self.interval
        # the first sweep lands anywhere in the first period, so workers started together spread out
        next_sweep = mono() + self.rng.uniform(0, self.detector_interval + self.stagger)
        retry = min(0.25, self.interval)
        while not self.stopped.is_set():
            now_m = mono()
            try:
                if self.heartbeat is not None and now_m >= next_beat:
                    next_beat = now_m + self.interval
                    self.heartbeat.beat(self.clock())
                    if self.monitor is not None and mono() - now_m > self.monitor.slow:
                        self.monitor.note_outage(self.clock())  # the beat waited out an outage
                if self.monitor is not None and now_m >= next_sweep:
                    next_sweep = now_m + self.detector_interval + self.rng.uniform(0, self.stagger)
                    self.monitor.sweep()
                retry = min(0.25, self.interval)
            except fs.FactStoreError as exc:  # the store is unavailable: retry soon, backing off
                log.warning("heartbeat/monitor transaction failed (%s; retrying in %.2f s): %s",
                            fs.recovery(exc), retry, exc)
                if self.monitor is not None:
                    self.monitor.note_outage(self.clock())
                next_beat = min(next_beat, mono() + retry)
                retry = min(retry * 2, self.interval)
                if self.on_store_error is not None:
                    try:
                        self.on_store_error(exc)
                    except Exception:  # noqa: BLE001 - the callback logs its own failures
                        log.exception("handling a store error failed")
            except Exception:  # a bug here must not stop the heartbeats for good
                log.exception("heartbeat/monitor failed")
            wake = min(next_beat if self.heartbeat is not None else float("inf"),
                       next_sweep if self.monitor is not None else float("inf"))
            if wake == float("inf"):
                return
            self.stopped.wait(max(0.0, wake - mono()))
