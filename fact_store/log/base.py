"""The LogStore contract: read_after(t), writer lock, append(t+1), snapshots, wait for new records.

A log store keeps **bytes**: one record per transaction (``t``, ``tx_uuid``,
payload) and a few index snapshots. It knows nothing of datoms, indexes or
queries; ``fact_store.log.record`` encodes payloads, the connection layer
decides what they mean (HU keeps its serializer out of its storage too).

How the connection layer uses a store (the whole protocol)::

    with store.writer() as head:          # exclusive across threads and processes
        records = store.read_after(known_t)  # catch up to head under the lock
        ...validate the tx against the caught-up db...
        store.append(head + 1, tx_uuid, payload)
    # leaving the block releases the lock; in 'group' durability mode it also
    # waits for the fsync covering the record: acknowledge only after the block.

Every backend (mem, file, postgresql) runs the same contract tests
(``tests/fact_store/log/test_log_contract.py``).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from typing import Callable, ContextManager, Iterator, NamedTuple

#: The fault-injection hook behind :func:`crashpoint`: None in production.
#: ``fact_store.log.crash`` sets it when armed; that module is imported only when
#: ``FACTSTORE_CRASH_AT`` is set (``fact_store/log/__init__.py``) or by a test.
crash_hook: Callable[[str, Callable[[], object] | None], None] | None = None


def crashpoint(name: str, before: Callable[[], object] | None = None) -> None:
    """A named step where a fault test may kill this process; a no-op unless armed.

    The stores call it at the steps where a crash is most interesting
    (``before-write``, ``mid-write`` …, listed in ``fact_store/log/crash.py``).
    Cost when disarmed: one global lookup.

    >>> crashpoint("mid-write")   # nothing armed: returns
    """
    hook = crash_hook
    if hook is not None:
        hook(name, before)


class RawRecord(NamedTuple):
    """One verified record of the log.

    ``offset`` is where the record starts in its backend (a byte offset for
    ``file:``, ``t`` for stores without byte positions); error messages and
    ``verify`` use it.
    """

    t: int
    tx_uuid: uuid.UUID
    payload: bytes
    offset: int


#: Durability modes a store may accept (``?durability=`` in a ``file:`` URI).
DURABILITY_MODES = ("fsync", "group", "none")


class LogStore(ABC):
    """An append-only log of transaction records plus index snapshots.

    Invariants every backend guarantees:

    - t starts at 1 and has no gaps; a record is visible entirely or not at all
      (a reader never sees t+1 without t, never a partial payload).
    - Appends happen only inside :meth:`writer`, one writer at a time across all
      threads and processes sharing the store.
    - Once :meth:`append` returned (and, in ``group`` mode, the ``writer()``
      block exited) in a durable mode, the record survives ``kill -9`` of any
      process and, given an honest disk, power loss.
    - Every failure is a :class:`~fact_store.errors.StorageError` subclass.
    """

    uri: str

    @abstractmethod
    def head(self) -> int:
        """The newest t present in the log (0 if empty).

        Re-reads the backend (file size, table) each call; cheap when nothing changed.

        :raises StoreMoved: the log was replaced or deleted under this store.
        """

    @abstractmethod
    def read_after(self, t: int) -> Iterator[RawRecord]:
        """Yield the verified records with ``record.t > t`` in t order.

        Stops at the first incomplete or unverifiable record: that is the end of
        the log for a reader (a crash mid-write, or a write still in progress).
        Readers never repair anything.

        :raises LogCorrupted: a bad record is followed by valid ones (mid-log corruption).
        :raises UnsupportedFormat: a record kind written by a newer version.
        """

    @abstractmethod
    def writer(self, timeout: float | None = None) -> ContextManager[int]:
        """Hold the exclusive writer lock; yields the head t.

        On entry the store catches up with records other processes appended,
        verifies them, and cuts off a torn tail (truncate + fsync): nothing is
        ever appended after garbage. Leaving the block releases the lock (and in
        ``group`` mode waits for the covering fsync).

        Not re-entrant: entering twice from one thread raises StorageError.

        :raises LockTimeout: ``timeout`` seconds passed without getting the lock.
        :raises LogCorrupted: a bad record followed by valid ones; nothing was changed.
        :raises UnsupportedFormat: the log holds a record kind this build does not know.
        :raises StoreMoved: the log or lock file was replaced under this store.
        """

    @abstractmethod
    def append(self, t: int, tx_uuid: uuid.UUID, payload: bytes) -> None:
        """Append the record for ``t``, which must be head + 1; only inside :meth:`writer`.

        ``fsync`` mode: durable when this returns. ``group`` mode: durable when
        the ``writer()`` block exits. ``none``: survives a process crash only.

        On a write or fsync error the store is marked failed and nothing more is
        appended until a new ``writer()`` re-opens and re-verifies the log.

        :raises LimitExceeded: the payload is larger than the store's maximum tx size.
        :raises DiskFullError: no space; the record is not in the log.
        :raises TransactionOutcomeUnknown: the record may or may not be in the log
            (look for ``tx_uuid`` with ``read_after`` once a new writer() succeeds).
        :raises StorageError: called outside ``writer()``, t is not head + 1, or
            the store failed earlier.
        """

    @abstractmethod
    def save_snapshot(self, t: int, payload: bytes) -> None:
        """Store an index snapshot at basis ``t`` (1 <= t <= head), atomically.

        A reader sees the previous snapshot or this one, never a partial one.
        The backend keeps the newest few and deletes older ones.
        """

    @abstractmethod
    def load_snapshot(self) -> tuple[int, bytes] | None:
        """The newest valid snapshot as ``(t, payload)``, or None.

        Valid means: this database, t <= head and matching the log's record at t,
        checksum right, a known version. A bad snapshot is logged as a warning
        and skipped: snapshots are caches, the log is the truth.
        """

    @abstractmethod
    def wait(self, after_t: int, timeout: float) -> bool:
        """Block until a record with t > ``after_t`` exists, or ``timeout`` seconds pass.

        Returns True if one exists. Each backend says how it learns of new records.
        """

    @abstractmethod
    def close(self) -> None:
        """Release this handle's resources; idempotent. Later calls raise ConnectionClosed."""
