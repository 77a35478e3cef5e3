"""Live updates: the connection's transaction notifications, fanned out to Server-Sent Events clients.

The connection calls :meth:`Broker._on_tx` after every transaction (its own, or
another process's through its watcher thread: ``Connection.listen``); the broker
hands the new basis t to each subscriber's asyncio loop. A subscriber keeps only
the newest t and a stream sends at most one event per :data:`MIN_GAP_S` (a slow
browser, or a burst of transactions, gets one event for many, never a backlog),
so fifty open pages cost the writers one callback each.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator

import fact_store as fs

#: a comment line sent when nothing happened for this long, so proxies keep the stream open
KEEPALIVE_S = 15.0
#: the shortest time between two events of one stream (as often as a page refreshes at most)
MIN_GAP_S = 0.25


class Subscriber:
    """One open event stream: the newest t it has not sent yet."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ready = asyncio.Event()
        self.t = 0

    def push(self, t: int) -> None:  # on the subscriber's loop
        self.t = max(self.t, t)
        self.ready.set()


class Broker:
    """Listens on the connection while at least one page is subscribed."""

    def __init__(self, conn: fs.Connection) -> None:
        self.conn = conn
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._key: int | None = None

    def _on_tx(self, report: Any) -> None:  # writer or watcher thread
        t = report.db_after.basis_t
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            try:
                s.loop.call_soon_threadsafe(s.push, t)
            except RuntimeError:  # its loop closed (server shutting down)
                pass

    def subscribe(self) -> Subscriber:
        sub = Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
            if self._key is None:
                self._key = self.conn.listen(self._on_tx)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)
            if not self._subs and self._key is not None:
                self.conn.unlisten(self._key)
                self._key = None

    @property
    def clients(self) -> int:
        return len(self._subs)

    async def stream(self, sub: Subscriber, start_t: int) -> AsyncIterator[str]:
        """``event: tx`` / ``data: {"t": N}`` for each new basis t; a keep-alive comment otherwise."""
        try:
            yield f"retry: 2000\nevent: hello\ndata: {{\"t\": {start_t}}}\n\n"
            while True:
                try:
                    await asyncio.wait_for(sub.ready.wait(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                sub.ready.clear()
                yield f"event: tx\ndata: {{\"t\": {sub.t}}}\n\n"
                # at most one event per MIN_GAP_S per stream: the newest t is kept meanwhile,
                # so a burst of transactions costs one event, and the first after a pause none
                await asyncio.sleep(MIN_GAP_S)
        finally:
            self.unsubscribe(sub)
