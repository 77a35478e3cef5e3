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


# -- the declared seam (fact_store/dbapi.py) ---------------------------------------------------

def test_index_gives_each_covering_index_in_its_own_order(db):
    db2 = transact(db, [{":db/id": "a", ":d/name": "a", ":d/n": 1},
                        {":db/id": "b", ":d/name": "b", ":d/friend": "a"}]).db_after
    rows = {(r[0], r[1], r[2], r[3]) for r in db2.search()}
    assert set(db2.index("eavt")) == rows
    assert {(e, a, v, tx) for a, e, v, tx in db2.index("aevt")} == rows
    assert {(e, a, v, tx) for a, v, e, tx in db2.index("avet")} == rows
    refs = db2.schema.ref_ids
    assert db2.schema.attr(":d/friend").id in refs
    assert {(e, a, v, tx) for v, a, e, tx in db2.index("vaet")} == {r for r in rows if r[1] in refs}
    assert db2.index(":eavt") is db2.index("eavt")


def test_index_is_refused_on_filtered_dbs_and_unknown_names(db):
    for filtered in (db.as_of(0), db.since(0), db.history()):
        with pytest.raises(fs.FactStoreError, match="filtered db"):
            filtered.index("eavt")
    with pytest.raises(fs.FactStoreError, match="unknown index"):
        db.index("teav")


def test_apply_datoms_is_the_write_path_and_leaves_db_before_alone(db):
    n = db.schema.attr(":d/n").id
    after = db.apply_datoms(db.basis_t + 1, [(db.next_eid, n, 7)], [], db.schema, db.next_eid + 1,
                            db.last_instant)
    assert after.search(db.next_eid, n) == [(db.next_eid, n, 7, fs.t_to_tx(db.basis_t + 1), True)]
    assert db.search(db.next_eid, n) == []
    assert (db.next_eid, n, 7, fs.t_to_tx(db.basis_t + 1), True) in set(after.history_index())


def test_with_q_pull_are_methods_of_db(db):
    """Defined on the class itself (nothing attaches them at import time)."""
    for name in ("with_", "q", "pull", "pull_many"):
        assert name in Db.__dict__
    report = db.with_([{":db/id": "x", ":d/name": "x"}])
    e = report.tempids["x"]
    assert report.db_after.q("[:find ?e . :where [?e :d/name \"x\"]]") == e
    assert report.db_after.pull([":d/name"], e) == {":d/name": "x"}
    assert report.db_after.pull_many([":d/name"], [e]) == [{":d/name": "x"}]


def test_schema_and_attr_are_public(db):
    assert "Schema" in fs.__all__ and "Attr" in fs.__all__
    assert isinstance(db.schema, fs.Schema)
    attr = db.schema.attr(":d/name")
    assert isinstance(attr, fs.Attr) and not attr.builtin and attr.unique == ":db.unique/identity"
    assert db.schema.attr(":db/ident").builtin


def test_attribute_describes_an_attribute_as_datomics_d_attribute(conn):
    conn.transact(SCHEMA + [
        {":db/ident": ":d/first", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/one"},
        {":db/ident": ":d/part", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many",
         ":db/isComponent": True, ":db/noHistory": True, ":db/index": True, ":db/doc": "parts"}])
    conn.transact([{":db/ident": ":d/full", ":db/valueType": ":db.type/tuple", ":db/cardinality":
                    ":db.cardinality/one", ":db/tupleAttrs": [":d/first", ":d/name"],
                    ":db/unique": ":db.unique/value"}])
    db = conn.db()
    name = db.attribute(":d/name")
    assert name == db.attribute(name.id) == db.attribute("d/name") == db.attribute(fs.kw(":d/name"))
    assert (name.ident, name.value_type, name.cardinality, name.unique) == (
        ":d/name", ":db.type/string", ":db.cardinality/one", ":db.unique/identity")
    assert (name.indexed, name.has_avet, name.is_component, name.no_history, name.fulltext) == (
        False, True, False, False, False)
    part = db.attribute(":d/part")
    assert (part.cardinality, part.is_component, part.no_history, part.indexed, part.doc) == (
        ":db.cardinality/many", True, True, True, "parts")
    full = db.attribute(":d/full")
    assert full.value_type == ":db.type/tuple" and full.tuple_attrs == (":d/first", ":d/name")
    assert db.attribute(":d/nope") is None and db.attribute(":db.part/user") is None
    with pytest.raises(AttributeError):
        name.ident = ":x/y"  # a value


def test_filter_hides_datoms_from_every_read_path(conn):
    conn.transact(SCHEMA)
    conn.transact([{":db/id": "a", ":d/name": "a", ":d/n": 1, ":d/friend": "b"},
                   {":db/id": "b", ":d/name": "b", ":d/n": 2}])
    t_before_c = conn.db().basis_t
    conn.transact([{":d/name": "c", ":d/n": 3}])
    db = conn.db()
    n = db.schema.attr(":d/n").id
    calls = []

    def no_secret(unfiltered, d):  # hide :d/n values >= 2
        calls.append(unfiltered)
        return not (d.a == n and d.v >= 2)

    f = db.filter(no_secret)
    assert calls == [] and f.is_filtered and not db.is_filtered
    b = db.entid([":d/name", "b"])
    assert [d.v for d in f.datoms(":aevt", ":d/n")] == [1]
    assert [r[2] for r in f.search(a=n)] == [1]
    assert [d.v for d in f.index_range(":d/n", 0, 10)] == [1]
    assert [d.v for d in f.seek_datoms(":avet", ":d/n")][:1] == [1]
    assert f.count(a=n) == 1
    assert f.entity(b).get(":d/n") is None and db.entity(b)[":d/n"] == 2
    assert f.pull("[:d/name :d/n]", b) == {":d/name": "b"}
    assert f.q("[:find ?v :where [_ :d/n ?v]]") == {(1,)}
    assert all(u.is_filtered is False for u in calls)  # pred sees the unfiltered db
    # filters compose, and time travel keeps them
    g = f.filter(lambda _db, d: d.v != "a")
    assert sorted(d.v for d in g.datoms(":aevt", ":d/name")) == ["b", "c"]
    assert [d.v for d in f.as_of(t_before_c).datoms(":aevt", ":d/n")] == [1]
    assert [d.v for d in f.history().datoms(":aevt", ":d/n")] == [1]
    with pytest.raises(fs.FactStoreError, match="filter takes a function"):
        db.filter(5)
