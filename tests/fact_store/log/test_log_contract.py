"""The LogStore contract, run on every backend (conftest.BACKENDS)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Callable

import pytest

from fact_store.errors import ConnectionClosed, LimitExceeded, LockTimeout, StorageError
from fact_store.log import open_store
from fact_store.log.base import LogStore


def _append(store: LogStore, payload: bytes) -> tuple[int, uuid.UUID]:
    u = uuid.uuid4()
    with store.writer() as head:
        store.append(head + 1, u, payload)
    return head + 1, u


def test_an_empty_store_has_head_0_no_records_and_no_snapshot(store: LogStore) -> None:
    assert store.head() == 0
    assert list(store.read_after(0)) == []
    assert store.load_snapshot() is None
    with store.writer() as head:
        assert head == 0


def test_appended_records_read_back_in_order_with_their_uuid_and_bytes(store: LogStore) -> None:
    written = []
    for i in range(5):
        payload = bytes([i]) * (i * 10)
        t, u = _append(store, payload)
        written.append((t, u, payload))
    assert store.head() == 5
    got = [(r.t, r.tx_uuid, r.payload) for r in store.read_after(0)]
    assert got == written
    assert [r.t for r in store.read_after(3)] == [4, 5]
    assert list(store.read_after(5)) == []
    assert list(store.read_after(99)) == []


def test_several_appends_in_one_writer_block(store: LogStore) -> None:
    with store.writer() as head:
        for i in range(3):
            store.append(head + 1 + i, uuid.uuid4(), b"x")
    assert store.head() == 3


def test_append_outside_writer_is_refused(store: LogStore) -> None:
    with pytest.raises(StorageError, match="outside writer"):
        store.append(1, uuid.uuid4(), b"x")
    assert store.head() == 0


def test_append_of_a_t_other_than_head_plus_1_is_refused(store: LogStore) -> None:
    _append(store, b"a")
    with store.writer() as head:
        for bad in (head, head + 2, 0):
            with pytest.raises(StorageError, match="t must be head \\+ 1"):
                store.append(bad, uuid.uuid4(), b"x")
        store.append(head + 1, uuid.uuid4(), b"b")
    assert store.head() == 2


def test_writer_is_not_reentrant(store: LogStore) -> None:
    with store.writer():
        with pytest.raises(StorageError, match="not re-entrant"):
            with store.writer():
                pass


def test_an_error_in_the_writer_block_releases_the_lock(store: LogStore) -> None:
    with pytest.raises(ZeroDivisionError):
        with store.writer():
            1 / 0
    with store.writer(timeout=1.0) as head:
        assert head == 0


def test_writer_times_out_while_another_thread_holds_it(store: LogStore) -> None:
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.writer():
            held.set()
            release.wait(5)

    th = threading.Thread(target=hold)
    th.start()
    held.wait(5)
    try:
        with pytest.raises(LockTimeout, match="writer lock"):
            with store.writer(timeout=0.05):
                pass
    finally:
        release.set()
        th.join()
    with store.writer(timeout=1.0):
        pass


def test_a_payload_above_the_maximum_is_refused_and_changes_nothing(store_uri: str) -> None:
    if store_uri.startswith("mem:"):
        from fact_store.log.memory import MemoryStore
        s: LogStore = MemoryStore(max_tx_bytes=100)
    else:
        s = open_store(store_uri + "&max_tx_bytes=100")
    try:
        with s.writer() as head:
            with pytest.raises(LimitExceeded, match="exceeds"):
                s.append(head + 1, uuid.uuid4(), b"x" * 101)
            s.append(head + 1, uuid.uuid4(), b"x" * 100)
        assert s.head() == 1
    finally:
        s.close()


def test_a_second_handle_sees_the_same_store(store: LogStore,
                                              open_again: Callable[[], LogStore]) -> None:
    other = open_again()
    _append(store, b"one")
    assert other.head() == 1
    t, _ = _append(other, b"two")
    assert t == 2
    assert [r.payload for r in store.read_after(0)] == [b"one", b"two"]


def test_threads_appending_concurrently_get_contiguous_t(store: LogStore) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(25):
            t, _u = _append(store, b"p")
            with lock:
                seen.append(t)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(seen) == list(range(1, 101))
    assert [r.t for r in store.read_after(0)] == list(range(1, 101))


def test_snapshots_newest_valid_one_is_loaded(store: LogStore) -> None:
    for i in range(6):
        _append(store, b"r%d" % i)
    store.save_snapshot(2, b"at 2")
    store.save_snapshot(5, b"at 5")
    store.save_snapshot(4, b"at 4")
    assert store.load_snapshot() == (5, b"at 5")
    assert [r.t for r in store.read_after(5)] == [6]


def test_snapshot_beyond_head_or_before_1_is_refused(store: LogStore) -> None:
    _append(store, b"a")
    for t in (0, 2, -1):
        with pytest.raises(StorageError, match="must be in 1..head"):
            store.save_snapshot(t, b"x")
    assert store.load_snapshot() is None


def test_only_the_newest_snapshots_are_kept(store: LogStore) -> None:
    for i in range(6):
        _append(store, b"r")
        store.save_snapshot(i + 1, b"s%d" % (i + 1))
    assert store.load_snapshot() == (6, b"s6")
    if hasattr(store, "path"):
        import os
        names = sorted(n for n in os.listdir(store.path) if n.startswith("snapshot-"))
        assert len(names) == 3 and names[-1].startswith("snapshot-00000000000000000006")


def test_wait_returns_at_once_when_a_newer_record_exists(store: LogStore) -> None:
    _append(store, b"a")
    start = time.monotonic()
    assert store.wait(0, timeout=120)
    assert time.monotonic() - start < 60  # not the timeout (generous: the machine may be loaded)


def test_wait_times_out_without_new_records(store: LogStore) -> None:
    start = time.monotonic()
    assert not store.wait(0, timeout=0.05)
    assert 0.04 < time.monotonic() - start < 60  # waited; the upper bound only catches a hang


def test_wait_wakes_when_another_thread_appends(store: LogStore,
                                                 open_again: Callable[[], LogStore]) -> None:
    other = open_again()
    timer = threading.Timer(0.05, lambda: _append(other, b"late"))
    timer.start()
    try:
        start = time.monotonic()
        assert store.wait(0, timeout=120)
        assert time.monotonic() - start < 60  # woken, not timed out
    finally:
        timer.join()


def test_a_closed_handle_refuses_use_and_close_is_idempotent(store: LogStore,
                                                              open_again: Callable[[], LogStore]
                                                              ) -> None:
    other = open_again()
    store.close()
    store.close()
    with pytest.raises(ConnectionClosed, match="closed"):
        store.head()
    with pytest.raises(ConnectionClosed):
        with store.writer():
            pass
    _append(other, b"still works")
    assert other.head() == 1
