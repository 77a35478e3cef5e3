"""Db values: immutability across branches and threads, the user API (datoms, index_range, entity)."""

import threading

import pytest

import fact_store as fs
from fact_store.db import Db
from fact_store.tx.apply import transact

SCHEMA = [
    {":db/ident": ":d/name", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one",
     ":db/unique": ":db.unique/identity"},
    {":db/ident": ":d/n", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":d/friend", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many"},
]


@pytest.fixture()
def db():
    return transact(Db.empty(), SCHEMA).db_after


def test_branches_keep_their_own_history(db):
    db1 = transact(db, [{":d/name": "a", ":d/n": 1}]).db_after
    left = transact(db1, [{":d/name": "a", ":d/n": 2}]).db_after
    right = transact(db1, [{":d/name": "a", ":d/n": 3}]).db_after
    n = db.schema.attr(":d/n").id
    e = db1.entid([":d/name", "a"])
    assert sorted((r[2], r[4]) for r in left.history().search(e, n)) == [(1, False), (1, True), (2, True)]
    assert sorted((r[2], r[4]) for r in right.history().search(e, n)) == [(1, False), (1, True), (3, True)]
    assert [r[2] for r in left.as_of(db1.basis_t).search(e, n)] == [1]
    assert [r[2] for r in db1.history().search(e, n)] == [1]


def test_a_db_value_never_changes_while_another_thread_transacts():
    conn = fs.connect("mem:")
    conn.transact(SCHEMA)
    conn.transact([{":d/name": f"p{i}", ":d/n": i} for i in range(200)])
    snapshot = conn.db()
    expected = [tuple(d) for d in snapshot.datoms(":eavt")]
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            conn.transact([{":d/name": f"p{i % 200}", ":d/n": 1000 + i}])
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(30):
            assert [tuple(d) for d in snapshot.datoms(":eavt")] == expected
    finally:
        stop.set()
        t.join()
    assert conn.db().basis_t > snapshot.basis_t
    conn.close()


def test_datoms_index_range_and_seek(db):
    db2 = transact(db, [{":d/name": n, ":d/n": i} for i, n in enumerate("abcde")]).db_after
    assert [d.v for d in db2.index_range(":d/n", 1, 4)] == [1, 2, 3]
    assert [d.v for d in db2.datoms(":avet", ":d/name")] == list("abcde")
    e = db2.entid([":d/name", "c"])
    assert {d.a for d in db2.datoms(":eavt", e)} == {db.schema.attr(":d/name").id, db.schema.attr(":d/n").id}
    assert next(db2.seek_datoms(":avet", ":d/name", "c")).v == "c"
    with pytest.raises(fs.FactStoreError, match="unknown index"):
        db2.datoms(":nope")


def test_entity_navigates_refs_and_reverse_refs(db):
    r = transact(db, [{":db/id": "a", ":d/name": "a", ":d/friend": ["b"]}, {":db/id": "b", ":d/name": "b"}])
    a = r.db_after.entity([":d/name", "a"])
    (b,) = a[":d/friend"]
    assert b[":d/name"] == "b"
    assert {x[":d/name"] for x in b[":d/_friend"]} == {"a"}
    with pytest.raises(TypeError):
        a[":d/name"] = "x"  # read-only


def test_t_and_tx_convert(db):
    assert db.t_to_tx(db.basis_t) == fs.t_to_tx(db.basis_t)
    assert db.tx_to_t(fs.t_to_tx(7)) == 7
    assert db.as_of(fs.t_to_tx(0)).as_of_t == 0


def test_search_by_value_alone_finds_every_attribute(db):
    db2 = transact(db, [{":d/name": "a", ":d/n": 37}, {":d/name": "b", ":d/n": 37}]).db_after
    n = db.schema.attr(":d/n").id
    assert {(r[1], r[2]) for r in db2.search(v=37)} == {(n, 37)}
    assert len(db2.search(v=37)) == 2
    assert [r[2] for r in db2.search(v="a")] == ["a"]
    assert db2.count(a=n) == 2 and db2.count(a=n, v=37) == 2 and db2.count(a=n, v=1) == 0
