"""SQLite peer of the workload (the workload of benchmarks/workload.py, section 9), standard library ``sqlite3`` only.

One EAV table ``datoms (e, a, v)`` keyed by (e, a, v), with the covering
indexes (a, e, v) and (a, v, e), in memory. Attributes are the numeric ids of
section 1, keywords are stored as their names (``"male"``), refs as eids
(person i -> i, job j -> N + j, allocated by the transaction code).

Every op of sections 6 translated to SQL:

- each Datalog pattern is a self-join, the rule a ``WITH RECURSIVE``, the
  ``not-join`` a ``NOT EXISTS``;
- pull runs one statement per pull call (pull-many: one for the whole call)
  and assembles the maps in Python, inside the timed region;
- a transaction is ``BEGIN`` .. ``COMMIT``: tempids are resolved through the
  identity attribute (a lookup, as an upsert would), cardinality-one
  replacement is a ``DELETE`` of the old value, CAS an ``UPDATE .. WHERE v =
  old`` that must change exactly one row, ``retractEntity`` deletes the
  entity's datoms and the refs that point at it;
- ``init`` bulk-loads the datom list into a bare table, then builds the two
  indexes (bypassing transaction processing, as DataScript's ``init-db``).

``run(size, quick)`` prints and returns the JSON lines; ``--serve`` serves
the ops to the runner of ``python -m benchmarks`` (benchmarks/serve.py); ``expected(size)``
runs every op once, untimed, and returns ``{op: (count, checksum)}``: the
oracle that ``python -m benchmarks --quick`` checks fact-store against at
sizes that section 8 does not list.

    .venv/bin/python -m benchmarks.peers.sqlite_peer --size 20000 [--quick] [--serve] [op ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import sys
from typing import Any, Callable

from benchmarks.workload import JOB_EXT, SCHEMA, generate, line, measure, set_checksum

SYSTEM = "sqlite-mem"
AID = {s[0]: i + 1 for i, s in enumerate(SCHEMA)}
NAME = {i + 1: s[0] for i, s in enumerate(SCHEMA)}
REF_IDS = {AID[s[0]] for s in SCHEMA if s[1] == "ref"}
A = AID  # short alias for the SQL builders below

TABLE = "CREATE TABLE datoms (e INTEGER NOT NULL, a INTEGER NOT NULL, v NOT NULL, PRIMARY KEY (e, a, v)) WITHOUT ROWID"
INDEXES = ["CREATE INDEX datoms_aev ON datoms (a, e, v)", "CREATE INDEX datoms_ave ON datoms (a, v, e)"]

READ_OPS = ["q1", "q2", "q2-switch", "q3", "q4", "q5-ref", "qpred1", "qpred2", "rule-reach", "agg",
            "job-ready", "pull-nested", "pull-many", "avet-range", "eavt-lookup"]
TX_OPS = ["init", "add-all", "add-entity", "add-1", "retract-entity"]
ALL_OPS = ["gen"] + READ_OPS + ["job-cycle"] + TX_OPS

JOB_READY = f"""
SELECT j.e, i.v, p.v FROM datoms j
  JOIN datoms i ON i.e = j.e AND i.a = {A['job/id']}
  JOIN datoms p ON p.e = j.e AND p.a = {A['job/priority']}
 WHERE j.a = {A['job/status']} AND j.v = 'pending'
   AND NOT EXISTS (SELECT 1 FROM datoms d JOIN datoms s ON s.e = d.v AND s.a = {A['job/status']}
                    WHERE d.e = j.e AND d.a = {A['job/dep']} AND s.v <> 'done')"""

# op -> (SQL, parameters, column kinds: e = entity (ext), v = value, i = integer, f = float)
QUERIES: dict[str, tuple[str, tuple[Any, ...], str]] = {
    "q1": (f"SELECT e FROM datoms WHERE a = {A['person/name']} AND v = 'Ivan'", (), "e"),
    "q2": (f"""SELECT n.e, g.v FROM datoms n JOIN datoms g ON g.e = n.e AND g.a = {A['person/age']}
               WHERE n.a = {A['person/name']} AND n.v = 'Ivan'""", (), "ev"),
    "q2-switch": (f"""SELECT n.e, g.v FROM datoms g JOIN datoms n ON n.e = g.e AND n.a = {A['person/name']}
                      AND n.v = 'Ivan' WHERE g.a = {A['person/age']}""", (), "ev"),
    "q3": (f"""SELECT n.e, g.v FROM datoms n
                 JOIN datoms g ON g.e = n.e AND g.a = {A['person/age']}
                 JOIN datoms s ON s.e = n.e AND s.a = {A['person/sex']} AND s.v = 'male'
               WHERE n.a = {A['person/name']} AND n.v = 'Ivan'""", (), "ev"),
    "q4": (f"""SELECT n.e, l.v, g.v FROM datoms n
                 JOIN datoms l ON l.e = n.e AND l.a = {A['person/last-name']}
                 JOIN datoms g ON g.e = n.e AND g.a = {A['person/age']}
                 JOIN datoms s ON s.e = n.e AND s.a = {A['person/sex']} AND s.v = 'male'
               WHERE n.a = {A['person/name']} AND n.v = 'Ivan'""", (), "evv"),
    "q5-ref": (f"""SELECT n.e, f.v, g.v FROM datoms n
                     JOIN datoms f ON f.e = n.e AND f.a = {A['person/follows']}
                     JOIN datoms l ON l.e = f.v AND l.a = {A['person/last-name']} AND l.v = 'Petrov'
                     JOIN datoms g ON g.e = f.v AND g.a = {A['person/age']}
                   WHERE n.a = {A['person/name']} AND n.v = 'Ivan'""", (), "eev"),
    "qpred1": (f"SELECT e, v FROM datoms WHERE a = {A['person/salary']} AND v > 50000", (), "ev"),
    "qpred2": (f"SELECT e, v FROM datoms WHERE a = {A['person/salary']} AND v > ?", (50000,), "ev"),
    "rule-reach": (f"""WITH RECURSIVE reach(y) AS (
                         SELECT f.v FROM datoms r JOIN datoms f ON f.e = r.e AND f.a = {A['person/follows']}
                          WHERE r.a = {A['person/id']} AND r.v = ?
                         UNION
                         SELECT f.v FROM reach JOIN datoms f ON f.e = reach.y AND f.a = {A['person/follows']})
                       SELECT y FROM reach""", (2,), "e"),
    "agg": (f"""SELECT n.v, s.v, count(n.e), sum(y.v), avg(g.v) FROM datoms n
                  JOIN datoms s ON s.e = n.e AND s.a = {A['person/sex']}
                  JOIN datoms y ON y.e = n.e AND y.a = {A['person/salary']}
                  JOIN datoms g ON g.e = n.e AND g.a = {A['person/age']}
                WHERE n.a = {A['person/name']} GROUP BY n.v, s.v""", (), "vvvif"),
    "job-ready": (JOB_READY, (), "evv"),
}

PULL_NESTED = f"""
SELECT 0, a, v FROM datoms WHERE e = ?1 AND a IN ({A['person/name']}, {A['person/last-name']},
       {A['person/age']}, {A['person/alias']}, {A['person/follows']})
UNION ALL
SELECT c.e, c.a, c.v FROM datoms f JOIN datoms c ON c.e = f.v AND c.a IN ({A['person/name']}, {A['person/age']})
 WHERE f.e = ?1 AND f.a = {A['person/follows']}"""
PULL_MANY = f"""SELECT e, a, v FROM datoms WHERE e IN (SELECT value FROM json_each(?))
                 AND a BETWEEN {A['person/id']} AND {A['person/alias']}"""
MANY_IDS = {AID["person/alias"], AID["person/follows"], AID["job/dep"]}


def open_db(indexes: bool = True) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    con.execute(TABLE)
    if indexes:
        for ddl in INDEXES:
            con.execute(ddl)
    return con


def datom_rows(persons: list[Any], jobs: list[Any]) -> list[tuple[int, int, Any]]:
    """The datom list of op ``init``: person i -> eid i, job j -> eid N + j, in schema order."""
    n = len(persons)
    rows: list[tuple[int, int, Any]] = []
    for p in persons:
        e = p.id
        rows += [(e, A["person/id"], p.id), (e, A["person/name"], p.name), (e, A["person/last-name"], p.last),
                 (e, A["person/sex"], p.sex), (e, A["person/age"], p.age), (e, A["person/salary"], p.salary)]
        rows += [(e, A["person/alias"], al) for al in p.aliases]
        rows += [(e, A["person/follows"], c) for c in p.follows]
    for j in jobs:
        e = n + j.id
        rows += [(e, A["job/id"], j.id), (e, A["job/status"], j.status), (e, A["job/priority"], j.priority)]
        rows += [(e, A["job/dep"], n + d) for d in j.deps]
    return rows


def ext_map(con: sqlite3.Connection) -> dict[int, int]:
    ext = dict(con.execute("SELECT e, v FROM datoms WHERE a = ?", (A["person/id"],)))
    ext.update((e, JOB_EXT + v) for e, v in con.execute("SELECT e, v FROM datoms WHERE a = ?", (A["job/id"],)))
    return ext


def datom_tuples(rows: Any, ext: dict[int, int]) -> list[tuple[int, str, Any]]:
    return [(ext[e], NAME[a], ext[v] if a in REF_IDS else v) for e, a, v in rows]


def fingerprint(con: sqlite3.Connection) -> tuple[int, int]:
    ext = ext_map(con)
    rows = datom_tuples(con.execute("SELECT e, a, v FROM datoms"), ext)
    return len(rows), set_checksum(rows)


def query_checksum(result: list[Any], kinds: str, ext: dict[int, int]) -> tuple[int, int]:
    conv: dict[str, Callable[[Any], Any]] = {"e": ext.__getitem__, "v": lambda x: x, "i": int, "f": float}
    return len(result), set_checksum([tuple(conv[k](x) for k, x in zip(kinds, row)) for row in result])


def pull_leaves(maps: list[dict[str, Any]]) -> tuple[int, int]:
    """(count, checksum) of the leaves of pulled maps (section 4)."""
    leaves: list[tuple[str, Any]] = []

    def walk(m: dict[str, Any]) -> None:
        for k, v in m.items():
            for x in (v if isinstance(v, list) else [v]):
                if isinstance(x, dict):
                    walk(x)
                else:
                    leaves.append((k, x))
    for m in maps:
        walk(m)
    return len(leaves), set_checksum(leaves)


def entities_tx(persons: list[Any], jobs: list[Any]) -> list[tuple[str, int, Any, list[tuple[int, Any, bool]]]]:
    """The add-all entity maps in native form: (tempid, identity attr, its value, [(a, v, v is a tempid)])."""
    out = []
    for p in persons:
        attrs = [(A["person/name"], p.name, False), (A["person/last-name"], p.last, False),
                 (A["person/sex"], p.sex, False), (A["person/age"], p.age, False),
                 (A["person/salary"], p.salary, False)]
        attrs += [(A["person/alias"], al, False) for al in p.aliases]
        attrs += [(A["person/follows"], f"p{c}", True) for c in p.follows]
        out.append((f"p{p.id}", A["person/id"], p.id, attrs))
    for j in jobs:
        attrs = [(A["job/status"], j.status, False), (A["job/priority"], j.priority, False)]
        attrs += [(A["job/dep"], f"j{d}", True) for d in j.deps]
        out.append((f"j{j.id}", A["job/id"], j.id, attrs))
    return out


def transact_entities(con: sqlite3.Connection, ents: list[Any], alloc: Callable[[], int]) -> dict[str, int]:
    """One transaction of entity maps: resolve the tempids (upsert through the identity), insert."""
    ex = con.execute
    ex("BEGIN")
    ids: dict[str, int] = {}
    for tid, ia, iv, _ in ents:
        hit = ex("SELECT e FROM datoms WHERE a = ? AND v = ?", (ia, iv)).fetchone()
        ids[tid] = hit[0] if hit else alloc()
    rows = []
    for tid, ia, iv, attrs in ents:
        e = ids[tid]
        rows.append((e, ia, iv))
        rows += [(e, a, ids[v] if ref else v) for a, v, ref in attrs]
    con.executemany("INSERT OR IGNORE INTO datoms VALUES (?, ?, ?)", rows)
    ex("COMMIT")
    return ids


class SqlitePeer:
    """The standard db and every op of the workload, on SQLite in memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.persons, self.jobs = generate(size)
        self.rows = datom_rows(self.persons, self.jobs)
        self.con = self.load(self.rows)
        self.ext = ext_map(self.con)
        self.eid = {p.id: p.id for p in self.persons}  # person id -> eid (untimed lookup)
        self.picks: list[int] = []

    @staticmethod
    def load(rows: list[tuple[int, int, Any]]) -> sqlite3.Connection:
        con = open_db()
        con.execute("BEGIN")
        con.executemany("INSERT INTO datoms VALUES (?, ?, ?)", rows)
        con.execute("COMMIT")
        con.execute("ANALYZE")
        return con

    # -- read ops ---------------------------------------------------------------

    def query(self, op: str) -> tuple[Callable[[], Any], Callable[[Any], tuple[int, int]]]:
        sql, params, kinds = QUERIES[op]
        con = self.con
        return (lambda: con.execute(sql, params).fetchall()), (lambda r: query_checksum(r, kinds, self.ext))

    def read(self, op: str) -> tuple[Callable[[], Any], Callable[[Any], tuple[int, int]]]:
        if op in QUERIES:
            return self.query(op)
        con, ext = self.con, self.ext
        if op == "pull-nested":
            eids = [self.eid[i] for i in range(1, 1001)]
            names = NAME

            def pull_one(e: int) -> dict[str, Any]:
                m: dict[str, Any] = {}
                kids: dict[int, dict[str, Any]] = {}
                for src, a, v in con.execute(PULL_NESTED, (e,)):
                    if src == 0:
                        if a == A["person/alias"]:
                            m.setdefault("person/alias", []).append(v)
                        elif a == A["person/follows"]:
                            kids[v] = {}
                        else:
                            m[names[a]] = v
                    else:
                        kids.setdefault(src, {})[names[a]] = v
                if kids:
                    m["person/follows"] = list(kids.values())
                return m
            return (lambda: [pull_one(e) for e in eids]), pull_leaves
        if op == "pull-many":
            eids = [self.eid[i] for i in range(10, 20001, 10) if i <= self.size]
            arg = json.dumps(eids)

            def pull_many() -> list[dict[str, Any]]:
                maps: dict[int, dict[str, Any]] = {e: {} for e in eids}
                for e, a, v in con.execute(PULL_MANY, (arg,)):
                    if a in MANY_IDS:
                        maps[e].setdefault(NAME[a], []).append(v)
                    else:
                        maps[e][NAME[a]] = v
                return [maps[e] for e in eids]
            return pull_many, pull_leaves
        if op == "avet-range":
            sql = f"SELECT e, v FROM datoms WHERE a = {A['person/salary']} AND v >= ? AND v <= ? ORDER BY v, e"
            return (lambda: con.execute(sql, (20000, 29999)).fetchall()), \
                (lambda r: query_checksum(r, "ev", ext))
        if op == "eavt-lookup":
            eids = [self.eid[i] for i in range(5, 20000, 10) if i <= self.size]
            sql = "SELECT e, a, v FROM datoms WHERE e = ?"

            def lookups() -> list[list[Any]]:
                return [con.execute(sql, (e,)).fetchall() for e in eids]

            def check(r: list[list[Any]]) -> tuple[int, int]:
                rows = datom_tuples(itertools.chain.from_iterable(r), ext)
                return len(rows), set_checksum(rows)
            return lookups, check
        raise KeyError(op)

    # -- job-cycle --------------------------------------------------------------

    def job_cycle(self) -> list[int]:
        con = self.con
        ex = con.execute
        status = A["job/status"]
        picks = []
        for _ in range(50):
            rows = ex(JOB_READY).fetchall()
            if not rows:
                break
            j, jid, _p = min(rows, key=lambda r: (-r[2], r[1]))
            ex("BEGIN")
            if ex("UPDATE datoms SET v = 'running' WHERE e = ? AND a = ? AND v = 'pending'",
                  (j, status)).rowcount != 1:
                ex("ROLLBACK")
                raise RuntimeError(f"cas failed on job {jid}")
            ex("COMMIT")
            ex("BEGIN")
            ex("DELETE FROM datoms WHERE e = ? AND a = ?", (j, status))
            ex("INSERT INTO datoms VALUES (?, ?, 'done')", (j, status))
            ex("COMMIT")
            picks.append(jid)
        self.picks = picks
        return picks

    def restore_jobs(self) -> None:
        """Untimed: set the statuses of the last job-cycle's picks back to pending."""
        n, status = self.size, A["job/status"]
        self.con.executemany("UPDATE datoms SET v = 'pending' WHERE e = ? AND a = ?",
                             [(n + jid, status) for jid in self.picks])
        self.picks = []

    # -- transaction ops ----------------------------------------------------------

    def tx_op(self, op: str) -> tuple[Callable[[], Any], Callable[[Any], Any]]:
        """(setup, fn): setup builds the start state untimed, fn(state) returns the connection."""
        persons = self.persons
        if op == "init":
            rows = self.rows

            def init(con: sqlite3.Connection) -> sqlite3.Connection:
                con.execute("BEGIN")
                con.executemany("INSERT INTO datoms VALUES (?, ?, ?)", rows)
                for ddl in INDEXES:
                    con.execute(ddl)
                con.execute("COMMIT")
                return con
            return (lambda: open_db(indexes=False)), init
        if op == "add-all":
            ents = entities_tx(persons, self.jobs)
            return open_db, lambda con: (transact_entities(con, ents, itertools.count(1).__next__), con)[1]
        if op == "add-entity":
            per = [[ent] for ent in entities_tx(persons, [])]
            for ent in per:  # add-entity has no follows
                ent[0][3][:] = [x for x in ent[0][3] if not x[2]]

            def add_entity(con: sqlite3.Connection) -> sqlite3.Connection:
                alloc = itertools.count(1).__next__
                for ents in per:
                    transact_entities(con, ents, alloc)
                return con
            return open_db, add_entity
        if op == "add-1":
            vals = [(p.id, ((A["person/name"], p.name), (A["person/last-name"], p.last),
                            (A["person/sex"], p.sex), (A["person/age"], p.age),
                            (A["person/salary"], p.salary))) for p in persons]
            pid = A["person/id"]

            def add_1(con: sqlite3.Connection) -> sqlite3.Connection:
                ex = con.execute
                alloc = itertools.count(1).__next__
                for i, avs in vals:
                    ex("BEGIN")
                    hit = ex("SELECT e FROM datoms WHERE a = ? AND v = ?", (pid, i)).fetchone()
                    e = hit[0] if hit else alloc()
                    ex("INSERT OR IGNORE INTO datoms VALUES (?, ?, ?)", (e, pid, i))
                    ex("COMMIT")
                    for a, v in avs:  # cardinality one: the old value (if any) is retracted
                        ex("BEGIN")
                        ex("DELETE FROM datoms WHERE e = ? AND a = ?", (e, a))
                        ex("INSERT INTO datoms VALUES (?, ?, ?)", (e, a, v))
                        ex("COMMIT")
                return con
            return open_db, add_1
        if op == "retract-entity":
            eids = [self.eid[p.id] for p in persons]
            refs = tuple(sorted(REF_IDS))

            def copy() -> sqlite3.Connection:
                dst = sqlite3.connect(":memory:", isolation_level=None)
                self.con.backup(dst)
                return dst

            def retract(con: sqlite3.Connection) -> sqlite3.Connection:
                ex = con.execute
                for e in eids:
                    ex("BEGIN")
                    ex("DELETE FROM datoms WHERE e = ?", (e,))
                    ex("DELETE FROM datoms WHERE a IN (?, ?) AND v = ?", (*refs, e))
                    ex("COMMIT")
                return con
            return copy, retract
        raise KeyError(op)


def history_checksum(picks: list[int]) -> tuple[int, int]:
    """The expected (count, checksum) of op ``history-status`` (section 10) for job-cycle's picks."""
    rows = []
    for jid in picks:
        rows += [(jid, "pending", True), (jid, "pending", False), (jid, "running", True),
                 (jid, "running", False), (jid, "done", True)]
    return len(rows), set_checksum(rows)


def cycle_checksum(picks: list[int]) -> tuple[int, int]:
    return len(picks), sum(k * jid for k, jid in enumerate(picks, 1)) % 2147483647


def expected(size: int, tx_ops: bool = True) -> dict[str, tuple[int, int]]:
    """Every op once, untimed: ``{op: (count, checksum)}`` (the oracle at sizes section 8 lacks).

    ``tx_ops=False`` leaves out the transaction ops (the slow part at large sizes).
    """
    peer = SqlitePeer(size)
    out = {"gen": fingerprint(peer.con)}
    for op in READ_OPS:
        fn, check = peer.read(op)
        out[op] = check(fn())
    out["asof-ready"] = out["job-ready"]
    picks = peer.job_cycle()
    out["job-cycle"] = cycle_checksum(picks)
    out["history-status"] = history_checksum(picks)
    peer.restore_jobs()
    for op in TX_OPS if tx_ops else []:
        setup, fn = peer.tx_op(op)
        out[op] = fingerprint(fn(setup()))
    return out


def run(size: int, quick: bool = False, ops: list[str] | None = None) -> list[dict[str, Any]]:
    """Time the ops (all by default) in the order of section 5; print and return the JSON lines."""
    import time
    wanted = ops or ALL_OPS
    t0 = time.perf_counter()
    peer = SqlitePeer(size)
    out = []
    extra = {"sqlite": sqlite3.sqlite_version}
    if "gen" in wanted:
        timing, _ = measure(lambda _: generate(size), "tx", setup=lambda: None, quick=quick)
        out.append(line(SYSTEM, "gen", size, timing, *fingerprint(peer.con), **extra))
    for op in READ_OPS:
        if op in wanted:
            fn, check = peer.read(op)
            timing, result = measure(fn, "read", quick=quick)
            out.append(line(SYSTEM, op, size, timing, *check(result), **extra))
    if "job-cycle" in wanted:
        timing, picks = measure(lambda _: peer.job_cycle(), "tx", setup=peer.restore_jobs, quick=quick)
        out.append(line(SYSTEM, "job-cycle", size, timing, *cycle_checksum(picks), **extra))
        peer.restore_jobs()
    for op in TX_OPS:
        if op in wanted:
            setup, fn = peer.tx_op(op)
            timing, con = measure(fn, "tx", setup=setup, quick=quick)
            out.append(line(SYSTEM, op, size, timing, *fingerprint(con), **extra))
    del t0
    return out


def server_ops(peer: SqlitePeer) -> dict[str, Callable[[], Any]]:
    """Every op as an op-server factory (benchmarks/serve.py), on one standard db."""
    from benchmarks.serve import Op
    extra = {"sqlite": sqlite3.sqlite_version}
    size = peer.size

    def read(op: str) -> Callable[[], Op]:
        def make() -> Op:
            fn, check = peer.read(op)
            return Op("read", fn, check, extra=extra)
        return make

    def tx(op: str) -> Callable[[], Op]:
        def make() -> Op:
            setup, fn = peer.tx_op(op)
            return Op("tx", fn, fingerprint, setup=setup, extra=extra)
        return make

    table: dict[str, Callable[[], Any]] = {
        "gen": lambda: Op("tx", lambda _: generate(size), lambda _: fingerprint(peer.con), extra=extra)}
    table.update((op, read(op)) for op in READ_OPS)
    table["job-cycle"] = lambda: Op("tx", lambda _: peer.job_cycle(), cycle_checksum, setup=peer.restore_jobs,
                                    done=peer.restore_jobs, extra=extra)
    table.update((op, tx(op)) for op in TX_OPS)
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="SQLite peer of the fact-store benchmark workload")
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--expected", action="store_true", help="print the untimed oracle values as JSON")
    ap.add_argument("--serve", action="store_true", help="serve the ops to the runner (benchmarks/serve.py)")
    ap.add_argument("ops", nargs="*")
    args = ap.parse_args(argv)
    if args.serve:
        from benchmarks.serve import serve
        serve({SYSTEM: server_ops(SqlitePeer(args.size))}, args.quick, sqlite=sqlite3.sqlite_version)
        return 0
    if args.expected:
        print(json.dumps(expected(args.size)))
        return 0
    rows = run(args.size, args.quick, args.ops or None)
    return 0 if all(r.get("ok", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
