"""Job graphs: validation, tx-data, atomic insert (RELIABILITY J6, B-08)."""

from __future__ import annotations

import time

import pytest

import fact_store as fs
import overseer
from overseer import claim, queries
from overseer.graph import find_cycle, job_txn

SAMPLE = {"start": [], "result1": ["start"], "result2": ["start"], "finish": ["result1", "result2"]}


def test_sample_graph_inserts_every_job_unstarted_with_its_deps(oconn):
    report = oconn.transact(overseer.graph_txns(SAMPLE))
    db = report.db_after
    rows = db.q("[:find ?type ?status :where [?j :job/type ?type] [?j :job/status ?status]]")
    assert sorted(rows) == sorted((fs.Keyword(":" + t), overseer.UNSTARTED) for t in SAMPLE)
    deps = db.q("""[:find ?t ?dt :where [?j :job/dep ?d] [?j :job/type ?t] [?d :job/type ?dt]]""")
    assert sorted(deps) == sorted((fs.Keyword(":" + n), fs.Keyword(":" + d))
                                  for n, ds in SAMPLE.items() for d in ds)
    # ids are random UUID strings, one per job
    assert len(set(db.q("[:find [?id ...] :where [_ :job/id ?id]]"))) == 4


def test_graph_args_become_attributes_of_every_job(mem_conn):
    mem_conn.transact([{":db/ident": ":organization-id", ":db/valueType": ":db.type/long",
                        ":db/cardinality": ":db.cardinality/one"}])
    mem_conn.transact(overseer.graph_txns(SAMPLE, {":organization-id": 123}))
    mem_conn.transact([overseer.job_txn("my-job-type", {":organization-id": 456})])
    db = mem_conn.db()
    got = db.q("[:find ?t ?o :where [?j :job/type ?t] [?j :organization-id ?o]]")
    assert sorted(got) == sorted([(fs.Keyword(":" + t), 123) for t in SAMPLE]
                                 + [(fs.Keyword(":my-job-type"), 456)])


def test_missing_dependencies_are_all_named():
    with pytest.raises(overseer.GraphError, match=r'missing dependencies: "x" \(needed by "a", "b"\), "y"' ):
        overseer.graph_txns({"a": ["x"], "b": ["x", "y"]})


@pytest.mark.parametrize("graph, cycle", [
    ({"a": ["a"]}, ["a", "a"]),
    ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
    ({"s": [], "a": ["s", "c"], "b": ["a"], "c": ["b"]}, ["a", "c", "b", "a"]),
])
def test_cycles_are_refused_with_their_path(graph, cycle):
    with pytest.raises(overseer.GraphError, match="cycle") as info:
        overseer.graph_txns(graph)
    assert info.value.data["cycle"] == cycle


def test_a_cycle_of_10000_and_a_chain_of_100000_validate_without_recursion_error():
    n = 10_000
    ring = {i: [(i + 1) % n] for i in range(n)}
    assert len(find_cycle(ring)) == n + 1
    chain = {i: ([i - 1] if i else []) for i in range(100_000)}
    t = time.perf_counter()
    tx = overseer.graph_txns(chain, types=lambda _: "t")
    assert len(tx) == 100_000 and time.perf_counter() - t < 10


def test_duplicate_ids_within_a_graph_are_refused():
    with pytest.raises(overseer.GraphError, match="used twice"):
        overseer.graph_txns({"a": [], "b": []}, ids=lambda _: "same")


def test_existing_ids_refuse_the_whole_graph_and_write_nothing(mem_conn):
    mem_conn.transact(overseer.graph_txns({"a": []}, ids={"a": "job-a"}))
    before = mem_conn.db().basis_t
    with pytest.raises(overseer.GraphError, match='already exist: "job-a"' ) as info:
        mem_conn.transact(overseer.graph_txns({"a": [], "b": ["a"]}, ids={"a": "job-a", "b": "job-b"}))
    assert isinstance(info.value, fs.TransactionError)
    assert mem_conn.db().basis_t == before
    assert mem_conn.db().entid([":job/id", "job-b"]) is None


def test_if_exists_skip_inserts_a_graph_once_and_raises_nothing(mem_conn):
    graph = {"a": [], "b": ["a"]}
    first = mem_conn.transact(overseer.graph_txns(graph, ids=lambda n: f"day-1/{n}", if_exists="skip"))
    assert "node-0" in first.tempids and "node-1" in first.tempids
    again = mem_conn.transact(overseer.graph_txns(graph, ids=lambda n: f"day-1/{n}", if_exists="skip"))
    assert "node-0" not in again.tempids
    assert [d for d in again.tx_data if d.e != again.tx_data[0].e] == []  # only the tx instant
    assert sorted(queries.jobs_unstarted(mem_conn.db())) == ["day-1/a", "day-1/b"]
    db = mem_conn.db()
    assert db.entity([":job/id", "day-1/b"])[":job/dep"] == frozenset({db.entity([":job/id", "day-1/a"])})


def test_if_exists_skip_is_all_or_nothing_as_in_overseer(mem_conn):
    mem_conn.transact(overseer.graph_txns({"a": []}, ids=lambda n: f"x/{n}"))
    mem_conn.transact(overseer.graph_txns({"a": [], "c": ["a"]}, ids=lambda n: f"x/{n}", if_exists="skip"))
    assert queries.jobs_unstarted(mem_conn.db()) == ["x/a"]


def test_if_exists_must_be_refuse_or_skip():
    with pytest.raises(overseer.GraphError, match='if_exists must be one of refuse, skip, got "ignore"'):
        overseer.graph_txns({"a": []}, if_exists="ignore")


def test_a_dependency_on_an_earlier_job_by_lookup_ref(mem_conn):
    mem_conn.transact([job_txn("t", {":job/id": "old"})])
    mem_conn.transact(overseer.graph_txns({"new": [[":job/id", "old"]]}, ids={"new": "new"}))
    db = mem_conn.db()
    assert db.entity([":job/id", "new"])[":job/dep"] == frozenset({db.entity([":job/id", "old"])})
    assert queries.jobs_ready(db) == ["old"]


def test_empty_graph_is_an_empty_transaction():
    assert overseer.graph_txns({}) == []


def test_job_txn_refuses_to_set_managed_attributes():
    with pytest.raises(overseer.GraphError, match=":job/status"):
        job_txn("t", {":job/status": ":finished"})


def test_validate_graph_handlers_names_every_missing_type():
    with pytest.raises(overseer.HandlerNotFound, match=":result1, :result2"):
        overseer.validate_graph_handlers({"start": print, ":finish": print}, SAMPLE)
    overseer.validate_graph_handlers({t: print for t in SAMPLE}, SAMPLE)
    assert overseer.missing_handlers({"x": print}, {"a": [], "b": []}, types={"a": "x", "b": "y"}) == [
        fs.Keyword(":y")]


def test_graph_insert_is_one_transaction(mem_conn):
    before = mem_conn.db().basis_t
    mem_conn.transact(overseer.graph_txns({i: ([i - 1] if i else []) for i in range(500)},
                                          types=lambda _: "t"))
    assert mem_conn.db().basis_t == before + 1


def _statuses(conn, ids):
    return {i: conn.db().entity([":job/id", i])[":job/status"] for i in ids}


@pytest.mark.parametrize("how", ["fail", "abort"])
def test_a_job_inserted_after_its_dependency_failed_is_aborted_with_its_dependents(oconn, how):
    oconn.transact(overseer.graph_txns({"dep": [], "ok": []}, ids=lambda n: n))
    e = oconn.db().entid([":job/id", "dep"])
    att = claim.claim(oconn, e, "w", now=0)
    assert claim.record(oconn, e, att, "w", how)
    late = {"child": [[":job/id", "dep"]], "grandchild": ["child"], "other": [[":job/id", "ok"]],
            "free": []}
    oconn.transact(overseer.graph_txns(late, ids=lambda n: n))
    assert _statuses(oconn, late) == {"child": overseer.ABORTED, "grandchild": overseer.ABORTED,
                                      "other": overseer.UNSTARTED, "free": overseer.UNSTARTED}


def test_a_job_inserted_before_its_dependency_failed_is_aborted_by_the_failure(oconn):
    oconn.transact(overseer.graph_txns({"dep": []}, ids=lambda n: n))
    oconn.transact(overseer.graph_txns({"child": [[":job/id", "dep"]], "grandchild": ["child"]},
                                       ids=lambda n: n))
    assert _statuses(oconn, ["child", "grandchild"]) == {"child": overseer.UNSTARTED,
                                                         "grandchild": overseer.UNSTARTED}
    e = oconn.db().entid([":job/id", "dep"])
    att = claim.claim(oconn, e, "w", now=0)
    assert claim.record(oconn, e, att, "w", "fail", '{"message": "boom"}')
    assert _statuses(oconn, ["child", "grandchild"]) == {"child": overseer.ABORTED,
                                                         "grandchild": overseer.ABORTED}
