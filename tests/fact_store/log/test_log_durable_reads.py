"""log/file: readers see only the durable prefix (module doc, "Readers").

A writer process appends a record in ``group`` mode and stops before its
fdatasync; a reader in another process must not return the record until it is
durable: it syncs the log itself first (counted through FaultyFS). In ``fsync``
mode the writer's sync raised the durable mark, so the reader syncs nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from faultyfs import FaultyFS

from fact_store.log.file import FileStore

_FORK = multiprocessing.get_context("fork")


def _append_and_stop(path: str, durability: str, ready: str) -> None:
    s = FileStore(path, durability=durability)
    with s.writer() as head:
        s.append(head + 1, uuid.uuid4(), b"not yet durable")
        Path(ready).touch()
        os.kill(os.getpid(), signal.SIGSTOP)  # group: written, not synced; fsync: synced


@pytest.mark.parametrize("durability", ["group", "fsync"])
def test_a_reader_returns_a_record_only_once_it_is_durable(tmp_path: Path, durability: str) -> None:
    d = str(tmp_path / "db")
    s = FileStore(d, durability=durability)
    with s.writer() as head:
        s.append(head + 1, uuid.uuid4(), b"durable")
    s.close()
    ready = tmp_path / "ready"
    child = _FORK.Process(target=_append_and_stop, args=(d, durability, str(ready)), daemon=True)
    child.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert time.monotonic() < deadline
            time.sleep(0.005)
        ops = FaultyFS()
        reader = FileStore(d, durability=durability, fileops=ops)
        assert [r.payload for r in reader.read_after(0)] == [b"durable", b"not yet durable"]
        synced = ops.calls["fdatasync"]
        if durability == "group":  # its fdatasync comes after the writer() block: not yet run
            assert synced == 1, "the reader returned a record nobody had synced"
        else:  # synced by the writer, which raised the durable mark: the reader needs no sync
            assert synced == 0
        assert [r.t for r in reader.read_after(1)] == [2]
        assert ops.calls["fdatasync"] == synced, "a record known durable is synced again"
        reader.close()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)


def test_none_mode_readers_never_sync(tmp_path: Path) -> None:
    d = str(tmp_path / "db")
    s = FileStore(d, durability="none")
    with s.writer() as head:
        s.append(head + 1, uuid.uuid4(), b"x")
    ops = FaultyFS()
    reader = FileStore(d, durability="none", fileops=ops)
    assert [r.t for r in reader.read_after(0)] == [1]
    assert ops.calls["fdatasync"] == 0
    reader.close()
    s.close()
