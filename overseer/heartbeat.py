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


def to_ms(now: float) -> int:
    """Epoch seconds → the epoch milliseconds stored in ``:job/heartbeat``."""
    return int(now * 1000)


class Heartbeat:
    """Renews the heartbeats of the attempts ``held()`` returns; reports lost ones to ``on_lost``."""

    def __init__(self, conn: Any, owner: str, held: Callable[[], Iterable[tuple[int, int]]],
                 on_lost: Callable[[set[int]], Any] | None = None) -> None:
        self.conn = conn
        self.owner = owner
        self.held = held
        self.on_lost = on_lost

    def beat(self, now: float) -> set[int]:
        """One heartbeat transaction; returns the eids still held. O(held)."""
        held = list(self.held())
        if not held:
            return set()
        current = claim.heartbeat(self.conn, self.owner, held, to_ms(now))
        # an attempt whose outcome the worker recorded meanwhile is not lost: only the
        # ones it still holds after the heartbeat and that are not current were reset
        still = set(self.held())
        lost = {e for e, a in held if (e, a) in still} - current
        if lost:
            log.warning("worker %s lost %d attempt(s) (reset by a monitor): %s", self.owner,
                        len(lost), sorted(lost))
            if self.on_lost is not None:
                self.on_lost(lost)
        return current


class Monitor:
    """Resets started jobs whose heartbeat is older than ``tolerance × interval``."""

    def __init__(self, conn: Any, interval: float, tolerance: float, max_attempts: int = 5,
                 rng: random.Random | None = None) -> None:
        self.conn = conn
        self.interval = interval
        self.tolerance = tolerance
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()

    def threshold(self, now: float) -> int:
        """Heartbeats older than this (epoch ms) are dead."""
        return to_ms(now) - int(self.interval * self.tolerance * 1000)

    def sweep(self, now: float) -> list[int]:
        """One pass: reset every dead job found (in random order); return the eids this monitor reset."""
        db = self.conn.sync()
        rows = queries.dead_attempts(db, self.threshold(now))
        self.rng.shuffle(rows)
        done = []
        for e, attempt, hb in rows:
            if claim.reset(self.conn, e, attempt, hb, to_ms(now), self.max_attempts):
                log.warning("monitor reset job %s (attempt %s, heartbeat %s ms old)", e, attempt,
                            to_ms(now) - hb)
                done.append(e)
        return done


class Pulse(threading.Thread):
    """The background thread of a worker: heartbeats and staggered monitor sweeps."""

    def __init__(self, heartbeat: Heartbeat | None, monitor: Monitor | None, interval: float,
                 detector_interval: float, stagger: float, rng: random.Random,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name="overseer-pulse", daemon=True)
        self.heartbeat = heartbeat
        self.monitor = monitor
        self.interval = interval
        self.detector_interval = detector_interval
        self.stagger = stagger
        self.rng = rng
        self.clock = clock
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        mono = time.monotonic
        next_beat = mono() + self.interval
        # the first sweep lands anywhere in the first period, so workers started together spread out
        next_sweep = mono() + self.rng.uniform(0, self.detector_interval + self.stagger)
        while not self.stopped.is_set():
            now_m = mono()
            try:
                if self.heartbeat is not None and now_m >= next_beat:
                    next_beat = now_m + self.interval
                    self.heartbeat.beat(self.clock())
                if self.monitor is not None and now_m >= next_sweep:
                    next_sweep = now_m + self.detector_interval + self.rng.uniform(0, self.stagger)
                    self.monitor.sweep(self.clock())
            except fs.FactStoreError as exc:  # the store hiccuped: try again next period
                log.warning("heartbeat/monitor transaction failed: %s", exc)
            except Exception:  # a bug here must not stop the heartbeats for good
                log.exception("heartbeat/monitor failed")
            wake = min(next_beat if self.heartbeat is not None else float("inf"),
                       next_sweep if self.monitor is not None else float("inf"))
            if wake == float("inf"):
                return
            self.stopped.wait(max(0.0, wake - mono()))
