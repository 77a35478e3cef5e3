"""What users read renders values as EDN: no Python repr leaks from the main error paths.

Each case runs a command (fact-store or overseer, through click's runner) or a
worker, on a mistake users make, and checks the message says what it should
and carries no ``Keyword(':a')``, ``{Keyword(':db/id'): …}``, ``['?x']``.
"""

from __future__ import annotations

import logging
import re

import pytest
from click.testing import CliRunner

import fact_store as fs
import overseer
from fact_store.cli import cli as fact_store_main
from overseer.cli import main as overseer_main
from tests.overseer.conftest import NO_PULSE

#: what a Python repr of our values (or of a list/tuple/dict of strings) looks like
REPR = re.compile(r"Keyword\(|Symbol\(|TempId\(|LookupRef\(|\[\s*'|\(\s*'|\{\s*'|':\s|', '")

SCHEMA = ('[{:db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one}'
          ' {:db/ident :person/id :db/valueType :db.type/long :db/cardinality :db.cardinality/one'
          '  :db/unique :db.unique/identity}]')


def assert_edn_only(text: str) -> None:
    leak = REPR.search(text)
    assert leak is None, f"Python repr in a message: …{text[max(0, leak.start() - 60):leak.end() + 60]}…"


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def fs_store(tmp_path, runner):
    uri = f"file:{tmp_path / 'people.db'}"
    res = runner.invoke(fact_store_main, ["transact", "-u", uri, "-"], input=SCHEMA)
    assert res.exit_code == 0, res.output
    return uri


@pytest.mark.parametrize("tx, says", [
    ('[[:db/add "x" :nope/x 1]]', 'unknown attribute :nope/x: install it before use (in [:db/add "x" :nope/x 1])'),
    ('[{:db/id [:person/name "a" 2] :person/name "b"}]',
     '[:person/name "a" 2] is not an entity id, tempid, ident or lookup ref (in {:db/id [:person/name "a" 2], '),
    ('[[:db/add [:person/name "a"] :person/name "b"]]', 'lookup ref [:person/name "a"]: :person/name is not '),
    ('[[:db/add [:person/id 99] :person/name "b"]]', 'lookup ref [:person/id 99] names no entity'),
    ('[[:db/retractEntity 1 2]]', ":db/retractEntity takes one entity: [:db/retractEntity 1 2]"),
    ('[{:person/name 5}]', 'value 5 of :person/name is not a valid :db.type/string'),
    ("[" + " ".join(f'{{:person/id {i} :person/name {i}}}' for i in range(1500)) + "]",
     "transaction refused (1,500 problems)"),
])
def test_fact_store_transact_errors_are_edn(runner, fs_store, tx, says):
    res = runner.invoke(fact_store_main, ["transact", "-u", fs_store, "-"], input=tx)
    assert res.exit_code == 1
    assert says in res.output
    assert_edn_only(res.output)
    assert len(res.output) < 5_000  # capped: never the input echoed back


def test_many_identical_problems_are_one_line_with_a_count(runner, fs_store):
    tx = "[" + " ".join(f'{{:db/id "t{i}" :person/name 1}}' for i in range(1500)) + "]"
    res = runner.invoke(fact_store_main, ["transact", "-u", fs_store, "-"], input=tx)
    assert "value 1 of :person/name is not a valid :db.type/string: expected a string (1,500 times)" in res.output
    assert res.output.count("\n") < 10


@pytest.mark.parametrize("query, inputs", [
    ('[:find ?x :in $ [?y ...] :where [?x :person/id ?y]]', ["5"]),
    ('[:find ?x :where [?x :person/id ?y] [(no-such-fn ?y)]]', []),
    ('[:find ?x :where [?x :nope/attr ?y]]', []),
    ('[:find ?x :where (not [?x :person/id])]', []),
])
def test_fact_store_query_errors_are_edn(runner, fs_store, query, inputs):
    res = runner.invoke(fact_store_main, ["q", "-u", fs_store, query, *inputs])
    assert_edn_only(res.output)


def test_overseer_graph_and_command_errors_are_edn(tmp_path, mem_conn, runner):
    cases = [
        lambda: overseer.graph_txns({"a": ["x"], "b": ["x", "y"]}),
        lambda: overseer.graph_txns({"a": ["b"], "b": ["a"]}),
        lambda: overseer.graph_txns({"a": []}, ids=lambda n: 5),
        lambda: overseer.graph_txns({fs.Keyword(":a"): [], fs.Keyword(":b"): []}, ids=lambda n: "same"),
        lambda: overseer.graph_txns({"a": "b"}),
        lambda: overseer.job_txn(""),
        lambda: overseer.harness(print, "cleanup", print),
        lambda: overseer.Worker(mem_conn, {"a": {"cleanup": print}}, NO_PULSE),
        lambda: overseer.Worker(mem_conn, {}, {"heartbeat": {"sleep-time": 60}}),
        lambda: overseer.Worker(mem_conn, {}, {fs.Keyword(":nope"): 1}),
    ]
    for case in cases:
        with pytest.raises(overseer.OverseerError) as e:
            case()
        assert_edn_only(str(e.value))
    overseer.install_schema(mem_conn)
    mem_conn.transact(overseer.graph_txns({"a": []}, ids=lambda n: "job-a"))
    with pytest.raises(overseer.DuplicateJobId) as e:
        mem_conn.transact(overseer.graph_txns({"a": []}, ids=lambda n: "job-a"))
    assert 'job ids already exist: "job-a"' in str(e.value)
    uri = f"file:{tmp_path / 'jobs.db'}"
    for args in (["job", "show", "nope", "--store", uri], ["retry", "nope", "--store", uri],
                 ["worker", "nope", "--store", uri], ["worker", "os:nope", "--store", uri]):
        res = runner.invoke(overseer_main, args)
        assert res.exit_code != 0
        assert_edn_only(res.output)


def test_a_worker_logs_edn_and_hands_handlers_keyword_keys(mem_conn, caplog):
    overseer.install_schema(mem_conn)
    mem_conn.transact(overseer.graph_txns({"boom": [], "fine": []}))
    seen = []

    def boom(job):
        raise ValueError("no")

    w = overseer.Worker(mem_conn, {"boom": boom, "fine": seen.append}, NO_PULSE)
    with caplog.at_level(logging.INFO, logger="overseer"):
        w.run(install_signals=False, exit_when_done=True)
    w.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "stopped: {:" in text
    assert_edn_only(text)
    [job] = seen
    assert all(type(k) is fs.Keyword for k in job), [k for k in job if type(k) is not fs.Keyword]
    assert job[":db/id"] == job[fs.Keyword(":db/id")] and job[":job/attempt"] == 1
