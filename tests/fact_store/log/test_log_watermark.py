"""file.py: the durable watermark (record version 2) tells an unsynced tail lost out of
order by a power failure from mid-log corruption (RELIABILITY.md A2, A3; module doc)."""

from __future__ import annotations

import logging
import random
import uuid
from pathlib import Path

import pytest
from faultyfs import FaultyFS
from log_harness import file_hash

from fact_store.errors import LogCorrupted
from fact_store.log import record as rec
from fact_store.log import verify
from fact_store.log.file import HEADER_SIZE, MARKS, FileStore


def frames(d: Path) -> list[tuple[int, int, int, int | None, int]]:
    """``(t, kind, start, watermark, end)`` of every frame, walking the length fields."""
    data = (d / "log").read_bytes()
    out = []
    pos = HEADER_SIZE
    while pos + rec.FRAME.size <= len(data):
        _m, kind, length, t, _u, _crc = rec.FRAME.unpack_from(data, pos)
        end = pos + rec.FRAME.size + length
        out.append((t, kind, pos, rec.frame_watermark(data[pos:end], pos), end))
        pos = end
    return out


def append(s: FileStore, payload: bytes = b"x" * 50) -> int:
    with s.writer() as head:
        s.append(head + 1, uuid.uuid4(), payload)
    return head + 1


def lose(d: Path, t: int) -> None:
    """Zero record t in place, as a device that dropped that one unsynced write does."""
    _t, _k, start, _w, end = next(f for f in frames(d) if f[0] == t)
    with open(d / "log", "r+b") as f:
        f.seek(start)
        f.write(bytes(end - start))


# --- format ------------------------------------------------------------------------------------

def test_version_2_frames_round_trip_and_detect_every_bit_flip() -> None:
    seed = rec.crc_seed(uuid.UUID(int=5))
    frame = rec.encode_frame(seed, 3, uuid.UUID(int=9), b"payload", durable=1234)
    assert frame[4] == rec.KIND_TX_V2 and len(frame) == rec.FRAME.size + 8 + 7
    assert rec.decode_frame(seed, frame) == (3, uuid.UUID(int=9), b"payload")
    assert rec.frame_watermark(frame, 5000) == 1234
    assert rec.frame_watermark(rec.encode_frame(seed, 3, uuid.UUID(int=9), b"p"), 5000) == 5000
    for i in range(len(frame) * 8):
        bad = bytearray(frame)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises((LogCorrupted, rec.UnsupportedFormat)):
            rec.decode_frame(seed, bytes(bad))


def test_zeros_written_over_a_watermark_always_change_the_record() -> None:
    """The field holds the complement: a zeroed run starting anywhere in it changes it
    (a plain small offset would be mostly zero bytes, and zeroing them changes nothing)."""
    for durable in (0, 64, 255, 4096, 1 << 40):
        field = rec.encode_watermark(durable)
        assert rec.decode_watermark(field) == durable
        for i in range(8):
            zeroed = field[:i] + bytes(8 - i)
            assert zeroed != field, (durable, i)


def test_a_max_size_payload_fits_a_version_2_frame() -> None:
    seed = rec.crc_seed(uuid.UUID(int=5))
    frame = rec.encode_frame(seed, 1, uuid.UUID(int=1), b"m" * 100, durable=64)
    assert rec.decode_frame(seed, frame, max_payload=100)[2] == b"m" * 100
    with pytest.raises(LogCorrupted):
        rec.decode_frame(seed, frame, max_payload=99)


@pytest.mark.parametrize("durability", ["fsync", "group", "none"])
def test_records_carry_a_watermark_no_higher_than_what_was_synced(tmp_path: Path,
                                                                  durability: str) -> None:
    d = tmp_path / "db"
    s = FileStore(str(d), durability=durability)
    for _ in range(4):
        append(s)
    s.close()
    fs = frames(d)
    assert [f[1] for f in fs] == [rec.KIND_TX_V2] * 4
    for t, _k, start, w, _end in fs:
        assert w is not None and w <= start
        if durability == "fsync" and t > 1:  # each append synced everything before it
            assert w == start
        if durability == "group" and t > 1:  # one writer: its previous record was synced
            assert w == start
        if durability == "none":
            assert w <= HEADER_SIZE
    assert verify(str(d), decode=False).ok


def test_a_log_of_version_1_records_still_reads_and_grows(tmp_path: Path) -> None:
    d = tmp_path / "db"
    s = FileStore(str(d))
    seed = s._sh.seed
    s.close()
    with open(d / "log", "ab") as f:
        for t in (1, 2):
            f.write(rec.encode_frame(seed, t, uuid.uuid4(), b"old %d" % t))
    s = FileStore(str(d), durability="none")
    assert [r.payload for r in s.read_after(0)] == [b"old 1", b"old 2"]
    assert append(s, b"new") == 3
    assert [r.payload for r in s.read_after(0)] == [b"old 1", b"old 2", b"new"]
    s.close()
    assert [f[1] for f in frames(d)] == [rec.KIND_TX_V1, rec.KIND_TX_V1, rec.KIND_TX_V2]
    assert verify(str(d), decode=False).ok


def test_a_hole_before_a_version_1_record_is_corruption(tmp_path: Path) -> None:
    """Version 1 says "everything before me was durable": the old rule stands."""
    d = tmp_path / "db"
    s = FileStore(str(d))
    seed = s._sh.seed
    s.close()
    with open(d / "log", "ab") as f:
        for t in (1, 2, 3):
            f.write(rec.encode_frame(seed, t, uuid.uuid4(), b"old %d" % t))
    lose(d, 2)
    before = file_hash(d / "log")
    s = FileStore(str(d), durability="none")
    with pytest.raises(LogCorrupted) as err:
        with s.writer():
            pass
    s.close()
    assert err.value.data["offset"] == frames(d)[0][4]
    assert file_hash(d / "log") == before


def test_a_payload_within_8_bytes_of_the_maximum_is_version_1_after_a_sync(tmp_path: Path
                                                                          ) -> None:
    """An older build checks the body length against the maximum before the CRC: a
    version-2 frame that long would look like garbage to it."""
    d = tmp_path / "db"
    ops = FaultyFS()
    s = FileStore(str(d), durability="none", max_tx_bytes=100, fileops=ops)
    append(s, b"a" * 92)
    synced = ops.calls["fdatasync"]
    append(s, b"b" * 93)
    assert ops.calls["fdatasync"] == synced + 1
    append(s, b"c" * 100)
    assert ops.calls["fdatasync"] == synced + 2  # b was not synced: c's claim needs it
    assert [len(r.payload) for r in s.read_after(0)] == [92, 93, 100]
    s.close()
    assert [f[1] for f in frames(d)] == [rec.KIND_TX_V2, rec.KIND_TX_V1, rec.KIND_TX_V1]
    assert verify(str(d), decode=False).ok


def test_a_version_2_frame_too_short_for_its_watermark_stops_the_writer(tmp_path: Path) -> None:
    """Its CRC is right, so it is no torn write: a format this build cannot read."""
    d = tmp_path / "db"
    s = FileStore(str(d))
    append(s)
    seed = s._sh.seed
    s.close()
    prefix = rec.FRAME_PREFIX.pack(rec.RECORD_MAGIC, rec.KIND_TX_V2, 6, 2, uuid.uuid4().bytes)
    with open(d / "log", "ab") as f:
        f.write(prefix + rec.frame_crc(seed, prefix, b"future").to_bytes(4, "little") + b"future")
    before = file_hash(d / "log")
    s = FileStore(str(d))
    with pytest.raises(rec.UnsupportedFormat):
        with s.writer():
            pass
    s.close()
    assert file_hash(d / "log") == before
    with pytest.raises(rec.UnsupportedFormat):
        rec.decode_frame(seed, (d / "log").read_bytes()[frames(d)[0][4]:])


# --- recovery: the rule --------------------------------------------------------------------------

@pytest.mark.parametrize("durability", ["none", "group"])
def test_a_lost_unsynced_record_with_later_unsynced_ones_is_a_torn_tail(
        tmp_path: Path, durability: str, caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "db"
    s = FileStore(str(d), durability=durability)
    with s.writer() as head:  # one writer block: nothing is synced before it exits
        for i in range(4):
            s.append(head + 1 + i, uuid.uuid4(), b"r%d" % i * 20)
    s.close()
    fs = frames(d)
    # t=2..4 were written before any sync: their watermark is at most the header
    assert all(f[3] is not None and f[3] <= HEADER_SIZE for f in fs)
    lose(d, 2)  # the device lost t=2 (in group mode: as if the block's sync never ran)
    bad_at = fs[1][2]
    size = (d / "log").stat().st_size
    rep = verify(str(d), decode=False)
    assert rep.ok and rep.corruption is None, rep.summary()
    assert rep.torn_tail_bytes == size - bad_at and rep.torn_tail_records == 2
    assert "2 valid record(s) written before it was durable" in rep.summary()
    reader = FileStore(str(d))
    assert reader.head() == 1
    assert [r.t for r in reader.read_after(0)] == [1]  # never past the hole
    with caplog.at_level(logging.WARNING, logger="fact_store.log.file"):
        with reader.writer() as head:
            assert head == 1
    assert "cutting a torn tail" in caplog.text and "written before it was durable" in caplog.text
    assert (d / "log").stat().st_size == bad_at
    assert append(reader) == 2
    reader.close()
    assert verify(str(d), decode=False).ok


def test_in_fsync_mode_the_same_hole_is_corruption_and_nothing_changes(tmp_path: Path) -> None:
    d = tmp_path / "db"
    s = FileStore(str(d))
    for _ in range(4):
        append(s)
    s.close()
    bad_at = frames(d)[1][2]
    lose(d, 2)
    before = file_hash(d / "log")
    s = FileStore(str(d))
    with pytest.raises(LogCorrupted) as err:
        with s.writer():
            pass
    assert err.value.data["offset"] == bad_at and err.value.data["t"] == 2
    got = []
    with pytest.raises(LogCorrupted):
        for r in s.read_after(0):
            got.append(r.t)
    assert got == [1]
    s.close()
    assert file_hash(d / "log") == before
    rep = verify(str(d), decode=False)
    assert not rep.ok and rep.corruption is not None and rep.corruption["offset"] == bad_at


def test_a_group_sync_raises_the_watermark_so_older_holes_are_corruption(tmp_path: Path) -> None:
    d = tmp_path / "db"
    s = FileStore(str(d), durability="group")
    with s.writer() as head:  # t=1, 2 in one group, synced when the block exits
        s.append(head + 1, uuid.uuid4(), b"a" * 40)
        s.append(head + 2, uuid.uuid4(), b"b" * 40)
    synced_end = frames(d)[1][4]
    with s.writer() as head:  # t=3, 4: written after that sync
        s.append(head + 1, uuid.uuid4(), b"c" * 40)
        s.append(head + 2, uuid.uuid4(), b"d" * 40)
    s.close()
    fs = frames(d)
    assert fs[2][3] == synced_end and fs[3][3] == synced_end
    before = (d / "log").read_bytes()
    lose(d, 3)  # lost after the last sync: t=4 was written before t=3 was durable
    s = FileStore(str(d))
    with s.writer() as head:
        assert head == 2
    s.close()
    (d / "log").write_bytes(before)
    lose(d, 2)  # t=2 was synced before t=3 was written: corruption
    s = FileStore(str(d))
    with pytest.raises(LogCorrupted) as err:
        with s.writer():
            pass
    s.close()
    assert err.value.data["offset"] == fs[1][2]


def test_another_process_learns_the_durable_mark_so_corruption_stays_detectable(
        tmp_path: Path) -> None:
    """Two fsync-mode "processes" (own FileOps, so own descriptors and state) take turns;
    each writes the watermark the other published, so a hole in a record the other
    synced is still corruption."""
    d = tmp_path / "db"
    a = FileStore(str(d), fileops=FaultyFS())
    b = FileStore(str(d), fileops=FaultyFS())
    for i in range(6):
        append(a if i % 2 == 0 else b)
    a.close()
    b.close()
    fs = frames(d)
    assert all(f[3] == f[2] for f in fs[1:]), fs
    for victim in (2, 3, 5):
        data = (d / "log").read_bytes()
        lose(d, victim)
        s = FileStore(str(d))
        with pytest.raises(LogCorrupted):
            with s.writer():
                pass
        s.close()
        (d / "log").write_bytes(data)


def test_a_process_that_knows_nothing_writes_a_low_watermark(tmp_path: Path) -> None:
    """Records another process wrote without a sync (none mode, then exit) may be lost
    by a power failure: a new process must not claim them durable."""
    d = tmp_path / "db"
    s = FileStore(str(d), durability="none")
    for _ in range(3):
        append(s)
    s.close()
    s = FileStore(str(d), durability="group", fileops=FaultyFS())
    with s.writer() as head:
        s.append(head + 1, uuid.uuid4(), b"later")
        w = frames(d)[-1][3]
        assert w is not None and w <= HEADER_SIZE
    s.close()


def test_a_stale_durable_mark_beyond_the_log_is_not_believed(tmp_path: Path) -> None:
    """The lock file is never synced: after a power failure its marks may be older than
    a cut of the log. A mark beyond the log is lowered, never written into a record."""
    d = tmp_path / "db"
    s = FileStore(str(d), durability="group")
    append(s)
    ino = (d / "log").stat().st_ino
    s.close()
    (d / "lock").write_bytes(MARKS.pack(1 << 20, 1 << 20, ino))
    s = FileStore(str(d), durability="group", fileops=FaultyFS())
    with s.writer() as head:
        s.append(head + 1, uuid.uuid4(), b"after")
        assert frames(d)[-1][3] <= frames(d)[-1][2]
    durable, written, _ino = MARKS.unpack((d / "lock").read_bytes()[:MARKS.size])
    assert durable <= (d / "log").stat().st_size
    s.close()


def test_a_mark_is_rounded_down_to_a_record_boundary(tmp_path: Path) -> None:
    d = tmp_path / "db"
    s = FileStore(str(d))
    for _ in range(3):
        append(s)
    s.close()
    fs = frames(d)
    ino = (d / "log").stat().st_ino
    (d / "lock").write_bytes(MARKS.pack(fs[1][4] + 5, 0, ino))  # inside record 3
    s = FileStore(str(d), fileops=FaultyFS())
    with s.writer() as head:
        s._sh.durable_end = 0  # forget what the catch-up learned, then learn it again
        s._learn_durable(s._sh)
        assert s._sh.durable_end == fs[1][4]
        s.append(head + 1, uuid.uuid4(), b"x")
    s.close()


def test_a_snapshot_syncs_the_log_first_in_none_mode(tmp_path: Path) -> None:
    """Else a power failure could lose a record before the anchor and keep the anchor:
    the snapshot would load records past a hole."""
    d = tmp_path / "db"
    ops = FaultyFS()
    s = FileStore(str(d), durability="none", fileops=ops)
    for _ in range(3):
        append(s)
    synced = ops.calls["fdatasync"]
    s.save_snapshot(3, b"snap")
    assert ops.calls["fdatasync"] == synced + 1
    s.save_snapshot(2, b"snap2")  # already durable
    assert ops.calls["fdatasync"] == synced + 1
    append(s)
    w = frames(d)[-1][3]
    assert w == frames(d)[2][4]  # the sync raised the watermark
    s.close()


def test_fsync_mode_adds_no_sync(tmp_path: Path) -> None:
    ops = FaultyFS()
    s = FileStore(str(tmp_path / "db"), fileops=ops)
    synced = ops.calls["fdatasync"]
    for _ in range(5):
        append(s)
    s.save_snapshot(5, b"s")
    assert ops.calls["fdatasync"] == synced + 5
    s.close()


# --- simulated power failures (FaultyFS fates) -------------------------------------------------

@pytest.mark.parametrize("durability", ["none", "group", "fsync"])
def test_power_failures_out_of_order_never_look_like_corruption(tmp_path: Path,
                                                                durability: str) -> None:
    """Random unsynced-write fates (persist, drop, garbage), independently per write:
    reopening always gives a prefix holding every record whose sync completed."""
    rng = random.Random(20240611)
    lossy = 0
    for k in range(120):
        d = tmp_path / f"r{k}"
        FileStore(str(d)).close()
        ops = FaultyFS(track_unsynced=True)
        s = FileStore(str(d), durability=durability, fileops=ops)
        payloads: list[bytes] = []
        durable_t = 0
        for _block in range(rng.randrange(1, 5)):
            with s.writer() as head:
                for i in range(rng.randrange(1, 4)):
                    p = rng.randbytes(rng.randrange(1, 300))
                    s.append(head + 1 + i, uuid.uuid4(), p)
                    payloads.append(p)
            if durability != "none":
                durable_t = len(payloads)
        fates = ops.crash(rng, device="random")
        lossy += fates["drop"] + fates["garbage"] > 0
        try:
            s.close()
        except OSError:
            pass
        s2 = FileStore(str(d))
        with s2.writer() as head:
            got = [r.payload for r in s2.read_after(0)]
        assert got == payloads[:head], k
        assert head >= durable_t, k
        append(s2)
        s2.close()
        assert verify(str(d), decode=False).ok, k
    assert lossy > 30 or durability == "fsync"
