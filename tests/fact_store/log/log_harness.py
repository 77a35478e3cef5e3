"""Reusable pieces for the storage tests: ack journals, writer subprocesses, checks.

RELIABILITY.md T2: every writer process appends ``t tx_uuid digest`` to its
**ack journal** and fsyncs it *after* ``append`` returned (and the writer
block exited): the journal is the ground truth of what was acknowledged.
After a crash, :func:`check_store` reopens the store as a writer (cutting any
torn tail), reads every record and asserts that every acknowledged record is
present at its t with the same uuid and payload digest, t is contiguous from 1,
and ``verify`` is clean.

:func:`run_worker` is the writer loop; :func:`spawn_worker` runs it in a fresh
interpreter (``log_worker.py``, for crash points set through the environment),
:func:`fork_worker` in a forked child (fast, for kill loops). Payloads are :func:`make_payload` — self-describing, so a record can
be checked without its journal line.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import random
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from fact_store.log import crash, open_store, verify
from fact_store.log.base import RawRecord
from fact_store.log.file import FileStore

HERE = Path(__file__).resolve().parent
WORKER = HERE / "log_worker.py"
SOAK = os.environ.get("RELIABILITY_SOAK") == "1"

_PAYLOAD_HEAD = struct.Struct("<4sIIQ")  # magic, worker, seq, body length


def make_payload(worker: int, seq: int, size: int, rng: random.Random | None = None) -> bytes:
    """A payload of ``size`` bytes (at least 20) that names its writer and sequence."""
    body_len = max(size - _PAYLOAD_HEAD.size, 0)
    r = rng or random.Random(worker * 1_000_003 + seq)
    return _PAYLOAD_HEAD.pack(b"PAYL", worker, seq, body_len) + r.randbytes(body_len)


def parse_payload(payload: bytes) -> tuple[int, int]:
    """``(worker, seq)`` of a :func:`make_payload` payload; asserts it is whole."""
    magic, worker, seq, body_len = _PAYLOAD_HEAD.unpack_from(payload)
    assert magic == b"PAYL" and len(payload) == _PAYLOAD_HEAD.size + body_len, "partial payload"
    return worker, seq


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class AckJournal:
    """Append-only, fsynced lines ``t tx_uuid digest``; a torn last line is ignored."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.fd: int | None = None

    def ack(self, t: int, tx_uuid: uuid.UUID, payload: bytes) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self.fd, f"{t} {tx_uuid} {digest(payload)}\n".encode())
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    @staticmethod
    def read(path: str | Path) -> list[tuple[int, uuid.UUID, str]]:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.split("\n")[:-1]:  # the part after the last newline is torn
            t, u, d = line.split()
            out.append((int(t), uuid.UUID(u), d))
        return out


def run_worker(uri: str, journal: str | Path, *, worker: int = 0, count: int = 100,
               sizes: str = "64", seed: int = 0, snapshot_every: int = 0, hold: float = 0.0,
               crash_at: str | None = None) -> int:
    """The writer loop (in this process): ``count`` appends (0 = until killed), each in
    its own ``writer()`` block, acknowledged in the journal after the block exited."""
    if crash_at is not None:
        crash.configure(crash_at)
    rng = random.Random(seed * 7919 + worker)
    size_list = [int(s) for s in sizes.split(",")]
    store = open_store(uri)
    j = AckJournal(journal)
    n = 0
    while count == 0 or n < count:
        payload = make_payload(worker, n, rng.choice(size_list), rng)
        tx_uuid = uuid.UUID(int=rng.getrandbits(128))
        with store.writer() as head:
            t = head + 1
            store.append(t, tx_uuid, payload)
            if hold:
                time.sleep(hold)
        j.ack(t, tx_uuid, payload)
        n += 1
        if snapshot_every and n % snapshot_every == 0:
            store.save_snapshot(t, b"snapshot at %d" % t)
    j.close()
    store.close()
    return n


def fork_worker(uri: str, journal: str | Path, **kw: object) -> multiprocessing.Process:
    """:func:`run_worker` in a forked child: a real process that starts in milliseconds
    (a fresh interpreter spends ~0.5 s importing the fact_store package)."""
    proc = _FORK.Process(target=_forked, args=(uri, str(journal)), kwargs=kw, daemon=True)
    proc.start()
    return proc


def _forked(uri: str, journal: str, **kw: object) -> None:
    logging.getLogger("fact_store.log.file").setLevel(logging.ERROR)
    run_worker(uri, journal, **kw)  # type: ignore[arg-type]
    os._exit(0)


_FORK = multiprocessing.get_context("fork")


def spawn_worker(uri: str, journal: str | Path, *, worker: int = 0, count: int = 100,
                 sizes: str = "64", seed: int = 0, crash_at: str | None = None,
                 snapshot_every: int = 0, hold: float = 0.0) -> subprocess.Popen[bytes]:
    """Start ``log_worker.py``: ``count`` appends (0 = until killed).

    ``sizes`` is a comma list of payload sizes picked at random (``"64,2000000"``).
    """
    env = dict(os.environ)
    env.pop("FACTSTORE_CRASH_AT", None)
    if crash_at:
        env["FACTSTORE_CRASH_AT"] = crash_at
    args = [sys.executable, str(WORKER), uri, str(journal), "--worker", str(worker),
            "--count", str(count), "--sizes", sizes, "--seed", str(seed),
            "--snapshot-every", str(snapshot_every), "--hold", str(hold)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@dataclass
class CheckResult:
    records: list[RawRecord]
    acked: int
    torn_tail_before: int


class _TornTailCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.bytes = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "cutting a torn tail" in record.getMessage():
            self.bytes += int(record.args[1])  # type: ignore[index]


def check_store(path: str | Path, journals: list[str | Path]) -> CheckResult:
    """Reopen after a crash and check A1/A2 (module doc). Returns what it saw.

    Works while other writers keep running: the journals are read first (an ack
    found then must already be in the log), and the records and ``verify`` are
    read while holding the writer lock.
    """
    acks = [a for j in journals for a in AckJournal.read(j)]
    counter = _TornTailCounter()
    file_log = logging.getLogger("fact_store.log.file")
    file_log.addHandler(counter)
    store = FileStore(str(path))
    try:
        with store.writer() as head:  # cuts a torn tail; LogCorrupted fails the check
            records = list(store.read_after(0))
            report = verify(str(path), decode=False)
    finally:
        store.close()
        file_log.removeHandler(counter)
    assert report.ok and report.torn_tail_bytes == 0, report.summary()
    assert [r.t for r in records] == list(range(1, head + 1)), "t is not contiguous from 1"
    by_t = {r.t: r for r in records}
    uuids = [r.tx_uuid for r in records]
    assert len(set(uuids)) == len(uuids), "a tx uuid appears twice"
    for t, u, d in acks:
        r = by_t.get(t)
        assert r is not None, f"acknowledged t={t} ({u}) is missing (head {head})"
        assert r.tx_uuid == u and digest(r.payload) == d, f"t={t} is not the acked record"
    for r in records:
        parse_payload(r.payload)  # every record is whole
    return CheckResult(records, len(acks), counter.bytes)


# --- log mutilation (RELIABILITY.md T4) -------------------------------------------------------

def flip_bit(path: str | Path, offset: int, bit: int = 0) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ (1 << bit)]))


def append_bytes(path: str | Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def truncate(path: str | Path, size: int) -> None:
    os.truncate(path, size)


def record_spans(path: str | Path) -> list[tuple[int, int, int]]:
    """``(t, start, end)`` of every valid record, read with the store's own scanner."""
    store = FileStore(str(path))
    try:
        spans = []
        data = (Path(path) / "log").read_bytes()
        for r in store.read_after(0):
            length = int.from_bytes(data[r.offset + 5:r.offset + 9], "little")  # the body
            spans.append((r.t, r.offset, r.offset + 37 + length))
        return spans
    finally:
        store.close()
