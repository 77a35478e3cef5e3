"""Worker bodies run in forked children by the reliability scenarios (RELIABILITY.md T2).

Each runs until killed (or ``count`` transactions), acknowledging each
transaction in its own fsynced journal *after* ``transact()`` returned.
Children are forked from the test process (``fork_child``): a real process with
its own descriptors and locks, started in milliseconds; it leaves with
``os._exit`` so no test-runner code runs in it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import time
import traceback
from typing import Any, Callable

from fact_store.connection import Connection
from fact_store.log import open_store

from tests.reliability.journal import JsonJournal, datom_digest

_FORK = multiprocessing.get_context("fork")

#: The schema of the F-01 workload: a unique key per tx and 0..19 long values.
F01_SCHEMA = [
    {":db/ident": ":w/key", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":w/v", ":db/valueType": ":db.type/long",
     ":db/cardinality": ":db.cardinality/many"},
]


def fork_child(target: Callable[..., Any], *args: Any, **kw: Any) -> multiprocessing.Process:
    proc = _FORK.Process(target=_child_main, args=(target, args, kw), daemon=True)
    proc.start()
    return proc


def _child_main(target: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    import faulthandler
    faulthandler.disable()  # a child that dies on purpose (SIGSEGV) must not spam the run
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for name in ("fact_store", "fact_store.log.file", "overseer"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    code = 0
    try:
        target(*args, **kw)
    except BaseException:  # noqa: BLE001 - report and leave; the parent checks exit codes
        traceback.print_exc()
        code = 1
    os._exit(code)


def connection(uri: str, **kw: Any) -> Connection:
    """A Connection that bypasses ``connect()``'s per-process cache (safe after fork)."""
    store = open_store(uri)
    try:
        return Connection(uri, store, **kw)
    except BaseException:
        store.close()
        raise


def f01_writer(uri: str, journal: str, worker: int, seed: int, count: int = 0,
               checkpoint_every: int | None = None, torn_log: str | None = None,
               crash_at: str | None = None) -> None:
    """Transact 1–20 datoms per tx (a unique ``:w/key`` plus ``:w/v`` values) until killed
    (or ``count`` txs); ``crash_at`` arms crash points (``name:k``) in this process."""
    if crash_at is not None:
        from fact_store.log import crash
        crash.configure(crash_at)
    if torn_log is not None:
        _count_torn_tails(torn_log)
    rng = random.Random(seed)
    conn = connection(uri, checkpoint_every=checkpoint_every)
    j = JsonJournal(journal)
    seq = 0
    while count == 0 or seq < count:
        key = f"w{worker}-{seed}-{seq}"
        vals = list({rng.getrandbits(40) for _ in range(rng.randint(0, 19))})
        tx: list[Any] = [{":db/id": "e", ":w/key": key}]
        if vals:
            tx[0][":w/v"] = vals
        rep = conn.transact(tx)
        j.append(t=rep.t, key=key, n=len(rep.tx_data), d=datom_digest(rep.tx_data))
        seq += 1
    conn.close()


class _TornTailFile(logging.Handler):
    """Appends one line per torn tail this process cut (the survivors of F-02 count them)."""

    def __init__(self, path: str) -> None:
        super().__init__(logging.WARNING)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        if "cutting a torn tail" in record.getMessage():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, f"{os.getpid()} {record.args[1]}\n".encode())  # type: ignore[index]
            finally:
                os.close(fd)


def _count_torn_tails(path: str) -> None:
    lg = logging.getLogger("fact_store.log.file")
    lg.setLevel(logging.WARNING)
    lg.addHandler(_TornTailFile(path))


def raw_writer(uri: str, journal: str, worker: int, seed: int, sizes: list[int],
               torn_log: str | None = None, crash_at: str | None = None) -> None:
    """Raw-log appends of the given payload sizes (F-02); counts torn tails it cuts."""
    if torn_log is not None:
        _count_torn_tails(torn_log)
    from log_harness import run_worker
    run_worker(uri, journal, worker=worker, count=0, sizes=",".join(map(str, sizes)),
               seed=seed, crash_at=crash_at)


def wait_all(procs: list[multiprocessing.Process], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(deadline - time.monotonic(), 0.1))


def hold_writer(uri: str, journal: str, worker: int, seed: int, hold: float) -> None:
    """Raw appends that hold the writer lock ``hold`` seconds each (F-11)."""
    from log_harness import run_worker
    run_worker(uri, journal, worker=worker, count=0, sizes="60,200,3000", seed=seed, hold=hold)


def tail_reader(path: str, stop_file: str, out: str) -> None:
    """Tail a store until ``stop_file`` exists: every record whole, t contiguous (F-12)."""
    import json

    from log_harness import parse_payload

    from fact_store.log.file import FileStore
    r = FileStore(path)
    last = 0
    reads = 0
    while True:
        stopping = os.path.exists(stop_file)
        r.wait(last, 0.05)
        for rec in r.read_after(last):
            if rec.t != last + 1:
                raise AssertionError(f"reader saw t={rec.t} after t={last}")
            parse_payload(rec.payload)  # raises on a partial payload
            last = rec.t
            reads += 1
        if stopping and r.head() == last:
            break
    r.close()
    with open(out, "w") as f:
        json.dump({"last": last, "reads": reads}, f)


# --- T-01: Jepsen-style list-append -------------------------------------------------------------

LA_SCHEMA = [
    {":db/ident": ":la/key", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":la/list", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one"},
]


def la_read(db: Any, key: str) -> list[int]:
    e = db.entid([":la/key", key])
    if e is None:
        return []
    rows = db.search(e, db.schema.attr(":la/list").id)
    return [int(x) for x in rows[0][2].split(",")] if rows and rows[0][2] else []


def la_txn(db: Any, ops: Any) -> list[Any]:
    """The registered transaction function: appends on db-before (Jepsen's Datomic
    list-append does the same); reads are recomputed by the harness from db-before."""
    lists: dict[str, list[int]] = {}
    for op in ops:
        if op[0] == "append":
            k = op[1]
            if k not in lists:
                lists[k] = la_read(db, k)
            lists[k].append(int(op[2]))
    return [{":la/key": k, ":la/list": ",".join(map(str, v))} for k, v in lists.items()]


def register_la() -> None:
    import fact_store as fs
    fs.register_tx_fn(":la/txn", la_txn)


def la_worker(uri: str, journal: str, process: int, seed: int, count: int, keys: int) -> None:
    """Run ``count`` list-append transactions of 1-4 micro-ops; journal invoke/ok/fail."""
    from fact_store.errors import StorageError, TransactionError
    register_la()
    rng = random.Random(seed)
    conn = connection(uri)
    j = JsonJournal(journal, fsync=False)
    for n in range(count):
        ops: list[list[Any]] = []
        for m in range(rng.randint(1, 4)):
            k = f"k{rng.randrange(keys)}"
            if rng.random() < 0.5:
                ops.append(["append", k, process * 10_000_000 + n * 10 + m])
            else:
                ops.append(["r", k, None])
        j.append(process=process, type="invoke", ops=ops)
        try:
            rep = conn.transact([[":la/txn", [op[:2] + [op[2]] for op in ops]]])
        except TransactionError as exc:
            j.append(process=process, type="fail", ops=ops, error=type(exc).__name__)
            continue
        except StorageError as exc:
            j.append(process=process, type="info", ops=ops, error=type(exc).__name__)
            continue
        own: dict[str, list[int]] = {}
        done = []
        for op in ops:
            if op[0] == "append":
                own.setdefault(op[1], []).append(op[2])
                done.append(op)
            else:
                done.append(["r", op[1], la_read(rep.db_before, op[1]) + own.get(op[1], [])])
        j.fsync = True
        j.append(process=process, type="ok", t=rep.t, ops=done)
        j.fsync = False
    conn.close()
    j.close()


# --- T-06 / T-07 / T-08 --------------------------------------------------------------------------

U_SCHEMA = [
    {":db/ident": ":u/id", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":u/val", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/value"},
    {":db/ident": ":u/by", ":db/valueType": ":db.type/long",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":u/counter", ":db/valueType": ":db.type/long",
     ":db/cardinality": ":db.cardinality/one"},
]


def unique_worker(uri: str, journal: str, process: int, rounds: int) -> None:
    """Per round: upsert the shared identity value, then claim the shared unique value."""
    from fact_store.errors import UniqueConflict
    conn = connection(uri)
    j = JsonJournal(journal, fsync=False)
    for r in range(rounds):
        rep = conn.transact([{":db/id": "e", ":u/id": f"id{r}", ":u/by": process}])
        j.append(kind="identity", round=r, e=rep.tempids["e"], t=rep.t)
        try:
            rep = conn.transact([{":db/id": "v", ":u/val": f"val{r}", ":u/by": process}])
            j.append(kind="value", round=r, ok=True, e=rep.tempids["v"], t=rep.t)
        except UniqueConflict:
            j.append(kind="value", round=r, ok=False)
    conn.close()
    j.close()


def cas_worker(uri: str, journal: str, process: int, seconds: float) -> None:
    """Loop ``cas counter n -> n+1``; journal each success; check read-your-writes."""
    from fact_store.errors import CasFailed
    conn = connection(uri)
    j = JsonJournal(journal, fsync=False)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db = conn.db()
        e = db.entid([":u/id", "counter"])
        n = db.entity(e)[":u/counter"]
        try:
            rep = conn.transact([[":db/cas", e, ":u/counter", n, n + 1]])
        except CasFailed:
            conn.sync()
            continue
        if conn.db().basis_t < rep.t:
            raise AssertionError(f"read-your-writes: basis {conn.db().basis_t} < t {rep.t}")
        j.append(old=n, t=rep.t)
    conn.close()
    j.close()


def sync_checker(uri: str, journals: list[str], out: str, seconds: float) -> None:
    """T-08: read the newest t acknowledged anywhere, then sync(): basis >= that t."""
    import json
    conn = connection(uri)
    checks = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        newest = 0
        for p in journals:
            try:
                with open(p, "rb") as f:
                    f.seek(max(os.path.getsize(p) - 400, 0))
                    lines = f.read().split(b"\n")[:-1]
                if lines:
                    newest = max(newest, json.loads(lines[-1])["t"])
            except (FileNotFoundError, ValueError):
                continue
        basis = conn.sync().basis_t
        if basis < newest:
            raise AssertionError(f"sync() gave basis {basis} after t={newest} was acknowledged")
        checks += 1
    conn.close()
    with open(out, "w") as f:
        json.dump({"checks": checks}, f)


def generic_tail_reader(uri: str, stop_file: str, out: str) -> None:
    """Tail any store (T-09): t contiguous, never t+1 before t, every payload whole."""
    import json

    from log_harness import parse_payload
    s = open_store(uri)
    last = reads = 0
    while True:
        stopping = os.path.exists(stop_file)
        s.wait(last, 0.05)
        for rec in s.read_after(last):
            if rec.t != last + 1:
                raise AssertionError(f"reader saw t={rec.t} after t={last}")
            parse_payload(rec.payload)
            last = rec.t
            reads += 1
        if stopping and s.head() == last:
            break
    s.close()
    with open(out, "w") as f:
        json.dump({"last": last, "reads": reads}, f)


def raw_count_writer(uri: str, journal: str, worker: int, seed: int, count: int) -> None:
    from log_harness import run_worker
    run_worker(uri, journal, worker=worker, count=count, sizes="40,200,3000", seed=seed)


def install_worker(uri: str, out: str) -> None:
    """P-05: open (creating the tables if needed) and install a schema, concurrently."""
    import json
    conn = connection(uri)
    rep = conn.transact(LA_SCHEMA)
    with open(out, "w") as f:
        json.dump({"t": rep.t}, f)
    conn.close()


# --- overseer -------------------------------------------------------------------------------------

def overseer_config(**over: Any) -> Any:
    """Short heartbeats so the J5 bound is about 1.3 s (interval 0.2 x 4 + 0.3 + 0.2)."""
    import overseer
    kw = dict(sleep_time=0.3, heartbeat_interval=0.2, heartbeat_tolerance=4.0,
              detector_interval=0.3, detector_stagger=0.2, max_attempts=5)
    kw.update(over)
    return overseer.Config(**kw)


OVERSEER_J5 = 0.2 * 4 + 0.3 + 0.2


def overseer_worker(uri: str, journal: str, types: list[str], sleep_range: tuple[float, float],
                    exit_when_done: bool = True, seed: int = 0, config: dict[str, Any] | None = None
                    ) -> None:
    """An overseer worker whose handlers journal their executions (T9)."""
    import overseer

    from tests.reliability import sidefx
    rng = random.Random(seed)
    lo, hi = sleep_range
    h = sidefx.handler(journal, (lambda: rng.uniform(lo, hi)) if hi > 0 else 0.0)
    conn = connection(uri)
    w = overseer.Worker(conn, {t: h for t in types}, overseer_config(**(config or {})), rng=rng)
    w.run(install_signals=True, exit_when_done=exit_when_done)
    conn.close()


def monitor_racer(uri: str, journal: str, jobs: list[tuple[int, int, int]], barrier: Any,
                  role: str, owner: str) -> None:
    """O-05: reset (role 'reset') or heartbeat (role 'beat') each (eid, attempt, hb_seen)."""
    from overseer import claim
    conn = connection(uri)
    j = JsonJournal(journal, fsync=False)
    barrier.wait(30)
    for e, attempt, hb in jobs:
        if role == "reset":
            ok = claim.reset(conn, e, attempt, hb, int(time.time() * 1000))
        else:
            ok = e in claim.heartbeat(conn, owner, [(e, attempt)], int(time.time() * 1000))
        j.append(e=e, role=role, ok=bool(ok))
    conn.close()


def value_writer(uri: str, journal: str, worker: int, seconds: float) -> None:
    """P-03: transact unique values; journal ack / fail / unknown for each (never other errors)."""
    from fact_store.errors import StorageError, TransactionOutcomeUnknown
    conn = None
    j = JsonJournal(journal, fsync=False)
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        v = f"w{worker}-{n}"
        n += 1
        try:
            if conn is None:
                conn = connection(uri)
            rep = conn.transact([{":p/v": v}])
            j.append(kind="ack", v=v, t=rep.t)
        except TransactionOutcomeUnknown as exc:
            j.append(kind="unknown", v=v, err=str(exc)[:200])
        except StorageError as exc:
            j.append(kind="fail", v=v, err=type(exc).__name__ + ": " + str(exc)[:200])
    if conn is not None:
        conn.close()
