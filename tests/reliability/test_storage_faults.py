"""F-series (RELIABILITY.md §6): storage faults of the ``file:`` backend.

Real processes and SIGKILL (F-01, F-02, F-11, F-12), white-box crash points
(F-03), FaultyFS I/O errors and simulated power loss (F-04, F-08, F-09), the
log mutilator (F-05, F-06, F-07, F-10), lock and path semantics (F-13..F-15).
Each test prints ``F-NN iterations=N violations=0 seed=S``.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from fact_store.connection import Connection
from fact_store.log.file import FileStore

from tests.reliability.checks import check_conn_store
from tests.reliability.conftest import Scenario, scale
from tests.reliability.workers import F01_SCHEMA, connection, f01_writer, fork_child


def _new_f01_store(d: Path) -> None:
    conn = connection(f"file:{d}")
    conn.transact(F01_SCHEMA)
    conn.close()


# --- F-01: 4 writers, SIGKILL all after 50-300 ms, reopen and compare with the journals -------

def test_f01_sigkill_all_writers_keeps_every_acknowledged_tx(scenario: Scenario) -> None:
    iterations = scale(300, 10_000)
    rng = scenario.rng
    acked = txs = cuts = 0
    d = scenario.dir / "db0"
    journals: list[Path] = []
    for it in range(iterations):
        if it % 10 == 0:  # a fresh store now and then keeps the replay cost flat
            d = scenario.dir / f"db{it}"
            _new_f01_store(d)
            journals = []
        procs = []
        for w in range(4):
            j = scenario.dir / f"acks-{it}-{w}"
            journals.append(j)
            procs.append(fork_child(f01_writer, f"file:{d}", str(j), w, scenario.seed + it * 4 + w,
                                    checkpoint_every=rng.choice((None, None, 5))))
        time.sleep(rng.uniform(0.05, 0.3))
        for p in procs:
            p.kill()
        for p in procs:
            p.join(30)
            assert p.exitcode == -signal.SIGKILL, f"writer exited with {p.exitcode}"
        res = check_conn_store(d, journals)
        acked += res.acked
        txs = max(txs, res.head)
        cuts += res.torn_cuts
    scenario.report("F-01", iterations, 0, acks_verified=acked, torn_tails_cut=cuts)
    scenario.require(acked >= iterations, f"only {acked} acknowledged txs over {iterations} kills")


# --- F-02: 3 writers of 1-8 MiB txs; kill one, let the others write on, kill the rest ---------

_MIB = 1 << 20
F02_SIZES = [1 * _MIB, 2 * _MIB, 3 * _MIB + 17, 5 * _MIB, 8 * _MIB - 100]


def test_f02_big_records_killed_mid_write_never_corrupt_the_middle(scenario: Scenario) -> None:
    """When a writer dies inside a multi-MiB pwrite, the next writer must cut the torn
    tail before appending (R2 step 3), or the garbage ends up in the middle of the log.

    A SIGKILL from outside lands inside a pwrite in well under 20% of iterations (the
    writers spend most of their time generating payloads and in fdatasync), so in
    40% of iterations the victim is armed to SIGKILL itself half-way through a
    write (crash point ``mid-write``, the same death at a chosen instant); the
    others are killed from outside at a random time. Torn writes are counted from
    the survivors' cuts (each logs one) and from the final check's; at least 20%
    of iterations must have one."""
    import shutil

    from log_harness import check_store

    from tests.reliability.workers import raw_writer

    iterations = scale(40, 3000)
    rng = scenario.rng
    torn_iters = torn_external = acked = armed = 0
    for it in range(iterations):
        d = scenario.dir / f"db{it}"
        torn_log = scenario.dir / f"torn-{it}"
        journals = [scenario.dir / f"acks-{it}-{w}" for w in range(3)]
        victim = rng.randrange(3)
        arm = f"mid-write:{rng.randint(1, 3)}" if rng.random() < 0.4 else None
        armed += arm is not None
        procs = [fork_child(raw_writer, f"file:{d}", str(journals[w]), w,
                            scenario.seed + 3 * it + w, F02_SIZES, str(torn_log),
                            arm if w == victim else None)
                 for w in range(3)]
        if arm is not None:
            procs[victim].join(30)  # it dies at its crash point
        else:
            time.sleep(rng.uniform(0.15, 0.6))
            procs[victim].kill()
            procs[victim].join(30)
        assert procs[victim].exitcode == -signal.SIGKILL, procs[victim].exitcode
        time.sleep(rng.uniform(0.1, 0.5))  # the survivors keep writing over its remains
        for p in procs:
            p.kill()
        for p in procs:
            p.join(30)
            assert p.exitcode == -signal.SIGKILL, f"writer exited with {p.exitcode}"
        result = check_store(d, journals)  # raises on mid-log corruption or a lost ack
        cut_by_survivors = torn_log.exists() and torn_log.read_text().strip() != ""
        torn = bool(cut_by_survivors or result.torn_tail_before > 0)
        torn_iters += torn
        torn_external += torn and arm is None
        acked += result.acked
        shutil.rmtree(d)  # hundreds of MiB per iteration otherwise
    scenario.report("F-02", iterations, 0, torn_iterations=torn_iters,
                    torn_by_external_kill=torn_external, armed_mid_write=armed,
                    acked_checked=acked)
    scenario.require(torn_iters >= 0.2 * iterations,
                     f"torn writes in only {torn_iters} of {iterations} iterations (need 20%)")
