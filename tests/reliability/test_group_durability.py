"""Group mode (docs/GUARANTEES.md): nothing another process read may vanish in a crash.

``durability=group`` lets a writer commit before its record is durable (the flush
is shared after the lock). Readers must still see only the durable prefix of the
log, so a crash can take back only records no other process saw. PostgreSQL:
writer processes transact in group mode while reader processes follow the log
(woken by LISTEN/NOTIFY, i.e. as early as possible) and journal every record they
read; the server is crashed (``pg_ctl stop -m immediate``) again and again. Every
record a reader journaled must be in the log afterwards, with the same tx uuid.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import fact_store as fs

from tests.reliability.conftest import Scenario, scale
from tests.reliability.journal import JsonJournal
from tests.reliability.workers import connection, fork_child

SCHEMA = [{":db/ident": ":g/v", ":db/valueType": ":db.type/string",
           ":db/cardinality": ":db.cardinality/one"}]


def _writer(uri: str, stop: str, name: str) -> None:
    """Transact values until ``stop`` exists; reconnect after a crash took the log's tail."""
    conn = None
    n = 0
    while not Path(stop).exists():
        try:
            if conn is None:
                conn = connection(uri)
            conn.transact([{":g/v": f"{name}-{n}"}])
            n += 1
        except fs.FactStoreError as exc:
            if fs.recovery(exc) == fs.RECONNECT and conn is not None:
                conn.close()
                conn = None
            time.sleep(0.01)


def _reader(uri: str, stop: str, journal: str) -> None:
    """Follow the log as closely as possible; journal each record read (t, tx uuid)."""
    from fact_store.log import open_store
    j = JsonJournal(journal, fsync=False)
    store = None
    last = 0
    while not Path(stop).exists():
        try:
            if store is None:
                store = open_store(uri)
            for rec in store.read_after(last):
                j.append(t=rec.t, u=str(rec.tx_uuid))
                last = rec.t
            store.wait(last, 0.5)
        except fs.FactStoreError as exc:
            if fs.recovery(exc) == fs.RECONNECT:
                j.append(moved=str(exc)[:200])  # a record this reader read is gone
                store = None
                last = 0
            else:
                time.sleep(0.01)


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> tuple[Any, str]:
    pytest.importorskip("psycopg")
    from tests.pg import fresh_schema
    server, schema = fresh_schema(request)
    if not server.can_restart:
        pytest.skip("needs the harness's own server to crash it")
    return server, schema


def test_group_mode_pg_crash_loses_no_record_another_process_read(
        scenario: Scenario, pg: tuple[Any, str]) -> None:
    server, schema = pg
    uri = server.store_uri(schema, durability="group")
    conn = connection(uri)
    conn.transact(SCHEMA)
    conn.close()
    crashes = scale(4, 100)
    stop = str(scenario.dir / "stop")
    journals = [str(scenario.dir / f"reader{i}") for i in range(2)]
    procs = [fork_child(_writer, uri, stop, f"w{i}") for i in range(2)]
    procs += [fork_child(_reader, uri, stop, j) for j in journals]

    def reads() -> int:
        return sum(len(JsonJournal.read(j)) for j in journals)

    def progress(n: int) -> None:
        base, limit = reads(), time.monotonic() + 120
        while reads() < base + n:
            assert time.monotonic() < limit, "the readers read nothing new for 120 s"
            time.sleep(0.01)

    try:
        for _ in range(crashes):
            progress(20)
            server.stop("immediate")
            time.sleep(0.2)
            server.start()
        progress(20)
    finally:
        Path(stop).touch()
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.kill()
    check = connection(server.store_uri(schema))
    in_log = {rec.t: str(rec.tx_uuid) for rec in check.store.read_after(0)}
    check.close()
    entries = [e for j in journals for e in JsonJournal.read(j)]
    violations = [f"t={e['t']} ({e['u']}) was read, then lost" for e in entries
                  if "t" in e and in_log.get(e["t"]) != e["u"]]
    violations += [f"a reader's store moved: {e['moved']}" for e in entries if "moved" in e]
    scenario.report("G-PG", crashes, len(violations), records=len(in_log),
                    reads=sum("t" in e for e in entries))
    assert not violations, violations[:10]
