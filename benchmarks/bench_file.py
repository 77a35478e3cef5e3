"""Transaction ops through ``conn.transact`` on a ``file:`` store: systems fact-store-file and -file-fsync.

The same add-all, add-entity and job-cycle as on the mem store, but every
transaction goes through a connection to a ``file:`` store in a temporary
directory (a fresh store per repetition, made untimed): ``durability=none``
(system ``fact-store-file``: written, not fsynced) and ``durability=fsync``
(``fact-store-file-fsync``: one fsync per transaction; add-all and job-cycle
only, add-entity's 20,000 fsyncs would take minutes).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from benchmarks.bench_transact import add_all_tx, fingerprint, schema_tx
from benchmarks.serve import Op
from benchmarks.workload import generate

FILE_OPS = {"none": ["add-all", "add-entity", "job-cycle"], "fsync": ["add-all", "job-cycle"]}
SYSTEMS = {"none": "fact-store-file", "fsync": "fact-store-file-fsync"}


class Stores:
    """Fresh stores in one temporary directory; each new one closes and deletes the ones before."""

    def __init__(self, durability: str) -> None:
        self.durability = durability
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-file-"))
        self.opened: list[Any] = []
        self.counter = 0

    def uri(self) -> str:
        self.counter += 1
        return f"file:{self.tmp / ('s%d' % self.counter)}?durability={self.durability}&max_tx_bytes={1 << 30}"

    def cleanup(self) -> None:
        while self.opened:
            conn = self.opened.pop()
            conn.close()
            shutil.rmtree(conn.uri[5:].split("?")[0], ignore_errors=True)

    def fresh(self) -> Any:
        """An empty store with the schema, opened."""
        import fact_store as fs
        self.cleanup()
        conn = fs.connect(self.uri(), max_tx_datoms=None)
        conn.transact(schema_tx())
        self.opened.append(conn)
        return conn

    def copy_of(self, src: str) -> Any:
        """A copy of the store directory ``src``, opened."""
        import fact_store as fs
        self.cleanup()
        u = self.uri()
        shutil.copytree(src, u[5:].split("?")[0])
        conn = fs.connect(u, max_tx_datoms=None)
        self.opened.append(conn)
        return conn

    def close(self) -> None:
        self.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)


def ops(size: int, durability: str, job_cycle: Callable[..., list[int]],
        cycle_checksum: Callable[[list[int]], tuple[int, int]]) -> dict[str, Callable[[], Op]]:
    """This durability's ops as op-server factories (benchmarks/serve.py)."""
    data: list[Any] = []

    def workload() -> tuple[Any, Any]:
        if not data:
            data.extend(generate(size))
        return data[0], data[1]

    def add_all() -> Op:
        persons, jobs = workload()
        tx = add_all_tx(persons, jobs)
        stores = Stores(durability)
        return Op("tx", lambda conn: conn.transact(tx).db_after, fingerprint, setup=stores.fresh,
                  done=stores.close, extra={"durability": durability})

    def add_entity() -> Op:
        persons, _ = workload()
        txs = []
        for m in add_all_tx(persons, []):
            m = dict(m, **{":db/id": "p"})
            m.pop(":person/follows", None)
            txs.append([m])
        stores = Stores(durability)

        def run(conn: Any) -> Any:
            for t in txs:
                conn.transact(t)
            return conn.db()
        return Op("tx", run, fingerprint, setup=stores.fresh, done=stores.close,
                  extra={"durability": durability})

    def cycle() -> Op:
        persons, jobs = workload()
        stores = Stores(durability)
        template = stores.fresh()
        template.transact(add_all_tx(persons, jobs))
        template.checkpoint()  # the copies open from the snapshot instead of replaying the log
        src = template.uri[5:].split("?")[0]
        template.close()
        stores.opened.clear()

        def run(conn: Any) -> list[int]:
            return job_cycle(conn.db(), lambda _db, t: conn.transact(t).db_after)
        return Op("tx", run, cycle_checksum, setup=lambda: stores.copy_of(src), done=stores.close,
                  extra={"durability": durability})

    table = {"add-all": add_all, "add-entity": add_entity, "job-cycle": cycle}
    return {op: table[op] for op in FILE_OPS[durability]}
