"""The Datalog REPL: the form scanner, a session fed entry by entry, piped stdin, and a
person at a terminal (pexpect drives `fact-store repl` in a pseudo-terminal)."""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys

import pytest

import fact_store as fs
from fact_store.repl import Output, Session, completions, find_spec, is_complete, split_forms

_n = itertools.count()

SCHEMA = """.tx [{:db/ident :person/name :db/valueType :db.type/string
      :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
     {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}
     {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]"""
PEOPLE = """.tx [{:db/id "ann" :person/name "Ann" :person/age 30}
     {:person/name "Bob" :person/age 25 :person/friend "ann"}]"""


class Repl:
    """A session whose output is captured; ``run`` returns what one entry printed."""

    def __init__(self, conn: fs.Connection, fmt: str = "edn") -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        self.session = Session(conn, Output(fmt, out=self.out, err=self.err, color=False))

    def run(self, text: str, line_offset: int = 0) -> tuple[str, str]:
        o, e = self.out.tell(), self.err.tell()
        self.session.feed(text, line_offset)
        return self.out.getvalue()[o:], self.err.getvalue()[e:]


@pytest.fixture()
def conn(tmp_path):
    c = fs.connect(f"file:{tmp_path}/db")
    yield c
    c.close()


@pytest.fixture()
def r(conn) -> Repl:
    rp = Repl(conn)
    for entry in (SCHEMA, PEOPLE):
        _, err = rp.run(entry)
        assert err == ""
    return rp


# -- the scanner -------------------------------------------------------------------------

@pytest.mark.parametrize("text, complete", [
    ("[:find ?e", False),
    ("[:find ?e :where [?e :a/b \"]\"]]", True),
    ('"an open ( string', False),
    ("{:find [?e] :where [[?e :a]]}", True),
    ("#{1 2", False),
    ("[\\( 1]", True),  # a character literal is not a bracket
    ("[1 ; comment ]\n 2]", True),
    ("[1 2]]", True),  # a stray closer: submit, and let the reader say what is wrong
    ("[:find ?e :where [?e :a }", True),  # a mismatched closer too
    ("", True),
])
def test_entry_is_complete_when_brackets_balance(text, complete):
    assert is_complete(text) is complete


def test_split_forms_cuts_top_level_forms_and_drops_discarded_ones():
    text = '[:find ?n :in $ ?a :where [_ :a ?n]] 42 #_[ignored] #inst "2020-01-01" "s"'
    assert [text[s:e] for s, e in split_forms(text)] == [
        "[:find ?n :in $ ?a :where [_ :a ?n]]", "42", '#inst "2020-01-01"', '"s"']


def test_find_spec_names_columns_after_find_elements():
    spec = find_spec(fs.read_edn("[:find ?e (count ?x) (pull ?e [*]) :where [?e :a ?x]]"))
    assert spec.shape == "rel" and spec.columns == ("?e", "(count ?x)", "(pull ?e [*])")
    assert find_spec(fs.read_edn("[:find ?x . :where [_ :a ?x]]")).shape == "scalar"
    assert find_spec(fs.read_edn("[:find [?x ...] :where [_ :a ?x]]")).shape == "coll"
    assert find_spec(fs.read_edn("[:find [?x ?y] :where [?x :a ?y]]")).shape == "tuple"
    assert find_spec(fs.read_edn("{:find [?n ?a] :keys [name age] :where [[?e :a ?n]]}")).columns \
        == ("name", "age")


# -- queries ---------------------------------------------------------------------------

def test_query_result_is_edn_when_piped(r):
    out, err = r.run("[:find ?n ?a :where [?e :person/name ?n] [?e :person/age ?a]]")
    assert err == ""
    assert fs.read_edn(out) == frozenset({("Ann", 30), ("Bob", 25)})


def test_query_in_map_form(r):
    out, _ = r.run("{:find [?n] :where [[?e :person/name ?n]]}")
    assert fs.read_edn(out) == frozenset({("Ann",), ("Bob",)})


def test_inputs_follow_the_query_in_the_same_entry(r):
    out, err = r.run("[:find ?n . :in $ ?a :where [?e :person/age ?a] [?e :person/name ?n]] 30")
    assert (out.strip(), err) == ('"Ann"', "")


def test_missing_inputs_are_asked_for_with_the_binding_in_the_prompt(r):
    out, _ = r.run("[:find [?n ...] :in $ ?a [?b ...] :where [?e :person/age ?a] "
                   "[?e :person/name ?n] [(ground 1) ?b]]")
    assert out == "" and r.session.prompt() == "?a> "
    r.run("25")
    assert r.session.prompt() == "[?b ...]> "
    out, _ = r.run("[1 2]")
    assert fs.read_edn(out) == ("Bob",) and r.session.prompt() == "fact-store> "


def test_a_dot_command_at_the_input_prompt_drops_the_waiting_query(r):
    r.run("[:find ?n :in $ ?a :where [?e :person/age ?a] [?e :person/name ?n]]")
    _, err = r.run(".now")
    assert "dropped" in err and r.session.pending is None
    assert r.session.prompt() == "fact-store> "


def test_table_names_columns_after_find_variables_and_entities_by_identity(conn):
    rp = Repl(conn, "table")
    rp.run(SCHEMA)
    rp.run(PEOPLE)
    out, _ = rp.run("[:find ?e ?friend ?n :where [?e :person/friend ?friend] [?e :person/name ?n]]")
    header, _, row = out.splitlines()[:3]
    assert header.split() == ["?e", "?friend", "?n"]
    assert '[:person/name "Bob"]' in row and '[:person/name "Ann"]' in row and "Bob" in row
    assert "(1 row)" in out


def test_sort_rows_gives_the_full_sort_order_and_its_first_rows(conn):
    """The fast path (plain tuples) and the key path (mixed types) agree with a full sort."""
    import random

    from fact_store.repl import sort_key, sort_rows

    rng = random.Random(12)
    homogeneous = [(rng.randrange(50), f"s{rng.randrange(50)}") for _ in range(500)]
    mixed = [(rng.choice([None, True, 3, 2.5, "x", fs.Keyword(":k"), (1, 2)]), rng.randrange(9))
             for _ in range(500)]
    for rows in (homogeneous, mixed):
        full = sorted(rows, key=sort_key)
        assert sort_rows(list(rows)) == full
        assert sort_rows(list(rows), limit=17) == full[:17]


def test_a_table_sorts_and_labels_only_the_rows_it_shows(conn):
    from fact_store import repl

    rp = Repl(conn, "table")
    rp.run(SCHEMA)
    rp.run(".tx [" + " ".join(f'{{:person/name "p{i:03d}" :person/age {i}}}' for i in range(300)) + "]")
    rp.session.out.max_rows = 5
    labelled = []

    class CountingLabeler(repl.Labeler):  # the real labeler, counting the ids it names
        def ref(self, eid):
            labelled.append(eid)
            return super().ref(eid)

    rp.session.labeler = lambda: CountingLabeler(rp.session.latest())
    out, _ = rp.run("[:find ?e ?a :where [?e :person/age ?a]]")
    rows = out.splitlines()[2:7]
    assert [r.split()[-1] for r in rows] == ["0", "1", "2", "3", "4"]
    assert '[:person/name "p000"]' in rows[0]
    assert len(labelled) == 5
    assert "(300 rows) (295 not shown" in out


def test_output_sends_results_to_a_file_until_output_alone(r, tmp_path):
    path = tmp_path / "out.edn"
    _, err = r.run(f".output {path}")
    assert f"results go to {path}" in err
    out, _ = r.run("[:find ?n :where [_ :person/name ?n]]")
    assert out == ""
    r.run(".format table")
    r.run('[:find ?e :where [?e :person/name "Ann"]]')
    out, err = r.run(".output")
    assert "results go to the terminal again" in err
    out, _ = r.run("[:find ?a . :where [_ :person/age ?a] [(> ?a 26)]]")
    assert out.strip() == "30"
    text = path.read_text()
    assert '#{["Ann"]' in text and '["Bob"]}' in text
    assert '[:person/name "Ann"]' in text and "(1 row)" in text  # the table, unfolded
    _, err = r.run(".output /nonexistent-dir/x.edn")
    assert "error:" in err and "/nonexistent-dir/x.edn" in err


def test_pager_takes_output_longer_than_the_terminal(r, tmp_path):
    _, err = r.run(".pager maybe")
    assert ".pager takes on or off" in err
    _, err = r.run(".pager off")
    assert "pager off" in err


def test_json_and_csv_formats(r):
    r.run(".format json")
    out, _ = r.run("[:find ?n ?a :keys name age :where [?e :person/name ?n] [?e :person/age ?a]]")
    assert sorted(json.loads(out), key=lambda m: m["name"]) == [
        {"name": "Ann", "age": 30}, {"name": "Bob", "age": 25}]
    r.run(".format csv")
    out, _ = r.run("[:find ?n ?a :where [?e :person/name ?n] [?e :person/age ?a]]")
    assert out.splitlines() == ["n,a", "Ann,30", "Bob,25"]


# -- errors -----------------------------------------------------------------------------

def test_edn_syntax_error_names_line_and_column_and_the_session_goes_on(r):
    out, err = r.run("[:find ?e\n :where [?e :person/name }")
    assert out == ""
    assert "error: unexpected '}' at line 2, column 26" in err
    assert err.splitlines()[-1].index("^") == len("   :where [?e :person/name ")
    out, err = r.run("[:find ?n . :where [_ :person/name ?n] [(= ?n \"Bob\")]]")
    assert (out.strip(), err) == ('"Bob"', "")
    assert r.session.errors == 1


def test_unknown_attribute_is_located_in_the_query(r):
    _, err = r.run("[:find ?e\n :where [?e :person/nme]]")
    assert "Unknown attribute :person/nme" in err and "(line 2, column 13)" in err
    assert "Traceback" not in err


def test_piped_errors_count_lines_of_the_whole_script(r):
    _, err = r.run("[:find ?e :where [?e :nope/x]]", line_offset=41)
    assert "(line 42, column 22)" in err


def test_a_non_query_form_says_how_to_transact(r):
    _, err = r.run('[{:person/name "Cy"}]')
    assert "not a query" in err and ".tx [...]" in err


def test_refused_transaction_shows_the_reason(r):
    _, err = r.run('.tx [{:person/name "Dee" :person/age "old"}]')
    assert "error:" in err and ":person/age" in err and "(line 1, column" in err
    assert r.session.latest().basis_t == 2


def test_unknown_command_suggests_one(r):
    _, err = r.run(".hist")
    assert "unknown command .hist; did you mean .history?" in err


# -- dot commands ------------------------------------------------------------------------

def test_tx_shows_tempids_and_datoms(r):
    out, _ = r.run('.tx [{:db/id "cy" :person/name "Cy"}]')
    rep = fs.read_edn(out)
    assert rep[fs.kw(":t")] == 3 and set(rep[fs.kw(":tempids")]) == {"cy"}
    assert any(d[1] == ":person/name" and d[2] == "Cy" for d in rep[fs.kw(":tx-data")])


def test_as_of_since_history_and_now_choose_the_db(r):
    r.run('.tx [[:db/add [:person/name "Ann"] :person/age 31]]')
    assert r.run(".as-of 2")[0] == "" and r.session.prompt() == "fact-store as-of 2> "
    q = "[:find ?a . :where [?e :person/name \"Ann\"] [?e :person/age ?a]]"
    assert fs.read_edn(r.run(q)[0]) == 30
    r.run(".now")
    assert fs.read_edn(r.run(q)[0]) == 31
    r.run(".since 2")
    assert fs.read_edn(r.run("[:find [?a ...] :where [_ :person/age ?a]]")[0]) == (31,)
    r.run(".now")
    r.run(".history")
    assert r.session.prompt() == "fact-store history> "
    out, _ = r.run('[:find ?a ?added :where [?e :person/name "Ann"] [?e :person/age ?a _ ?added]]')
    assert fs.read_edn(out) == frozenset({(30, True), (30, False), (31, True)})


def test_schema_and_attrs(r):
    out, _ = r.run(".schema")
    rows = fs.read_edn(out)
    assert [m[fs.kw(":ident")] for m in rows] == [":person/name", ":person/age", ":person/friend"]
    out, _ = r.run(".schema :person/name")
    assert fs.read_edn(out)[fs.kw(":unique")] == ":db.unique/identity"
    out, _ = r.run(".attrs")
    assert {m[fs.kw(":attribute")]: m[fs.kw(":datoms")] for m in fs.read_edn(out)} == {
        ":person/name": 2, ":person/age": 2, ":person/friend": 1}


def test_pull_entity_and_datoms(r):
    out, _ = r.run('.pull [:person/name {:person/friend [:person/name]}] [:person/name "Bob"]')
    assert fs.read_edn(out) == {fs.kw(":person/name"): "Bob",
                                fs.kw(":person/friend"): [{fs.kw(":person/name"): "Ann"}]}
    out, _ = r.run('.entity [:person/name "Ann"]')
    assert fs.read_edn(out)[fs.kw(":person/age")] == 30
    out, _ = r.run(".datoms :avet :person/age 25")
    (datom,) = fs.read_edn(out)
    assert datom[1:3] == (":person/age", 25)
    _, err = r.run('.entity [:person/name "Nobody"]')
    assert "no entity" in err


def test_log_explain_timer_and_rules(r):
    out, _ = r.run(".log 1")
    (last,) = fs.read_edn(out)
    assert last[fs.kw(":t")] == 2 and ":person/name" in last[fs.kw(":attributes")]
    out, _ = r.run(".explain [:find ?n :where [?e :person/name ?n]]")
    assert "[?e :person/name ?n]" in out and "result: 2" in out
    _, err = r.run(".timer on")
    _, err = r.run("[:find ?e :where [?e :person/age 30]]")
    assert "Time:" in err
    r.run(".timer off")
    r.run(".rules [[(older ?e ?min) [?e :person/age ?a] [(> ?a ?min)]]]")
    out, _ = r.run("[:find [?n ...] :in $ % ?min :where (older ?e ?min) [?e :person/name ?n]] 26")
    assert fs.read_edn(out) == ("Ann",)


def test_export_then_import_into_an_empty_store_gives_the_same_facts(r, tmp_path):
    r.run('.tx [[:db/retract [:person/name "Bob"] :person/age 25]]')
    path = tmp_path / "dump.edn"
    assert r.run(f".export {path}")[1].startswith("exported 3 transactions")
    other = fs.connect(f"mem:repl-import-{os.getpid()}-{next(_n)}")
    try:
        r2 = Repl(other)
        _, err = r2.run(f".import {path}")
        assert err.startswith("imported 3 transactions")
        q = ("[:find ?n ?a ?f :where [?e :person/name ?n] [(get-else $ ?e :person/age 0) ?a] "
             "[(get-else $ ?e :person/friend 0) ?x] [(get-else $ ?x :person/name \"-\") ?f]]")
        assert r2.run(q)[0] == r.run(q)[0]
        # history survives too: as of t 2, Bob was 25
        r2.run(".as-of 2")
        assert fs.read_edn(r2.run("[:find [?a ...] :where [_ :person/age ?a]]")[0]) == (25, 30)
    finally:
        other.close()


def test_quit_ends_the_session(r):
    r.run(".quit")
    assert r.session.done


# -- completion --------------------------------------------------------------------------

def test_completion_from_the_live_schema(r):
    names = [c for c, _ in completions(r.session, "[:find ?e :where [?e :person/")]
    assert names == [":person/name", ":person/age", ":person/friend"]
    assert (":find", "query") in completions(r.session, "[:fi")
    assert [c for c, _ in completions(r.session, ".as")] == [".as-of"]
    assert [c for c, _ in completions(r.session, ".format j")] == ["json"]
    assert [c for c, _ in completions(r.session, "[:find ?name :where [?e :a ?n")] == ["?name"]
    r.run(".rules [[(older ?e) [?e :person/age ?a] [(> ?a 20)]]]")
    assert ("older", "rule") in completions(r.session, "[:find ?e :in $ % :where (ol")


# -- piped stdin, in a real process ---------------------------------------------------------

def _cli(*args, stdin="", env=None, cwd=None):
    e = dict(os.environ, **(env or {}))
    e.pop("FACT_STORE_URI", None)
    return subprocess.run([sys.executable, "-m", "fact_store.cli", *args], input=stdin,
                          capture_output=True, text=True, env=e, cwd=cwd, timeout=60)


def test_piped_stdin_runs_one_form_after_another(tmp_path):
    script = "\n".join([SCHEMA, PEOPLE,
                        "[:find ?n :in $ ?a",
                        " :where [?e :person/age ?a] [?e :person/name ?n]]",
                        "30",
                        ".format json",
                        "[:find [?n ...] :where [_ :person/name ?n]]"]) + "\n"
    p = _cli("repl", f"file:{tmp_path}/db", stdin=script)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert fs.read_edn(lines[-2]) == frozenset({("Ann",)})
    assert sorted(json.loads(lines[-1])) == ["Ann", "Bob"]


def test_piped_stdin_error_gives_exit_1_and_the_script_line(tmp_path):
    p = _cli("repl", stdin=f"{SCHEMA}\n\n[:find ?e :where [?e :person/nme]]\n"
                           "[:find ?e . :where [?e :person/name \"x\"]]\n", cwd=tmp_path)
    assert p.returncode == 1
    assert "Unknown attribute :person/nme" in p.stderr and "(line 6, column 22)" in p.stderr
    assert p.stdout.strip().splitlines()[-1] == "nil"  # the script went on
    assert (tmp_path / "fact-store.db" / "log").exists()  # the default store: ./fact-store.db


def test_bail_stops_at_the_first_error(tmp_path):
    p = _cli("repl", "--bail", f"file:{tmp_path}/db", stdin="[:find\n:nope]\n.schema\n")
    assert p.returncode == 1 and p.stdout == ""


# -- a person at a terminal ------------------------------------------------------------------

pexpect = pytest.importorskip("pexpect")
# prompt_toolkit draws the prompt with escape codes and leaves out its trailing space
PROMPT = "fact-store>"
MORE = r"\.\.\.>"


@pytest.fixture()
def term(tmp_path):
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", COLUMNS="120", LINES="40",
               FACT_STORE_HISTORY=str(tmp_path / "history"), NO_COLOR="1")
    env.pop("FACT_STORE_URI", None)
    child = pexpect.spawn(sys.executable, ["-m", "fact_store.cli", "repl", f"file:{tmp_path}/db"],
                          env=env, encoding="utf-8", timeout=10, dimensions=(40, 120))
    child.expect(PROMPT)
    yield child
    if child.isalive():
        child.terminate(force=True)


def _type_entry(child, text):
    """Type text as a person would: line by line, Enter after each."""
    for line in text.split("\n"):
        child.send(line + "\r")


def test_a_person_at_the_terminal(term, tmp_path):
    child = term
    # a transaction over several lines: Enter inserts a newline until the brackets balance
    _type_entry(child, SCHEMA)
    child.expect("transacted: t 1")
    child.expect(PROMPT)
    _type_entry(child, PEOPLE)
    child.expect("transacted: t 2")
    child.expect(PROMPT)

    # a multi-line query; the continuation prompt shows while the vector is open
    child.send("[:find ?n ?a\r")
    child.expect(MORE)
    child.send(":where [?e :person/name ?n] [?e :person/age ?a]]\r")
    child.expect("Ann")
    child.expect("(2 rows)")
    child.expect(PROMPT)

    # Tab completes an attribute ident from the live schema
    child.send("[:find [?n ...] :where [_ :person/na\t")
    child.send(" ?n]]\r")
    child.expect("Bob")
    child.expect(PROMPT)

    # back in time: the prompt shows the view, the query sees t 1 (no people yet)
    child.send(".as-of 1\r")
    child.expect("fact-store as-of 1>")
    child.send("[:find ?n :where [_ :person/name ?n]]\r")
    child.expect(r"\(0 rows\)")
    child.send(".now\r")
    child.expect(r"latest db \(t 2\)")

    # a typo: one clear message with the position, then the session goes on
    child.send("[:find ?e :where [?e :person/nme]]\r")
    child.expect("error: Unknown attribute :person/nme")
    child.expect(r"column 22")
    child.send("[:find ?a . :where [_ :person/age ?a] [(> ?a 26)]]\r")
    child.expect("30")
    child.expect(PROMPT)

    child.send(".quit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    history = (tmp_path / "history").read_text()
    assert ":person/nme" in history and ".as-of 1" in history


def test_long_output_goes_through_the_pager_short_output_does_not(tmp_path):
    paged = tmp_path / "paged.txt"
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", COLUMNS="100", LINES="20",
               FACT_STORE_HISTORY=str(tmp_path / "history"), NO_COLOR="1",
               PAGER=f"tee {paged}")  # a pager that keeps what it was given
    env.pop("FACT_STORE_URI", None)
    child = pexpect.spawn(sys.executable, ["-m", "fact_store.cli", "repl", f"file:{tmp_path}/db"],
                          env=env, encoding="utf-8", timeout=10, dimensions=(20, 100))
    try:
        child.expect(PROMPT)
        child.send(".tx [{:db/ident :n/v :db/valueType :db.type/long :db/cardinality "
                   ":db.cardinality/one}]\r")
        child.expect("transacted: t 1")
        child.expect(PROMPT)
        child.send(".tx [" + " ".join(f"{{:n/v {i}}}" for i in range(40)) + "]\r")
        child.expect(r"\(41 rows\)")
        child.expect(PROMPT)
        assert paged.read_text().count("\n") > 40  # the tx report of 41 datoms was paged
        child.send("[:find ?v :where [_ :n/v ?v]]\r")
        child.expect(r"\(40 rows\)")
        child.expect(PROMPT)
        text = paged.read_text()
        assert "(40 rows)" in text and "\n39\n" in text
        child.send("[:find (count ?v) . :where [_ :n/v ?v]]\r")  # one line: printed, not paged
        child.expect("40")
        child.expect(PROMPT)
        assert paged.read_text() == text
        child.send(".quit\r")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_ctrl_d_leaves_and_ctrl_c_clears_the_entry(term):
    term.send("[:find ?e\r")
    term.expect(MORE)
    term.sendintr()
    term.expect(PROMPT)
    # between two prompts the terminal is in cooked mode, where a Ctrl-D is lost: retry
    for _ in range(10):
        term.sendeof()
        if term.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=1) == 0:
            break
    term.close()
    assert term.exitstatus == 0
