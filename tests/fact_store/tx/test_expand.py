"""tx/expand: Datomic's old tx-data forms: #db/id literals and :db.install/_attribute."""

from __future__ import annotations

from pathlib import Path

import pytest

from fact_store import edn, errors as E
from fact_store.edn.values import DbId, Keyword

OLD_SCHEMA = Path(__file__).parent / "data" / "old-style-schema.edn"


def test_an_old_style_schema_file_loads_unchanged_on_every_store(conn):
    report = conn.transact(edn.read(OLD_SCHEMA.read_text()))
    db = conn.db()
    assert db.schema.attr(":job/id").unique == ":db.unique/identity"
    assert db.schema.attr(":job/heartbeat").value_type == ":db.type/long"
    assert db.schema.attr(":job/dep").many
    assert db.entid(":job.status/finished") is not None and db.entid(":jobs") is not None
    assert -1 in report.tempids  # #db/id [:db.part/db -1] is the tempid -1
    # no datom mentions the install attribute or the partitions
    assert not any(d.e in (50, 51) for d in report.tx_data)

    # data in the same style: the same #db/id literal is one entity, [part] alone a fresh one
    data = edn.read("""
      [{:db/id #db/id[:db.part/user -1] :job/id "a" :job/status :job.status/finished}
       {:db/id #db/id[:db.part/user]    :job/id "b" :job/dep #db/id[:db.part/user -1]
        :job/status :job.status/unstarted}
       {:db/id #db/id[:jobs] :job/id "c"}
       {:db/id #db/id[:db.part/tx] :db/doc "submitted by an old client"}]""")
    report = conn.transact(data)
    db = conn.db()
    assert db.q('[:find ?s :where [?b :job/id "b"] [?b :job/dep ?a] [?a :job/id ?s]]') == {("a",)}
    assert db.pull("[:db/doc]", report.tx_data[0].tx) == {":db/doc": "submitted by an old client"}


def test_two_unnumbered_db_id_literals_are_two_entities():
    a, b = edn.read("[#db/id[:db.part/user] #db/id[:db.part/user]]")
    assert a != b and a.part == b.part == Keyword(":db.part/user")
    assert edn.read(edn.write(DbId(":db.part/user", -7))) == DbId(":db.part/user", -7)


@pytest.mark.parametrize("text,why", [
    ("#db/id :db.part/user", "expected"), ("#db/id [:db.part/user 3]", "from -1000000 to -1"),
    ('#db/id ["user"]', "expected"), ("#db/id [:db.part/user -1 2]", "expected"),
])
def test_a_malformed_db_id_literal_is_an_edn_error(text, why):
    with pytest.raises(E.EdnSyntaxError, match=why):
        edn.read(text)


def test_install_must_name_the_db_partition(conn):
    with pytest.raises(E.InvalidTxData, match="is not :db.part/db"):
        conn.transact(edn.read("[{:db/ident :a/b :db/valueType :db.type/long :db/cardinality "
                               ":db.cardinality/one :db.install/_attribute :db.part/user}]"))
    assert conn.db().schema.attr(":a/b") is None


def test_a_set_of_entity_maps_read_from_edn_transacts_on_every_store(conn):
    # EDN allows maps in a set; the reader gives FrozenMaps, which transact as nested entity maps
    conn.transact(edn.read("""[{:db/ident :order/id :db/valueType :db.type/string
                                :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
                               {:db/ident :order/lines :db/valueType :db.type/ref
                                :db/cardinality :db.cardinality/many :db/isComponent true}
                               {:db/ident :line/sku :db/valueType :db.type/string
                                :db/cardinality :db.cardinality/one}]"""))
    conn.transact(edn.read('[{:order/id "o1" :order/lines #{{:line/sku "a"} {:line/sku "b"}}}]'))
    got = conn.db().pull("[{:order/lines [:line/sku]}]", [":order/id", "o1"])
    assert sorted(x[":line/sku"] for x in got[":order/lines"]) == ["a", "b"]
    # a map is no datom value: refused before the log, whatever the store
    head = conn.store.head()
    with pytest.raises(E.InvalidValue, match="is not a valid :db.type/string"):
        conn.transact(edn.read('[{:order/id #{{:a 1}}}]'))
    with pytest.raises(E.InvalidValue):
        conn.transact([{":order/id": "o2", ":line/sku": next(iter(edn.read("#{{:a 1}}")))}])
    assert conn.store.head() == head
