"""postgresql: log table keyed by t, advisory lock, LISTEN/NOTIFY.

When workers run on several machines, every process points at one PostgreSQL
database. PostgreSQL is the storage and the serialization point; every process
is a peer that keeps its own indexes caught up with the log (DESIGN.md §5).

URI
---

``postgresql://user@host:port/dbname[?OPTIONS]`` (``postgres://`` too). The
store's own options are taken out of the query string; every other parameter
goes to libpq unchanged (``password``, ``sslmode``, ``host=/socket/dir``,
``connect_timeout``, ``options`` ...).

=====================  =========  ====================================================
option                 default    meaning
=====================  =========  ====================================================
``schema``             fact_store the schema holding this store's tables; several
                                  stores share one database under different schemas.
                                  Must match ``^[a-z_][a-z0-9_]{0,62}$`` (checked
                                  before any SQL runs; never ``pg_*``).
``durability``         fsync      ``fsync``: acknowledged means COMMIT returned on a
                                  server with ``fsync=on`` and ``synchronous_commit``
                                  on/local/remote_*; the flush happens under the
                                  writer lock. ``group``: durable when ``writer()``
                                  exits — the flush is waited for after the lock, so
                                  writers in several processes share flushes (see
                                  "Group mode"). ``none``: our sessions commit with
                                  ``synchronous_commit=off`` (a server crash may
                                  lose the last acknowledged transactions).
``unsafe_server``      refuse     in ``fsync``/``group`` mode, a server running with
                                  ``fsync=off`` or ``synchronous_commit=off``:
                                  ``refuse`` (ConfigurationError) or ``warn``.
``lock_timeout``       none       seconds ``writer()`` waits for the lock (LockTimeout).
``max_tx_bytes``       16 MiB     largest record payload accepted.
``reconnect_timeout``  30         seconds of retrying (with backoff) after a dropped
                                  connection or a server restart before giving up
                                  with a StorageError that says so.
``poll_interval``      0.5        seconds between head polls in ``wait()``, the
                                  fallback when a notification is missed.
``statement_timeout``  30         seconds a read may run (server side); also the
                                  client-side deadline of every network wait (see
                                  "Deadlines").
=====================  =========  ====================================================

Tables (created on first use, in one transaction, under a setup advisory lock)::

    meta(key text PRIMARY KEY, value text NOT NULL)
        magic = 'fact-store', format = '1', db_uuid, created
    tx_log(t bigint PRIMARY KEY, tx_uuid uuid UNIQUE NOT NULL,
           instant timestamptz NOT NULL DEFAULT now(), payload bytea NOT NULL,
           crc integer NOT NULL)
    snapshots(t bigint PRIMARY KEY, tx_uuid uuid NOT NULL, payload bytea NOT NULL,
              crc integer NOT NULL, created timestamptz NOT NULL DEFAULT now())

``crc`` is ``zlib.crc32`` over t (8 bytes, big-endian), the tx uuid and the
payload, seeded with ``zlib.crc32(db_uuid)`` as in the file store, stored as a
signed 32-bit integer; every read checks it (a mismatch, or a gap in t, is
``LogCorrupted`` naming t). A snapshot names the tx uuid of the log record at
its t; it is used only if the log still holds that record and its crc checks.
A ``meta.format`` newer than this build's is ``UnsupportedFormat``; a schema
holding some but not all of these tables, or a ``meta`` without the magic, is
``NotAFactStore`` and is never modified.

The writer protocol (RELIABILITY.md R8)
---------------------------------------

``writer()`` queues the threads of this process on a ``threading.Lock``, then
opens a transaction on its own session and takes
``pg_advisory_xact_lock(key)`` — the key is the first 8 bytes of
BLAKE2b("fact-store writer", schema): one lock per store, database-wide — and
reads ``head = max(t)`` and the rows after the newest t this handle has seen
*in later statements* (READ COMMITTED takes a new snapshot per statement, so
they see every transaction committed before the lock was granted). The three
statements go in one pipeline: one round trip. The caller catches up
(``read_after``, served from those rows without a query) and validates.

``append(head + 1, …)`` INSERTs the row and ``pg_notify`` in one statement,
then **COMMITs before returning** — INSERT and COMMIT in one pipeline, one
round trip: acknowledged means COMMIT returned, and the contract's "durable
when append returns" holds. So a transaction costs two round trips and the
server's commit flush. The COMMIT ends the
transaction, so it also releases the advisory lock: the Connection does
nothing under the lock after ``append``, so this is exactly its protocol. A
second ``append`` in the same ``writer()`` block takes the lock again in a new
transaction and re-reads the head; if another process appended in between it
is refused ("t must be head + 1"). Leaving the block without a committed
append rolls back (releasing the lock). The primary key on t is the
serialization point behind the lock: a second writer inserting the same t
would block on the uncommitted key and then fail (SQLSTATE 23505), never
create a gap or a duplicate. Sequences are not used (they leave gaps), nor
SERIALIZABLE.

Crash points (``fact_store.log.crash``): ``pg-before-commit`` (nothing of the
INSERT/COMMIT pipeline sent yet, the lock held) and
``pg-after-commit-before-return`` (committed, not yet acknowledged).

If COMMIT fails, the outcome is **found out, not guessed**: on a fresh session
the store takes the advisory lock (after terminating the old session with
``pg_terminate_backend`` if it is still alive, say half-open), which proves
the old transaction has ended, then looks for the tx uuid. Present: ``append``
returns normally (it committed; acknowledged). Absent: a StorageError saying
nothing was written and a retry is safe. Only if the server stays unreachable
for ``reconnect_timeout`` is it ``TransactionOutcomeUnknown``; the record is
never applied twice (``tx_uuid`` is UNIQUE, and the store never re-sends an
append). A connection lost *before* COMMIT was sent is a plain StorageError:
nothing can have been committed.

Group mode
----------

With ``durability=fsync`` every COMMIT waits for its WAL flush while holding
the writer lock, so writers in several processes cannot share a flush: the
commit rate of N processes is that of one. ``durability=group`` commits under
the lock with ``SET LOCAL synchronous_commit = off`` (no flush wait; the row
is visible at once and the lock is free), and ``writer()`` exit — after the
lock — runs a flush barrier: a transaction that writes one WAL record
(``pg_logical_emit_message(true, …)``) commits synchronously, which flushes
WAL past its commit record and so past ours; concurrent barriers share one
flush. Then it
looks the tx uuid up: present means durable (acknowledge); absent means a
server crash lost it (a StorageError; retrying is safe); unreachable is
TransactionOutcomeUnknown.

Readers see only the durable prefix. A group-mode commit is visible in the
table before its WAL is flushed, so ``read_after`` (outside ``writer()``) asks,
in the same round trip as its rows, whether the server's WAL is flushed up to
the insert position read after them (every commit the read saw lies before
it); if not, it waits for that flush before returning the rows (in group mode
it runs the flush barrier; otherwise it polls ``pg_current_wal_flush_lsn()``
until the WAL writer got there). So a server crash can take back only records
no other process has read. The exception is the writer itself: under the lock,
``writer()`` reads every committed row (it must append after the head), so a
transaction may be validated against a record that is not yet durable; if a
crash takes that record, it takes the later one too (the WAL is a sequence), and
the writer is never acknowledged. ``head()`` may count a record not yet
durable. The cost: nothing while the WAL is flushed (an idle server, or
``fsync`` writers only); a shared WAL flush for a read that races a group
commit. The peer-continuity check (below) still turns a lost record into an
error (``StoreMoved``) instead of a silent divergence: it now means the log was
replaced or failed over, not that a reader was too early.

Peer continuity: each handle remembers the (t, tx uuid) of the newest record it
read or appended; every writer entry (in the same statement as the head) and
every re-made reader session checks the log still holds it. If not — a crash in
group mode, a failover to a lagging replica, tables restored from a backup —
the handle is closed and ``StoreMoved`` says to reconnect (its process's
indexes no longer describe the log).

Sessions, notifications, reconnecting
-------------------------------------

A store handle keeps up to three sessions: *reader* (autocommit; ``head``,
``read_after``, snapshots), *writer*, and *listener*. ``application_name`` is
``fact-store <schema> <role>``, so operators (and the tests) can see them in
``pg_stat_activity``. A dropped session (server restart, network, a killed
backend) is re-made with backoff (20 ms doubling to 1 s, jittered) for up to
``reconnect_timeout`` s, then a StorageError names the server, the time spent
and the last error. Reads and ``writer()`` entry retry transparently (nothing
was written); ``append`` never does (see above). TCP keepalives and
``tcp_user_timeout`` are on by default (a half-open peer is detected within
about 15 s), and writer sessions have ``idle_in_transaction_session_timeout``
of 60 s so a writer process paused while holding the lock loses it (its
append then fails, never half-applies).

Deadlines
---------

Every network wait has a deadline, so a silent peer (a blackholed connection, a
stopped server process: the peer's kernel still ACKs, so TCP keepalives and
``tcp_user_timeout`` never fire) cannot block a call forever. Each call on a
session (a read, the writer's lock-and-head pipeline, INSERT+COMMIT, a rollback)
must get its reply within ``statement_timeout + 2`` s; a watchdog thread shuts
the socket down when it does not, so the call fails like a dropped connection
(reconnect with backoff for reads; for a COMMIT, the outcome is then resolved by
tx uuid as for any broken COMMIT). Lock waits are split into rounds of
``statement_timeout`` (server-side ``lock_timeout``) so a long wait for a busy
lock is not mistaken for silence. Connecting waits at most ``connect_timeout``
(default: ``reconnect_timeout``, between 2 and 10 s).

Each append does ``pg_notify(channel, t)``, delivered at COMMIT. The channel is
``fact_store.<schema>``; PostgreSQL channel names are identifiers of at most
63 bytes (NAMEDATALEN - 1: ``LISTEN`` would silently truncate a longer one and
``pg_notify`` rejects it), so a schema longer than 52 characters uses its
first 35 characters plus a 16-hex-digit hash. ``wait()`` runs a listener
thread (started on first use, stopped after a minute unused) on its own
session: ``LISTEN`` is in place before ``wait()`` first reads the head, so no
notification can fall between the check and the wait; a missed one (the
listener reconnecting) only delays until the next head poll.

Psycopg connections are never used across ``fork()``: a child re-opens its
sessions (and keeps the parent's objects referenced, so it never closes the
parent's sockets).

>>> parse_uri("postgresql://app@db.example:5432/jobs?schema=team_a&sslmode=disable")[1:3]
('team_a', {'durability': 'fsync', 'unsafe_server': 'refuse'})
>>> channel_name("team_a")
'fact_store.team_a'
>>> len(channel_name("s" * 63).encode())
63
>>> parse_uri("postgresql://h/db?schema=Robert');DROP TABLE x;--")
Traceback (most recent call last):
...
fact_store.errors.ConfigurationError: schema name "Robert');DROP TABLE x;--" is not allowed: it must match ^[a-z_][a-z0-9_]{0,62}$ (lower-case letters, digits, underscores; at most 63) and not start with pg_
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import threading
import time
import uuid
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from fact_store.errors import (
    ConfigurationError,
    ConnectionClosed,
    LimitExceeded,
    LockTimeout,
    LogCorrupted,
    NotAFactStore,
    StorageError,
    StoreMoved,
    TransactionOutcomeUnknown,
    UnsupportedFormat,
)
from fact_store.log.base import DURABILITY_MODES, LogStore, RawRecord, crashpoint

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg import sql
except ImportError:  # pragma: no cover - exercised only without the optional driver
    psycopg = None  # type: ignore[assignment]

log = logging.getLogger("fact_store")

#: The table layout this build writes (meta.format); a newer one is refused.
FORMAT = 1
MAGIC = "fact-store"
DEFAULT_SCHEMA = "fact_store"
DEFAULT_MAX_TX_BYTES = 16 << 20
#: bytea holds at most 1 GiB; keep well below.
MAX_TX_BYTES_CEILING = 256 << 20
KEEP_SNAPSHOTS = 3
SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # fullmatch: "$" would pass a final newline
_OPTIONS = ("schema", "durability", "unsafe_server", "lock_timeout", "max_tx_bytes",
            "reconnect_timeout", "poll_interval", "statement_timeout")
_DURABILITY = {"fsync": "fsync", "group": "group", "none": "none", "os": "none"}
_SAFE_SYNC_COMMIT = ("on", "remote_write", "remote_apply", "local")
#: SQLSTATEs after which a new session may succeed (besides class 08, connection).
_TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "08000", "08003", "08006",
                               "08001", "08004"})
#: Connection failures that waiting will not cure.
_PERMANENT_MARKERS = ("authentication failed", "does not exist", "pg_hba.conf",
                      "password", "permission denied", "not permitted", "invalid")
#: A server's FATAL at connection start is permanent (an unknown parameter, a refused login)
#: unless it says the server is busy, starting or stopping: then waiting may cure it.
_TRANSIENT_FATALS = ("starting up", "shutting down", "in recovery mode", "too many clients",
                     "connection slots are reserved", "not yet accepting connections",
                     "not accepting connections", "administrator command")
_LISTENER_IDLE = 60.0
#: network time allowed on top of statement_timeout before a session counts as silent
_DEADLINE_MARGIN = 2.0
_READ_PAGE_MIN, _READ_PAGE_MAX = 64, 4096
_READ_PAGE_BYTES = 8 << 20
#: Objects a forked child must keep alive so their finalizers never close the parent's sockets.
_orphans: list[Any] = []

T = TypeVar("T")


# --- names and URIs ------------------------------------------------------------------

def check_schema_name(name: str) -> str:
    """Return ``name`` if it is an allowed schema name, else raise ConfigurationError."""
    if not isinstance(name, str) or not SCHEMA_RE.fullmatch(name) or name.startswith("pg_"):
        raise ConfigurationError(
            f"schema name {name!r} is not allowed: it must match ^[a-z_][a-z0-9_]{{0,62}}$ "
            "(lower-case letters, digits, underscores; at most 63) and not start with pg_",
            schema=name)
    return name


def _digest(*parts: str) -> bytes:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()


def lock_key(schema: str, purpose: str = "writer") -> int:
    """The advisory lock key (signed 64-bit) of a store's ``writer`` or ``setup`` lock."""
    return int.from_bytes(_digest("fact-store " + purpose, schema), "big", signed=True)


def channel_name(schema: str) -> str:
    """The NOTIFY channel of a store: an identifier of at most 63 bytes (see module doc)."""
    name = "fact_store." + schema
    if len(name) <= 63:
        return name
    return "fact_store." + schema[:35] + "." + _digest("channel", schema).hex()


def parse_uri(uri: str) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """Split a store URI into (libpq URI, schema, store options, other options).

    Values are checked but not converted; every parameter the store does not
    know is left for libpq.
    """
    base, _, query = uri.partition("?")
    mine: dict[str, str] = {"durability": "fsync", "unsafe_server": "refuse"}
    libpq: list[tuple[str, str]] = []
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ConfigurationError(f"store URI {redact(uri)!r}: {exc}", uri=redact(uri)) from exc
    schema = DEFAULT_SCHEMA
    extra: dict[str, str] = {}
    for k, v in pairs:
        if k == "schema":
            schema = v
        elif k in _OPTIONS:
            extra[k] = v
        else:
            libpq.append((k, v))
    check_schema_name(schema)
    if "durability" in extra:
        if extra["durability"] not in _DURABILITY:
            raise ConfigurationError(f"durability={extra['durability']!r}; expected one of "
                                     f"{', '.join(DURABILITY_MODES)}", uri=redact(uri))
        mine["durability"] = _DURABILITY[extra.pop("durability")]
    if "unsafe_server" in extra:
        if extra["unsafe_server"] not in ("refuse", "warn"):
            raise ConfigurationError(f"unsafe_server={extra['unsafe_server']!r}; expected "
                                     "refuse or warn", uri=redact(uri))
        mine["unsafe_server"] = extra.pop("unsafe_server")
    pq_uri = base + ("?" + urlencode(libpq, quote_via=quote) if libpq else "")  # space: %20
    return pq_uri, schema, mine, extra


def redact(uri: str) -> str:
    """``uri`` without a password (``user:secret@`` and ``password=``)."""
    uri = re.sub(r"(://[^:/@?]*):[^@/?]*@", r"\1:***@", uri)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", uri)


def _crc(seed: int, t: int, tx_uuid: uuid.UUID, payload: bytes) -> int:
    c = zlib.crc32(payload, zlib.crc32(t.to_bytes(8, "big", signed=True) + tx_uuid.bytes, seed))
    return c - (1 << 32) if c >= 1 << 31 else c


def _snap_crc(seed: int, t: int, payload: bytes) -> int:
    c = zlib.crc32(payload, zlib.crc32(b"snapshot" + t.to_bytes(8, "big", signed=True), seed))
    return c - (1 << 32) if c >= 1 << 31 else c


# --- SQL: every statement, composed once per schema ------------------------------------

@dataclass(frozen=True)
class _Sql:
    """The statements of one store. Identifiers only through sql.Identifier; values only
    as parameters."""

    tables: Any
    schema_exists: Any
    create_schema: Any
    create_meta: Any
    create_log: Any
    create_snapshots: Any
    insert_meta: Any
    read_meta: Any
    settings: Any
    lock: Any
    try_lock: Any
    set_lock_timeout: Any
    head: Any
    head_and_rows: Any
    async_commit: Any
    barrier: Any
    append: Any
    find_uuid: Any
    read_page: Any
    wal_durable: Any
    flushed_past: Any
    log_uuid_at: Any
    save_snapshot: Any
    prune_snapshots: Any
    list_snapshots: Any
    snapshot_payload: Any
    backend_alive: Any
    terminate: Any
    whoami: Any
    listen: Any


def _statements(schema: str) -> _Sql:
    def q(text: str) -> Any:
        return sql.SQL(text).format(meta=sql.Identifier(schema, "meta"),
                                    log=sql.Identifier(schema, "tx_log"),
                                    snaps=sql.Identifier(schema, "snapshots"),
                                    schema=sql.Identifier(schema),
                                    channel=sql.Identifier(channel_name(schema)))

    return _Sql(
        tables=q("SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                 "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'p')"),
        schema_exists=q("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace "
                        "WHERE nspname = %s)"),
        create_schema=q("CREATE SCHEMA IF NOT EXISTS {schema}"),
        create_meta=q("CREATE TABLE {meta} (key text PRIMARY KEY, value text NOT NULL)"),
        create_log=q("CREATE TABLE {log} (t bigint PRIMARY KEY, tx_uuid uuid UNIQUE NOT NULL, "
                     "instant timestamptz NOT NULL DEFAULT now(), payload bytea NOT NULL, "
                     "crc integer NOT NULL)"),
        create_snapshots=q("CREATE TABLE {snaps} (t bigint PRIMARY KEY, tx_uuid uuid NOT NULL, "
                           "payload bytea NOT NULL, crc integer NOT NULL, "
                           "created timestamptz NOT NULL DEFAULT now())"),
        insert_meta=q("INSERT INTO {meta} (key, value) VALUES (%s, %s)"),
        read_meta=q("SELECT key, value FROM {meta}"),
        settings=q("SELECT current_setting('fsync'), current_setting('synchronous_commit'), "
                   "pg_backend_pid(), (SELECT backend_start FROM pg_catalog.pg_stat_activity "
                   "WHERE pid = pg_backend_pid())"),
        lock=q("SELECT pg_advisory_xact_lock(%s)"),
        try_lock=q("SELECT pg_try_advisory_xact_lock(%s)"),
        set_lock_timeout=q("SELECT set_config('lock_timeout', %s, true)"),
        head=q("SELECT coalesce(max(t), 0) FROM {log}"),
        # one statement, so one snapshot: the head and the rows after %s up to it
        head_and_rows=q("SELECT h.head, h.seen, r.t, r.tx_uuid, r.payload, r.crc "
                        "FROM (SELECT coalesce(max(t), 0) AS head, "
                        "(SELECT tx_uuid FROM {log} WHERE t = %s) AS seen FROM {log}) h "
                        "LEFT JOIN LATERAL (SELECT t, tx_uuid, payload, crc FROM {log} "
                        "WHERE t > %s ORDER BY t LIMIT %s) r ON true ORDER BY r.t"),
        append=q("WITH ins AS (INSERT INTO {log} (t, tx_uuid, payload, crc) "
                 "VALUES (%s, %s, %b, %s) RETURNING t) "
                 "SELECT pg_notify(%s, ins.t::text) FROM ins"),
        find_uuid=q("SELECT t FROM {log} WHERE tx_uuid = %s"),
        async_commit=q("SELECT set_config('synchronous_commit', 'off', true)"),
        # group mode's flush barrier: a transaction that wrote WAL commits synchronously,
        # flushing past its commit record, so past every commit before it. (Taking an
        # xid is not enough: PostgreSQL skips the flush for a transaction that wrote no
        # WAL.) A transactional logical message writes one small record, locks nothing
        # (concurrent barriers share a flush) and is executable by PUBLIC by default.
        barrier=q("SELECT pg_logical_emit_message(true, 'fact-store', '')"),
        # after a read: is every commit the read could see flushed? (NULL on a standby)
        wal_durable=q("SELECT w.ins::text, w.flushed >= w.ins FROM (SELECT CASE WHEN "
                      "pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn() END AS ins, "
                      "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn() "
                      "END AS flushed) w"),
        flushed_past=q("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn"),
        read_page=q("SELECT t, tx_uuid, payload, crc FROM {log} WHERE t > %s ORDER BY t "
                    "LIMIT %s"),
        log_uuid_at=q("SELECT tx_uuid FROM {log} WHERE t = %s"),
        save_snapshot=q("INSERT INTO {snaps} (t, tx_uuid, payload, crc) VALUES (%s, %s, %b, %s) "
                        "ON CONFLICT (t) DO UPDATE SET tx_uuid = EXCLUDED.tx_uuid, "
                        "payload = EXCLUDED.payload, crc = EXCLUDED.crc, created = now()"),
        prune_snapshots=q("DELETE FROM {snaps} WHERE t NOT IN "
                          "(SELECT t FROM {snaps} ORDER BY t DESC LIMIT %s)"),
        list_snapshots=q("SELECT s.t, s.tx_uuid, s.crc, l.tx_uuid FROM {snaps} s "
                         "LEFT JOIN {log} l ON l.t = s.t ORDER BY s.t DESC"),
        snapshot_payload=q("SELECT payload FROM {snaps} WHERE t = %s AND tx_uuid = %s"),
        backend_alive=q("SELECT count(*) FROM pg_catalog.pg_stat_activity "
                        "WHERE pid = %s AND backend_start = %s"),
        terminate=q("SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
                    "WHERE pid = %s AND backend_start = %s"),
        whoami=q("SELECT pg_backend_pid()"),
        listen=q("LISTEN {channel}"),
    )


# --- errors ----------------------------------------------------------------------------

def _is_transient(exc: BaseException, conn: Any = None) -> bool:
    """Is ``exc`` a lost session or an unavailable server (worth reconnecting)?"""
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return False
    state = getattr(exc, "sqlstate", None)
    if state is not None:
        return state in _TRANSIENT_STATES or state.startswith("08")
    if conn is not None and (conn.broken or conn.closed):
        return True
    if isinstance(exc, psycopg.OperationalError):
        text = str(exc)
        if "FATAL:" in text and not any(m in text for m in _TRANSIENT_FATALS):
            return False
        return not any(m in text for m in _PERMANENT_MARKERS) or "server closed" in text
    return isinstance(exc, psycopg.InterfaceError)


class _Watchdog:
    """Client-side deadlines for network waits: one thread per process, started on first use.

    ``with WATCHDOG.deadline(conn, seconds):`` around a call on ``conn``; if the call
    is still waiting when the deadline passes, the socket is shut down (both ways),
    which makes the blocked call fail at once as a lost connection, and
    :class:`SilentPeer` is raised in its place.
    """

    def __init__(self) -> None:
        self._reset()
        self._tokens = iter(range(1, 1 << 62))
        # a child forked while the thread held the lock would inherit it held: start afresh
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, int]] = {}
        self._fired: set[int] = set()
        self._pid = -1

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked child: no thread runs here
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="fact-store-pg-deadlines", daemon=True).start()

    def _run(self) -> None:
        pid = os.getpid()
        with self._cond:
            while self._pid == pid:
                now = time.monotonic()
                for token, (deadline, fd) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[token]
                        self._fired.add(token)
                        _shutdown(fd)
                waits = [d for d, _fd in self._armed.values()]
                self._cond.wait(max(min(waits) - now, 0.01) if waits else None)

    @contextmanager
    def deadline(self, conn: Any, seconds: float) -> Iterator[None]:
        try:
            fd = conn.pgconn.socket
        except Exception:  # noqa: BLE001 - a closed connection: the call itself will say so
            yield
            return
        with self._cond:
            self._ensure_thread()
            token = next(self._tokens)
            self._armed[token] = (time.monotonic() + seconds, fd)
            self._cond.notify()
        try:
            yield
        except psycopg.Error as exc:
            with self._cond:
                fired = token in self._fired
            if fired:
                raise SilentPeer(f"no reply from the server within {seconds:.0f} s (a silent "
                                 "peer: the connection was shut down)") from exc
            raise
        finally:
            with self._cond:
                self._armed.pop(token, None)
                self._fired.discard(token)


def _shutdown(fd: int) -> None:
    import socket
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        s.close()


if psycopg is not None:
    class SilentPeer(psycopg.OperationalError):
        """A session that did not answer within its deadline (its socket was shut down)."""
else:  # pragma: no cover - without the optional driver
    SilentPeer = None  # type: ignore[assignment,misc]

WATCHDOG = _Watchdog()


@dataclass(frozen=True)
class _Prefetch:
    """Records read at writer entry: t = ``start``, ``start + 1``...; ``complete`` if they
    reach the head."""

    start: int
    records: list[RawRecord]
    complete: bool


class _Session:
    """One psycopg connection plus what the store knows about its backend."""

    __slots__ = ("conn", "pid", "started")

    def __init__(self, conn: Any, pid: int, started: datetime | None) -> None:
        self.conn = conn
        self.pid = pid
        self.started = started


# --- the store -----------------------------------------------------------------------------

class PostgresStore(LogStore):
    """The ``postgresql://`` :class:`~fact_store.log.base.LogStore`; the module doc is its manual."""

    def __init__(self, uri: str, *, lock_timeout: float | None = None,
                 max_tx_bytes: int = DEFAULT_MAX_TX_BYTES, reconnect_timeout: float = 30.0,
                 poll_interval: float = 0.5, statement_timeout: float = 30.0) -> None:
        if psycopg is None:
            raise ConfigurationError(
                f"store URI {redact(uri)!r} needs the PostgreSQL driver psycopg 3, which is "
                "not installed: pip install 'fact-store[postgres]' (or pip install "
                "'psycopg[binary]')", uri=redact(uri))
        pq_uri, schema, mine, extra = parse_uri(uri)
        try:
            if "lock_timeout" in extra:
                lock_timeout = float(extra["lock_timeout"])
            if "max_tx_bytes" in extra:
                max_tx_bytes = int(extra["max_tx_bytes"])
            if "reconnect_timeout" in extra:
                reconnect_timeout = float(extra["reconnect_timeout"])
            if "poll_interval" in extra:
                poll_interval = float(extra["poll_interval"])
            if "statement_timeout" in extra:
                statement_timeout = float(extra["statement_timeout"])
        except ValueError as exc:
            raise ConfigurationError(f"store URI {redact(uri)!r}: {exc}", uri=redact(uri)) from exc
        if not 0 < max_tx_bytes <= MAX_TX_BYTES_CEILING:
            raise ConfigurationError(f"max_tx_bytes={max_tx_bytes}; expected 1.."
                                     f"{MAX_TX_BYTES_CEILING}")
        for name, value in (("reconnect_timeout", reconnect_timeout),
                            ("poll_interval", poll_interval),
                            ("statement_timeout", statement_timeout)):
            if not value > 0:
                raise ConfigurationError(f"{name}={value}; expected a number of seconds > 0")
        if lock_timeout is not None and lock_timeout < 0:
            raise ConfigurationError(f"lock_timeout={lock_timeout}; expected seconds >= 0")
        try:
            params = psycopg.conninfo.conninfo_to_dict(pq_uri)
        except psycopg.Error as exc:
            raise ConfigurationError(f"store URI {redact(uri)!r}: {exc}",
                                     uri=redact(uri)) from exc
        self.uri = uri
        self.schema = schema
        self.durability = mine["durability"]
        self.unsafe_server = mine["unsafe_server"]
        self.lock_timeout = lock_timeout
        self.max_tx_bytes = max_tx_bytes
        self.reconnect_timeout = reconnect_timeout
        self.poll_interval = poll_interval
        self.statement_timeout = statement_timeout
        #: seconds any one network wait may take (module doc, "Deadlines")
        self._deadline = statement_timeout + _DEADLINE_MARGIN
        self.where = (f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}/"
                      f"{params.get('dbname') or ''} schema {schema}")
        self._pq_uri = pq_uri
        self._params = params
        self._q = _statements(schema)
        self._key = lock_key(schema)
        self._setup_key = lock_key(schema, "setup")
        self._channel = channel_name(schema)
        self._closed = False
        self._init_process_state()
        self.db_uuid, self._seed = self._open()

    def _init_process_state(self) -> None:
        self._pid = os.getpid()
        self._reader: _Session | None = None
        self._r_lock = threading.RLock()
        self._writer: _Session | None = None
        self._w_lock = threading.Lock()
        self._w_owner: int | None = None
        self._w_open = False  # a transaction holding the advisory lock is open
        self._w_head = 0
        self._w_failed: str | None = None
        #: rows after ``_seen`` read with the lock at writer entry; valid while it is held
        self._w_cache: _Prefetch | None = None
        #: (t, tx uuid) of the newest record this handle has read or appended: where the
        #: next prefetch starts, and what the log must still hold (peer continuity)
        self._seen: tuple[int, uuid.UUID | None] = (0, None)
        #: group mode: (t, tx uuid) committed asynchronously, not yet known durable
        self._unflushed: tuple[int, uuid.UUID] | None = None
        self._listener: _Listener | None = None
        self._l_lock = threading.Lock()

    # -- sessions ------------------------------------------------------------------------
    def _check(self) -> None:
        if self._closed:
            raise ConnectionClosed(f"store {redact(self.uri)} is closed; open it again with "
                                   "open_store()")
        if self._pid != os.getpid():
            self._after_fork()

    def _after_fork(self) -> None:
        _orphans.extend(s for s in (self._reader, self._writer) if s is not None)
        if self._listener is not None:
            _orphans.append(self._listener)
        seen = self._seen  # what the child's indexes were built from (peer continuity)
        self._init_process_state()
        self._seen = seen

    def _connect(self, role: str, autocommit: bool) -> _Session:
        """A new session; checks the server's durability settings for writers."""
        opts = [f"-c statement_timeout={int(self.statement_timeout * 1000)}"]
        if role == "writer":
            opts = ["-c statement_timeout=0", "-c lock_timeout=0",
                    "-c idle_in_transaction_session_timeout=60000"]
            if self.durability == "none":
                opts.append("-c synchronous_commit=off")
        elif role == "listener":
            opts = ["-c statement_timeout=0"]
        user_opts = self._params.get("options")
        kwargs: dict[str, Any] = {
            "application_name": f"fact-store {self.schema} {role}"[:63],
            "options": " ".join(([user_opts] if user_opts else []) + opts),
        }
        host = str(self._params.get("host") or "")
        if not host.startswith("/"):
            for k, v in (("keepalives", "1"), ("keepalives_idle", "5"),
                         ("keepalives_interval", "2"), ("keepalives_count", "3"),
                         ("tcp_user_timeout", "15000")):
                if k not in self._params:
                    kwargs[k] = v
        if "connect_timeout" not in self._params:
            kwargs["connect_timeout"] = str(int(min(max(self.reconnect_timeout, 2), 10)))
        conn = psycopg.connect(self._pq_uri, autocommit=autocommit, **kwargs)
        try:
            with WATCHDOG.deadline(conn, self._deadline):
                fsync, sync_commit, pid, started = conn.execute(self._q.settings).fetchone()
            if not autocommit:
                conn.rollback()
            if role != "listener" and self.durability != "none":
                self._check_durable(fsync, sync_commit)
        except BaseException:
            conn.close()
            raise
        return _Session(conn, pid, started)

    def _check_durable(self, fsync: str, sync_commit: str) -> None:
        bad = []
        if fsync != "on":
            bad.append(f"fsync={fsync}")
        if sync_commit not in _SAFE_SYNC_COMMIT:
            bad.append(f"synchronous_commit={sync_commit}")
        if not bad:
            return
        msg = (f"PostgreSQL at {self.where} runs with {' and '.join(bad)}: an acknowledged "
               f"transaction could be lost in a server crash, but durability="
               f"{self.durability} promises it is not.")
        if self.unsafe_server == "warn":
            log.warning("%s Continuing because of unsafe_server=warn.", msg)
            return
        raise ConfigurationError(
            f"{msg} Turn them on (ALTER SYSTEM SET fsync = on; ALTER SYSTEM SET "
            "synchronous_commit = on; SELECT pg_reload_conf()), or accept the risk with "
            "?unsafe_server=warn or ?durability=none.", fsync=fsync,
            synchronous_commit=sync_commit)

    @staticmethod
    def _discard(session: _Session | None) -> None:
        if session is not None:
            try:
                session.conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close
                pass

    def _reader_session(self) -> _Session:
        if self._reader is None or self._reader.conn.closed or self._reader.conn.broken:
            self._discard(self._reader)
            self._reader = None
            session = self._connect("reader", autocommit=True)
            try:
                self._check_continuity(session.conn)
            except BaseException:
                self._discard(session)
                raise
            self._reader = session
        return self._reader

    def _writer_session(self) -> _Session:
        if self._writer is None or self._writer.conn.closed or self._writer.conn.broken:
            self._discard(self._writer)
            self._writer = None
            self._writer = self._connect("writer", autocommit=False)
        return self._writer

    def _unreachable(self, what: str, started: float, attempts: int,
                     exc: BaseException) -> StorageError:
        return StorageError(
            f"{what}: PostgreSQL at {self.where} stayed unreachable for "
            f"{time.monotonic() - started:.1f} s ({attempts} attempts; last error: "
            f"{_one_line(exc)}). Giving up: check that the server is running and reachable, "
            "or wait longer with ?reconnect_timeout=SECONDS.", where=self.where)

    def _backoff(self, what: str, started: float, attempt: int, exc: BaseException) -> None:
        """Sleep before the next attempt, or raise once reconnect_timeout is spent."""
        left = self.reconnect_timeout - (time.monotonic() - started)
        if left <= 0:
            raise self._unreachable(what, started, attempt, exc) from exc
        if attempt == 1:
            log.warning("%s: lost the connection to PostgreSQL at %s (%s); reconnecting",
                        what, self.where, _one_line(exc))
        delay = min(0.02 * (2 ** (attempt - 1)), 1.0) * random.uniform(0.5, 1.0)
        time.sleep(min(delay, left))

    def _read(self, what: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(conn)`` on the reader session, reconnecting with backoff."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self._check()
            with self._r_lock:
                session = None
                try:
                    session = self._reader_session()
                    with WATCHDOG.deadline(session.conn, self._deadline):
                        return fn(session.conn)
                except psycopg.Error as exc:
                    conn = session.conn if session is not None else None
                    if not _is_transient(exc, conn):
                        raise self._sql_error(what, exc) from exc
                    self._discard(self._reader)
                    self._reader = None
                    err = exc
            self._backoff(what, started, attempt, err)

    def _sql_error(self, what: str, exc: BaseException) -> StorageError:
        if isinstance(exc, pg_errors.UndefinedTable):
            return StorageError(f"{what}: the tables of schema {self.schema} are gone from "
                                f"{self.where} (dropped under the store?): {_one_line(exc)}")
        return StorageError(f"{what} on PostgreSQL at {self.where} failed: {_one_line(exc)}")

    def _saw(self, t: int, tx_uuid: uuid.UUID) -> None:
        if t > self._seen[0]:
            self._seen = (t, tx_uuid)

    def _lost(self, t: int, tx_uuid: uuid.UUID) -> StoreMoved:
        """The peer-continuity error; closes this handle (its reader's view is not the log's)."""
        self.close()
        return StoreMoved(
            f"the log in {self.where} no longer holds record t={t} (tx uuid {tx_uuid}), which "
            "this process had already read: the server lost transactions (a crash with "
            "durability=group, a failover to a lagging replica) or the tables were replaced. "
            "This store is closed; reconnect to rebuild the indexes from the log.",
            t=t, tx_uuid=tx_uuid)

    def _check_continuity(self, conn: Any) -> None:
        """After re-making a session: the newest record this handle saw is still there."""
        t, u = self._seen
        if u is None:
            return
        row = conn.execute(self._q.log_uuid_at, (t,)).fetchone()
        if row is None or row[0] != u:
            raise self._lost(t, u)

    # -- opening ------------------------------------------------------------------------
    def _open(self) -> tuple[uuid.UUID, int]:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                session = self._reader_session()
                return self._setup(session.conn)
            except (StorageError, ConfigurationError):
                self.close()
                raise
            except psycopg.Error as exc:
                conn = self._reader.conn if self._reader is not None else None
                if not _is_transient(exc, conn):
                    self.close()
                    if isinstance(exc, psycopg.OperationalError) and conn is None:
                        raise StorageError(f"cannot connect to PostgreSQL at {self.where}: "
                                           f"{_one_line(exc)}", where=self.where) from exc
                    raise self._sql_error("opening the store", exc) from exc
                self._discard(self._reader)
                self._reader = None
                try:
                    self._backoff("opening the store", started, attempt, exc)
                except StorageError:
                    self.close()
                    raise

    def _setup(self, conn: Any) -> tuple[uuid.UUID, int]:
        """Create the tables if none exist (one transaction, setup lock); read meta."""
        q = self._q
        ours = {"meta", "tx_log", "snapshots"}
        present = {r[0] for r in conn.execute(q.tables, (self.schema,))} & ours
        if present != ours:
            with conn.transaction():
                conn.execute(q.lock, (self._setup_key,))
                present = {r[0] for r in conn.execute(q.tables, (self.schema,))} & ours
                if not present:
                    if not conn.execute(q.schema_exists, (self.schema,)).fetchone()[0]:
                        conn.execute(q.create_schema)
                    conn.execute(q.create_meta)
                    conn.execute(q.create_log)
                    conn.execute(q.create_snapshots)
                    created = datetime.now(timezone.utc).isoformat()
                    for k, v in (("magic", MAGIC), ("format", str(FORMAT)),
                                 ("db_uuid", str(uuid.uuid4())), ("created", created)):
                        conn.execute(q.insert_meta, (k, v))
                    log.info("created the fact-store tables in schema %s at %s", self.schema,
                             self.where)
                elif present != ours:
                    raise NotAFactStore(
                        f"schema {self.schema} at {self.where} holds the tables "
                        f"{', '.join(sorted(present))} but not {', '.join(sorted(ours - present))}"
                        ": it is not a fact-store (or was damaged); it was not modified. Use "
                        "another ?schema=.", schema=self.schema)
        meta = dict(conn.execute(q.read_meta).fetchall())
        if meta.get("magic") != MAGIC:
            raise NotAFactStore(f"schema {self.schema} at {self.where} has a meta table that "
                                "is not a fact-store's; it was not modified. Use another "
                                "?schema=.", schema=self.schema)
        try:
            fmt = int(meta.get("format", ""))
            db_uuid = uuid.UUID(meta.get("db_uuid", ""))
        except ValueError as exc:
            raise LogCorrupted(f"schema {self.schema} at {self.where}: unreadable meta "
                               f"({_one_line(exc)})", offset=0, t=0) from exc
        if fmt > FORMAT:
            raise UnsupportedFormat(f"schema {self.schema} at {self.where} holds a fact-store "
                                    f"of table format {fmt}; this build knows format {FORMAT}. "
                                    "Upgrade fact-store.", version=fmt)
        return db_uuid, zlib.crc32(db_uuid.bytes)

    # -- reading ---------------------------------------------------------------------------
    def head(self) -> int:
        """The newest t (one indexed ``max(t)`` query)."""
        self._check()
        return int(self._read("reading the head", lambda c: c.execute(self._q.head).fetchone()[0]))

    def read_after(self, t: int) -> Iterator[RawRecord]:
        """Ranged SELECTs in pages (64 rows, growing to 4096 while pages stay under 8 MiB);
        each record's crc and t are checked. Inside ``writer()``, the rows read with the
        lock at entry are served without another query."""
        self._check()
        expect = max(t, 0) + 1
        cache = self._w_cache
        if (cache is not None and self._w_open and self._w_owner == threading.get_ident()
                and cache.start <= expect):
            for rec in cache.records[expect - cache.start:]:
                self._saw(rec.t, rec.tx_uuid)
                yield rec
                expect = rec.t + 1
            if cache.complete:  # nothing newer: the lock is held
                return
        page = _READ_PAGE_MIN
        q = self._q
        while True:
            after, limit = expect - 1, page

            def fetch(conn: Any) -> list[Any]:
                with conn.pipeline():  # the rows, then the WAL positions: one round trip
                    cur = conn.execute(q.read_page, (after, limit), binary=True)
                    wal = conn.execute(q.wal_durable)
                rows = cur.fetchall()
                lsn, durable = wal.fetchone()
                if rows and durable is False:
                    self._await_flush(conn, lsn)
                return rows

            rows = self._read("reading the log", fetch)
            size = 0
            for rec in self._verified(rows, expect):
                size += len(rec.payload)
                self._saw(rec.t, rec.tx_uuid)
                yield rec
                expect += 1
            if len(rows) < limit:
                return
            if size < _READ_PAGE_BYTES // 2:
                page = min(page * 2, _READ_PAGE_MAX)

    def _await_flush(self, conn: Any, lsn: str) -> None:
        """Return once the server's WAL is flushed past ``lsn`` (module doc, "Group mode").

        Group mode forces the flush with its barrier (concurrent barriers share one);
        other modes wait for the WAL writer (``wal_writer_delay``, 200 ms by default),
        polling with a backoff from 1 ms to 20 ms.
        """
        q = self._q
        if self.durability == "group":
            with conn.transaction():
                conn.execute(q.barrier)
            return
        delay = 0.001
        while not conn.execute(q.flushed_past, (lsn,)).fetchone()[0]:
            time.sleep(delay)
            delay = min(delay * 2, 0.02)

    def _verified(self, rows: list[Any], expect: int) -> Iterator[RawRecord]:
        """Rows (t, tx_uuid, payload, crc) as records, checking t is ``expect``, +1... and crcs."""
        for rt, tx_uuid, payload, crc in rows:
            if rt != expect:
                raise LogCorrupted(f"the log in {self.where} has no record t={expect} but "
                                   f"has t={rt}: rows were deleted from tx_log",
                                   offset=expect, t=expect)
            payload = bytes(payload)
            if _crc(self._seed, rt, tx_uuid, payload) != crc:
                raise LogCorrupted(f"record t={rt} in {self.where} fails its checksum: the "
                                   "row was modified (or belongs to another store)",
                                   offset=rt, t=rt)
            yield RawRecord(rt, tx_uuid, payload, rt)
            expect += 1

    # -- writing ------------------------------------------------------------------------------
    @contextmanager
    def writer(self, timeout: float | None = None) -> Iterator[int]:
        """The writer lock (module doc, "The writer protocol"); yields the head t.

        ``timeout`` defaults to the store's ``lock_timeout`` (None: wait forever).
        """
        self._check()
        timeout = self.lock_timeout if timeout is None else timeout
        me = threading.get_ident()
        if self._w_owner == me:
            raise StorageError(f"writer() of {redact(self.uri)} entered twice by one thread; "
                               "it is not re-entrant")
        started = time.monotonic()
        if not self._w_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            raise LockTimeout(f"another thread held the writer lock of {self.where} for more "
                              f"than {timeout} s", timeout=timeout)
        try:
            self._w_owner = me
            self._w_failed = None
            self._unflushed = None
            left = None if timeout is None else max(timeout - (time.monotonic() - started), 0)
            self._w_head = self._begin(left)
            self._w_open = True
            yield self._w_head
        finally:
            unflushed, self._unflushed = self._unflushed, None
            try:
                if self._w_open:
                    self._w_open = False
                    self._rollback_writer()
            finally:
                self._w_owner = None
                self._w_lock.release()
            if unflushed is not None:
                self._flush(*unflushed)

    def _flush(self, t: int, tx_uuid: uuid.UUID) -> None:
        """Group mode, after the lock: make record t durable, or say it was lost.

        A synchronous commit of a transaction that wrote WAL (the barrier statement; on
        the reader session, so threads of this process and other processes share
        flushes) flushes WAL past record t's commit; then t is looked up: present means
        durable, absent means a server crash took it.
        """
        q = self._q

        def barrier(conn: Any) -> bool:
            with conn.transaction():
                conn.execute(q.barrier)
            return conn.execute(q.find_uuid, (tx_uuid,)).fetchone() is not None

        try:
            durable = self._read("flushing the log", barrier)
        except StoreMoved:
            raise
        except StorageError as exc:
            if isinstance(exc.__cause__, pg_errors.InsufficientPrivilege):
                raise ConfigurationError(
                    f"durability=group needs EXECUTE on pg_logical_emit_message at {self.where} "
                    f"({_one_line(exc.__cause__)}); t={t} is committed but its flush is not "
                    "confirmed. Grant it, or use durability=fsync.", t=t,
                    tx_uuid=tx_uuid) from exc
            raise TransactionOutcomeUnknown(
                f"t={t} (tx uuid {tx_uuid}) was committed to {self.where} without waiting for "
                f"its flush (durability=group), and the flush could not be confirmed: {exc}",
                t=t, tx_uuid=tx_uuid) from exc
        if not durable:
            raise StorageError(f"t={t} (tx uuid {tx_uuid}) was lost: the server crashed before "
                               "it was flushed (durability=group). It was never acknowledged; "
                               "nothing of it remains, retrying is safe.", t=t, tx_uuid=tx_uuid)

    def _rollback_writer(self) -> None:
        session = self._writer
        if session is None:
            return
        try:
            with WATCHDOG.deadline(session.conn, self._deadline):
                session.conn.rollback()
        except psycopg.Error:  # the session is gone: so is its transaction and lock
            self._discard(session)
            self._writer = None

    def _begin(self, timeout: float | None) -> int:
        """Open a transaction, take the advisory lock, read the head and the rows after
        ``_seen`` — one round trip (a pipeline) — retrying lost sessions."""
        q = self._q
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            session = None
            self._w_cache = None
            try:
                session = self._writer_session()
                conn = session.conn
                after, after_uuid = self._seen
                # the lock wait goes in rounds of statement_timeout, so the call has a deadline
                round_s = self.statement_timeout
                if timeout is not None:
                    round_s = min(round_s, max(timeout - (time.monotonic() - started), 0.001))
                with WATCHDOG.deadline(conn, round_s + _DEADLINE_MARGIN):
                    with conn.pipeline():
                        conn.execute(q.set_lock_timeout, (str(max(int(round_s * 1000), 1)),))
                        conn.execute(q.lock, (self._key,))
                        cur = conn.execute(q.head_and_rows, (after, after, _READ_PAGE_MIN),
                                           binary=True)
                    got = cur.fetchall()
                head = int(got[0][0])
                still_there = got[0][1]
                rows = [r[2:] for r in got if r[2] is not None]
            except pg_errors.LockNotAvailable as exc:
                self._rollback_writer()
                if timeout is None or time.monotonic() - started < timeout:
                    continue  # one round of the lock wait is over; the next one
                raise LockTimeout(f"another process held the writer lock of {self.where} for "
                                  f"more than {timeout} s", timeout=timeout) from exc
            except psycopg.Error as exc:
                conn = session.conn if session is not None else None
                if not _is_transient(exc, conn):
                    self._rollback_writer()
                    raise self._sql_error("taking the writer lock", exc) from exc
                self._discard(self._writer)
                self._writer = None
                self._backoff("taking the writer lock", started, attempt, exc)
                continue
            if after_uuid is not None and still_there != after_uuid:
                self._rollback_writer()
                raise self._lost(after, after_uuid)
            if after <= head:
                try:
                    records = list(self._verified(rows, after + 1))
                except LogCorrupted:
                    self._rollback_writer()
                    raise
                complete = len(rows) < _READ_PAGE_MIN
                if complete and (records[-1].t if records else after) != head:
                    self._rollback_writer()
                    raise LogCorrupted(f"the log in {self.where} ends at t={head} but its rows "
                                       f"after t={after} stop at "
                                       f"{records[-1].t if records else after}", offset=head,
                                       t=head)
                self._w_cache = _Prefetch(after + 1, records, complete)
            return head

    def append(self, t: int, tx_uuid: uuid.UUID, payload: bytes) -> None:
        """INSERT row t and COMMIT (module doc): durable and visible when this returns.

        :raises StorageError: outside ``writer()``; t is not head + 1; the tx uuid is
            already in the log; or the row was certainly not committed (retry is safe).
        :raises TransactionOutcomeUnknown: COMMIT failed and the server stayed
            unreachable for ``reconnect_timeout``: look for ``tx_uuid`` later.
        """
        self._check()
        if self._w_owner != threading.get_ident():
            raise StorageError(f"append to {redact(self.uri)} outside writer(): take the "
                               "writer lock first")
        if self._w_failed is not None:
            raise StorageError(f"an earlier append in this writer() block failed "
                               f"({self._w_failed}); leave the block and enter writer() again")
        if len(payload) > self.max_tx_bytes:
            raise LimitExceeded(f"tx record of {len(payload)} bytes exceeds the store's "
                                f"maximum of {self.max_tx_bytes} bytes", size=len(payload),
                                limit=self.max_tx_bytes)
        if type(tx_uuid) is not uuid.UUID:
            raise StorageError(f"tx_uuid must be a uuid.UUID, not {type(tx_uuid).__name__}")
        if not self._w_open:
            # an earlier append of this block committed, which released the lock
            self._w_head = self._begin(self.lock_timeout)
            self._w_open = True
        if t != self._w_head + 1:
            raise StorageError(f"append of t={t} to {self.where}, whose head is {self._w_head}:"
                               " t must be head + 1", t=t, head=self._w_head)
        q = self._q
        session = self._writer
        assert session is not None
        conn = session.conn
        payload = bytes(payload)
        crc = _crc(self._seed, t, tx_uuid, payload)
        crashpoint("pg-before-commit")
        self._w_open = False  # COMMIT ends the transaction and releases the lock
        self._w_cache = None
        try:
            with WATCHDOG.deadline(conn, self._deadline), conn.pipeline():
                # INSERT (+ NOTIFY) and COMMIT: one round trip
                if self.durability == "group":  # flushed after the lock: writer() exit
                    conn.execute(q.async_commit)
                conn.execute(q.append, (t, tx_uuid, payload, crc, self._channel))
                conn.commit()
        except pg_errors.UniqueViolation as exc:
            self._rollback_writer()
            self._w_failed = "unique violation"
            raise self._duplicate(t, tx_uuid, exc) from exc
        except psycopg.Error as exc:
            if not _is_transient(exc, conn):
                # an error reply to the INSERT or the COMMIT: the transaction is aborted
                self._rollback_writer()
                self._w_failed = _one_line(exc)
                raise StorageError(f"appending t={t} to {self.where} failed "
                                   f"({_one_line(exc)}); it was not committed, nothing was "
                                   "written", t=t, tx_uuid=tx_uuid) from exc
            self._w_failed = "the connection was lost during COMMIT"
            self._discard(session)
            self._writer = None
            self._resolve(t, tx_uuid, session, exc)
            self._w_failed = None
        self._w_head = t
        self._saw(t, tx_uuid)
        if self.durability == "group":
            self._unflushed = (t, tx_uuid)
        crashpoint("pg-after-commit-before-return")

    def _duplicate(self, t: int, tx_uuid: uuid.UUID, exc: BaseException) -> StorageError:
        constraint = getattr(getattr(exc, "diag", None), "constraint_name", None) or ""
        if "uuid" in constraint:
            return StorageError(f"tx uuid {tx_uuid} is already in the log of {self.where}: "
                                "that transaction was committed before; it is not appended "
                                "again", tx_uuid=tx_uuid, t=t)
        return StorageError(f"t={t} was appended to {self.where} by a writer that did not hold "
                            "the writer lock; nothing was written. Catch up and retry.", t=t)

    def _resolve(self, t: int, tx_uuid: uuid.UUID, old: _Session, exc: BaseException) -> None:
        """COMMIT failed: did it commit? Return if so; raise StorageError if certainly not;
        TransactionOutcomeUnknown if the server stays unreachable."""
        q = self._q
        started = time.monotonic()
        attempt = 0
        log.warning("COMMIT of t=%d (tx uuid %s) to %s failed (%s); finding out whether it "
                    "committed", t, tx_uuid, self.where, _one_line(exc))
        while True:
            attempt += 1
            session = None
            try:
                session = self._writer_session()
                conn = session.conn
                left = max(self.reconnect_timeout - (time.monotonic() - started), 0.001)
                with WATCHDOG.deadline(conn, left + _DEADLINE_MARGIN):
                    # Holding the lock proves the old transaction ended (committed or not).
                    if not conn.execute(q.try_lock, (self._key,)).fetchone()[0]:
                        if old.started is not None:
                            conn.execute(q.terminate, (old.pid, old.started))
                        conn.execute(q.set_lock_timeout, (str(max(int(left * 1000), 1)),))
                        conn.execute(q.lock, (self._key,))
                    row = conn.execute(q.find_uuid, (tx_uuid,)).fetchone()
                    conn.rollback()
            except psycopg.Error as err:
                conn = session.conn if session is not None else None
                if isinstance(err, pg_errors.LockNotAvailable) or _is_transient(err, conn):
                    self._discard(self._writer)
                    self._writer = None
                    if time.monotonic() - started < self.reconnect_timeout:
                        time.sleep(min(0.02 * 2 ** attempt, 1.0) * random.uniform(0.5, 1.0))
                        continue
                raise TransactionOutcomeUnknown(
                    f"COMMIT of t={t} to {self.where} failed ({_one_line(exc)}) and its outcome "
                    f"could not be found out within {self.reconnect_timeout} s "
                    f"({_one_line(err)}): the transaction (tx uuid {tx_uuid}) may or may not be "
                    "in the log. It is never applied twice; look for its tx uuid with "
                    "read_after once the server is reachable.", t=t, tx_uuid=tx_uuid) from exc
            if row is not None:
                if int(row[0]) != t:  # pragma: no cover - the lock makes this impossible
                    raise TransactionOutcomeUnknown(
                        f"tx uuid {tx_uuid} committed at t={row[0]}, not t={t}", t=t,
                        tx_uuid=tx_uuid) from exc
                log.warning("COMMIT of t=%d to %s did commit; acknowledged", t, self.where)
                return
            raise StorageError(f"COMMIT of t={t} to {self.where} failed ({_one_line(exc)}) and "
                               f"the log does not hold its tx uuid {tx_uuid}: it was not "
                               "committed, nothing was written; retrying is safe.",
                               t=t, tx_uuid=tx_uuid) from exc

    # -- snapshots ------------------------------------------------------------------------------
    def save_snapshot(self, t: int, payload: bytes) -> None:
        """Upsert the snapshot row and prune to the newest 3, in one transaction.

        :raises StorageError: t is not in 1..head, or the write failed.
        """
        self._check()
        q = self._q
        payload = bytes(payload)
        crc = _snap_crc(self._seed, t, payload)

        def save(conn: Any) -> bool:
            with conn.transaction():
                row = conn.execute(q.log_uuid_at, (t,)).fetchone() if t >= 1 else None
                if row is None:
                    return False
                conn.execute(q.save_snapshot, (t, row[0], payload, crc))
                conn.execute(q.prune_snapshots, (KEEP_SNAPSHOTS,))
                return True

        if not self._read("saving a snapshot", save):
            raise StorageError(f"snapshot at t={t} of {self.where}: t must be in 1..head "
                               f"({self.head()})", t=t)

    def load_snapshot(self) -> tuple[int, bytes] | None:
        """The newest snapshot whose record is still in the log and whose crc checks."""
        self._check()
        q = self._q
        rows = self._read("listing snapshots",
                          lambda c: c.execute(q.list_snapshots).fetchall())
        for t, snap_uuid, crc, log_uuid in rows:
            if log_uuid != snap_uuid:
                log.warning("ignoring the snapshot at t=%d in %s: %s", t, self.where,
                            "the log has no record at that t" if log_uuid is None else
                            "the log's record at that t is another transaction")
                continue

            def fetch(conn: Any, t: int = t, u: uuid.UUID = snap_uuid) -> Any:
                return conn.execute(q.snapshot_payload, (t, u), binary=True).fetchone()

            got = self._read("loading a snapshot", fetch)
            if got is None:  # pruned meanwhile
                continue
            payload = bytes(got[0])
            if _snap_crc(self._seed, t, payload) != crc:
                log.warning("ignoring the snapshot at t=%d in %s: its checksum does not match",
                            t, self.where)
                continue
            return int(t), payload
        return None

    # -- waiting -----------------------------------------------------------------------------
    def wait(self, after_t: int, timeout: float) -> bool:
        """LISTEN/NOTIFY through a listener thread, plus a head poll every ``poll_interval``."""
        self._check()
        deadline = time.monotonic() + timeout
        listener = self._listening()
        listener.ready.wait(max(min(timeout, self.poll_interval), 0))
        while True:
            gen = listener.generation
            if listener.latest > after_t:
                return True
            if self.head() > after_t:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if listener.stopping:  # went idle or failed meanwhile: a fresh one
                listener = self._listening()
            listener.wait_change(gen, min(left, self.poll_interval))

    def _listening(self) -> "_Listener":
        with self._l_lock:
            lst = self._listener
            if lst is None or lst.stopping:
                lst = self._listener = _Listener(self)
                lst.start()
            lst.touch()
            return lst

    def close(self) -> None:
        """Close this handle's sessions; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._pid != os.getpid():
            return
        lst = self._listener
        if lst is not None:
            lst.stop()
        for s in (self._reader, self._writer):
            self._discard(s)
        self._reader = self._writer = None

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self.uri)!r}, durability={self.durability!r})"


class _Listener(threading.Thread):
    """LISTENs on the store's channel; wakes ``wait()`` callers through a Condition."""

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(name=f"fact-store-listen-{store.schema}", daemon=True)
        self.store = store
        self.latest = 0
        self.generation = 0
        self.ready = threading.Event()
        self._cond = threading.Condition()
        self._halt = threading.Event()
        self._last_used = time.monotonic()
        self._waiters = 0

    def touch(self) -> None:
        self._last_used = time.monotonic()

    @property
    def stopping(self) -> bool:
        return self._halt.is_set()

    def stop(self) -> None:
        self._halt.set()
        self._bump()

    def _bump(self, t: int | None = None) -> None:
        with self._cond:
            if t is not None and t > self.latest:
                self.latest = t
            self.generation += 1
            self._cond.notify_all()

    def wait_change(self, generation: int, timeout: float) -> None:
        self._last_used = time.monotonic()
        with self._cond:
            if self.generation == generation:
                self._waiters += 1
                try:
                    self._cond.wait(timeout)
                finally:
                    self._waiters -= 1
        self._last_used = time.monotonic()

    def run(self) -> None:
        store = self.store
        delay = 0.02
        while not self._halt.is_set():
            session = None
            try:
                session = store._connect("listener", autocommit=True)
                session.conn.execute(store._q.listen)
                self.ready.set()
                self._bump()  # notifications may have been missed while away: re-check
                delay = 0.02
                while not self._halt.is_set():
                    for n in session.conn.notifies(timeout=0.5):
                        try:
                            self._bump(int(n.payload))
                        except ValueError:
                            self._bump()
                    if (not self._waiters
                            and time.monotonic() - self._last_used > _LISTENER_IDLE):
                        self._halt.set()
            except psycopg.Error as exc:
                if not self._halt.is_set():
                    log.debug("listener of %s: %s; reconnecting", store.where, _one_line(exc))
                    self._halt.wait(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, 1.0)
            finally:
                PostgresStore._discard(session)
                if not self._halt.is_set():
                    self.ready.clear()
        self._bump()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def open_store(uri: str) -> PostgresStore:
    """Open (creating its tables if needed) the store a ``postgresql://`` URI names."""
    return PostgresStore(uri)


__all__ = ["PostgresStore", "open_store", "parse_uri", "channel_name", "lock_key",
           "check_schema_name", "redact", "FORMAT"]
