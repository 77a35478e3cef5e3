"""The only mutable object: transact = lock, catch up, db.with_, append, notify.

A :class:`Connection` pairs a log store (``mem:``, ``file:``, ``postgresql:``)
with this process's peer state: the latest :class:`~fact_store.db.Db` it
knows. Every write takes the store's writer lock, catches up with records
other processes appended, runs the transaction against that latest db (so
``:db/cas`` and transaction functions see the truth), appends one record,
and only then publishes db-after and acknowledges.

How other processes' transactions become visible: *catch-up on demand*
(``sync()``, ``transact()``, ``wait()``), plus a watcher thread that starts
with the first ``listen()`` callback and calls listeners for every new record.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import queue
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from fact_store.datom import Datom, t_to_tx, tx_to_t
from fact_store.db import Db
from fact_store.errors import ConnectionClosed, FactStoreError, StorageError, StoreMoved
from fact_store.log import open_store
from fact_store.log.base import LogStore
from fact_store.log.record import decode_tx, encode_tx
from fact_store.peer import apply_record, db_from_snapshot, replay, snapshot_bytes
from fact_store.schema import TupleValue
from fact_store.tx.apply import MAX_TX_DATOMS, TxReport, transact

log = logging.getLogger("fact_store")

_UTC = _dt.timezone.utc


def _decode(payload: bytes) -> tuple[_dt.datetime, list[tuple[int, int, Any, int, bool]]]:
    instant, datoms = decode_tx(payload)
    if any(type(d[2]) is tuple for d in datoms):
        datoms = [(e, a, TupleValue(v) if type(v) is tuple else v, tx, ad)
                  for e, a, v, tx, ad in datoms]
    return instant, datoms


@dataclass(frozen=True, slots=True)
class LogTx:
    """One transaction of the log, as Datomic's ``tx-range`` gives it."""

    t: int
    tx: int
    instant: _dt.datetime
    tx_uuid: uuid.UUID
    data: list[Datom]


class Log:
    """The log API (``conn.log()``): read transactions by t."""

    def __init__(self, store: LogStore) -> None:
        self._store = store

    def tx_range(self, start: int | None = None, end: int | None = None) -> Iterator[LogTx]:
        """Transactions with ``start <= t < end`` (t or tx ids; None = open), in order.

        O(records read); each record is verified as it is read.
        """
        lo = 1 if start is None else tx_to_t(start)
        hi = None if end is None else tx_to_t(end)
        for rec in self._store.read_after(lo - 1):
            if hi is not None and rec.t >= hi:
                break
            instant, datoms = _decode(rec.payload)
            yield LogTx(rec.t, t_to_tx(rec.t), instant, rec.tx_uuid, [Datom(*d) for d in datoms])


class Connection:
    """A connection to one store: ``transact``, ``db``, ``sync``, ``listen``, ``log``, ``close``."""

    def __init__(self, uri: str, store: LogStore, max_tx_datoms: int | None = MAX_TX_DATOMS,
                 checkpoint_every: int | None = None) -> None:
        self.uri = uri
        self._store = store
        self._lock = threading.RLock()
        self._listeners: dict[int, Callable[[TxReport], Any]] = {}
        self._listener_ids = iter(range(1, 1 << 62))
        self._watcher: threading.Thread | None = None
        self._report_queue: tuple[int, queue.Queue[TxReport]] | None = None
        self._closed = False
        self.max_tx_datoms = max_tx_datoms
        self.checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self._db = self._open()

    # -- opening and catching up ----------------------------------------------

    def _open(self) -> Db:
        base = None
        snap = self._store.load_snapshot()
        if snap is not None:
            try:
                base = db_from_snapshot(snap[1])
                if base.basis_t != snap[0]:
                    log.warning("snapshot of %s claims t=%s but holds t=%s; replaying the log",
                                self.uri, snap[0], base.basis_t)
                    base = None
            except StorageError as exc:
                log.warning("ignoring the index snapshot of %s: %s", self.uri, exc)
                base = None
        start = base.basis_t if base is not None else 0
        records = ((r.t,) + _decode(r.payload) for r in self._store.read_after(start))
        db = replay(records, base)
        self._since_checkpoint = db.basis_t - start
        return db

    def _catch_up(self, notify: bool = True) -> Db:
        db = self._db
        reports = []
        for rec in self._store.read_after(db.basis_t):
            instant, datoms = _decode(rec.payload)
            rep = apply_record(db, rec.t, instant, datoms)
            db = rep.db_after
            reports.append(rep)
        if reports:
            self._db = db
            if notify:
                self._notify(reports)
        return db

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionClosed(f"connection to {self.uri} is closed")

    # -- the API ----------------------------------------------------------------

    def db(self) -> Db:
        """The latest db this process knows (no I/O). O(1)."""
        self._check_open()
        return self._db

    def sync(self) -> Db:
        """Catch up with every record in the store, then return the latest db."""
        self._check_open()
        with self._lock, self._closing_on_moved():
            return self._catch_up()

    @contextlib.contextmanager
    def _closing_on_moved(self) -> Iterator[None]:
        """A store that moved (replaced log, lost continuity) closes this connection for good,
        so the next ``connect(uri)`` opens it afresh."""
        try:
            yield
        except StoreMoved:
            self.close()
            raise

    def wait(self, timeout: float) -> Db:
        """Wait up to ``timeout`` seconds for a transaction newer than ``db()``; return the synced db."""
        self._check_open()
        self._store.wait(self._db.basis_t, timeout)
        return self.sync()

    def transact(self, tx_data: Any, instant: _dt.datetime | None = None) -> TxReport:
        """Run ``tx_data`` as one transaction; return its TxReport once it is durable.

        :raises TransactionError: the transaction was refused; nothing was written.
        :raises StorageError: the store failed; see TransactionOutcomeUnknown.
        """
        self._check_open()
        with self._lock, self._closing_on_moved():
            self._catch_up()  # most of the catching up happens before the writer lock
            with self._store.writer():
                self._catch_up()
                report = transact(self._db, tx_data, instant=instant, max_datoms=self.max_tx_datoms)
                after = report.db_after
                datoms = [(d.e, d.a, d.v, d.tx, d.added) for d in report.tx_data]
                payload = encode_tx(after.last_instant, datoms)
                self._store.append(after.basis_t, uuid.uuid4(), payload)
            # acknowledged: the record is durable (group mode waits on leaving writer())
            self._db = after
            self._since_checkpoint += 1
        self._notify([report])
        if self.checkpoint_every and self._since_checkpoint >= self.checkpoint_every:
            try:
                self.checkpoint()
            except StorageError as exc:  # a snapshot is only a cache
                log.warning("checkpoint of %s failed: %s", self.uri, exc)
        return report

    def checkpoint(self) -> int:
        """Write an index snapshot of the latest db; returns its basis t."""
        self._check_open()
        db = self.sync()
        if db.basis_t == 0:
            return 0
        self._store.save_snapshot(db.basis_t, snapshot_bytes(db))
        self._since_checkpoint = 0
        return db.basis_t

    def log(self) -> Log:
        """The log API: ``conn.log().tx_range(start, end)``."""
        self._check_open()
        return Log(self._store)

    @property
    def store(self) -> LogStore:
        return self._store

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran, or the store closed it (``StoreMoved``): open anew with ``connect(uri)``."""
        return self._closed

    # -- listeners ---------------------------------------------------------------

    def listen(self, callback: Callable[[TxReport], Any]) -> int:
        """Call ``callback(report)`` after every transaction, this process's or another's.

        Returns a key for :meth:`unlisten`. Other processes' transactions are
        delivered by a watcher thread that starts with the first listener.
        """
        self._check_open()
        with self._lock:
            key = next(self._listener_ids)
            self._listeners[key] = callback
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name=f"fact-store-watch",
                                                 daemon=True)
                self._watcher.start()
        return key

    def unlisten(self, key: int) -> None:
        self._listeners.pop(key, None)

    def tx_report_queue(self) -> "queue.Queue[TxReport]":
        """The connection's queue of TxReports, as Datomic's tx-report-queue.

        From the first call on, the queue receives a report for every transaction,
        this process's or another's, in order; ``get()`` blocks until one arrives
        (``get(timeout=s)`` raises ``queue.Empty`` after ``s`` seconds). Every call
        returns the same queue, until :meth:`remove_tx_report_queue`. The queue is
        unbounded: the application must empty it. O(1).
        """
        with self._lock:
            if self._report_queue is None:
                q: queue.Queue[TxReport] = queue.Queue()
                self._report_queue = (self.listen(q.put), q)
            return self._report_queue[1]

    def remove_tx_report_queue(self) -> None:
        """Stop filling the queue :meth:`tx_report_queue` returned; the next call makes a new one."""
        with self._lock:
            if self._report_queue is not None:
                self.unlisten(self._report_queue[0])
                self._report_queue = None

    def _notify(self, reports: list[TxReport]) -> None:
        for rep in reports:
            for cb in list(self._listeners.values()):
                try:
                    cb(rep)
                except Exception:  # a listener's bug must not break the writer
                    log.exception("listener %r failed", cb)

    def _watch(self) -> None:
        while not self._closed and self._listeners:
            try:
                if self._store.wait(self._db.basis_t, 0.5) and not self._closed:
                    with self._lock:
                        self._catch_up()
            except FactStoreError as exc:
                if self._closed:
                    return
                if isinstance(exc, StoreMoved):  # for good: close, so users reconnect
                    log.warning("watcher of %s: %s; connection closed", self.uri, exc)
                    self.close()
                    break
                log.warning("watcher of %s: %s", self.uri, exc)
                threading.Event().wait(0.5)
        self._watcher = None

    def close(self) -> None:
        """Release the store; later calls raise ConnectionClosed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        _forget(self)
        self._store.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Connection {self.uri} t={self._db.basis_t}>"


_connections: dict[str, Connection] = {}
_registry_lock = threading.Lock()


def _forget(conn: Connection) -> None:
    with _registry_lock:
        if _connections.get(conn.uri) is conn:
            del _connections[conn.uri]


def connect(uri: str, **options: Any) -> Connection:
    """Connect to the store at ``uri``: ``mem:NAME``, ``file:PATH[?durability=fsync|group|none]``
    or ``postgresql://user@host:port/dbname``. Creates the store on first use.

    The same URI in one process gives the same connection (until it is closed).

    >>> conn = connect("mem:doc-example")
    >>> conn.transact([{":db/ident": ":doc/title", ":db/valueType": ":db.type/string",
    ...                 ":db/cardinality": ":db.cardinality/one"}]).db_after.basis_t
    1
    >>> connect("mem:doc-example") is conn
    True
    >>> conn.close()

    :raises ConfigurationError: an unknown scheme or a bad option.
    """
    with _registry_lock:
        conn = _connections.get(uri)
        if conn is not None and not conn._closed:
            return conn
        store = open_store(uri)
        try:
            conn = Connection(uri, store, **options)
        except BaseException:
            store.close()
            raise
        if uri not in ("mem:", "mem"):
            _connections[uri] = conn
        return conn
