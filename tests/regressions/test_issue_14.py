"""Regressions of issue 14 (reliability round 2): what adversarial probes broke."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from fact_store.errors import NotAFactStore
from fact_store.log.file import FileStore, verify


def _store_with_snapshot(d: Path) -> None:
    s = FileStore(str(d))
    with s.writer() as head:
        s.append(head + 1, uuid.uuid4(), b"x")
    s.save_snapshot(1, b"snapshot payload")
    s.close()


# --- items 1-3: files that are not what they seem -------------------------------------------

def test_an_empty_log_beside_snapshots_is_damage_not_a_fresh_store(tmp_path: Path) -> None:
    d = tmp_path / "db"
    _store_with_snapshot(d)
    (d / "log").write_bytes(b"")
    before = sorted(p.name for p in d.iterdir())
    with pytest.raises(NotAFactStore, match="empty"):
        FileStore(str(d))
    assert (d / "log").read_bytes() == b""
    assert sorted(p.name for p in d.iterdir()) == before
    assert not verify(str(d)).ok


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "symlink-to-log"])
def test_a_log_that_is_no_regular_file_is_refused_and_left_alone(tmp_path: Path,
                                                                  kind: str) -> None:
    d = tmp_path / "db"
    _store_with_snapshot(d)
    log = d / "log"
    if kind == "fifo":
        log.unlink()
        os.mkfifo(log)
    elif kind == "dev-zero":
        log.unlink()
        log.symlink_to("/dev/zero")
    else:
        log.rename(tmp_path / "real-log")
        log.symlink_to(tmp_path / "real-log")
    real = (tmp_path / "real-log").read_bytes() if kind == "symlink-to-log" else None
    with pytest.raises(NotAFactStore, match="not a regular file"):
        FileStore(str(d))
    report = verify(str(d))  # never hangs
    assert not report.ok and "regular file" in " ".join(report.problems)
    assert log.is_symlink() == (kind != "fifo")
    if real is not None:
        assert (tmp_path / "real-log").read_bytes() == real


@pytest.mark.timeout(60)
def test_a_fifo_named_like_a_snapshot_is_ignored_without_hanging(tmp_path: Path) -> None:
    d = tmp_path / "db"
    _store_with_snapshot(d)
    os.mkfifo(d / "snapshot-00000000000000000099.snap")
    s = FileStore(str(d))
    try:
        t, payload = s.load_snapshot() or (None, None)
        assert (t, payload) == (1, b"snapshot payload")
        with s.writer() as head:
            s.append(head + 1, uuid.uuid4(), b"y")
    finally:
        s.close()
    report = verify(str(d))
    assert [why for _n, why in report.snapshots_bad] == [
        "cannot open: is a FIFO, not a regular file"]
