"""Post-crash checks shared by the scenarios: acknowledged txs present exactly once,
t contiguous, records whole, ``verify`` clean, indexes equal to a full replay."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fact_store.connection import Connection, _decode
from fact_store.db import Db
from fact_store.log import verify
from fact_store.log.file import FileStore
from fact_store.peer import replay

from tests.reliability.journal import JsonJournal, datom_digest


class TornTailCounter(logging.Handler):
    """Counts the torn-tail cuts the store logs in this process."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.cuts = 0
        self.bytes = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "cutting a torn tail" in record.getMessage():
            self.cuts += 1
            self.bytes += int(record.args[1])  # type: ignore[index]

    def __enter__(self) -> "TornTailCounter":
        lg = logging.getLogger("fact_store.log.file")
        self._level = lg.level
        lg.addHandler(self)
        if lg.getEffectiveLevel() > logging.WARNING:
            lg.setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc: Any) -> None:
        lg = logging.getLogger("fact_store.log.file")
        lg.removeHandler(self)
        lg.setLevel(self._level)


def index_fingerprint(db: Db) -> tuple[Any, ...]:
    """Everything a query can see of a Db: the 4 covering indexes and history, typed."""
    def typed(rows: Any) -> list[tuple[Any, ...]]:
        return [tuple((type(x).__name__, x) for x in r) for r in rows]
    return (db.basis_t, db.next_eid, *(typed(db.index(n)) for n in ("eavt", "aevt", "avet", "vaet")),
            typed(db.history_index()))


def full_replay(store: FileStore) -> Db:
    return replay((r.t,) + _decode(r.payload) for r in store.read_after(0))


@dataclass
class ConnCheck:
    head: int
    acked: int
    torn_cuts: int
    keys: dict[str, int] = field(default_factory=dict)


def check_conn_store(path: str | Path, journals: list[Path], key_attr: str = ":w/key",
                     compare_indexes: bool = True) -> ConnCheck:
    """After a crash: every journal line (``t``, ``key``, ``d`` digest) names a record
    present exactly once at its t with the same datoms; t contiguous; verify clean;
    a Connection's db (snapshot + tail) equals a full replay of the log.

    Raises AssertionError naming the violation.
    """
    acks = JsonJournal.read_all(journals)  # read first: what they name must be in the log
    with TornTailCounter() as counter:
        store = FileStore(str(path))
        try:
            with store.writer() as head:  # cuts a torn tail; LogCorrupted fails the check
                records = list(store.read_after(0))
            report = verify(str(path), decode=compare_indexes)
            assert report.ok and report.torn_tail_bytes == 0, report.summary()
            assert [r.t for r in records] == list(range(1, head + 1)), "t not contiguous from 1"
            by_t: dict[int, tuple[str, str | None]] = {}
            keys: dict[str, int] = {}
            key_id = None
            for r in records:
                _instant, datoms = _decode(r.payload)
                if key_id is None:
                    for d in datoms:
                        if d[2] == key_attr:
                            key_id = d[0]
                key = None
                for d in datoms:
                    if d[1] == key_id and d[4]:
                        key = d[2]
                if key is not None:
                    assert key not in keys, f"tx {key} appears twice (t={keys[key]} and t={r.t})"
                    keys[key] = r.t
                by_t[r.t] = (datom_digest(datoms), key)
            for a in acks:
                got = by_t.get(a["t"])
                assert got is not None, f"acknowledged t={a['t']} ({a['key']}) missing, head={head}"
                assert got[1] == a["key"], (f"t={a['t']} holds {got[1]}, acknowledged as "
                                            f"{a['key']}")
                assert got[0] == a["d"], f"t={a['t']}: datoms differ from the acknowledged ones"
            if compare_indexes:
                conn = Connection(f"file:{path}", store)
                via_conn = conn.db()
                assert index_fingerprint(via_conn) == index_fingerprint(full_replay(store)), \
                    "indexes after reopen (snapshot + tail) differ from a full replay"
        finally:
            store.close()
    return ConnCheck(head, len(acks), counter.cuts, keys)
