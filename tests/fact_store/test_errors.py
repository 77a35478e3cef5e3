"""errors: every error declares how a long-running client recovers from it (``recovery``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import fact_store as fs
from fact_store import errors
from fact_store.log.file import FileStore


def test_every_error_class_declares_one_of_the_three_recoveries() -> None:
    classes = [getattr(errors, n) for n in errors.__all__
               if isinstance(getattr(errors, n), type)]
    assert len(classes) > 20
    for cls in classes:
        assert cls.recovery in (fs.TRANSIENT, fs.RECONNECT, fs.FATAL), cls
    assert fs.recovery(ValueError("not ours")) == fs.FATAL


def test_a_lock_held_elsewhere_is_transient(tmp_path: Path) -> None:
    import threading

    store = FileStore(str(tmp_path / "db"))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.writer():
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        with pytest.raises(fs.LockTimeout, match="held the writer lock") as info:
            with store.writer(timeout=0.01):
                pass
        assert fs.recovery(info.value) == fs.TRANSIENT
    finally:
        release.set()
        holder.join(30)
    with store.writer():  # and retrying works once the holder let go
        pass
    store.close()


def test_a_replaced_store_and_a_closed_connection_need_a_reconnect(tmp_path: Path) -> None:
    uri = f"file:{tmp_path / 'db'}"
    conn = fs.connect(uri)
    conn.transact([{":db/ident": ":e/x", ":db/valueType": ":db.type/long",
                    ":db/cardinality": ":db.cardinality/one"}])
    shutil.copytree(tmp_path / "db", tmp_path / "copy")
    os.replace(tmp_path / "copy" / "log", tmp_path / "db" / "log")  # restored under it
    with pytest.raises(fs.StoreMoved, match="replaced while the store was open") as moved:
        conn.transact([{":e/x": 1}])
    assert fs.recovery(moved.value) == fs.RECONNECT
    with pytest.raises(fs.ConnectionClosed, match="is closed") as closed:
        conn.sync()
    assert fs.recovery(closed.value) == fs.RECONNECT
    again = fs.connect(uri)  # a reconnect from the URI works
    try:
        assert again.transact([{":e/x": 1}]).db_after.basis_t == 2
    finally:
        again.close()


def test_a_damaged_store_and_a_refused_transaction_are_fatal(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "log").write_bytes(b"this is not a fact-store log, not at all" * 4)
    with pytest.raises(fs.StorageError, match="not a fact-store") as info:
        fs.connect(f"file:{tmp_path / 'db'}")
    assert fs.recovery(info.value) == fs.FATAL
    conn = fs.connect("mem:")
    with pytest.raises(fs.TransactionError, match="unknown") as refused:
        conn.transact([{":no/such": 1}])
    assert fs.recovery(refused.value) == fs.FATAL
    conn.close()
