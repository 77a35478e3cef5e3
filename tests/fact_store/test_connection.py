"""Connection behaviour on every store: transact, db, sync, listen, log, checkpoint, reopen."""

import threading

import pytest

import fact_store as fs

SCHEMA = [
    {":db/ident": ":c/name", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one",
     ":db/unique": ":db.unique/identity"},
    {":db/ident": ":c/n", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":c/tags", ":db/valueType": ":db.type/keyword", ":db/cardinality": ":db.cardinality/many"},
]


def test_transact_and_read_back(conn):
    conn.transact(SCHEMA)
    rep = conn.transact([{":db/id": "a", ":c/name": "A", ":c/n": 1, ":c/tags": [":x", ":y"]}])
    db = conn.db()
    assert db is rep.db_after
    e = rep.tempids["a"]
    assert db.entity(e)[":c/tags"] == {fs.Keyword(":x"), fs.Keyword(":y")}
    assert [d.v for d in db.datoms(":avet", ":c/name", "A")] == ["A"]


def test_failed_transaction_leaves_no_trace(conn):
    conn.transact(SCHEMA)
    t = conn.db().basis_t
    with pytest.raises(fs.TransactionError):
        conn.transact([{":c/name": "B", ":c/n": "not a number"}])
    assert conn.sync().basis_t == t
    assert [x.t for x in conn.log().tx_range()] == list(range(1, t + 1))


def test_listen_sees_each_report(conn):
    conn.transact(SCHEMA)
    seen = []
    got = threading.Event()

    def cb(rep):
        seen.append(rep.db_after.basis_t)
        got.set()

    key = conn.listen(cb)
    conn.transact([{":c/name": "L"}])
    assert got.wait(5)
    assert seen[-1] == conn.db().basis_t
    conn.unlisten(key)


def test_log_tx_range(conn):
    conn.transact(SCHEMA)
    conn.transact([{":c/name": "A"}])
    conn.transact([{":c/name": "B"}])
    txs = list(conn.log().tx_range(2, 4))
    assert [x.t for x in txs] == [2, 3]
    assert txs[0].tx == fs.t_to_tx(2)
    assert any(d.v == "A" for d in txs[0].data)


def test_reopen_equals_replay_and_snapshot(store_uri):
    c = fs.connect(store_uri)
    c.transact(SCHEMA)
    for i in range(20):
        c.transact([{":c/name": f"n{i}", ":c/n": i}])
    c.checkpoint()
    for i in range(5):
        c.transact([{":c/name": f"n{i}", ":c/n": i + 100}])
    before = list(c.db().index("eavt")), list(c.db().history_index()), c.db().basis_t
    c.close()
    if store_uri.startswith("mem:"):
        return
    c2 = fs.connect(store_uri)
    after = list(c2.db().index("eavt")), list(c2.db().history_index()), c2.db().basis_t
    c2.close()
    assert after == before


def test_as_of_and_history_through_connection(conn):
    conn.transact(SCHEMA)
    r1 = conn.transact([{":c/name": "A", ":c/n": 1}])
    conn.transact([{":c/name": "A", ":c/n": 2}])
    db = conn.db()
    e = db.entid([":c/name", "A"])
    assert db.as_of(r1.db_after.basis_t).entity(e)[":c/n"] == 1
    assert db.entity(e)[":c/n"] == 2
    assert sorted((d.v, d.added) for d in db.history().datoms(":eavt", e, ":c/n")) == [
        (1, False), (1, True), (2, True)]


def test_closed_connection_refuses(store_uri):
    c = fs.connect(store_uri)
    c.close()
    with pytest.raises(fs.ConnectionClosed):
        c.db()


def test_same_uri_gives_same_connection(store_uri):
    c = fs.connect(store_uri)
    assert fs.connect(store_uri) is c
    c.close()


def test_tuple_values_survive_the_log_and_snapshots(store_uri):
    c = fs.connect(store_uri)
    c.transact([
        {":db/ident": ":t/a", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one"},
        {":db/ident": ":t/b", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one"},
        {":db/ident": ":t/pair", ":db/valueType": ":db.type/tuple", ":db/tupleTypes": [":db.type/long", ":db.type/string"],
         ":db/cardinality": ":db.cardinality/many"},
    ])
    c.transact([{":db/ident": ":t/ab", ":db/valueType": ":db.type/tuple", ":db/tupleAttrs": [":t/a", ":t/b"],
                 ":db/cardinality": ":db.cardinality/one"}])
    c.transact([{":t/a": "x", ":t/b": 1, ":t/pair": [(1, "p"), (2, None)]}, {":t/a": "y"}])
    c.checkpoint()
    c.transact([{":t/a": "z", ":t/pair": [(None, "q")]}])
    before = list(c.db().index("eavt")), list(c.db().index("avet"))
    c.close()
    if store_uri.startswith("mem:"):
        return
    c2 = fs.connect(store_uri)
    assert (list(c2.db().index("eavt")), list(c2.db().index("avet"))) == before
    assert sorted(d.v for d in c2.db().datoms(":aevt", ":t/ab")) == [("x", 1), ("y", None), ("z", None)]
    c2.close()


def test_tx_report_queue_gets_every_report_in_order_until_removed(conn):
    import queue
    import subprocess
    import sys

    q = conn.tx_report_queue()
    assert conn.tx_report_queue() is q  # one queue per connection, as Datomic's
    conn.transact(SCHEMA)
    conn.transact([{":c/name": "Q1"}])
    reports = [q.get(timeout=30), q.get(timeout=30)]
    assert [r.db_after.basis_t for r in reports] == [1, 2]
    assert reports[1].db_before.basis_t == 1 and any(d.v == "Q1" for d in reports[1].tx_data)
    if not conn.uri.startswith("mem:"):  # another process's transaction arrives too
        code = ("import fact_store as fs, sys; c = fs.connect(sys.argv[1]); "
                "c.transact([{':c/name': 'Q2'}]); c.close()")
        subprocess.run([sys.executable, "-c", code, conn.uri], check=True, timeout=120)
        other = q.get(timeout=60)
        assert other.db_after.basis_t == 3 and any(d.v == "Q2" for d in other.tx_data)
    conn.remove_tx_report_queue()
    conn.transact([{":c/name": "Q3"}])
    with pytest.raises(queue.Empty):
        q.get_nowait()
    assert conn.tx_report_queue() is not q
