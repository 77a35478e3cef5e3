"""FaultyFS: I/O errors (F-08), failed fsync (R3), simulated power loss (F-04), in-process."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
from faultyfs import Fault, FaultyFS
from log_harness import SOAK, make_payload, parse_payload

from fact_store.errors import (DiskFullError, StorageError, TransactionOutcomeUnknown)
from fact_store.log import verify
from fact_store.log.fileops import FileOps
from fact_store.log.file import FileStore


class PowerLoss(BaseException):
    """Raised by a FaultyFS at the chosen operation: everything stops there."""


class CrashingFS(FaultyFS):
    """Power fails at the ``crash_at``-th call of ``crash_op`` (``"any"``: of any op)."""

    def __init__(self, crash_op: str, crash_at: int, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.crash_op, self.crash_at = crash_op, crash_at

    def _check(self, op: str, path: str | None = None) -> str | None:
        if (self.crash_op in (op, "any")
                and self.calls[self.crash_op] + 1 >= self.crash_at):
            raise PowerLoss(op)
        return super()._check(op, path)


def _append(s: FileStore, payload: bytes, u: uuid.UUID | None = None) -> int:
    with s.writer() as head:
        s.append(head + 1, u or uuid.uuid4(), payload)
    return head + 1


def _reopen_and_check(d: Path, acked: dict[int, bytes], attempted: dict[uuid.UUID, bytes]
                      ) -> FileStore:
    s = FileStore(str(d))
    with s.writer() as head:
        pass
    records = list(s.read_after(0))
    assert [r.t for r in records] == list(range(1, head + 1))
    for t, payload in acked.items():
        assert records[t - 1].payload == payload, f"acknowledged t={t} lost"
    for r in records:  # whatever is there is whole and was really attempted
        assert attempted[r.tx_uuid] == r.payload
        parse_payload(r.payload)
    report = verify(str(d), decode=False)
    assert report.ok and report.torn_tail_bytes == 0, report.summary()
    return s


# --- single faults ---------------------------------------------------------------------------

def test_a_failed_fdatasync_is_never_acknowledged_and_the_next_writer_recovers(tmp_path: Path
                                                                              ) -> None:
    d = tmp_path / "db"
    ops = FaultyFS([Fault("fdatasync", 4, "eio")])
    s = FileStore(str(d), fileops=ops)
    _append(s, b"one")  # the creation fsyncs are fsync/fsync_dir, not fdatasync
    _append(s, b"two")
    _append(s, b"three")
    u = uuid.uuid4()
    with pytest.raises(TransactionOutcomeUnknown, match="may or may not survive"):
        with s.writer() as head:
            try:
                s.append(head + 1, u, b"four")
            finally:
                with pytest.raises(StorageError, match="failed earlier"):
                    s.append(head + 1, uuid.uuid4(), b"again")
    assert s.failed is not None and "fdatasync failed" in s.failed
    with s.writer() as head:  # re-opens, re-verifies, fsyncs: the record is there
        assert head == 4
        assert s.failed is None
    assert [r.tx_uuid for r in s.read_after(3)] == [u]
    assert _append(s, b"five") == 5
    s.close()
    assert verify(str(d), decode=False).ok


@pytest.mark.parametrize("kind,error", [("eio", StorageError), ("enospc", DiskFullError)])
def test_a_failed_write_leaves_no_record_and_the_next_writer_cuts_the_rest(
        tmp_path: Path, kind: str, error: type[Exception]) -> None:
    d = tmp_path / "db"
    ops = FaultyFS([Fault("pwrite", 2, "short"), Fault("pwrite", 3, kind)], only_paths=("log",))
    s = FileStore(str(d), fileops=ops)
    _append(s, b"x" * 100)
    with pytest.raises(error, match="not in the log|no space"):
        _append(s, b"y" * 1000)  # half written, then the error
    assert (d / "log").stat().st_size > 64 + 37 + 100  # a torn half-record is on disk
    assert s.head() == 1
    assert _append(s, b"z") == 2  # the next writer cut the half-record first
    assert [r.payload for r in s.read_after(0)] == [b"x" * 100, b"z"]
    s.close()
    assert verify(str(d), decode=False).ok


def test_a_transient_short_write_is_completed(tmp_path: Path) -> None:
    ops = FaultyFS([Fault("pwrite", 1, "short")], only_paths=("log",))
    s = FileStore(str(tmp_path / "db"), fileops=ops)
    _append(s, b"whole" * 100)
    assert ops.tripped and [r.payload for r in s.read_after(0)] == [b"whole" * 100]
    s.close()


def test_io_errors_while_reading_are_storage_errors(tmp_path: Path) -> None:
    d = tmp_path / "db"
    s = FileStore(str(d))
    _append(s, b"a")
    s.close()
    ops = FaultyFS([Fault("read", 2, "eio", persistent=True)])
    s = FileStore(str(d), fileops=ops)
    with pytest.raises(StorageError, match="cannot read"):
        s.head()
    with pytest.raises(StorageError, match="cannot read"):
        list(s.read_after(0))
    with pytest.raises(StorageError, match="cannot catch up"):
        with s.writer():
            pass
    ops.clear_faults()
    assert s.head() == 1
    s.close()


# --- F-08: every operation index × error kind × persistence -----------------------------------

def _workload(s_factory: "callable[[], FileStore]", n: int, acked: dict[int, bytes],
              attempted: dict[uuid.UUID, bytes], rng: random.Random) -> list[BaseException]:
    """Append n records; on an error, note it and go on (the next writer() re-opens)."""
    errors: list[BaseException] = []
    s = None
    for i in range(n):
        try:
            if s is None:
                s = s_factory()
            payload = make_payload(0, i, rng.choice((30, 300, 3000)), rng)
            u = uuid.UUID(int=rng.getrandbits(128))
            attempted[u] = payload
            t = _append(s, payload, u)
            acked[t] = payload
            if i == n // 2:
                s.save_snapshot(t, b"snap")
        except StorageError as exc:
            errors.append(exc)
        except OSError as exc:  # pragma: no cover - the bug this test exists to catch
            raise AssertionError(f"bare OSError escaped: {exc!r}") from exc
    if s is not None:
        s.close()
    return errors


def test_every_io_operation_failing_never_loses_or_falsely_acknowledges(tmp_path: Path) -> None:
    n_records = 8
    probe = FaultyFS()
    _workload(lambda: FileStore(str(tmp_path / "probe"), fileops=probe), n_records, {}, {},
              random.Random(0))
    totals = dict(probe.calls)
    cases = []
    for persistent in (False, True):
        for i in range(1, totals["any"] + 1):
            for kind in ("eio", "enospc"):
                cases.append(Fault("any", i, kind, persistent))
        for i in range(1, totals["pwrite"] + 1):
            cases.append(Fault("pwrite", i, "short", persistent))
        for i in range(1, totals["fdatasync"] + 1):
            cases.append(Fault("fdatasync", i, "eio", persistent))
    failures = 0
    for k, fault in enumerate(cases):
        d = tmp_path / f"case{k}"
        ops = FaultyFS([fault])
        acked: dict[int, bytes] = {}
        attempted: dict[uuid.UUID, bytes] = {}
        rng = random.Random(k)
        errors = _workload(lambda: FileStore(str(d), fileops=ops), n_records, acked, attempted,
                           rng)
        failures += bool(errors)
        ops.clear_faults()  # the disk recovers; later writes must work
        if d.exists() and (d / "log").exists():
            _reopen_and_check(d, acked, attempted).close()
            s = FileStore(str(d), fileops=ops)
            _append(s, make_payload(1, 0, 50))
            s.close()
    assert failures > len(cases) // 2, "faults were not injected often enough"
    print(f"F-08 cases={len(cases)} with_errors={failures} violations=0")


# --- F-04: simulated power loss ----------------------------------------------------------------

@pytest.mark.parametrize("durability,device", [("fsync", "random"), ("group", "sequential"), ("group", "random"),
                                               ("none", "sequential")])
def test_power_loss_at_any_operation_keeps_every_acknowledged_record(
        tmp_path: Path, durability: str, device: str) -> None:
    runs = 2000 if SOAK else 120
    rng = random.Random(hash((durability, device)) & 0xFFFF)
    torn = 0
    for k in range(runs):
        d = tmp_path / f"run{k}"
        n = rng.randrange(1, 12)
        if rng.random() < 0.5:  # power fails just as data is about to be synced
            ops = CrashingFS("fdatasync", rng.randrange(1, n + 1), track_unsynced=True)
        else:
            ops = CrashingFS("any", rng.randrange(1, 150), track_unsynced=True)
        acked: dict[int, bytes] = {}
        attempted: dict[uuid.UUID, bytes] = {}
        try:
            s = FileStore(str(d), durability=durability, fileops=ops)
            for i in range(n):
                payload = make_payload(0, i, rng.choice((20, 400, 5000)), rng)
                u = uuid.UUID(int=rng.getrandbits(128))
                attempted[u] = payload
                t = _append(s, payload, u)
                acked[t] = payload
            s.close()
        except PowerLoss:
            pass
        fates = ops.crash(rng, device=device)
        torn += fates["garbage"] + fates["drop"] > 0
        if not (d / "log").exists():
            continue  # died before the log was created: nothing was acknowledged
        if durability == "none":
            acked = {}  # 'none' promises only some prefix after an OS crash
        _reopen_and_check(d, acked, attempted).close()
    assert torn > runs // 10, "power loss rarely hit unsynced data"
    print(f"F-04 mode={durability} device={device} crashes={runs} lossy={torn} violations=0")


def test_fileops_is_the_only_door(tmp_path: Path) -> None:
    """Every data-file syscall of a workload goes through FileOps (the seam is complete)."""
    class Counting(FileOps):
        def __init__(self) -> None:
            self.n = 0

        def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
            self.n += 1
            return super().pwrite(fd, data, offset)

    ops = Counting()
    s = FileStore(str(tmp_path / "db"), fileops=ops)
    _append(s, b"a")
    s.save_snapshot(1, b"s")
    s.close()
    assert ops.n >= 3  # header, record, snapshot
