"""file: append-only log, length + CRC frames, fsync, torn tail cut off by the next writer.

A store is a directory (created with mode 0700, umask applied) holding:

``log`` (0600)
    the append-only log: one file header, then one frame per transaction.
``lock`` (0600)
    the writer lock: ``flock(LOCK_EX)`` on it serializes writers across
    processes; its first 24 bytes hold the group-commit marks (below).
``snapshot-<t, 20 digits>.snap``
    index snapshots; written as ``.snapshot-*.tmp`` first, fsynced, renamed.

File format (all integers little-endian)
----------------------------------------

File header, 64 bytes::

    0   8  magic            b"\\x89FSLOG\\r\\n"  (a binary magic that text tools mangle visibly)
    8   2  format version   1
    10  2  flags            0
    12  4  header size      64
    16  4  max record bytes payload limit chosen at creation (default 16 MiB)
    20  4  reserved         0
    24 16  database uuid    random at creation
    40  8  created          microseconds since 1970-01-01T00:00Z
    48 12  reserved         0
    60  4  header CRC       zlib.crc32 of bytes 0..59

Record frame, 37 bytes + body (``fact_store.log.record``)::

    0   4  magic            b"\\xd1TX\\x1e"
    4   1  kind             high nibble record type (1 = transaction), low nibble version
                            (2 = 0x12, written now; 1 = 0x11, read, and written only below)
    5   4  length           body bytes: payload bytes (+ 8 in version 2); the payload is
                            <= max record bytes
    9   8  t                previous t + 1 (the first record is t = 1)
    17 16  tx uuid
    33  4  CRC              zlib.crc32 over bytes 0..32 then the body, seeded with
                            zlib.crc32(database uuid): a record copied from another
                            database fails its check like a torn one
    37  8  durable          version 2 only: the *durable watermark*, the log offset up to
                            which the writer knew the log was durable (fdatasynced) when
                            it wrote this record; <= the record's own offset. Stored as
                            its bitwise complement (never a run of zero bytes, so zeros
                            written over it always change the record). Version 1 has no
                            field and means "every byte before me was durable"
    …   …  payload          msgpack (``record.encode_tx``)

The header and CRC rule are the same for every kind, so a build that does not
know a kind still checks its CRC and refuses it (``UnsupportedFormat``) rather
than taking it for garbage. Such a build checks the body length against the
maximum before the CRC, so a payload within 8 bytes of the maximum is written
as version 1, after an fdatasync that makes "everything before me durable" true.

Where a writer's watermark comes from: the end of the records covered by the
last completed fdatasync it knows of — its own (``fsync`` mode after each
append, a group leader's sync, cutting a torn tail, a re-open), or the durable
mark a group leader or ``fsync`` writer of any process left in the ``lock``
file, read under the marks lock without waiting and rounded down to a record
boundary the writer verified. Knowing nothing, it writes 0 (as a new process
does: records it finds in the log may never have been synced). ``none`` never
syncs, so its records carry the offset of the last cut or sync, often 0.

The checksum is ``zlib.crc32`` (CRC-32/ISO-HDLC), not CRC32C: no CRC32C module
is installed and the project adds no dependency for it. It detects every
single-bit error and every burst of 32 bits or fewer just the same; zlib's
implementation runs at memory speed.

Snapshot file: an 80-byte header (magic ``b"\\x89FSSNP\\r\\n"``, version,
database uuid, t, the *anchor* — offset and CRC of record t in the log —,
payload length and CRC, creation time, header CRC) then the payload. A
snapshot is used only if every field checks out and the log still holds that
exact record at that offset (so a snapshot from another database, from a log
later repaired, or ahead of the log is ignored with a warning).

Reading and recovery rules
--------------------------

A frame is *valid* when its magic, length (against the max record size and the
bytes left in the file, checked before anything is allocated), CRC and kind
are right and its t is the previous t + 1.

- Readers (``head``, ``read_after``) verify every frame and stop at the first
  one that is not valid: that is the end of the log for them (a torn write, or
  a write still in progress). They never write anything.
- A writer, holding the lock, verifies the whole log once per process, then
  every new frame. When it meets a frame at offset o that is not valid it
  searches the rest of the file for frames with a right CRC and t >= the
  expected one (stepping over each one found):

  * none, or only frames whose durable watermark is <= o: a **torn tail**. A
    crash mid-write; or a power failure on a device that persists writes out
    of order, which lost the record at o and kept later ones — written before
    o was known durable, so none of them was acknowledged as durable (``group``
    acknowledges after an fdatasync covering the record, and a completed
    fdatasync covers every earlier write of the file; ``none`` promises only a
    prefix). It truncates the file at o, fdatasyncs, logs a warning — then
    appends. Never after garbage.
  * a frame whose watermark is > o (version 1: always), i.e. written once the
    bytes at o were durable: **mid-log corruption**. ``LogCorrupted(offset,
    t)``; nothing is changed. ``verify`` reports the same. (Readers raise it
    too.) A frame at o whose CRC is right but whose t skips ahead is
    corruption too (records are missing).
  * a valid frame of an unknown kind (a newer writer), or of version 2 with
    a body too short for its watermark: ``UnsupportedFormat`` at once, or as
    evidence after an invalid frame (mid-log corruption).

  Readers stop at o in the torn-tail case: records after the hole are never
  applied. ``verify`` reports the torn tail and how many valid records it
  holds. A snapshot anchors only on a durable record: ``save_snapshot``
  fdatasyncs the log first unless the record is known durable, so no snapshot
  lies past such a hole.

- A wrong file magic is ``NotAFactStore`` (the file is never modified); a
  newer format version is ``UnsupportedFormat``; a bad header CRC or a header
  cut short is ``LogCorrupted`` at offset 0.

Writer protocol (RELIABILITY.md R2)
-----------------------------------

1. threads of one process queue on a ``threading.Lock``, then the process
   takes ``flock(LOCK_EX)`` on ``lock`` — BSD flock, never fcntl locks; one
   lock-file descriptor per process and store (``_Shared``), so closing
   another handle never drops the lock;
2. fstat the log, verify new frames (catch up); check the log and lock files
   are still the ones opened (else ``StoreMoved``);
3. cut a torn tail (truncate + fdatasync), or refuse on corruption;
4. the caller validates its transaction;
5. ``pwrite`` the frame at the known end (not ``O_APPEND``);
6. ``fdatasync`` (``fsync`` mode);
7. unlock.

A write or fsync error marks the store failed: nothing more is appended and the
error is ``DiskFullError``/``StorageError`` (write: the record is incomplete, so
not in the log) or ``TransactionOutcomeUnknown`` (fsync: the bytes may be in the
log — never retried and acknowledged). The next ``writer()`` re-opens the log,
re-verifies it from the start, and fdatasyncs before appending.

Durability modes (``file:PATH?durability=…``)
---------------------------------------------

``fsync`` (default)
    fdatasync before ``append`` returns; then raise the durable mark.
``group``
    group commit. ``append`` only writes; the ``writer()`` block releases the
    lock and *then* waits for an fdatasync covering the record, so other
    writers append meanwhile. One fdatasync covers every record written
    before it: threads of a process queue on a mutex, the first becomes the
    leader and syncs, the others find their record already covered; across
    processes the leader holds ``flock`` on the *log* file and records the
    durable end in the ``lock`` file (bytes 0..7; bytes 8..15 hold the end of
    the last fully written record, 16..23 the log's inode). Acknowledge after
    the ``writer()`` block exits: then the record is durable. The marks' writers
    hold a per-process mutex, then flock on the log; others read them only so.
``none`` (alias ``os``)
    no fsync: survives a process crash, not an OS crash or power loss.

Readers see only the durable prefix (``fsync`` and ``group``): a record is in
the page cache, so visible, before its fdatasync completes; ``read_after``
yields a record only once it is known durable — this handle or this process
synced past it, or the group-commit marks say so — and otherwise fdatasyncs
the log itself first (one sync covers everything written before it). So a
power loss can take back only records no other process has read. The writer
itself is the exception: under the lock it reads every record (it appends after
the head), and an acknowledgement still waits for durability. ``head()`` may
count a record not yet durable. ``none`` promises nothing across an OS crash
and does not wait.

Creating the log and renaming a snapshot fsync the directory (R4).
``wait()`` polls ``stat`` (0.5 ms doubling to 5 ms) and wakes at once for
appends made through this process.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import secrets
import stat
import struct
import threading
import time
import uuid
import zlib
from array import array
from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, NamedTuple

from fact_store.errors import (
    ConfigurationError,
    ConnectionClosed,
    DiskFullError,
    LimitExceeded,
    LockTimeout,
    LogCorrupted,
    NotAFactStore,
    StorageError,
    StoreMoved,
    TransactionOutcomeUnknown,
    UnsupportedFormat,
)
from fact_store.log import record as rec
from fact_store.log.base import LogStore, RawRecord, crashpoint
from fact_store.log.fileops import NETWORK_FS_TYPES, FileOps, write_all

log = logging.getLogger(__name__)

FILE_MAGIC = b"\x89FSLOG\r\n"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sHHII4x16sq12xI")
HEADER_SIZE = HEADER.size  # 64
SNAP_MAGIC = b"\x89FSSNP\r\n"
SNAP_VERSION = 1
SNAP_HEADER = struct.Struct("<8sHHI16sQQIIQq4xI")
SNAP_HEADER_SIZE = SNAP_HEADER.size  # 80
MARKS = struct.Struct("<QQQ")  # durable end, written end, log inode (in the lock file)

DEFAULT_MAX_TX_BYTES = 16 << 20
#: A header may not claim a larger record limit than this (a guard on bad headers).
MAX_TX_BYTES_CEILING = 1 << 30
KEEP_SNAPSHOTS = 3
DURABILITY_ALIASES = {"fsync": "fsync", "group": "group", "none": "none", "os": "none"}
_CHUNK = 1 << 20
_KNOWN_NAMES = ("log", "lock")
_STALE_TMP_SECONDS = 3600.0

FRAME = rec.FRAME
FRAME_SIZE = rec.FRAME.size
WM_SIZE = rec.WATERMARK_SIZE


# --- scanning ------------------------------------------------------------------

class _Stop(NamedTuple):
    """Where and why a scan of frames ended."""

    offset: int
    t: int              # the t expected at offset
    reason: str         # eof | incomplete | magic | length | crc | kind | sequence
    found_t: int | None  # t of a frame whose CRC was right (kind / sequence)


_REASONS = {
    "incomplete": "cut short (the file ends inside it)",
    "magic": "missing its record magic",
    "length": "claiming a length above the maximum record size",
    "crc": "failing its CRC check",
    "kind": "of a record kind this build does not know",
    "sequence": "out of sequence (its t is not the previous t + 1)",
}


_Frame = tuple[int, bytes, bytes, int, int]  # t, tx uuid bytes, payload, start, end
_UUID_SAFE = uuid.SafeUUID.unknown


def _uuid(b: bytes) -> uuid.UUID:
    """``uuid.UUID(bytes=b)`` without its argument checks (3x faster; b is 16 bytes)."""
    u = object.__new__(uuid.UUID)
    object.__setattr__(u, "int", int.from_bytes(b, "big"))
    object.__setattr__(u, "is_safe", _UUID_SAFE)
    return u


def _raw_record(f: _Frame) -> RawRecord:
    return RawRecord(f[0], _uuid(f[1]), f[2], f[3])


class _Scanner:
    """Iterate the valid frames from ``start`` as ``(t, uuid bytes, payload, start, end)``;
    ``stop`` says where and why it ended. Reads 1 MiB at a time (more for a larger
    frame); checks each length against the max record size and the file size before
    reading the payload. ``payloads=False`` verifies without copying payloads out."""

    def __init__(self, ops: FileOps, fd: int, seed: int, max_record: int, start: int,
                 expected_t: int, size: int, payloads: bool = True) -> None:
        self.ops, self.fd, self.seed, self.max_record = ops, fd, seed, max_record
        self.pos, self.expected, self.size, self.payloads = start, expected_t, size, payloads
        self.stop: _Stop | None = None

    def __iter__(self) -> Iterator[_Frame]:
        ops, fd, seed, size, max_record = self.ops, self.fd, self.seed, self.size, self.max_record
        payloads = self.payloads
        unpack, crc32 = FRAME.unpack_from, zlib.crc32
        fs, ps, magic_ok = FRAME_SIZE, rec.FRAME_PREFIX.size, rec.RECORD_MAGIC
        v1, v2, wm = rec.KIND_TX_V1, rec.KIND_TX_V2, WM_SIZE
        limit = max_record + wm
        pos, expected = self.pos, self.expected
        buf = b""
        mv = memoryview(buf)
        bstart = pos
        blen = 0
        reason = "eof"
        found_t: int | None = None
        try:
            while pos < size:
                rel = pos - bstart
                if rel + fs > blen:
                    if size - pos < fs:
                        reason = "incomplete"
                        break
                    buf = ops.read(fd, min(_CHUNK, size - pos), pos)
                    mv, bstart, rel, blen = memoryview(buf), pos, 0, len(buf)
                    if blen < fs:
                        reason = "incomplete"
                        break
                magic, kind, length, t, ub, crc = unpack(buf, rel)
                if magic != magic_ok:
                    reason = "magic"
                    break
                if length > limit:
                    reason = "length"
                    break
                end = pos + fs + length
                if end > size:
                    reason = "incomplete"
                    break
                pend = rel + fs + length
                if pend > blen:
                    buf = ops.read(fd, min(max(_CHUNK, end - pos), size - pos), pos)
                    mv, bstart, rel, blen = memoryview(buf), pos, 0, len(buf)
                    pend = fs + length
                    if blen < pend:
                        reason = "incomplete"
                        break
                if crc32(mv[rel + fs:pend], crc32(mv[rel:rel + ps], seed)) != crc:
                    reason = "crc"
                    break
                if kind == v2:
                    if length < wm:  # a right CRC, a body this build cannot read
                        reason, found_t = "kind", t
                        break
                    body = rel + fs + wm
                elif kind == v1:
                    if length > max_record:
                        reason = "length"
                        break
                    body = rel + fs
                else:
                    reason, found_t = "kind", t
                    break
                if t != expected:
                    reason, found_t = "sequence", t
                    break
                yield t, ub, buf[body:pend] if payloads else b"", pos, end
                pos = end
                expected += 1
        finally:
            mv.release()
            self.pos, self.expected = pos, expected
        self.stop = _Stop(pos, expected, reason, found_t)


class _At(NamedTuple):
    """A frame whose CRC is right, found at some offset."""

    t: int
    kind: int
    crc: int
    end: int
    durable: int | None  # its durable watermark (None: a kind or body this build cannot read)


def _frame_at(ops: FileOps, fd: int, seed: int, max_record: int, offset: int, size: int
              ) -> _At | None:
    """The frame at ``offset`` if its CRC is right (and its length fits its kind), else None."""
    if offset + FRAME_SIZE > size:
        return None
    head = ops.read(fd, FRAME_SIZE, offset)
    if len(head) < FRAME_SIZE:
        return None
    magic, kind, length, t, _ub, crc = FRAME.unpack_from(head)
    if (magic != rec.RECORD_MAGIC or length > max_record + WM_SIZE
            or offset + FRAME_SIZE + length > size):
        return None
    payload = ops.read(fd, length, offset + FRAME_SIZE)
    if len(payload) < length or rec.frame_crc(seed, head, payload) != crc:
        return None
    durable: int | None = None
    if kind == rec.KIND_TX_V1:
        if length > max_record:
            return None
        durable = offset
    elif kind == rec.KIND_TX_V2 and length >= WM_SIZE:
        durable = rec.decode_watermark(payload[:WM_SIZE])
    return _At(t, kind, crc, offset + FRAME_SIZE + length, durable)


class _After(NamedTuple):
    """What follows an invalid frame (:func:`_frames_after`)."""

    evidence: tuple[int, int] | None  # (offset, t) of a frame proving corruption
    unsynced: int  # valid frames after it, each written before it was known durable


def _frames_after(ops: FileOps, fd: int, seed: int, max_record: int, after: int, min_t: int,
                  size: int) -> _After:
    """Look past the invalid frame at ``after`` for frames with a right CRC and t >=
    ``min_t`` (older ones are stale bytes, ignored), stepping over each one found.

    One of an unknown kind, or whose durable watermark is above ``after`` (it was
    written when the bytes at ``after`` were known durable: version 1 frames say so
    of every byte before them), is *evidence* that those bytes are corruption; the
    search stops there. The others were written while ``after`` was not yet known
    durable: a power failure may have lost the write at ``after`` and kept them
    (out-of-order persistence), so they are an unsynced tail; they are counted.
    O(bytes after ``after``)."""
    p = after + 1
    magic = rec.RECORD_MAGIC
    unsynced = 0
    while p < size:
        chunk = ops.read(fd, min(_CHUNK, size - p), p)
        if len(chunk) < len(magic):
            break
        i = chunk.find(magic)
        step = len(chunk) - (len(magic) - 1)
        while i != -1:
            found = _frame_at(ops, fd, seed, max_record, p + i, size)
            if found is not None and (found.t >= min_t or found.durable is None):
                if found.durable is None or found.durable > after:
                    return _After((p + i, found.t), unsynced)
                unsynced += 1
                step = found.end - p  # go on after this frame
                break
            i = chunk.find(magic, i + 1)
        p += step
    return _After(None, unsynced)


# --- header ---------------------------------------------------------------------

@dataclass(frozen=True)
class LogHeader:
    """The decoded file header."""

    format_version: int
    db_uuid: uuid.UUID
    created: datetime
    max_record_bytes: int

    @property
    def seed(self) -> int:
        return rec.crc_seed(self.db_uuid)


def encode_header(db_uuid: uuid.UUID, created_us: int, max_record_bytes: int,
                  version: int = FORMAT_VERSION) -> bytes:
    body = HEADER.pack(FILE_MAGIC, version, 0, HEADER_SIZE, max_record_bytes, db_uuid.bytes,
                       created_us, 0)
    return body[:-4] + zlib.crc32(body[:-4]).to_bytes(4, "little")


def decode_header(data: bytes, path: str) -> LogHeader:
    """The 64 header bytes → LogHeader.

    :raises NotAFactStore: wrong magic (the file was not modified).
    :raises LogCorrupted: header cut short or CRC mismatch (offset 0).
    :raises UnsupportedFormat: another format version.
    """
    if len(data) < HEADER_SIZE:
        if FILE_MAGIC.startswith(data[:len(FILE_MAGIC)]) and len(data) > 0:
            raise LogCorrupted(f"{path}: the file header is cut short ({len(data)} of "
                               f"{HEADER_SIZE} bytes); the log was not modified",
                               offset=0, t=0, path=path)
        raise NotAFactStore(f"{path} is not a fact-store log ({len(data)} bytes, no header); "
                            "it was not modified", path=path)
    magic, version, _flags, hsize, max_record, ub, created_us, crc = HEADER.unpack_from(data)
    if magic != FILE_MAGIC:
        raise NotAFactStore(f"{path} is not a fact-store log (it starts with {data[:8]!r}, "
                            f"expected {FILE_MAGIC!r}); it was not modified", path=path)
    if zlib.crc32(data[:HEADER_SIZE - 4]) != crc:
        raise LogCorrupted(f"{path}: the file header fails its CRC check at offset 0; the "
                           "log was not modified. Restore it from a backup.",
                           offset=0, t=0, path=path)
    if version != FORMAT_VERSION:
        newer = version > FORMAT_VERSION
        raise UnsupportedFormat(
            f"{path} has log format version {version}; this build reads version "
            f"{FORMAT_VERSION}. " + ("Upgrade fact-store to open it." if newer else
                                      "Open it with the fact-store release that wrote it."),
            version=version, path=path)
    if hsize != HEADER_SIZE or not 0 < max_record <= MAX_TX_BYTES_CEILING:
        raise LogCorrupted(f"{path}: the file header holds impossible values (header size "
                           f"{hsize}, max record {max_record})", offset=0, t=0, path=path)
    try:
        created = datetime.fromtimestamp(created_us / 1e6, tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        created = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return LogHeader(version, uuid.UUID(bytes=ub), created, max_record)


# --- snapshots ------------------------------------------------------------------

class _BadSnapshot(Exception):
    """A snapshot that must be ignored; the message says why."""


def _snapshot_name(t: int) -> str:
    return f"snapshot-{t:020d}.snap"


def _snapshot_t(name: str) -> int | None:
    if name.startswith("snapshot-") and name.endswith(".snap"):
        digits = name[len("snapshot-"):-len(".snap")]
        if digits.isdigit():
            return int(digits)
    return None


def _read_snapshot(ops: FileOps, path: str, header: LogHeader, log_fd: int, log_size: int
                   ) -> tuple[int, bytes, int]:
    """Validate a snapshot file → ``(t, payload, anchor end offset)``.

    :raises _BadSnapshot: anything wrong; the message says what.
    """
    try:
        fd = _open_regular(ops, path, os.O_RDONLY)
    except OSError as exc:
        raise _BadSnapshot(f"cannot open: {exc.strerror}") from exc
    try:
        size = ops.fstat(fd).st_size
        head = ops.read(fd, SNAP_HEADER_SIZE, 0)
        if len(head) < SNAP_HEADER_SIZE:
            raise _BadSnapshot(f"only {len(head)} bytes, shorter than its header")
        (magic, version, _flags, hsize, ub, t, anchor, anchor_crc, payload_crc, length,
         _created, hcrc) = SNAP_HEADER.unpack(head)
        if magic != SNAP_MAGIC:
            raise _BadSnapshot("not a fact-store snapshot (wrong magic)")
        if zlib.crc32(head[:-4]) != hcrc:
            raise _BadSnapshot("header fails its CRC check")
        if version != SNAP_VERSION or hsize != SNAP_HEADER_SIZE:
            raise _BadSnapshot(f"snapshot format version {version}; this build reads "
                               f"{SNAP_VERSION}")
        if uuid.UUID(bytes=ub) != header.db_uuid:
            raise _BadSnapshot(f"written for database {uuid.UUID(bytes=ub)}, this log is "
                               f"{header.db_uuid}")
        if length != size - SNAP_HEADER_SIZE:
            raise _BadSnapshot(f"payload length {length} does not match the file size {size}")
        found = _frame_at(ops, log_fd, header.seed, header.max_record_bytes, anchor, log_size)
        if found is None or found[0] != t or found[2] != anchor_crc:
            raise _BadSnapshot(f"the log holds no record t={t} at offset {anchor} matching "
                               "this snapshot (the snapshot is ahead of the log, or the log "
                               "was repaired since)")
        payload = ops.read(fd, length, SNAP_HEADER_SIZE)
        if len(payload) != length or zlib.crc32(payload) != payload_crc:
            raise _BadSnapshot("payload fails its CRC check")
        return t, payload, found[3]
    finally:
        ops.close(fd)


@contextmanager
def _io(what: str) -> Iterator[None]:
    """Turn an ``OSError`` into a StorageError (DiskFullError for ENOSPC) naming ``what``."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(f"{what}: no space left on the device") from exc
        raise StorageError(f"{what}: {exc.strerror or exc}", errno=exc.errno) from exc


# --- per-process shared state -----------------------------------------------------

class _Shared:
    """Everything one process holds for one store: fds, locks, verified offsets.

    All :class:`FileStore` handles of a store in a process share one of these,
    so the process keeps exactly one lock-file descriptor (F-13) and one view
    of the log.
    """

    def __init__(self, ops: FileOps, dirpath: str, key: tuple[int, int, int],
                 lock_fd: int, log_fd: int, header: LogHeader, read_only: bool) -> None:
        self.ops = ops
        self.dir = dirpath
        self.log_path = os.path.join(dirpath, "log")
        self.lock_path = os.path.join(dirpath, "lock")
        self.key = key
        self.pid = os.getpid()
        self.lock_fd = lock_fd
        self.log_fd = log_fd
        self.read_only = read_only
        self.refs = 0
        self.closed = False
        self.writer_lock = threading.Lock()
        self.owner: int | None = None
        self.pending = 0           # end of the last record appended in this writer session
        self.state_lock = threading.Lock()
        self.cond = threading.Condition(self.state_lock)
        self.sync_lock = threading.Lock()
        self.durable_end = 0       # this process knows the log is durable up to here
        self.failed: str | None = None
        self._set_log(header)

    def _set_log(self, header: LogHeader) -> None:
        st = self.ops.fstat(self.log_fd)
        self.log_ident = (st.st_dev, st.st_ino)
        lst = self.ops.fstat(self.lock_fd)
        self.lock_ident = (lst.st_dev, lst.st_ino)
        self.header = header
        self.seed = header.seed
        self.max_record = header.max_record_bytes
        self.reset_offsets()

    def reset_offsets(self) -> None:
        # Dense: end offsets of records 1..dense_t, verified from the start.
        self.dense = array("q")
        self.dense_end = HEADER_SIZE
        # Upper: a segment starting at a snapshot's anchor, records base_t+1.. (not
        # yet verified from the start; a writer verifies the whole log first).
        self.upper_base: tuple[int, int] | None = None
        self.upper = array("q")
        # Where readers last stopped at an invalid frame: (offset, file size, mtime)
        # and when; an unchanged file is not rescanned for 0.5 s.
        self.stuck: tuple[int, int, int] | None = None
        self.stuck_at = 0.0
        self.durable_end = 0

    # Offsets ------------------------------------------------------------------
    @property
    def dense_t(self) -> int:
        return len(self.dense)

    @property
    def frontier(self) -> tuple[int, int]:
        if self.upper_base is not None:
            bt, bend = self.upper_base
            return bt + len(self.upper), (self.upper[-1] if self.upper else bend)
        return self.dense_t, self.dense_end

    def end_of(self, t: int) -> int | None:
        """End offset of record t (the start of t+1), if known; t=0 is the header."""
        if t == 0:
            return HEADER_SIZE
        if t <= len(self.dense):
            return self.dense[t - 1]
        if self.upper_base is not None:
            bt, bend = self.upper_base
            if t == bt:
                return bend
            if bt < t <= bt + len(self.upper):
                return self.upper[t - bt - 1]
        return None

    def known_at_or_below(self, t: int) -> tuple[int, int]:
        """The greatest known ``(t', end)`` with t' <= t."""
        ft, fend = self.frontier
        if t >= ft:
            return ft, fend
        end = self.end_of(t)
        if end is not None:
            return t, end
        return self.dense_t, self.dense_end  # t lies between dense and upper

    def register(self, t: int, offset: int, end: int) -> bool:
        """Remember a verified record; True if it extended what this process knows."""
        if t == len(self.dense) + 1 and offset == self.dense_end:
            self.dense.append(end)
            self.dense_end = end
            if self.upper_base is not None and self.upper_base[0] == t:
                # Dense reached the snapshot anchor: the two segments join.
                if end == self.upper_base[1]:
                    self.dense.extend(self.upper)
                    self.dense_end = self.dense[-1]
                else:
                    log.warning("record t=%d ends at %d, not at %d as a snapshot anchor "
                                "said; forgetting the anchor", t, end, self.upper_base[1])
                self.upper_base, self.upper = None, array("q")
            return True
        if self.upper_base is not None:
            ut, uend = self.frontier
            if t == ut + 1 and offset == uend:
                self.upper.append(end)
                return True
        return False

    def register_many(self, frames: Iterable[tuple[int, int, int]]) -> bool:
        """:meth:`register` each ``(t, start, end)`` in order; True if any was new."""
        grew = False
        dense = self.dense
        base_t = self.upper_base[0] if self.upper_base is not None else 0
        for t, offset, end in frames:
            if t == len(dense) + 1 and offset == self.dense_end and t != base_t:
                dense.append(end)  # the common case, inlined
                self.dense_end = end
                grew = True
            else:
                grew = self.register(t, offset, end) or grew
                dense = self.dense
                base_t = self.upper_base[0] if self.upper_base is not None else 0
        return grew


#: (st_dev, st_ino of the store directory, id(FileOps)) -> this process's state.
#: The real FileOps is one object, so every handle on a store shares one entry
#: however its path was spelled (symlinks included).
_registry: dict[tuple[int, int, int], _Shared] = {}
_DEFAULT_OPS = FileOps()
_registry_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # The child must not share the parent's lock-file description: flock would
    # treat parent and child as one holder. Handles re-attach on next use.
    global _registry_lock
    _registry.clear()
    _registry_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


# --- the store ---------------------------------------------------------------------

class FileStore(LogStore):
    """The ``file:`` :class:`~fact_store.log.base.LogStore`; the module doc is its manual.

    ``path`` is the store directory, created (0700) with its log if missing.
    ``durability``: fsync | group | none (``os`` is an alias of none).
    ``lock_timeout``: seconds ``writer()`` waits by default (None: forever).
    ``max_tx_bytes``: the payload limit written into a *new* log's header; an
    existing log keeps the limit it was created with, so every process agrees.
    ``network_fs``: ``refuse`` (default) or ``warn`` on NFS/SMB/FUSE/… (statfs).
    ``fileops``: the I/O seam (tests pass a FaultyFS); handles with the same
    FileOps in one process share one lock descriptor and one view of the log.

    >>> import tempfile, uuid
    >>> s = FileStore(tempfile.mkdtemp() + "/db")
    >>> with s.writer() as head:
    ...     s.append(head + 1, uuid.UUID(int=7), b"hello")
    >>> [(r.t, r.payload) for r in s.read_after(0)]
    [(1, b'hello')]
    >>> s.close()
    """

    def __init__(self, path: str, *, uri: str | None = None, durability: str = "fsync",
                 lock_timeout: float | None = None, max_tx_bytes: int = DEFAULT_MAX_TX_BYTES,
                 network_fs: str = "refuse", fileops: FileOps | None = None) -> None:
        if durability not in DURABILITY_ALIASES:
            raise ConfigurationError(
                f"durability={durability!r}; expected one of fsync, group, none",
                durability=durability)
        if network_fs not in ("refuse", "warn"):
            raise ConfigurationError(f"network_fs={network_fs!r}; expected refuse or warn")
        if not 0 < max_tx_bytes <= MAX_TX_BYTES_CEILING:
            raise ConfigurationError(f"max_tx_bytes={max_tx_bytes}; expected 1.."
                                     f"{MAX_TX_BYTES_CEILING}")
        self.path = os.path.abspath(path)
        self.uri = uri if uri is not None else f"file:{self.path}"
        self.durability = DURABILITY_ALIASES[durability]
        self.lock_timeout = lock_timeout
        self._ops = fileops if fileops is not None else _DEFAULT_OPS
        self._max_tx_create = max_tx_bytes
        self._network_fs = network_fs
        self._closed = False
        #: (log inode, end): this handle knows the log is durable up to ``end`` (read_after)
        self._read_durable = (0, 0)
        with _io(f"cannot open the store {self.path}"):
            self._sh = self._attach()

    # Opening -------------------------------------------------------------------------
    def _attach(self) -> _Shared:
        ops, path = self._ops, self.path
        try:
            st = ops.stat(path)
        except FileNotFoundError:
            self._create_dir()
            st = ops.stat(path)
        except OSError as exc:
            raise StorageError(f"cannot open store {path}: {exc.strerror}") from exc
        if not _is_dir(st):
            raise NotAFactStore(f"{path} is a file, not a fact-store directory; it was not "
                                "modified. Give the path of a directory (new or holding a "
                                "fact-store log).", path=path)
        self._check_fs()
        key = (st.st_dev, st.st_ino, id(ops))
        with _registry_lock:
            sh = _registry.get(key)
            if sh is None or sh.closed or sh.pid != os.getpid():
                sh = self._open_shared(key)
                _registry[key] = sh
            sh.refs += 1
        return sh

    def _create_dir(self) -> None:
        parent = os.path.dirname(self.path)
        try:
            os.makedirs(parent, exist_ok=True)
            self._ops.mkdir(self.path, 0o700)
            self._ops.fsync_dir(parent)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot create the store directory {self.path}: "
                               f"{exc.strerror}") from exc

    def _check_fs(self) -> None:
        kind = NETWORK_FS_TYPES.get(self._ops.statfs(self.path) or 0)
        if kind is None:
            return
        msg = (f"{self.path} is on a {kind} filesystem, where flock and fsync do not "
               "protect a shared log")
        if self._network_fs == "refuse":
            raise ConfigurationError(msg + "; use a local disk, or add ?network_fs=warn to "
                                     "the URI at your own risk", fs=kind)
        log.warning("%s; continuing because network_fs=warn", msg)

    def _open_shared(self, key: tuple[int, int, int]) -> _Shared:
        ops, d = self._ops, self.path
        lock_path, log_path = os.path.join(d, "lock"), os.path.join(d, "log")
        read_only = False
        # Before anything is created: a foreign directory or a log that is not
        # a log is refused and left exactly as it was.
        self._log_exists(log_path)
        try:
            try:
                lock_fd = ops.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                ops.fsync_dir(d)
            except FileExistsError:
                lock_fd = ops.open(lock_path, os.O_RDWR)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
                raise StorageError(f"cannot open {lock_path}: {exc.strerror}") from exc
            try:
                lock_fd = ops.open(lock_path, os.O_RDONLY)
                read_only = True
            except OSError as exc2:
                raise StorageError(f"cannot open {lock_path}: {exc2.strerror}; the store "
                                   "directory must be readable (and writable to write)"
                                   ) from exc2
        try:
            if not self._log_exists(log_path):
                if read_only:
                    raise StorageError(f"{d} holds no log and is read-only; cannot create it")
                self._flock(lock_fd, self.lock_timeout)
                try:
                    if not self._log_exists(log_path):
                        self._create_log(log_path)
                finally:
                    ops.flock(lock_fd, fcntl.LOCK_UN)
            try:
                log_fd = _open_regular(ops, log_path, os.O_RDONLY if read_only else os.O_RDWR)
            except OSError as exc:
                raise StorageError(f"cannot open {log_path}: {exc.strerror}") from exc
            try:
                header = decode_header(ops.read(log_fd, HEADER_SIZE, 0), log_path)
                nlink = ops.fstat(log_fd).st_nlink
                if nlink != 1:
                    raise StorageError(
                        f"{log_path} has {nlink} hard links; a store must be reachable by "
                        "one path only, or two lock files would guard one log. Remove the "
                        "other links.", path=log_path)
                sh = _Shared(ops, d, key, lock_fd, log_fd, header, read_only)
            except BaseException:
                ops.close(log_fd)
                raise
        except BaseException:
            ops.close(lock_fd)
            raise
        return sh

    def _log_exists(self, log_path: str) -> bool:
        """True if ``log`` exists; False if a new log may be created.

        Refuses (changing nothing) a foreign directory, a ``log`` that is not a
        regular file (a FIFO, a device, a symbolic link) and an empty ``log``:
        the store writes its log whole and renames it into place, so an empty
        one is damage, never a store to initialise afresh.
        """
        try:
            fd = _open_regular(self._ops, log_path, os.O_RDONLY)
        except FileNotFoundError:
            others = [n for n in self._ops.listdir(self.path) if not _is_ours(n)]
            if others:
                raise NotAFactStore(
                    f"{self.path} holds other files ({', '.join(sorted(others)[:5])}) and no "
                    "fact-store log; refusing to create a store there. Use an empty or new "
                    "directory.", path=self.path) from None
            return False
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EINVAL):
                raise NotAFactStore(f"{log_path} {exc.strerror}, so it is no fact-store log; "
                                    "it was not modified.", path=log_path) from exc
            raise StorageError(f"cannot open {log_path}: {exc.strerror}",
                               path=log_path) from exc
        try:
            empty = self._ops.fstat(fd).st_size == 0
        finally:
            self._ops.close(fd)
        if empty:
            raise NotAFactStore(
                f"{log_path} is empty (0 bytes): the log was truncated or replaced, so this "
                "store is damaged; it was not modified. Restore the log from a backup, or "
                "remove the directory to start a new store.", path=log_path)
        return True

    def _create_log(self, log_path: str) -> None:
        ops = self._ops
        tmp = f"{log_path}.tmp.{os.getpid()}.{secrets.token_hex(4)}"
        created_us = time.time_ns() // 1000
        data = encode_header(uuid.uuid4(), created_us, self._max_tx_create)
        try:
            fd = ops.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                write_all(ops, fd, data, 0)
                ops.fsync(fd)
            finally:
                ops.close(fd)
            ops.rename(tmp, log_path)
            ops.fsync_dir(self.path)
        except OSError as exc:
            _unlink_quietly(ops, tmp)
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(f"no space to create {log_path}") from exc
            raise StorageError(f"cannot create {log_path}: {exc.strerror}") from exc

    def _shared(self) -> _Shared:
        if self._closed:
            raise ConnectionClosed(f"store {self.uri} is closed; open it again with open_store()")
        sh = self._sh
        if sh.pid != os.getpid() or sh.closed:
            # A fork: this process needs its own descriptors (see _after_fork_in_child).
            with _io(f"cannot re-open the store {self.path}"):
                self._sh = sh = self._attach()
        return sh

    def _flock(self, fd: int, timeout: float | None) -> None:
        ops = self._ops
        if timeout is None:
            ops.flock(fd, fcntl.LOCK_EX)
            return
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            try:
                ops.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LockTimeout(f"another process held the writer lock of {self.path} "
                                      f"for more than {timeout} s", timeout=timeout) from None
                time.sleep(min(delay, left))
                delay = min(delay * 2, 0.005)

    def _check_identity(self, sh: _Shared, lock_too: bool = False) -> None:
        """Raise StoreMoved if ``log`` (or ``lock``) is no longer the file we opened."""
        paths = [(sh.log_path, sh.log_ident)]
        if lock_too:
            paths.append((sh.lock_path, sh.lock_ident))
        for p, ident in paths:
            try:
                st = self._ops.stat(p)
            except FileNotFoundError:
                raise StoreMoved(f"{p} was deleted while the store was open; stop and "
                                 "reopen the store", path=p) from None
            if (st.st_dev, st.st_ino) != ident:
                raise StoreMoved(f"{p} was replaced while the store was open (another file "
                                 "now has its name); stop and reopen the store", path=p)

    # Reading ---------------------------------------------------------------------------
    def _size(self, sh: _Shared) -> int:
        return self._ops.fstat(sh.log_fd).st_size

    def _stat(self, sh: _Shared) -> tuple[int, int]:
        st = self._ops.fstat(sh.log_fd)
        return st.st_size, st.st_mtime_ns

    @staticmethod
    def _is_stuck(sh: _Shared, key: tuple[int, int, int]) -> bool:
        """Did a reader already stop at this invalid frame of this unchanged file?
        (A writer that cut the tail and appended exactly as many bytes within one
        mtime tick is caught by the 0.5 s expiry.)"""
        return sh.stuck == key and time.monotonic() - sh.stuck_at < 0.5

    def head(self) -> int:
        """Newest verified t. O(1) when the file has not grown; else O(new bytes)."""
        sh = self._shared()
        with _io(f"cannot read {sh.log_path}"):
            return self._head(sh)

    def _head(self, sh: _Shared) -> int:
        self._check_identity(sh)
        with sh.state_lock:
            size, mtime = self._stat(sh)
            ft, fend = sh.frontier
            if size < fend:
                raise LogCorrupted(f"{sh.log_path} shrank to {size} bytes, below the end of "
                                   f"verified record t={ft} ({fend}); another tool truncated "
                                   "it. Reopen the store.", offset=size, t=ft, path=sh.log_path)
            if size > fend and not self._is_stuck(sh, (fend, size, mtime)):
                scan = _Scanner(self._ops, sh.log_fd, sh.seed, sh.max_record, fend, ft + 1,
                                size, payloads=False)
                sh.register_many((f[0], f[3], f[4]) for f in scan)
                assert scan.stop is not None
                self._reader_stop(sh, scan.stop, size, mtime)
                if sh.frontier[0] > ft:
                    sh.cond.notify_all()
            return sh.frontier[0]

    def _reader_stop(self, sh: _Shared, stop: _Stop, size: int, mtime: int) -> None:
        """A reader's scan ended at ``stop``: the end, unless it is corruption."""
        if stop.reason == "eof":
            return
        if stop.reason == "kind":
            raise self._unsupported_kind(sh, stop)
        key = (stop.offset, size, mtime)
        if self._is_stuck(sh, key):
            return
        corrupt, _unsynced = self._examine(sh, stop, size)
        if corrupt is not None:
            # A writer may have cut this torn tail and appended since our scan.
            again = _frame_at(self._ops, sh.log_fd, sh.seed, sh.max_record, stop.offset,
                              self._size(sh))
            if again is not None and again.t == stop.t and again.durable is not None:
                return
            raise corrupt
        sh.stuck, sh.stuck_at = key, time.monotonic()

    def _examine(self, sh: _Shared, stop: _Stop, size: int) -> tuple[LogCorrupted | None, int]:
        """``(LogCorrupted, 0)`` if the invalid frame at ``stop`` is mid-log corruption
        (module doc, "Reading and recovery rules"); else ``(None, n)``: a torn tail
        followed by n valid records written before it was known durable."""
        if stop.reason == "sequence" and stop.found_t is not None and stop.found_t > stop.t:
            return LogCorrupted(
                f"{sh.log_path}: record at offset {stop.offset} has t={stop.found_t} where "
                f"t={stop.t} was expected: records are missing, the log is corrupt. Nothing "
                "was changed; run `fact-store verify` and restore from a backup.",
                offset=stop.offset, t=stop.t, reason="gap", path=sh.log_path), 0
        after = _frames_after(self._ops, sh.log_fd, sh.seed, sh.max_record, stop.offset,
                              stop.t, size)
        found = after.evidence
        if found is None:
            return None, after.unsynced
        return LogCorrupted(
            f"{sh.log_path}: record t={stop.t} at offset {stop.offset} is "
            f"{_REASONS[stop.reason]}, but a valid record (t={found[1]}), written once that "
            f"offset was durable, follows at offset {found[0]}: the log is corrupt in the "
            "middle. Nothing was changed; run `fact-store verify` on the store and restore "
            "the log from a backup (or repair it by truncating at that offset, keeping a "
            "copy).", offset=stop.offset, t=stop.t, reason=stop.reason, path=sh.log_path), 0

    def _unsupported_kind(self, sh: _Shared, stop: _Stop) -> UnsupportedFormat:
        return UnsupportedFormat(
            f"{sh.log_path}: the record at offset {stop.offset} (t={stop.found_t}) is of a "
            "kind a newer fact-store wrote; this build stops there and will not append. "
            "Upgrade fact-store.", offset=stop.offset, t=stop.t, path=sh.log_path)

    def read_after(self, t: int) -> Iterator[RawRecord]:
        """Verified records with record.t > t. O(records yielded + their bytes) once the
        offset of record t is known (it is, up to head, after ``head()`` or a snapshot);
        else the log is scanned from the nearest known point."""
        sh = self._shared()
        with _io(f"cannot read {sh.log_path}"):
            yield from self._read_after(sh, t)

    def _read_after(self, sh: _Shared, t: int) -> Iterator[RawRecord]:
        self._check_identity(sh)
        with sh.state_lock:
            start_t, start = sh.known_at_or_below(max(t, 0))
            _ft, known_end = sh.frontier
        size, mtime = self._stat(sh)
        scan = _Scanner(self._ops, sh.log_fd, sh.seed, sh.max_record, start, start_t + 1, size)
        learned: list[tuple[int, int, int]] = []  # records beyond what the process knew
        # only the durable prefix, except for the writer itself (module doc, "Readers")
        gate = self.durability != "none" and sh.owner != threading.get_ident()
        try:
            for f in scan:
                if f[4] > known_end:
                    learned.append((f[0], f[3], f[4]))
                    if len(learned) >= 4096:
                        self._learn(sh, learned)
                if f[0] > t:
                    if gate:
                        self._durable_upto(sh, f[4], size)
                    yield _raw_record(f)
        finally:
            self._learn(sh, learned)
        stop = scan.stop
        assert stop is not None
        if stop.offset < known_end:
            raise LogCorrupted(f"{sh.log_path}: record t={stop.t} at offset {stop.offset} "
                               f"was verified before and is now {_REASONS[stop.reason]}; the "
                               "log was modified under the store. Nothing was changed.",
                               offset=stop.offset, t=stop.t, path=sh.log_path)
        with sh.state_lock:
            self._reader_stop(sh, stop, size, mtime)

    def _durable_upto(self, sh: _Shared, end: int, size: int) -> None:
        """Return once the log is durable up to ``end`` (a verified record end <= ``size``).

        Known durable (this handle synced, this process's writers synced, or the marks
        say so): at once. Else fdatasync the log (a read-only descriptor may), which
        makes every byte written before it durable, so up to ``size``.
        """
        ino = sh.log_ident[1]
        seen_ino, seen = self._read_durable
        if end <= sh.durable_end or (seen_ino == ino and end <= seen):
            return
        mark = self._try_marks(sh)
        if mark is not None and end <= mark <= size:  # (a mark beyond the log is stale)
            self._read_durable = (ino, mark)
            return
        try:
            self._ops.fdatasync(sh.log_fd)
        except OSError as exc:
            raise StorageError(f"fdatasync of {sh.log_path} failed ({exc.strerror}): a record "
                               "not known durable is not read", errno=exc.errno) from exc
        self._read_durable = (ino, size)
        self._try_marks(sh, raise_to=end)

    def _learn(self, sh: _Shared, frames: list[tuple[int, int, int]]) -> None:
        if frames:
            with sh.state_lock:
                if sh.register_many(frames):
                    sh.cond.notify_all()
            frames.clear()

    # Writing -----------------------------------------------------------------------------
    def writer(self, timeout: float | None = None) -> "_WriterSession":
        """The exclusive writer lock (module doc, "Writer protocol"); yields the head t.

        ``timeout`` defaults to the store's ``lock_timeout`` (None: wait forever).
        """
        return _WriterSession(self, self.lock_timeout if timeout is None else timeout)

    def _enter_writer(self, timeout: float | None) -> int:
        sh = self._shared()
        if sh.read_only:
            raise StorageError(f"store {self.path} is opened read-only (its files are not "
                               "writable); cannot write")
        me = threading.get_ident()
        if sh.owner == me:
            raise StorageError(f"writer() of {self.uri} entered twice by one thread; it is "
                               "not re-entrant")
        start = time.monotonic()
        if not sh.writer_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            raise LockTimeout(f"another thread held the writer lock of {self.path} for more "
                              f"than {timeout} s", timeout=timeout)
        try:
            left = None if timeout is None else max(timeout - (time.monotonic() - start), 0)
            with _io(f"cannot lock {sh.lock_path}"):
                self._flock(sh.lock_fd, left)
        except BaseException:
            sh.writer_lock.release()
            raise
        sh.owner = me
        sh.pending = 0
        try:
            with _io(f"cannot catch up with {sh.log_path}"):
                return self._catch_up_for_write(sh)
        except BaseException:
            sh.owner = None
            try:
                self._ops.flock(sh.lock_fd, fcntl.LOCK_UN)
            finally:
                sh.writer_lock.release()
            raise

    def _exit_writer(self, errored: bool) -> None:
        sh = self._sh
        crashpoint("after-fsync-before-unlock")
        target, sh.pending = sh.pending, 0
        sh.owner = None
        try:
            with _io(f"cannot unlock {sh.lock_path}"):
                self._ops.flock(sh.lock_fd, fcntl.LOCK_UN)
        finally:
            sh.writer_lock.release()
        crashpoint("after-unlock-before-ack")
        if target and self.durability == "group":
            if not errored:
                self._group_sync(sh, target)
            else:
                try:
                    self._group_sync(sh, target)
                except StorageError as exc:
                    log.warning("group fsync after a failed writer block: %s", exc)

    def _catch_up_for_write(self, sh: _Shared) -> int:
        ops = self._ops
        self._check_identity(sh, lock_too=True)
        with sh.state_lock:
            need_sync = False
            if sh.failed is not None:
                self._reopen_log(sh)
                need_sync = True
            size = self._size(sh)
            if size < sh.dense_end:
                raise LogCorrupted(f"{sh.log_path} shrank to {size} bytes, below verified "
                                   f"record t={sh.dense_t}; another tool truncated it. "
                                   "Reopen the store.", offset=size, t=sh.dense_t,
                                   path=sh.log_path)
            upper_base = sh.upper_base
            before = sh.frontier[0]
            scan = _Scanner(ops, sh.log_fd, sh.seed, sh.max_record, sh.dense_end,
                            sh.dense_t + 1, size, payloads=False)
            def frames() -> Iterator[tuple[int, int, int]]:
                for f in scan:
                    if upper_base is not None and f[0] == upper_base[0] and f[4] != upper_base[1]:
                        raise LogCorrupted(f"{sh.log_path}: record t={f[0]} ends at {f[4]}, not "
                                           f"at {upper_base[1]} as a snapshot anchor says",
                                           offset=f[3], t=f[0], path=sh.log_path)
                    yield f[0], f[3], f[4]

            sh.register_many(frames())
            sh.upper_base, sh.upper = None, array("q")
            stop = scan.stop
            assert stop is not None
            if stop.reason == "kind":
                raise self._unsupported_kind(sh, stop)
            if stop.reason != "eof":
                corrupt, unsynced = self._examine(sh, stop, size)
                if corrupt is not None:
                    raise corrupt
                self._cut_tail(sh, stop, size, unsynced)
                need_sync = False  # the cut fdatasynced
            if need_sync:
                try:
                    ops.fdatasync(sh.log_fd)
                except OSError as exc:
                    sh.failed = f"fdatasync failed: {exc.strerror}"
                    raise StorageError(f"cannot fsync {sh.log_path} after re-opening it: "
                                       f"{exc.strerror}; the store stays failed") from exc
                sh.durable_end = sh.dense_end
            sh.failed = None
            sh.stuck = None
            self._learn_durable(sh)
            if sh.frontier[0] != before:
                sh.cond.notify_all()
            return sh.dense_t

    def _reopen_log(self, sh: _Shared) -> None:
        """After a write/fsync error: a fresh descriptor, everything re-verified."""
        ops = self._ops
        try:
            fd = ops.open(sh.log_path, os.O_RDWR)
        except OSError as exc:
            raise StorageError(f"cannot re-open {sh.log_path}: {exc.strerror}") from exc
        try:
            header = decode_header(ops.read(fd, HEADER_SIZE, 0), sh.log_path)
        except BaseException:
            ops.close(fd)
            raise
        old, sh.log_fd = sh.log_fd, fd
        try:
            ops.close(old)
        except OSError as exc:  # the old descriptor is gone either way
            log.warning("closing the failed descriptor of %s: %s", sh.log_path, exc)
        sh._set_log(header)
        self._check_identity(sh)

    def _cut_tail(self, sh: _Shared, stop: _Stop, size: int, unsynced: int = 0) -> None:
        ops = self._ops
        if unsynced:
            log.warning("%s: cutting a torn tail of %d bytes at offset %d (record t=%d %s, "
                        "then %d valid record(s) written before it was durable): a power "
                        "failure kept later writes and lost an earlier one; none of them was "
                        "acknowledged as durable", sh.log_path, size - stop.offset, stop.offset,
                        stop.t, _REASONS.get(stop.reason, stop.reason), unsynced)
        else:
            log.warning("%s: cutting a torn tail of %d bytes at offset %d (record t=%d %s): a "
                        "crash interrupted a write; that transaction was never acknowledged",
                        sh.log_path, size - stop.offset, stop.offset, stop.t,
                        _REASONS.get(stop.reason, stop.reason))
        try:
            ops.ftruncate(sh.log_fd, stop.offset)
            crashpoint("tail-truncate")
            ops.fdatasync(sh.log_fd)
        except OSError as exc:
            sh.failed = f"cutting the torn tail failed: {exc.strerror}"
            raise StorageError(f"cannot cut the torn tail of {sh.log_path} at offset "
                               f"{stop.offset}: {exc.strerror}") from exc
        self._reset_marks(sh, stop.offset, synced=True)

    def append(self, t: int, tx_uuid: uuid.UUID, payload: bytes) -> None:
        """Write the frame for t at the verified end (module doc, steps 5–6)."""
        sh = self._shared()
        if sh.owner != threading.get_ident():
            raise StorageError(f"append to {self.uri} outside writer(): take the writer "
                               "lock first")
        if sh.failed is not None:
            raise StorageError(f"store {self.path} failed earlier ({sh.failed}); leave "
                               "writer() and enter it again to re-open and re-verify the log")
        head, end0 = sh.dense_t, sh.dense_end
        if t != head + 1:
            raise StorageError(f"append of t={t} to {self.uri}, whose head is {head}: t must "
                               "be head + 1", t=t, head=head)
        if len(payload) > sh.max_record:
            raise LimitExceeded(f"tx record of {len(payload)} bytes exceeds the store's "
                                f"maximum of {sh.max_record} bytes", size=len(payload),
                                limit=sh.max_record)
        if type(tx_uuid) is not uuid.UUID:
            raise StorageError(f"tx_uuid must be a uuid.UUID, not {type(tx_uuid).__name__}")
        ops, fd = self._ops, sh.log_fd
        if len(payload) <= sh.max_record - WM_SIZE:
            frame = rec.encode_frame(sh.seed, t, tx_uuid, payload,
                                     durable=min(sh.durable_end, end0))
        else:
            # An older build checks a body's length against the maximum before its CRC,
            # so it would take a version-2 frame this long for garbage (and could cut it
            # as a torn tail). Write version 1, which says every byte before it is
            # durable: make that true first.
            if sh.durable_end < end0:
                self._sync_log(sh, end0, f"before writing t={t}; the record was not written")
            frame = rec.encode_frame(sh.seed, t, tx_uuid, payload)
        end = end0 + len(frame)
        crashpoint("before-write")
        crashpoint("mid-write", lambda: write_all(ops, fd, frame[:len(frame) // 2], end0))
        try:
            write_all(ops, fd, frame, end0)
        except OSError as exc:
            sh.failed = f"write failed: {exc.strerror}"
            self._cut_failed_write(sh, end0, t)
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(f"no space left to append t={t} to {sh.log_path}; the "
                                    "record is not in the log. Free space and retry.",
                                    t=t) from exc
            raise StorageError(f"writing t={t} to {sh.log_path} failed ({exc.strerror}); the "
                               "record is incomplete, so not in the log", t=t) from exc
        crashpoint("after-write-before-fsync")
        if self.durability == "fsync":
            try:
                ops.fdatasync(fd)
            except OSError as exc:
                sh.failed = f"fdatasync failed: {exc.strerror}"
                raise TransactionOutcomeUnknown(
                    f"fdatasync of {sh.log_path} failed after writing t={t} ({exc.strerror}): "
                    "the record may or may not survive. Look for its tx uuid after the next "
                    "writer() re-opens the store.", t=t, tx_uuid=tx_uuid) from exc
            sh.durable_end = end
            self._try_marks(sh, raise_to=end)
        elif self.durability == "group":
            self._write_mark(sh, 8, end)
        with sh.state_lock:
            sh.register(t, end0, end)
            sh.cond.notify_all()
        sh.pending = end

    def _cut_failed_write(self, sh: _Shared, end0: int, t: int) -> None:
        """Cut what a failed write left after ``end0`` now (we hold the writer lock), so
        no reader or ``verify`` takes it for a crash's torn tail. Best effort: if the cut
        fails too, the next writer cuts it (the store is marked failed either way)."""
        try:
            if self._ops.fstat(sh.log_fd).st_size > end0:
                self._ops.ftruncate(sh.log_fd, end0)
        except OSError as exc:
            log.warning("%s: cannot cut the incomplete record t=%d at offset %d after a "
                        "failed write (%s); the next writer cuts it", sh.log_path, t, end0,
                        exc.strerror)

    # group commit ---------------------------------------------------------------------------
    def _read_marks(self, sh: _Shared) -> tuple[int, int, int]:
        """(durable end, written end, log inode) from the lock file; zeros if unreadable
        (which only costs an extra fsync)."""
        try:
            data = self._ops.read(sh.lock_fd, MARKS.size, 0)
        except OSError as exc:
            log.warning("cannot read the group-commit marks in %s: %s", sh.lock_path, exc)
            return 0, 0, 0
        if len(data) < MARKS.size:
            return 0, 0, 0
        durable, written, ino = MARKS.unpack(data)
        return durable, written, ino

    def _write_mark(self, sh: _Shared, offset: int, value: int) -> None:
        try:
            data = self._read_marks(sh)
            if data[2] != sh.log_ident[1]:
                write_all(self._ops, sh.lock_fd, MARKS.pack(0, 0, sh.log_ident[1]), 0)
            write_all(self._ops, sh.lock_fd, value.to_bytes(8, "little"), offset)
        except OSError as exc:  # marks only save fsyncs; losing one costs an extra sync
            log.warning("cannot update the group-commit marks in %s: %s", sh.lock_path, exc)

    def _reset_marks(self, sh: _Shared, end: int, synced: bool = False) -> None:
        """Lower the marks to ``end`` (the log was cut there, under the writer lock);
        ``synced``: the log was fdatasynced after the cut, so it is durable up to ``end``.
        The marks' writers hold ``sync_lock`` then flock on the log (threads of one
        process share that flock, so the mutex keeps them from unlocking each other)."""
        if sh.read_only:
            return
        with sh.sync_lock:
            self._ops.flock(sh.log_fd, fcntl.LOCK_EX)
            try:
                durable, written, ino = self._read_marks(sh)
                if ino != sh.log_ident[1]:
                    durable = written = 0
                durable = end if synced else min(durable, end)
                write_all(self._ops, sh.lock_fd,
                          MARKS.pack(durable, min(written, end), sh.log_ident[1]), 0)
            except OSError as exc:
                log.warning("cannot reset the group-commit marks in %s: %s", sh.lock_path, exc)
            finally:
                self._ops.flock(sh.log_fd, fcntl.LOCK_UN)
        sh.durable_end = end if synced else min(sh.durable_end, end)

    def _try_marks(self, sh: _Shared, raise_to: int | None = None) -> int | None:
        """Without waiting (None if another thread or process holds the marks): the
        durable mark of this log; with ``raise_to``, first raise it to that value
        (the caller just made the log durable up to there)."""
        if sh.read_only or not sh.sync_lock.acquire(blocking=False):
            return None
        ops = self._ops
        try:
            try:
                ops.flock(sh.log_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # busy (a group leader is syncing), or no lock: learn nothing
                return None
            try:
                durable, written, ino = self._read_marks(sh)
                if ino != sh.log_ident[1]:
                    durable = written = 0
                if raise_to is not None and raise_to > durable:
                    try:
                        write_all(ops, sh.lock_fd, MARKS.pack(raise_to, max(written, raise_to),
                                                              sh.log_ident[1]), 0)
                        durable = raise_to
                    except OSError as exc:
                        log.warning("cannot update the group-commit marks in %s: %s",
                                    sh.lock_path, exc)
                return durable
            finally:
                try:
                    ops.flock(sh.log_fd, fcntl.LOCK_UN)
                except OSError as exc:
                    log.warning("cannot unlock %s: %s", sh.log_path, exc)
        finally:
            sh.sync_lock.release()

    def _learn_durable(self, sh: _Shared) -> None:
        """Writer lock held, log verified to ``dense_end``: raise ``durable_end`` (the
        watermark the next records carry) to the durable mark other processes left,
        rounded down to a record boundary. A mark beyond the log is stale (from before
        a power failure, or a reset that failed): it is lowered to what this process
        knows. ``none`` mode never syncs, so it does not look."""
        sh.durable_end = min(sh.durable_end, sh.dense_end)
        if self.durability == "none" or sh.durable_end >= sh.dense_end:
            return
        mark = self._try_marks(sh)
        if mark is None or mark <= sh.durable_end:
            return
        if mark > sh.dense_end:
            self._reset_marks(sh, sh.durable_end)
            return
        i = bisect_right(sh.dense, mark)
        sh.durable_end = sh.dense[i - 1] if i else min(mark, HEADER_SIZE)

    def _sync_log(self, sh: _Shared, upto: int, what: str) -> None:
        """fdatasync the log, which makes it durable up to ``upto`` (the end of a record
        this process verified); a failure fails the store (R3)."""
        try:
            self._ops.fdatasync(sh.log_fd)
        except OSError as exc:
            sh.failed = f"fdatasync failed: {exc.strerror}"
            raise StorageError(f"fdatasync of {sh.log_path} failed ({exc.strerror}) {what}",
                               errno=exc.errno) from exc
        sh.durable_end = max(sh.durable_end, upto)
        self._try_marks(sh, raise_to=upto)

    def _group_sync(self, sh: _Shared, target: int) -> None:
        """Return once the log is durable up to ``target`` (leader/follower)."""
        ops = self._ops
        with sh.sync_lock:                       # threads of this process queue here
            if sh.durable_end >= target:
                return                           # a leader's fsync covered us
            if sh.failed is not None:
                raise TransactionOutcomeUnknown(
                    f"store {self.path} failed before the record ending at {target} was "
                    f"fsynced ({sh.failed}); it may or may not survive")
            with _io(f"cannot lock {sh.log_path} for group commit"):
                ops.flock(sh.log_fd, fcntl.LOCK_EX)  # processes queue here
            try:
                durable, written, ino = self._read_marks(sh)
                if ino == sh.log_ident[1] and durable >= target:
                    sh.durable_end = durable
                    return
                cover = max(written if ino == sh.log_ident[1] else 0, target)
                try:
                    ops.fdatasync(sh.log_fd)
                except OSError as exc:
                    sh.failed = f"fdatasync failed: {exc.strerror}"
                    raise TransactionOutcomeUnknown(
                        f"fdatasync of {sh.log_path} failed ({exc.strerror}): records up to "
                        f"offset {target} may or may not survive", offset=target) from exc
                sh.durable_end = cover
                self._write_mark(sh, 0, cover)
            finally:
                with _io(f"cannot unlock {sh.log_path}"):
                    ops.flock(sh.log_fd, fcntl.LOCK_UN)

    # Snapshots ------------------------------------------------------------------------------
    def save_snapshot(self, t: int, payload: bytes) -> None:
        """Write ``snapshot-<t>.snap`` atomically (tmp, fsync, rename, fsync dir); keep 3.

        :raises StorageError: t is not in 1..head, or the write failed (the previous
            snapshots are untouched).
        """
        sh = self._shared()
        if sh.read_only:
            raise StorageError(f"store {self.path} is opened read-only; cannot save a snapshot")
        ops = self._ops
        anchor = None
        if t >= 1:
            for r in self.read_after(t - 1):
                with _io(f"cannot read {sh.log_path}"):
                    head = ops.read(sh.log_fd, FRAME_SIZE, r.offset)
                _m, _k, length, _t, _u, crc = FRAME.unpack(head)
                anchor = (r.offset, crc, r.offset + FRAME_SIZE + length)
                break
        if anchor is None:
            raise StorageError(f"snapshot at t={t} of {self.path}: t must be in 1..head "
                               f"({self.head()})", t=t)
        if sh.durable_end < anchor[2]:
            # A snapshot never anchors on records a power failure could still lose
            # (out of order: it would load records past a hole the next writer cuts).
            mark = self._try_marks(sh)
            if mark is None or mark < anchor[2]:
                self._sync_log(sh, anchor[2], f"before saving the snapshot at t={t}")
        body = SNAP_HEADER.pack(SNAP_MAGIC, SNAP_VERSION, 0, SNAP_HEADER_SIZE,
                                sh.header.db_uuid.bytes, t, anchor[0], anchor[1],
                                zlib.crc32(payload), len(payload), time.time_ns() // 1000, 0)
        head_bytes = body[:-4] + zlib.crc32(body[:-4]).to_bytes(4, "little")
        final = os.path.join(sh.dir, _snapshot_name(t))
        tmp = os.path.join(sh.dir, f".snapshot-{t:020d}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = ops.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                write_all(ops, fd, head_bytes, 0)
                write_all(ops, fd, payload, SNAP_HEADER_SIZE)
                ops.fsync(fd)
            finally:
                ops.close(fd)
            crashpoint("snapshot-tmp-written")
            ops.rename(tmp, final)
            crashpoint("snapshot-renamed")
            ops.fsync_dir(sh.dir)
        except OSError as exc:
            _unlink_quietly(ops, tmp)
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(f"no space to save the snapshot at t={t} in {sh.dir}") from exc
            raise StorageError(f"cannot save the snapshot at t={t} in {sh.dir}: "
                               f"{exc.strerror}") from exc
        self._prune_snapshots(sh)

    def _prune_snapshots(self, sh: _Shared) -> None:
        ops = self._ops
        try:
            names = ops.listdir(sh.dir)
        except OSError as exc:
            log.warning("cannot list %s to prune snapshots: %s", sh.dir, exc)
            return
        snaps = sorted((t, n) for n in names if (t := _snapshot_t(n)) is not None)
        for _t, n in snaps[:-KEEP_SNAPSHOTS]:
            _unlink_quietly(ops, os.path.join(sh.dir, n))
        now = time.time()
        for n in names:
            if n.startswith(".snapshot-") and n.endswith(".tmp") or n.startswith("log.tmp."):
                p = os.path.join(sh.dir, n)
                try:
                    if now - ops.stat(p).st_mtime > _STALE_TMP_SECONDS:
                        _unlink_quietly(ops, p)
                except OSError:
                    continue  # another process removed it first

    def load_snapshot(self) -> tuple[int, bytes] | None:
        """The newest valid snapshot (module doc); bad ones are logged and skipped.

        Remembers the snapshot's anchor so ``read_after(t)`` starts there without
        scanning the log before it. O(snapshot size + anchor record size).
        """
        sh = self._shared()
        ops = self._ops
        try:
            names = ops.listdir(sh.dir)
        except OSError as exc:
            raise StorageError(f"cannot list {sh.dir}: {exc.strerror}") from exc
        snaps = sorted(((t, n) for n in names if (t := _snapshot_t(n)) is not None),
                       reverse=True)
        with _io(f"cannot stat {sh.log_path}"):
            size = self._size(sh)
        for t_name, n in snaps:
            try:
                t, payload, anchor_end = _read_snapshot(ops, os.path.join(sh.dir, n),
                                                        sh.header, sh.log_fd, size)
                if t != t_name:
                    raise _BadSnapshot(f"its header says t={t}, its name t={t_name}")
            except _BadSnapshot as exc:
                log.warning("ignoring snapshot %s: %s", os.path.join(sh.dir, n), exc)
                continue
            except OSError as exc:
                log.warning("ignoring snapshot %s: %s", os.path.join(sh.dir, n), exc)
                continue
            with sh.state_lock:
                known = sh.end_of(t)
                if known is None and t > sh.frontier[0]:
                    sh.upper_base, sh.upper = (t, anchor_end), array("q")
                elif known is not None and known != anchor_end:
                    log.warning("ignoring snapshot %s: its record t=%d ends at %d, the log "
                                "says %d", n, t, anchor_end, known)
                    continue
            return t, payload
        return None

    # Waiting and closing ------------------------------------------------------------------------
    def wait(self, after_t: int, timeout: float) -> bool:
        """Stat-polling (0.5 ms, doubling to 5 ms; no inotify); appends through this
        process wake it at once through a Condition."""
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            if self.head() > after_t:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sh = self._sh
            with sh.cond:
                if sh.frontier[0] <= after_t:
                    sh.cond.wait(min(delay, left))
            delay = min(delay * 2, 0.005)

    def close(self) -> None:
        """Release this handle; the last handle of the process closes the descriptors
        (which releases nothing held by another handle: they share one lock fd)."""
        if self._closed:
            return
        self._closed = True
        sh = self._sh
        if sh.pid != os.getpid():
            return
        with _registry_lock:
            sh.refs -= 1
            if sh.refs > 0 or sh.closed:
                return
            sh.closed = True
            if _registry.get(sh.key) is sh:
                del _registry[sh.key]
        for fd in (sh.log_fd, sh.lock_fd):
            try:
                self._ops.close(fd)
            except OSError as exc:
                log.warning("closing a descriptor of %s: %s", self.path, exc)

    @property
    def db_uuid(self) -> uuid.UUID:
        return self._sh.header.db_uuid

    @property
    def failed(self) -> str | None:
        """Why the store is failed (a write or fsync error), or None."""
        return self._sh.failed

    def __repr__(self) -> str:
        return f"FileStore({self.uri!r}, durability={self.durability!r})"


class _WriterSession:
    """The context manager ``FileStore.writer()`` returns."""

    def __init__(self, store: FileStore, timeout: float | None) -> None:
        self.store, self.timeout = store, timeout

    def __enter__(self) -> int:
        return self.store._enter_writer(self.timeout)

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        self.store._exit_writer(et is not None)


def _is_dir(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode)


def _open_regular(ops: FileOps, path: str, flags: int) -> int:
    """Open ``path`` only if it is a regular file (not a symlink, FIFO or device).

    ``O_NOFOLLOW | O_NONBLOCK`` make the open itself safe (a FIFO opens without
    waiting for a writer); ``fstat`` then checks what was opened.

    :raises OSError: the open failed, or (``EINVAL``) the path is no regular file.
    """
    try:
        fd = ops.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "is a symbolic link, not a regular file",
                          path) from exc
        raise
    try:
        mode = ops.fstat(fd).st_mode
    except BaseException:
        ops.close(fd)
        raise
    if not stat.S_ISREG(mode):
        ops.close(fd)
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
                or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else
                "a directory" if stat.S_ISDIR(mode) else "not a regular file")
        raise OSError(errno.EINVAL, f"is {kind}, not a regular file", path)
    return fd


def _is_ours(name: str) -> bool:
    return (name in _KNOWN_NAMES or name.startswith(("log.tmp.", ".snapshot-"))
            or _snapshot_t(name) is not None)


def _unlink_quietly(ops: FileOps, path: str) -> None:
    try:
        ops.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc)


# --- verify ----------------------------------------------------------------------------------

@dataclass
class VerifyReport:
    """What :func:`verify` found; ``summary()`` is the printable form."""

    path: str
    ok: bool = False
    db_uuid: uuid.UUID | None = None
    format_version: int | None = None
    records: int = 0
    last_t: int = 0
    end_offset: int = 0
    file_size: int = 0
    torn_tail_bytes: int = 0
    #: valid records inside the torn tail, written before its first record was durable
    torn_tail_records: int = 0
    corruption: dict[str, Any] | None = None
    snapshots_checked: int = 0
    snapshots_bad: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.path}: {'OK' if self.ok else 'PROBLEMS FOUND'}"]
        if self.db_uuid is not None:
            lines.append(f"  database {self.db_uuid}, log format {self.format_version}")
        lines.append(f"  {self.records} records, last t={self.last_t}, "
                     f"{self.end_offset} of {self.file_size} bytes verified")
        if self.torn_tail_bytes and self.torn_tail_records:
            lines.append(f"  torn tail: {self.torn_tail_bytes} bytes after offset "
                         f"{self.end_offset}: a record lost by a crash before it was synced, "
                         f"then {self.torn_tail_records} valid record(s) written before it was "
                         "durable (kept out of order); none was acknowledged as durable. "
                         "Readers stop at the lost record; the next writer cuts it all")
        elif self.torn_tail_bytes:
            lines.append(f"  torn tail: {self.torn_tail_bytes} bytes after offset "
                         f"{self.end_offset} (a crash mid-write; the next writer cuts it)")
        lines.append(f"  snapshots: {self.snapshots_checked} checked, "
                     f"{len(self.snapshots_bad)} bad")
        for name, why in self.snapshots_bad:
            lines.append(f"    {name}: {why}")
        for p in self.problems:
            lines.append(f"  problem: {p}")
        return "\n".join(lines)

    __str__ = summary


def verify(path: str, decode: bool = True, fileops: FileOps | None = None) -> VerifyReport:
    """Check every record and snapshot of a store without changing anything.

    ``path`` is the store directory (or its ``log`` file). Takes no lock: run
    it while writers work and a write in progress may show as a torn tail.
    ``decode`` also decodes every payload with ``record.decode_tx``.
    ``ok`` is False on a bad header, mid-log corruption, an unknown record kind,
    an undecodable payload, or a bad snapshot; a torn tail alone is reported
    but is not a failure (readers stop there, the next writer cuts it).

    Runtime complexity: O(log size + snapshot sizes).
    """
    ops = fileops if fileops is not None else FileOps()
    d = os.path.abspath(path)
    if os.path.basename(d) == "log" and not os.path.isdir(d):
        d = os.path.dirname(d)
    report = VerifyReport(path=d)
    log_path = os.path.join(d, "log")
    try:
        fd = _open_regular(ops, log_path, os.O_RDONLY)
    except OSError as exc:
        report.problems.append(f"cannot open {log_path}: {exc.strerror}")
        return report
    try:
        size = ops.fstat(fd).st_size
        report.file_size = size
        try:
            header = decode_header(ops.read(fd, HEADER_SIZE, 0), log_path)
        except StorageError as exc:
            report.problems.append(exc.message)
            return report
        report.db_uuid, report.format_version = header.db_uuid, header.format_version
        scan = _Scanner(ops, fd, header.seed, header.max_record_bytes, HEADER_SIZE, 1, size,
                        payloads=decode)
        for t, _ub, payload, start, end in scan:
            if decode:
                try:
                    rec.decode_tx(payload)
                except StorageError as exc:
                    report.problems.append(f"record t={t} at offset {start}: {exc.message}")
            report.records += 1
            report.last_t, report.end_offset = t, end
        stop = scan.stop
        assert stop is not None
        report.end_offset = stop.offset
        if stop.reason == "kind":
            report.problems.append(f"record at offset {stop.offset} is of an unknown kind "
                                   "(written by a newer fact-store)")
        elif stop.reason == "sequence" and stop.found_t is not None and stop.found_t > stop.t:
            report.corruption = {"offset": stop.offset, "t": stop.t, "reason": "gap"}
        elif stop.reason != "eof":
            after = _frames_after(ops, fd, header.seed, header.max_record_bytes, stop.offset,
                                  stop.t, size)
            found = after.evidence
            if found is None:
                report.torn_tail_bytes = size - stop.offset
                report.torn_tail_records = after.unsynced
            else:
                report.corruption = {"offset": stop.offset, "t": stop.t,
                                     "reason": stop.reason, "next_valid_offset": found[0]}
        if report.corruption is not None:
            c = report.corruption
            report.problems.append(f"mid-log corruption: record t={c['t']} at offset "
                                   f"{c['offset']} is {_REASONS.get(c['reason'], 'missing')} "
                                   + ("and valid records follow" if c["reason"] == "gap" else
                                      "and valid records written after it was durable follow"))
        try:
            names = ops.listdir(d)
        except OSError as exc:
            report.problems.append(f"cannot list {d}: {exc.strerror}")
            names = []
        for n in sorted(names):
            t = _snapshot_t(n)
            if t is None:
                continue
            report.snapshots_checked += 1
            try:
                st, _payload, _end = _read_snapshot(ops, os.path.join(d, n), header, fd,
                                                    stop.offset)
                if st != t:
                    raise _BadSnapshot(f"its header says t={st}")
            except (_BadSnapshot, OSError) as exc:
                report.snapshots_bad.append((n, str(exc)))
    finally:
        ops.close(fd)
    report.ok = not report.problems and not report.snapshots_bad
    return report
