"""file.py: format checks, recovery rules (torn tail, corruption), snapshots, locks, URIs."""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from faultyfs import FaultyFS
from log_harness import (append_bytes, file_hash, flip_bit, make_payload, record_spans,
                         truncate)

from fact_store.errors import (ConfigurationError, LockTimeout, LogCorrupted, NotAFactStore,
                               StorageError, StoreMoved, UnsupportedFormat)
from fact_store.log import open_store, verify
from fact_store.log import record as rec
from fact_store.log.file import (FORMAT_VERSION, HEADER_SIZE, FileStore, encode_header,
                                 _snapshot_name)
from fact_store.log.memory import MemoryStore


def make_log(path: Path, n: int, sizes: tuple[int, ...] = (30, 200, 5000), seed: int = 1
             ) -> list[bytes]:
    rng = random.Random(seed)
    s = FileStore(str(path))
    payloads = []
    with s.writer() as head:
        for i in range(n):
            p = make_payload(0, i, rng.choice(sizes), rng)
            s.append(head + 1 + i, uuid.UUID(int=rng.getrandbits(128)), p)
            payloads.append(p)
    s.close()
    return payloads


def append_one(s: FileStore, payload: bytes = b"new") -> int:
    with s.writer() as head:
        s.append(head + 1, uuid.uuid4(), payload)
    return head + 1


# --- URIs and creation -------------------------------------------------------------------------

def test_file_uri_forms_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = open_store("file:rel/db?durability=group&lock_timeout=2.5")
    assert isinstance(rel, FileStore) and rel.path == str(tmp_path / "rel" / "db")
    assert rel.durability == "group" and rel.lock_timeout == 2.5
    rel.close()
    for uri in (f"file://{tmp_path}/abs", f"file://localhost{tmp_path}/abs", f"file:{tmp_path}/abs"):
        s = open_store(uri)
        assert isinstance(s, FileStore) and s.path == str(tmp_path / "abs") and s.uri == uri
        s.close()
    none = open_store(f"file:{tmp_path}/abs?durability=os")
    assert isinstance(none, FileStore) and none.durability == "none"
    none.close()


@pytest.mark.parametrize("uri,match", [
    ("file:", "has no path"),
    ("file:x?durability=sometimes", "durability='sometimes'"),
    ("file:x?colour=red", 'unknown option "colour"'),
    ("file:x?lock_timeout=soon", "could not convert"),
    ("file://otherhost/x", 'names host "otherhost"'),
    ("sqlite:x", "expected mem:, mem:NAME, file:PATH"),
])
def test_bad_uris_raise_configuration_error_naming_the_uri(uri: str, match: str,
                                                            tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=match):
        open_store(uri)


def test_postgresql_uris_go_to_the_postgres_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    import types
    fake = types.ModuleType("fact_store.log.postgres")
    fake.open_store = lambda uri: ("opened", uri)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fact_store.log.postgres", fake)
    assert open_store("postgresql://h/db") == ("opened", "postgresql://h/db")
    assert open_store("postgres://h/db") == ("opened", "postgres://h/db")


def test_mem_names_share_state_and_bare_mem_is_fresh() -> None:
    a, b = open_store("mem:shared-x"), open_store("mem:shared-x")
    with a.writer() as h:
        a.append(h + 1, uuid.uuid4(), b"x")
    assert b.head() == 1
    assert open_store("mem:").head() == 0 and isinstance(open_store("mem:"), MemoryStore)


def test_store_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        s = FileStore(str(tmp_path / "db"))
        append_one(s)
        s.save_snapshot(1, b"snap")
        s.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "db").st_mode) == 0o700
    for name in os.listdir(tmp_path / "db"):
        assert stat.S_IMODE(os.stat(tmp_path / "db" / name).st_mode) == 0o600, name


def test_a_plain_file_is_not_a_store_and_is_left_untouched(tmp_path: Path) -> None:
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(NotAFactStore, match="not a fact-store directory"):
        open_store(f"file:{csv}")
    assert csv.read_text() == "a,b\n1,2\n"


def test_a_directory_of_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NotAFactStore, match="holds other files"):
        open_store(f"file:{tmp_path}")
    assert sorted(os.listdir(tmp_path)) == ["lock", "notes.txt"] or \
        sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_foreign_log_file_is_never_modified(tmp_path: Path) -> None:
    d = tmp_path / "db"
    d.mkdir()
    (d / "log").write_bytes(b"id,name\n" + b"1,x\n" * 100)
    before = file_hash(d / "log")
    with pytest.raises(NotAFactStore, match="not a fact-store log"):
        open_store(f"file:{d}")
    assert file_hash(d / "log") == before
    assert not verify(str(d)).ok


def test_a_newer_format_version_is_refused_and_untouched(tmp_path: Path) -> None:
    make_log(tmp_path / "db", 3)
    log = tmp_path / "db" / "log"
    data = bytearray(log.read_bytes())
    data[:HEADER_SIZE] = encode_header(uuid.uuid4(), 0, 16 << 20, version=FORMAT_VERSION + 1)
    log.write_bytes(bytes(data))
    before = file_hash(log)
    with pytest.raises(UnsupportedFormat, match="format version 2; this build reads version 1"):
        open_store(f"file:{tmp_path / 'db'}")
    assert file_hash(log) == before


def test_a_header_cut_short_or_damaged_is_refused_and_untouched(tmp_path: Path) -> None:
    make_log(tmp_path / "db", 2)
    log = tmp_path / "db" / "log"
    whole = log.read_bytes()
    for cut in (1, 8, 30, HEADER_SIZE - 1):
        log.write_bytes(whole[:cut])
        with pytest.raises(LogCorrupted, match="header is cut short"):
            FileStore(str(tmp_path / "db"))
        assert log.read_bytes() == whole[:cut]
    log.write_bytes(whole)
    flip_bit(log, 30)
    with pytest.raises(LogCorrupted, match="header fails its CRC"):
        FileStore(str(tmp_path / "db"))


def test_hard_linked_log_is_refused(tmp_path: Path) -> None:
    make_log(tmp_path / "db", 1)
    os.link(tmp_path / "db" / "log", tmp_path / "other-log")
    with pytest.raises(StorageError, match="2 hard links"):
        FileStore(str(tmp_path / "db"))


def test_a_network_filesystem_is_refused_unless_told_to_warn(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    with pytest.raises(ConfigurationError, match="nfs filesystem"):
        FileStore(str(tmp_path / "db"), fileops=FaultyFS(statfs_type=0x6969))
    with caplog.at_level(logging.WARNING):
        s = FileStore(str(tmp_path / "db"), network_fs="warn", fileops=FaultyFS(statfs_type=0x65735546))
    assert "fuse filesystem" in caplog.text
    s.close()


# --- torn tails ---------------------------------------------------------------------------------

def _garbage_variants(log: Path) -> dict[str, bytes]:
    whole = log.read_bytes()
    spans = record_spans(log.parent)
    t1 = whole[spans[0][1]:spans[0][2]]
    last_t = spans[-1][0]
    other = rec.encode_frame(rec.crc_seed(uuid.uuid4()), last_t + 1, uuid.uuid4(), b"foreign")
    huge = rec.FRAME.pack(rec.RECORD_MAGIC, rec.KIND_TX_V1, 2**32 - 1, last_t + 1, b"u" * 16, 0)
    return {
        "zeros": bytes(4096),
        "random": random.Random(3).randbytes(1000),
        "half a frame": rec.encode_frame(0, last_t + 1, uuid.uuid4(), b"p" * 100)[:60],
        "length 2^32-1": huge,
        "stale copy of t=1": t1,
        "record of another database": other,
        "one byte": b"\xd1",
    }


@pytest.mark.parametrize("variant", ["zeros", "random", "half a frame", "length 2^32-1",
                                     "stale copy of t=1", "record of another database",
                                     "one byte"])
def test_a_torn_tail_stops_readers_and_is_cut_by_the_next_writer(tmp_path: Path, variant: str,
                                                                  caplog: pytest.LogCaptureFixture
                                                                  ) -> None:
    d = tmp_path / "db"
    payloads = make_log(d, 4)
    log = d / "log"
    clean_size = log.stat().st_size
    append_bytes(log, _garbage_variants(log)[variant])
    s = FileStore(str(d))
    assert s.head() == 4
    assert [r.payload for r in s.read_after(0)] == payloads
    assert log.stat().st_size > clean_size  # readers repair nothing
    report = verify(str(d), decode=False)
    assert report.ok and report.torn_tail_bytes == log.stat().st_size - clean_size
    with caplog.at_level(logging.WARNING):
        assert append_one(s, b"after") == 5
    assert "cutting a torn tail" in caplog.text
    assert [r.payload for r in s.read_after(0)] == payloads + [b"after"]
    s.close()
    report = verify(str(d), decode=False)
    assert report.ok and report.torn_tail_bytes == 0 and report.last_t == 5


def test_a_reader_stuck_at_a_torn_tail_sees_the_record_written_over_it(tmp_path: Path) -> None:
    import time
    d = tmp_path / "db"
    make_log(d, 2)
    reader = FileStore(str(d))
    other = FileStore(str(d), fileops=FaultyFS())  # its own descriptors: another "process"
    payload = b"p" * 63
    # same size as the record (a version-2 frame: header, watermark, payload)
    append_bytes(d / "log", bytes(rec.FRAME.size + rec.WATERMARK_SIZE + len(payload)))
    size = (d / "log").stat().st_size
    assert reader.head() == 2 and reader.head() == 2
    with other.writer() as head:
        other.append(head + 1, uuid.uuid4(), payload)
    assert (d / "log").stat().st_size == size
    deadline = time.monotonic() + 3
    while reader.head() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader.head() == 3 and [r.payload for r in reader.read_after(2)] == [payload]
    other.close()
    reader.close()


def test_truncation_at_every_offset_of_the_last_records_recovers_the_longest_prefix(
        tmp_path: Path) -> None:
    """F-05 (PR size): every offset inside the last 3 records."""
    d = tmp_path / "db"
    make_log(d, 8, sizes=(1, 40, 300))
    log = d / "log"
    whole = log.read_bytes()
    spans = record_spans(d)
    start = spans[-3][1]
    for cut in range(start, len(whole)):
        log.write_bytes(whole[:cut])
        s = FileStore(str(d))
        expected = sum(1 for _t, _a, end in spans if end <= cut)
        with s.writer() as head:
            assert head == expected, cut
        s.close()
        size_after = log.stat().st_size
        assert size_after == (spans[expected - 1][2] if expected else HEADER_SIZE)
        s = FileStore(str(d))
        with s.writer() as head:  # a second open cuts nothing more
            assert head == expected
        s.close()
        assert log.stat().st_size == size_after


# --- mid-log corruption -------------------------------------------------------------------------

def test_a_flipped_bit_in_any_earlier_record_is_corruption_naming_its_offset(tmp_path: Path
                                                                              ) -> None:
    """F-07 (PR size): bits flipped in records before the last one."""
    d = tmp_path / "db"
    make_log(d, 6, sizes=(20, 700))
    log = d / "log"
    spans = record_spans(d)
    pristine = log.read_bytes()
    rng = random.Random(7)
    cases = [(rng.randrange(spans[0][1], spans[-1][1]), rng.randrange(8)) for _ in range(60)]
    cases += [(spans[2][1] + i, 0) for i in range(rec.FRAME.size)]  # every header byte
    for offset, bit in cases:
        log.write_bytes(pristine)
        flip_bit(log, offset, bit)
        hit = next(sp for sp in spans if sp[1] <= offset < sp[2])
        before = file_hash(log)
        s = FileStore(str(d))
        with pytest.raises(LogCorrupted, match=f"offset {hit[1]}") as exc:
            with s.writer():
                pass
        assert exc.value.offset == hit[1] and exc.value.t == hit[0]
        assert "Nothing was changed" in str(exc.value)
        with pytest.raises(LogCorrupted):  # readers refuse it too
            list(s.read_after(0))
        s.close()
        assert file_hash(log) == before
        report = verify(str(d), decode=False)
        assert not report.ok and report.corruption is not None
        assert report.corruption["offset"] == hit[1]


def test_swapped_records_are_corruption(tmp_path: Path) -> None:
    d = tmp_path / "db"
    make_log(d, 4, sizes=(50,))
    log = d / "log"
    data = log.read_bytes()
    spans = record_spans(d)
    a, b = data[spans[1][1]:spans[1][2]], data[spans[2][1]:spans[2][2]]
    log.write_bytes(data[:spans[1][1]] + b + a + data[spans[2][2]:])
    s = FileStore(str(d))
    with pytest.raises(LogCorrupted, match="t=3 where t=2 was expected"):
        with s.writer():
            pass
    s.close()


def test_a_valid_record_of_an_unknown_kind_stops_the_writer(tmp_path: Path) -> None:
    d = tmp_path / "db"
    make_log(d, 2)
    log = d / "log"
    s = FileStore(str(d))
    seed = s._sh.seed
    prefix = rec.FRAME_PREFIX.pack(rec.RECORD_MAGIC, 0x21, 3, 3, uuid.uuid4().bytes)
    crc = rec.frame_crc(seed, prefix, b"new")
    append_bytes(log, prefix + crc.to_bytes(4, "little") + b"new")
    before = file_hash(log)
    with pytest.raises(UnsupportedFormat, match="kind a newer fact-store wrote"):
        with s.writer():
            pass
    with pytest.raises(UnsupportedFormat):
        s.head()
    s.close()
    assert file_hash(log) == before


# --- snapshots ------------------------------------------------------------------------------------

def _store_with_snapshots(d: Path) -> FileStore:
    make_log(d, 6)
    s = FileStore(str(d))
    s.save_snapshot(3, b"three")
    s.save_snapshot(5, b"five")
    return s


def test_a_corrupt_snapshot_is_skipped_for_the_previous_one(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    s = _store_with_snapshots(tmp_path / "db")
    snap5 = tmp_path / "db" / _snapshot_name(5)
    for damage in ("payload", "header", "truncated", "version"):
        data = bytearray((tmp_path / "db" / _snapshot_name(3)).read_bytes())
        good5 = snap5.read_bytes()
        bad = bytearray(good5)
        if damage == "payload":
            bad[-1] ^= 1
        elif damage == "header":
            bad[40] ^= 1
        elif damage == "truncated":
            bad = bad[:50]
        else:
            bad[8] += 1
        snap5.write_bytes(bytes(bad))
        with caplog.at_level(logging.WARNING):
            assert s.load_snapshot() == (3, b"three"), damage
        assert "ignoring snapshot" in caplog.text
        assert not verify(str(tmp_path / "db"), decode=False).ok
        snap5.write_bytes(good5)
        assert data
    assert s.load_snapshot() == (5, b"five")
    s.close()


def test_a_snapshot_of_another_database_is_ignored(tmp_path: Path) -> None:
    s = _store_with_snapshots(tmp_path / "a")
    s.close()
    make_log(tmp_path / "b", 6)
    shutil.copy(tmp_path / "a" / _snapshot_name(5), tmp_path / "b" / _snapshot_name(5))
    b = FileStore(str(tmp_path / "b"))
    assert b.load_snapshot() is None
    b.close()
    report = verify(str(tmp_path / "b"), decode=False)
    assert report.snapshots_bad and "written for database" in report.snapshots_bad[0][1]


def test_a_snapshot_ahead_of_the_log_is_ignored(tmp_path: Path) -> None:
    make_log(tmp_path / "a", 3)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a = FileStore(str(tmp_path / "a"))
    for _ in range(3):
        append_one(a)
    a.save_snapshot(6, b"six")
    a.close()
    shutil.copy(tmp_path / "a" / _snapshot_name(6), tmp_path / "b" / _snapshot_name(6))
    b = FileStore(str(tmp_path / "b"))
    assert b.head() == 3 and b.load_snapshot() is None
    b.close()


def test_a_snapshot_of_a_log_since_cut_and_rewritten_is_ignored(tmp_path: Path) -> None:
    s = _store_with_snapshots(tmp_path / "db")
    spans = record_spans(tmp_path / "db")
    s.close()
    truncate(tmp_path / "db" / "log", spans[3][1])  # keep t=1..3: the t=5 anchor is gone
    s = FileStore(str(tmp_path / "db"))
    for _ in range(3):
        append_one(s, b"rewritten")
    assert s.load_snapshot() == (3, b"three")
    s.close()


def test_a_leftover_temporary_snapshot_is_ignored(tmp_path: Path) -> None:
    s = _store_with_snapshots(tmp_path / "db")
    (tmp_path / "db" / ".snapshot-00000000000000000006.1.abcd.tmp").write_bytes(b"partial")
    assert s.load_snapshot() == (5, b"five")
    s.close()
    assert verify(str(tmp_path / "db"), decode=False).ok


def test_reading_after_a_snapshot_starts_at_its_anchor(tmp_path: Path) -> None:
    d = tmp_path / "db"
    make_log(d, 50, sizes=(100,))
    s = FileStore(str(d))
    s.save_snapshot(45, b"s")
    s.close()
    ops = FaultyFS()
    s = FileStore(str(d), fileops=ops)
    assert s.load_snapshot() == (45, b"s")
    reads = ops.calls["read"]
    assert [r.t for r in s.read_after(45)] == [46, 47, 48, 49, 50]
    assert ops.calls["read"] - reads <= 3  # no scan of records 1..45
    assert s.head() == 50
    with s.writer() as head:  # a writer still verifies the whole log once
        assert head == 50
    assert [r.t for r in s.read_after(10)][:2] == [11, 12]
    s.close()


def test_a_writer_finds_corruption_before_the_snapshot_a_reader_skipped(tmp_path: Path) -> None:
    d = tmp_path / "db"
    make_log(d, 10, sizes=(100,))
    spans = record_spans(d)
    s = FileStore(str(d))
    s.save_snapshot(8, b"s")
    s.close()
    flip_bit(d / "log", spans[2][1] + 50)
    s = FileStore(str(d))
    assert s.load_snapshot() == (8, b"s")
    assert [r.t for r in s.read_after(8)] == [9, 10]
    with pytest.raises(LogCorrupted, match=f"offset {spans[2][1]}"):
        with s.writer():
            pass
    s.close()


# --- identity and locks --------------------------------------------------------------------------

def test_a_log_replaced_under_a_running_writer_is_store_moved(tmp_path: Path) -> None:
    d = tmp_path / "db"
    make_log(d, 2)
    s = FileStore(str(d))
    assert s.head() == 2
    shutil.copy(d / "log", d / "log.new")
    os.replace(d / "log.new", d / "log")
    with pytest.raises(StoreMoved, match="was replaced"):
        with s.writer():
            pass
    with pytest.raises(StoreMoved):
        s.head()
    s.close()


def test_a_deleted_log_or_lock_is_store_moved(tmp_path: Path) -> None:
    d = tmp_path / "db"
    make_log(d, 1)
    s = FileStore(str(d))
    os.unlink(d / "lock")
    with pytest.raises(StoreMoved, match="lock was deleted"):
        with s.writer():
            pass
    os.unlink(d / "log")
    with pytest.raises(StoreMoved, match="log was deleted"):
        s.head()
    s.close()


def test_a_store_opened_through_a_symlink_shares_one_lock(tmp_path: Path) -> None:
    make_log(tmp_path / "db", 1)
    os.symlink(tmp_path / "db", tmp_path / "alias")
    a, b = FileStore(str(tmp_path / "db")), FileStore(str(tmp_path / "alias"))
    assert a._sh is b._sh
    append_one(b)
    assert a.head() == 2
    a.close()
    b.close()


_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""


def _lock_state(path: Path) -> str:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def test_closing_another_handle_never_drops_the_writer_lock(tmp_path: Path) -> None:
    """F-13: one lock descriptor per process and store."""
    d = tmp_path / "db"
    a = FileStore(str(d))
    b = FileStore(str(d))
    assert a._sh.lock_fd == b._sh.lock_fd
    with a.writer():
        assert _lock_state(d / "lock") == "held"
        b.close()
        fd = os.open(d / "lock", os.O_RDWR)  # an unrelated descriptor, opened and closed
        os.close(fd)
        assert _lock_state(d / "lock") == "held"
    assert _lock_state(d / "lock") == "free"
    a.close()


def _child_tries_writer(path: str, q: "multiprocessing.Queue[str]", store: FileStore) -> None:
    try:
        with store.writer(timeout=0.2):
            q.put("got the lock")
    except LockTimeout:
        q.put("timeout")


def test_a_forked_child_does_not_inherit_the_writer_lock(tmp_path: Path) -> None:
    d = tmp_path / "db"
    s = FileStore(str(d))
    ctx = multiprocessing.get_context("fork")
    q: multiprocessing.Queue[str] = ctx.Queue()
    with s.writer():
        p = ctx.Process(target=_child_tries_writer, args=(str(d), q, s))
        p.start()
        assert q.get(timeout=10) == "timeout"
        p.join(10)
    p = ctx.Process(target=_child_tries_writer, args=(str(d), q, s))
    p.start()
    assert q.get(timeout=10) == "got the lock"
    p.join(10)
    s.close()


def test_a_process_holding_the_lock_makes_others_time_out(tmp_path: Path) -> None:
    d = tmp_path / "db"
    s = FileStore(str(d), lock_timeout=0.1)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(d / 'lock')!r}, os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(30)\n")],
        stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(LockTimeout, match="another process held the writer lock"):
            with s.writer():
                pass
        assert s.head() == 0  # readers do not need the lock
    finally:
        holder.kill()
        holder.wait()
    assert append_one(s) == 1
    s.close()


# --- group commit --------------------------------------------------------------------------------

def test_group_commit_syncs_once_for_records_written_meanwhile(tmp_path: Path) -> None:
    import threading
    ops = FaultyFS()
    s = FileStore(str(tmp_path / "db"), durability="group", fileops=ops)
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(50):
            append_one(s, b"g")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [r.t for r in s.read_after(0)] == list(range(1, 201))
    assert s._sh.durable_end == (tmp_path / "db" / "log").stat().st_size
    assert ops.calls["fdatasync"] <= 200
    s.close()
    assert verify(str(tmp_path / "db"), decode=False).ok


def test_durability_none_never_syncs_appends(tmp_path: Path) -> None:
    ops = FaultyFS()
    s = FileStore(str(tmp_path / "db"), durability="none", fileops=ops)
    synced = ops.calls["fdatasync"]
    for _ in range(20):
        append_one(s)
    assert ops.calls["fdatasync"] == synced
    s.close()
