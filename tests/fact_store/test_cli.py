"""The `fact-store` command: every subcommand's output and exit code (0 ok, 1 failure, 2 usage)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

import fact_store as fs
from fact_store.cli import cli, file_path

SCHEMA = """[{:db/ident :person/name :db/valueType :db.type/string
  :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
 {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}]
"""
PEOPLE = '[{:db/id "ann" :person/name "Ann" :person/age 30} {:person/name "Bob" :person/age 25}]\n'


@pytest.fixture()
def runner(monkeypatch):
    for var in ("FACT_STORE_URI", "FACT_STORE_FORMAT", "FACT_STORE_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


@pytest.fixture()
def store(runner, tmp_path):
    """A file store holding two people, as a URI."""
    uri = f"file:{tmp_path}/db"
    (tmp_path / "tx.edn").write_text(SCHEMA + PEOPLE)
    res = runner.invoke(cli, ["transact", str(tmp_path / "tx.edn"), "--uri", uri])
    assert res.exit_code == 0, res.output
    return uri


def run(runner, *args, input=None, env=None):
    return runner.invoke(cli, list(args), input=input, env=env)


# -- usage -----------------------------------------------------------------------------

def test_usage_errors_exit_2(runner, store):
    assert run(runner, "q").exit_code == 2
    assert run(runner, "nope").exit_code == 2
    assert run(runner, "q", "[:find ?e :where [?e :person/name]]", "--uri", store,
               "--format", "xml").exit_code == 2
    res = run(runner, "q", "[:find ?n :in $ ?a :where [?e :person/age ?a] [?e :person/name ?n]]",
              "--uri", store)
    assert res.exit_code == 2 and "needs inputs after it for ?a" in res.output
    assert run(runner, "q", "[:find ?e :where [?e :person/name]]", "--uri", store,
               "--as-of", "yesterday").exit_code == 2


def test_help_lists_every_subcommand(runner):
    res = run(runner, "--help")
    assert res.exit_code == 0
    for cmd in ("repl", "q", "transact", "pull", "import", "export", "stats", "verify",
                "checkpoint"):
        assert cmd in res.output


def test_read_commands_do_not_create_a_store(runner, tmp_path):
    res = run(runner, "stats", "--uri", f"file:{tmp_path}/none")
    assert res.exit_code == 1 and "no fact store at" in res.output
    assert not (tmp_path / "none").exists()


# -- q ----------------------------------------------------------------------------------

def test_q_prints_edn_when_piped(runner, store):
    res = run(runner, "q", "[:find ?n ?a :where [?e :person/name ?n] [?e :person/age ?a]]",
              "--uri", store)
    assert res.exit_code == 0
    assert fs.read_edn(res.output) == frozenset({("Ann", 30), ("Bob", 25)})


def test_q_with_inputs_and_formats(runner, store):
    query = "[:find [?n ...] :in $ [?a ...] :where [?e :person/age ?a] [?e :person/name ?n]]"
    res = run(runner, "q", query, "[30 25]", "--uri", store, "-f", "json")
    assert res.exit_code == 0 and sorted(json.loads(res.output)) == ["Ann", "Bob"]
    res = run(runner, "q", "[:find ?n ?a :where [?e :person/name ?n] [?e :person/age ?a]]",
              "--uri", store, "-f", "csv")
    assert res.output.splitlines() == ["n,a", "Ann,30", "Bob,25"]
    res = run(runner, "q", "[:find ?e ?n :where [?e :person/name ?n]]", "--uri", store,
              "-f", "table")
    assert res.output.split()[:2] == ["?e", "?n"]
    assert '[:person/name "Ann"]' in res.output and "(2 rows)" in res.output


def test_q_reads_the_query_from_stdin_and_the_uri_from_the_environment(runner, store):
    res = run(runner, "q", "-", input="[:find ?a . :where [_ :person/age ?a] [(< ?a 26)]]",
              env={"FACT_STORE_URI": store})
    assert res.exit_code == 0 and res.output.strip() == "25"


def test_q_as_of_reads_the_past(runner, store):
    res = run(runner, "q", "[:find ?n :where [_ :person/name ?n]]", "--uri", store, "--as-of", "1")
    assert res.exit_code == 0 and fs.read_edn(res.output) == frozenset()


def test_q_error_is_one_message_with_the_position(runner, store):
    res = run(runner, "q", "[:find ?e\n :where [?e :person/nme]]", "--uri", store)
    assert res.exit_code == 1
    assert "error: Unknown attribute :person/nme" in res.output
    assert "(line 2, column 13)" in res.output and "Traceback" not in res.output
    res = run(runner, "q", "[:find ?e :where [?e :person/name}", "--uri", store)
    assert res.exit_code == 1 and "line 1, column 34" in res.output


# -- transact / pull -----------------------------------------------------------------------

def test_transact_prints_what_each_transaction_made(runner, store):
    res = run(runner, "transact", "-", "--uri", store,
              input='[{:db/id "cy" :person/name "Cy"}]\n[[:db/add "datomic.tx" :db/doc "x"]]')
    assert res.exit_code == 0
    first, second = res.output.split("\n{")
    assert fs.read_edn(first)[fs.kw(":tempids")].keys() == {"cy"}
    assert fs.read_edn("{" + second)[fs.kw(":t")] == 4


def test_refused_transaction_exits_1_and_names_the_problem(runner, store):
    res = run(runner, "transact", "-", "--uri", store, input='[{:person/name "Dee" :person/age "x"}]')
    assert res.exit_code == 1 and "error:" in res.output and ":person/age" in res.output
    res = run(runner, "transact", "-", "--uri", store, input=':not-tx-data')
    assert res.exit_code == 1 and "not tx-data" in res.output


def test_pull(runner, store):
    res = run(runner, "pull", "[*]", '[:person/name "Ann"]', "--uri", store)
    assert res.exit_code == 0
    assert fs.read_edn(res.output)[fs.kw(":person/age")] == 30
    res = run(runner, "pull", "[:person/name]", '[:person/name "Ann"]', '[:person/name "Bob"]',
              "--uri", store, "-f", "json")
    assert json.loads(res.output) == [{"person/name": "Ann"}, {"person/name": "Bob"}]
    res = run(runner, "pull", "[*]", '[:person/name "Zed"]', "--uri", store)
    assert res.exit_code == 1 and "no entity" in res.output


# -- import / export --------------------------------------------------------------------------

def test_export_then_import_round_trips(runner, store, tmp_path):
    run(runner, "transact", "-", "--uri", store, input='[[:db/add [:person/name "Bob"] :person/age 26]]')
    dump = tmp_path / "dump.edn"
    res = run(runner, "export", str(dump), "--uri", store)
    assert res.exit_code == 0 and "exported 3 transactions" in res.output
    copy = f"file:{tmp_path}/copy"
    res = run(runner, "import", str(dump), "--uri", copy)
    assert res.exit_code == 0 and "imported 3 transactions" in res.output
    q = "[:find ?n ?a :where [?e :person/name ?n] [?e :person/age ?a]]"
    assert run(runner, "q", q, "--uri", copy).output == run(runner, "q", q, "--uri", store).output
    assert fs.read_edn(run(runner, "q", q, "--uri", copy, "--as-of", "2").output) == \
        frozenset({("Ann", 30), ("Bob", 25)})
    # the same stream to stdout
    res = run(runner, "export", "-", "--uri", store, "--as-of", "2")
    forms = fs.read_all_edn(res.output)
    assert forms[0][fs.kw(":fact-store/export")] == 1 and len(forms) == 3


def test_import_of_a_plain_tx_stream_and_its_failure(runner, tmp_path):
    uri = f"file:{tmp_path}/db"
    res = run(runner, "import", "-", "--uri", uri, input=SCHEMA + PEOPLE + '[{:person/age "x"}]')
    assert res.exit_code == 1
    assert "transaction 3 (line 5) was refused" in res.output
    assert "2 transactions before it were imported" in res.output


def test_import_into_a_store_that_already_holds_the_dump_is_refused_unless_forced(runner, store,
                                                                                   tmp_path):
    dump = tmp_path / "dump.edn"
    assert run(runner, "export", str(dump), "--uri", store).exit_code == 0
    copy = f"file:{tmp_path}/copy"
    assert run(runner, "import", str(dump), "--uri", copy).exit_code == 0
    t = fs.read_edn(run(runner, "stats", "--uri", copy, "-f", "edn").output)[fs.kw(":t")]
    res = run(runner, "import", str(dump), "--uri", copy)
    assert res.exit_code == 1
    assert "nothing imported: this store already holds every fact of the stream" in res.output
    assert "--force" in res.output
    assert fs.read_edn(run(runner, "stats", "--uri", copy, "-f", "edn").output)[fs.kw(":t")] == t
    res = run(runner, "import", str(dump), "--uri", copy, "--force")
    assert res.exit_code == 0
    assert "imported 2 transactions" in res.output and "none of them added a fact" in res.output
    # a plain stream of the same facts: refused as well
    res = run(runner, "import", "-", "--uri", copy, input=SCHEMA + PEOPLE.replace('"ann" ', '"x" '))
    assert res.exit_code == 1 and "already holds every fact" in res.output


def test_import_of_a_dump_without_its_schema_is_one_short_error(runner, tmp_path):
    source = f"file:{tmp_path}/source"
    people = "[" + " ".join(f'{{:person/name "p{i}" :person/age {i}}}' for i in range(500)) + "]"
    assert run(runner, "transact", "-", "--uri", source, input=SCHEMA + people).exit_code == 0
    res = run(runner, "export", "-", "--uri", source)
    forms = res.output.split("\n;; t ")
    without_schema = forms[0] + "\n;; t " + forms[2]  # the header, then the people only
    target = f"file:{tmp_path}/target"
    res = run(runner, "import", "-", "--uri", target, input=without_schema)
    assert res.exit_code == 1
    assert len(res.output.splitlines()) <= 3, res.output
    assert "the stream uses 2 attributes that neither this store nor the stream installs: " \
           ":person/name :person/age" in res.output
    assert "Keyword(" not in res.output and "{" not in res.output
    assert not os.path.exists(os.path.join(file_path(target), "log")) or \
        fs.read_edn(run(runner, "stats", "--uri", target, "-f", "edn").output)[fs.kw(":t")] == 0


def test_a_transaction_with_many_problems_lists_ten_and_counts_the_rest(runner, tmp_path):
    uri = f"file:{tmp_path}/db"
    bad = "[" + " ".join(f'[:db/add "e{i}" :no/such{i} {i}]' for i in range(300)) + "]"
    res = run(runner, "transact", "-", "--uri", uri, input=bad)
    assert res.exit_code == 1
    assert "transaction refused (300 problems)" in res.output
    assert "... and 290 more" in res.output
    assert len(res.output.splitlines()) < 20


def test_a_missing_input_file_is_a_usage_error_naming_it(runner, store, tmp_path):
    for args in (["transact", "nosuchfile.edn"], ["import", "nosuchfile.edn"],
                 ["q", "@nosuchfile.edn"]):
        res = run(runner, *args, "--uri", store)
        assert res.exit_code == 2, (args, res.output)
        assert "no such file: nosuchfile.edn" in res.output
        assert "Errno" not in res.output
    res = run(runner, "transact", str(tmp_path), "--uri", store)
    assert res.exit_code == 2 and "is a directory" in res.output


# -- stats / verify / checkpoint ------------------------------------------------------------

def test_stats(runner, store):
    res = run(runner, "stats", "--uri", store, "-f", "json")
    assert res.exit_code == 0
    stats = json.loads(res.output)
    assert stats["t"] == 2 and stats["transactions"] == 2 and stats["attributes"] == 2
    assert stats["entities"] == 4  # two attributes, two people
    assert stats["datoms"] == 7 + 4 + 2  # schema, people, tx instants
    assert stats["log-bytes"] > 0 and stats["bytes-on-disk"] >= stats["log-bytes"]
    res = run(runner, "stats", "--uri", store, "-f", "table")
    assert "datoms" in res.output and "entities" in res.output


def test_checkpoint_then_verify(runner, store):
    res = run(runner, "checkpoint", "--uri", store)
    assert res.exit_code == 0 and "checkpoint written at t 2" in res.output
    res = run(runner, "verify", "--uri", store, "-f", "table")
    assert res.exit_code == 0 and ": OK" in res.output and "snapshots: 1 checked, 0 bad" in res.output


def test_verify_finds_mid_log_corruption(runner, store):
    log = os.path.join(file_path(store), "log")
    data = bytearray(open(log, "rb").read())
    data[64 + 40] ^= 0xFF  # a byte inside the first record; the second is still valid
    open(log, "wb").write(bytes(data))
    res = run(runner, "verify", "--uri", store, "-f", "table")
    assert res.exit_code == 1 and "PROBLEMS FOUND" in res.output and "corruption" in res.output
    res = run(runner, "verify", "--uri", store, "-f", "json")
    report = json.loads(res.output)
    assert res.exit_code == 1 and report["ok"] is False and "corruption" in " ".join(report["problems"])


def test_verify_of_a_memory_store_reads_its_log(runner):
    uri = f"mem:cli-verify-{os.getpid()}"
    conn = fs.connect(uri)
    try:
        conn.transact([{":db/ident": ":a/b", ":db/valueType": ":db.type/long",
                        ":db/cardinality": ":db.cardinality/one"}])
        res = run(runner, "verify", "--uri", uri, "--format", "table")
        edn = run(runner, "verify", "--uri", uri)  # piped: EDN
    finally:
        conn.close()
    assert res.exit_code == 0 and "1 records, last t=1" in res.output
    assert fs.read_edn(edn.output)[fs.kw(":records")] == 1


def test_a_bad_uri_is_a_failure_not_a_traceback(runner):
    res = run(runner, "stats", "--uri", "redis://x")
    assert res.exit_code == 1 and "unknown store URI" in res.output
