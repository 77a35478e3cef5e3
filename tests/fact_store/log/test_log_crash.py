"""Real processes, real kills: crash points (F-03), a SIGKILL loop (F-01/F-02), 4 writers.

Every writer is ``log_worker.py`` in a subprocess with an fsynced ack journal;
:func:`log_harness.check_store` reopens the store and checks every
acknowledged record is there. ``RELIABILITY_SOAK=1`` runs the long versions.
"""

from __future__ import annotations

import random
import multiprocessing
import signal
import threading
import time
from pathlib import Path

import pytest
from log_harness import (SOAK, AckJournal, check_store, fork_worker, parse_payload,
                         spawn_worker)

from fact_store.log import verify
from fact_store.log.file import FileStore


def _run_to_death(uri: str, journal: Path, crash_at: str, fresh_interpreter: bool = False,
                  **kw: object) -> None:
    """Run a writer armed with ``crash_at`` and insist it died by SIGKILL.

    ``fresh_interpreter`` arms it through ``FACTSTORE_CRASH_AT`` in a new Python
    process; otherwise a forked child arms itself with ``crash.configure``.
    """
    if fresh_interpreter:
        p = spawn_worker(uri, journal, crash_at=crash_at, **kw)  # type: ignore[arg-type]
        _out, err = p.communicate(timeout=60)
        assert p.returncode == -signal.SIGKILL, (crash_at, p.returncode, err.decode()[-2000:])
    else:
        child = fork_worker(uri, journal, crash_at=crash_at, **kw)
        child.join(60)
        assert child.exitcode == -signal.SIGKILL, (crash_at, child.exitcode)


# --- F-03: white-box crash points ---------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3] + ([2, 5, 8, 13] if SOAK else []))
@pytest.mark.parametrize("point,present", [
    ("before-write", False),
    ("mid-write", False),
    ("after-write-before-fsync", True),   # a process crash keeps the page cache
    ("after-fsync-before-unlock", True),
    ("after-unlock-before-ack", True),
])
def test_a_crash_at_each_append_step_keeps_acked_records_and_the_log_sound(
        tmp_path: Path, point: str, present: bool, k: int) -> None:
    d = tmp_path / "db"
    journal = tmp_path / "acks"
    _run_to_death(f"file:{d}", journal, f"{point}:{k}", count=k + 5,
                  sizes="40,3000,1500000")
    acks = AckJournal.read(journal)
    assert len(acks) == k - 1  # each hit is one append: k-1 were acknowledged
    result = check_store(d, [journal])
    head = len(result.records)
    assert head == (k if present else k - 1)  # the in-flight record: whole or absent
    if point == "mid-write":
        assert result.torn_tail_before > 0  # half a record was there, and was cut


def test_a_crash_while_cutting_a_torn_tail_is_recovered_by_the_next_writer(tmp_path: Path
                                                                          ) -> None:
    d = tmp_path / "db"
    _run_to_death(f"file:{d}", tmp_path / "a1", "mid-write:3", count=9, sizes="5000")
    before = verify(str(d), decode=False)
    assert before.torn_tail_bytes > 0
    _run_to_death(f"file:{d}", tmp_path / "a2", "tail-truncate:1", count=3, worker=1,
                  fresh_interpreter=True)  # FACTSTORE_CRASH_AT through the environment
    result = check_store(d, [tmp_path / "a1", tmp_path / "a2"])
    assert len(result.records) == 2


@pytest.mark.parametrize("point", ["snapshot-tmp-written", "snapshot-renamed"])
@pytest.mark.parametrize("k", [1, 2])
def test_a_crash_while_saving_a_snapshot_leaves_the_old_or_the_new_one(
        tmp_path: Path, point: str, k: int) -> None:
    d = tmp_path / "db"
    _run_to_death(f"file:{d}", tmp_path / "acks", f"{point}:{k}", count=20, snapshot_every=2)
    check_store(d, [tmp_path / "acks"])
    s = FileStore(str(d))
    snap = s.load_snapshot()
    s.close()
    if point == "snapshot-renamed":
        assert snap == (2 * k, b"snapshot at %d" % (2 * k))
    elif k == 1:
        assert snap is None
    else:
        assert snap == (2 * (k - 1), b"snapshot at %d" % (2 * (k - 1)))


# --- F-01/F-02: the SIGKILL loop --------------------------------------------------------------------

def test_sigkill_loop_never_loses_an_acknowledged_record(tmp_path: Path) -> None:
    """Three writer processes run continuously; every 50–300 ms one is SIGKILLed and
    replaced, and the store is checked while the others keep writing (journals are
    read first, so every ack found must be in the log). A fresh store every 5 kills
    bounds the log size.

    A SIGKILL from outside rarely lands inside a pwrite (well under a millisecond
    of each cycle), so a third of the writers are also armed to SIGKILL themselves
    half-way through writing some record, often a 1.1 MB one: those leave torn
    tails for the *other* live writers, or the check, to cut."""
    kills_wanted = 1000 if SOAK else 30
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills = torn = checked_acks = self_killed = incarnation = 0
    procs: list[multiprocessing.Process] = []
    journals: list[Path] = []
    d = tmp_path / "db0"

    def start() -> multiprocessing.Process:
        nonlocal incarnation
        incarnation += 1
        j = tmp_path / f"acks-{incarnation}"
        journals.append(j)
        arm = f"mid-write:{rng.randint(1, 30)}" if rng.random() < 0.33 else None
        return fork_worker(f"file:{d}", j, worker=incarnation, count=0,
                           sizes="60,100,200,300,500,1100000", seed=seed + incarnation,
                           crash_at=arm)

    try:
        while kills < kills_wanted:
            if kills % 5 == 0:
                for p in procs:
                    p.kill()
                    p.join()
                d = tmp_path / f"db{kills}"
                journals = []
                procs = [start() for _ in range(3)]
            time.sleep(rng.uniform(0.05, 0.3))
            for i, p in enumerate(procs):  # replace writers that died at their crash point
                if not p.is_alive():
                    p.join()
                    assert p.exitcode == -signal.SIGKILL, p.exitcode
                    self_killed += 1
                    procs[i] = start()
            slot = rng.randrange(3)
            procs[slot].kill()
            procs[slot].join(30)
            assert procs[slot].exitcode == -signal.SIGKILL
            kills += 1
            procs[slot] = start()
            result = check_store(d, journals)  # live: the other writers keep going
            torn += result.torn_tail_before > 0
            checked_acks += result.acked
    finally:
        for p in procs:
            p.kill()
            p.join()
    print(f"F-01 kills={kills} mid_write_deaths={self_killed} acked_checked={checked_acks} "
          f"torn_tails_cut_by_check={torn} violations=0 seed={seed}")
    assert checked_acks > 0 and self_killed > 0


# --- four writer processes ------------------------------------------------------------------------

@pytest.mark.parametrize("durability,count", [("fsync", 500), ("group", 300)])
def test_four_processes_appending_get_contiguous_t_and_a_reader_sees_a_clean_prefix(
        tmp_path: Path, durability: str, count: int) -> None:
    d = tmp_path / "db"
    uri = f"file:{d}?durability={durability}"
    reader = FileStore(str(d))
    seen: list[int] = []
    stop = threading.Event()
    problems: list[str] = []

    def tail() -> None:
        last = 0
        while not stop.is_set() or reader.head() > last:
            reader.wait(last, 0.05)
            for r in reader.read_after(last):
                if r.t != last + 1:
                    problems.append(f"t={r.t} after {last}")
                parse_payload(r.payload)
                last = r.t
                seen.append(r.t)

    th = threading.Thread(target=tail)
    th.start()
    journals = [tmp_path / f"acks{w}" for w in range(4)]
    procs = [spawn_worker(uri, journals[w], worker=w, count=count, seed=w) for w in range(4)]
    try:
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()[-2000:]
    finally:
        stop.set()
        th.join(30)
    assert not problems
    assert seen == list(range(1, 4 * count + 1))
    reader.close()
    result = check_store(d, journals)
    assert len(result.records) == result.acked == 4 * count
    workers = sorted(parse_payload(r.payload) for r in result.records)
    assert workers == sorted((w, i) for w in range(4) for i in range(count))  # no duplicates
