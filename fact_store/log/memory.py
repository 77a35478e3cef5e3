"""mem: the reference behaviour every other store must match.

Records live in a Python list inside this process. ``mem:NAME`` stores are
shared process-wide by name (every handle sees the same records); ``mem:``
alone is a fresh anonymous store. Nothing is durable beyond the process.

The writer lock is a ``threading.Lock``; :meth:`MemoryStore.wait` waits on a
``threading.Condition`` notified by every append, so it wakes at once.

>>> import uuid
>>> s = MemoryStore("mem:")
>>> with s.writer() as head:
...     s.append(head + 1, uuid.UUID(int=1), b"payload")
>>> s.head(), [r.t for r in s.read_after(0)]
(1, [1])
"""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from fact_store.errors import ConnectionClosed, LimitExceeded, LockTimeout, StorageError
from fact_store.log.base import LogStore, RawRecord

DEFAULT_MAX_TX_BYTES = 16 << 20
#: How many snapshots a store keeps (the newest ones).
KEEP_SNAPSHOTS = 3


class _MemState:
    def __init__(self) -> None:
        self.records: list[RawRecord] = []
        self.snapshots: list[tuple[int, bytes]] = []
        self.lock = threading.Lock()  # the writer lock
        self.owner: int | None = None  # thread ident holding the writer lock
        self.cond = threading.Condition(threading.Lock())


_registry: dict[str, _MemState] = {}
_registry_lock = threading.Lock()


def open_memory(uri: str, name: str) -> "MemoryStore":
    """``mem:NAME`` → a handle on the process-wide store NAME; ``mem:`` → a fresh one."""
    if not name:
        return MemoryStore(uri)
    with _registry_lock:
        state = _registry.get(name)
        if state is None:
            state = _registry[name] = _MemState()
    return MemoryStore(uri, state)


class MemoryStore(LogStore):
    """An in-process :class:`~fact_store.log.base.LogStore`; see the module doc."""

    def __init__(self, uri: str = "mem:", state: _MemState | None = None,
                 max_tx_bytes: int = DEFAULT_MAX_TX_BYTES) -> None:
        self.uri = uri
        self._s = state if state is not None else _MemState()
        self._closed = False
        self.max_tx_bytes = max_tx_bytes

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionClosed(f"store {self.uri} is closed; open it again with open_store()")

    def head(self) -> int:
        """O(1)."""
        self._check_open()
        return len(self._s.records)

    def read_after(self, t: int) -> Iterator[RawRecord]:
        """O(number of records yielded)."""
        self._check_open()
        records = self._s.records
        i = max(t, 0)
        while i < len(records):
            yield records[i]
            i += 1

    @contextmanager
    def writer(self, timeout: float | None = None) -> Iterator[int]:
        self._check_open()
        s = self._s
        me = threading.get_ident()
        if s.owner == me:
            raise StorageError(f"writer() of {self.uri} entered twice by one thread; "
                               "it is not re-entrant")
        if not s.lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            raise LockTimeout(f"could not get the writer lock of {self.uri} within {timeout} s",
                              timeout=timeout)
        s.owner = me
        try:
            yield len(s.records)
        finally:
            s.owner = None
            s.lock.release()

    def append(self, t: int, tx_uuid: uuid.UUID, payload: bytes) -> None:
        self._check_open()
        s = self._s
        if s.owner != threading.get_ident():
            raise StorageError(f"append to {self.uri} outside writer(): take the writer lock first")
        if t != len(s.records) + 1:
            raise StorageError(f"append of t={t} to {self.uri}, whose head is "
                               f"{len(s.records)}: t must be head + 1", t=t, head=len(s.records))
        if len(payload) > self.max_tx_bytes:
            raise LimitExceeded(f"tx record of {len(payload)} bytes exceeds the maximum "
                                f"of {self.max_tx_bytes}", size=len(payload),
                                limit=self.max_tx_bytes)
        with s.cond:
            s.records.append(RawRecord(t, tx_uuid, bytes(payload), t))
            s.cond.notify_all()

    def save_snapshot(self, t: int, payload: bytes) -> None:
        self._check_open()
        s = self._s
        if not 1 <= t <= len(s.records):
            raise StorageError(f"snapshot at t={t} of {self.uri}: t must be in 1..head "
                               f"({len(s.records)})", t=t)
        with s.cond:
            snaps = [x for x in s.snapshots if x[0] != t] + [(t, bytes(payload))]
            snaps.sort(key=lambda x: x[0])
            s.snapshots = snaps[-KEEP_SNAPSHOTS:]

    def load_snapshot(self) -> tuple[int, bytes] | None:
        self._check_open()
        s = self._s
        with s.cond:
            for t, payload in reversed(s.snapshots):
                if t <= len(s.records):
                    return t, payload
        return None

    def wait(self, after_t: int, timeout: float) -> bool:
        """Waits on a Condition notified by every append: wakes immediately."""
        self._check_open()
        s = self._s
        deadline = time.monotonic() + timeout
        with s.cond:
            while len(s.records) <= after_t:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                s.cond.wait(left)
        return True

    def close(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"MemoryStore({self.uri!r}, head={len(self._s.records)})"
