"""The postgresql store beyond the shared contract: URIs, names, durability checks (P-04),
injection (P-06), integrity, snapshots, sessions lost and regained.

Every test runs against the session's real PostgreSQL (tests/pg.py), each in
its own schema.
"""

from __future__ import annotations

import ast
import logging
import re
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

import pytest

import fact_store as fs
from fact_store.errors import (ConfigurationError, ConnectionClosed, LockTimeout, LogCorrupted,
                               NotAFactStore, StorageError, StoreMoved, UnsupportedFormat)
from fact_store.log import open_store
from fact_store.log import postgres as pgstore
from tests.pg import PgServer, fresh_schema, new_schema_name

psycopg = pytest.importorskip("psycopg")
from psycopg import sql  # noqa: E402

SOURCE = Path(pgstore.__file__)


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> tuple[PgServer, str]:
    """(server, schema): a fresh schema on the session server."""
    return fresh_schema(request)


@pytest.fixture
def opened() -> Iterator[Callable[[str], pgstore.PostgresStore]]:
    stores: list[Any] = []

    def _open(uri: str) -> pgstore.PostgresStore:
        s = open_store(uri)
        stores.append(s)
        return s  # type: ignore[return-value]

    yield _open
    for s in stores:
        s.close()


def _append(store: Any, payload: bytes = b"p", tx_uuid: uuid.UUID | None = None) -> int:
    with store.writer() as head:
        store.append(head + 1, tx_uuid or uuid.uuid4(), payload)
    return head + 1


def _schemas(server: PgServer) -> set[str]:
    return {r[0] for r in server.admin_execute("SELECT nspname FROM pg_namespace")}


def _tbl(schema: str, name: str) -> Any:
    return sql.Identifier(schema, name)


# --- URIs and names ----------------------------------------------------------------------

HOSTILE_SCHEMAS = [
    "Robert'); DROP TABLE tx_log;--", "a b", "UPPER", "1abc", "", "x" * 64, "pg_catalog",
    'public"', "ä", "a;b", "a\x00b", "$$", "a-b", "fact_store.tx_log", "a\\b", "\u200b",
    "pg_toast_x",
]


@pytest.mark.parametrize("name", HOSTILE_SCHEMAS)
def test_a_schema_name_outside_the_pattern_is_refused_before_any_sql(
        name: str, pg: tuple[PgServer, str], monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = pg
    before = _schemas(server)

    def no_connect(*a: Any, **k: Any) -> None:
        raise AssertionError("connected to the server before validating the schema name")

    monkeypatch.setattr(pgstore.psycopg, "connect", no_connect)
    uri = server.dsn() + "?schema=" + quote(name, safe="")
    with pytest.raises(ConfigurationError, match="is not allowed"):
        open_store(uri)
    monkeypatch.undo()
    assert _schemas(server) == before


def test_the_longest_allowed_schema_name_works_and_its_channel_fits(
        pg: tuple[PgServer, str], opened: Callable[[str], Any],
        request: pytest.FixtureRequest) -> None:
    server, _ = pg
    name = "s" + uuid.uuid4().hex + "_" * 30
    name = name[:63]
    request.addfinalizer(lambda: server.drop_schema(name))
    a = opened(server.store_uri(name))
    b = opened(server.store_uri(name))
    assert len(pgstore.channel_name(name).encode()) <= 63
    timer = threading.Timer(0.05, lambda: _append(a))
    timer.start()
    try:
        assert b.wait(0, timeout=5)
    finally:
        timer.join()


def test_unknown_options_go_to_libpq_which_refuses_them(pg: tuple[PgServer, str]) -> None:
    server, schema = pg
    with pytest.raises(ConfigurationError, match="bogus"):
        open_store(server.store_uri(schema) + "&bogus=1")


@pytest.mark.parametrize("option, message", [
    ("durability=sometimes", "durability="), ("unsafe_server=maybe", "unsafe_server="),
    ("lock_timeout=soon", "could not convert"), ("max_tx_bytes=0", "max_tx_bytes="),
    ("reconnect_timeout=-1", "reconnect_timeout="),
])
def test_bad_store_options_are_configuration_errors(option: str, message: str,
                                                    pg: tuple[PgServer, str]) -> None:
    server, schema = pg
    with pytest.raises(ConfigurationError, match=message):
        open_store(server.store_uri(schema) + "&" + option)


def test_a_missing_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgstore, "psycopg", None)
    with pytest.raises(ConfigurationError, match=re.escape("pip install 'fact-store[postgres]'")):
        open_store("postgresql://u@127.0.0.1:1/db")


def test_passwords_never_appear_in_messages() -> None:
    assert pgstore.redact("postgresql://app:s3cret@h:5/db?password=x&a=1") == \
        "postgresql://app:***@h:5/db?password=***&a=1"


def test_two_stores_share_one_database_under_different_schemas(
        pg: tuple[PgServer, str], opened: Callable[[str], Any],
        request: pytest.FixtureRequest) -> None:
    server, schema = pg
    other = new_schema_name()
    request.addfinalizer(lambda: server.drop_schema(other))
    a, b = opened(server.store_uri(schema)), opened(server.store_uri(other))
    _append(a, b"a1")
    _append(a, b"a2")
    _append(b, b"b1")
    assert (a.head(), b.head()) == (2, 1)
    assert [r.payload for r in b.read_after(0)] == [b"b1"]
    assert a.db_uuid != b.db_uuid


# --- P-04: a server that does not make commits durable ---------------------------------------

@pytest.fixture
def lazy_db(pg: tuple[PgServer, str]) -> Iterator[str]:
    """A database whose sessions default to synchronous_commit=off."""
    server, _ = pg
    name = "lazy_" + uuid.uuid4().hex[:8]
    server.admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    server.admin_execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
        sql.Identifier(name)))
    yield name
    server.admin_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    server.admin_execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def test_durable_mode_refuses_synchronous_commit_off(pg: tuple[PgServer, str],
                                                     lazy_db: str) -> None:
    server, schema = pg
    with pytest.raises(ConfigurationError, match="synchronous_commit=off.*unsafe_server=warn"):
        open_store(server.store_uri(schema, dbname=lazy_db))


def test_unsafe_server_warn_opens_with_a_warning(pg: tuple[PgServer, str], lazy_db: str,
                                                 opened: Callable[[str], Any],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    server, schema = pg
    with caplog.at_level(logging.WARNING, logger="fact_store"):
        s = opened(server.store_uri(schema, dbname=lazy_db, unsafe_server="warn"))
        _append(s)
    assert "synchronous_commit=off" in caplog.text and "unsafe_server=warn" in caplog.text


def test_durability_none_accepts_the_server_silently(pg: tuple[PgServer, str], lazy_db: str,
                                                     opened: Callable[[str], Any],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    server, schema = pg
    with caplog.at_level(logging.WARNING, logger="fact_store"):
        s = opened(server.store_uri(schema, dbname=lazy_db, durability="none"))
        _append(s)
    assert s.head() == 1 and "synchronous_commit" not in caplog.text


def test_durable_mode_refuses_fsync_off(pg: tuple[PgServer, str]) -> None:
    server, schema = pg
    if not server.can_restart:
        pytest.skip("changes the server's configuration; only on the harness's own server")
    server.admin_execute("ALTER SYSTEM SET fsync = off")
    server.admin_execute("SELECT pg_reload_conf()")
    try:
        deadline = time.monotonic() + 5
        while server.admin_execute("SHOW fsync")[0][0] != "off" and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(ConfigurationError, match="fsync=off"):
            open_store(server.store_uri(schema))
    finally:
        server.admin_execute("ALTER SYSTEM RESET fsync")
        server.admin_execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 5
        while server.admin_execute("SHOW fsync")[0][0] != "on" and time.monotonic() < deadline:
            time.sleep(0.02)


# --- P-06: injection ----------------------------------------------------------------------------

INJECTION_STRINGS = [
    "'); DROP TABLE tx_log;--", "\"; DROP SCHEMA public CASCADE; --", "$$", "$tag$ x $tag$",
    "\\", "\\\\'", "\x00", "a\x00b", "%s", "%(x)s", "{}", "{schema}", "'" * 10, "\r\n\t",
    "\u202etxet", "\u200b", "😀", "e\u0301", "\u00e9", "\ufeffbom", "NULL", "null", "\\x00",
    "E'\\x41'", "' OR '1'='1", "*/ SELECT 1 /*", "-- comment", ";", "LISTEN x; NOTIFY x",
    "'" * (1 << 20),  # 1 MiB of quotes (the value size limit, exactly)
]
INJECTION_BYTES = [bytes(range(256)), b"\x00", b"'\\\x00", b"\\x00", b"", b"'" * 4096]


def test_hostile_strings_and_bytes_round_trip_exactly(pg: tuple[PgServer, str]) -> None:
    server, schema = pg
    uri = server.store_uri(schema)
    conn = fs.connect(uri)
    try:
        conn.transact([
            {":db/ident": ":h/s", ":db/valueType": ":db.type/string",
             ":db/cardinality": ":db.cardinality/one"},
            {":db/ident": ":h/b", ":db/valueType": ":db.type/bytes",
             ":db/cardinality": ":db.cardinality/one"},
            {":db/ident": ":h/k", ":db/valueType": ":db.type/keyword",
             ":db/cardinality": ":db.cardinality/one"},
            {":db/ident": ":h/i", ":db/valueType": ":db.type/long",
             ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
        ])
        for i, s in enumerate(INJECTION_STRINGS):
            conn.transact([{":h/i": i, ":h/s": s}])
        for i, b in enumerate(INJECTION_BYTES):
            conn.transact([{":h/i": 1000 + i, ":h/b": b}])
        conn.transact([{":h/i": 2000, ":h/k": fs.Keyword(":h/x\x00'); DROP TABLE tx_log;--")}])
        head = conn.db().basis_t
    finally:
        conn.close()
    again = fs.connect(uri)  # a fresh replay from the table
    try:
        db = again.db()
        assert db.basis_t == head
        for i, s in enumerate(INJECTION_STRINGS):
            got = db.entity([":h/i", i])[":h/s"]
            assert type(got) is str and got == s, f"string {i} changed"
        for i, b in enumerate(INJECTION_BYTES):
            got = db.entity([":h/i", 1000 + i])[":h/b"]
            assert type(got) is bytes and got == b, f"bytes {i} changed"
        assert db.entity([":h/i", 2000])[":h/k"] == ":h/x\x00'); DROP TABLE tx_log;--"
    finally:
        again.close()
    tables = {r[0] for r in server.admin_execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
    assert tables == {"meta", "tx_log", "snapshots"}
    assert server.admin_execute(sql.SQL("SELECT count(*) FROM {}").format(
        _tbl(schema, "tx_log")))[0][0] == head


def _execute_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("execute", "executemany", "copy", "stream"):
            yield node


def test_no_sql_is_built_by_string_formatting() -> None:
    """P-06: near every execute( call, no f-string, %-formatting, str.format or concatenation;
    statements are module-built psycopg.sql compositions passed by attribute."""
    text = SOURCE.read_text()
    tree = ast.parse(text)
    lines = text.splitlines()
    calls = list(_execute_calls(tree))
    assert len(calls) >= 15, "the check found too few execute( calls: is it still looking?"
    for call in calls:
        span = "\n".join(lines[call.lineno - 1:call.end_lineno])
        where = f"{SOURCE.name}:{call.lineno}: {span.strip()}"
        assert not re.search(r"""\bf["']""", span), f"f-string near execute(: {where}"
        assert not re.search(r"""["']\s*%\s*[\w(\[{]""", span), f"%-formatting: {where}"
        assert ".format(" not in span, f"str.format near execute(: {where}"
        assert call.args, where
        query = call.args[0]
        assert isinstance(query, ast.Attribute) and isinstance(query.value, ast.Attribute) \
            and query.value.attr == "_q" or isinstance(query, ast.Attribute) and \
            isinstance(query.value, ast.Name) and query.value.id == "q", \
            f"the statement must be one of _statements()'s (self._q.X or q.X): {where}"
        for node in ast.walk(call):
            assert not isinstance(node, ast.JoinedStr), f"f-string in execute(: {where}"
            if isinstance(node, ast.BinOp):
                assert not isinstance(node.op, (ast.Mod, ast.Add)), f"string operator: {where}"
    # the statements themselves: sql.SQL over literal text, identifiers via sql.Identifier
    stmts = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and
                 n.name == "_statements")
    for node in ast.walk(stmts):
        assert not isinstance(node, ast.JoinedStr), "f-string in _statements()"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "q":
            assert len(node.args) == 1 and isinstance(node.args[0], ast.Constant), \
                f"_statements() line {node.lineno}: SQL text must be a literal"


# --- integrity ------------------------------------------------------------------------------------

def test_a_modified_row_is_reported_as_corruption_naming_t(pg: tuple[PgServer, str],
                                                           opened: Callable[[str], Any]) -> None:
    server, schema = pg
    s = opened(server.store_uri(schema))
    for i in range(3):
        _append(s, b"r%d" % i)
    server.admin_execute(sql.SQL("UPDATE {} SET payload = %s WHERE t = 2").format(
        _tbl(schema, "tx_log")), (b"evil",))
    with pytest.raises(LogCorrupted, match="t=2 .*checksum") as err:
        list(s.read_after(0))
    assert err.value.t == 2
    assert [r.t for r in s.read_after(2)] == [3]


def test_a_deleted_row_is_reported_as_a_gap(pg: tuple[PgServer, str],
                                            opened: Callable[[str], Any]) -> None:
    server, schema = pg
    s = opened(server.store_uri(schema))
    for i in range(3):
        _append(s)
    server.admin_execute(sql.SQL("DELETE FROM {} WHERE t = 2").format(_tbl(schema, "tx_log")))
    with pytest.raises(LogCorrupted, match="no record t=2"):
        list(s.read_after(0))


def test_a_newer_table_format_is_refused(pg: tuple[PgServer, str],
                                         opened: Callable[[str], Any]) -> None:
    server, schema = pg
    opened(server.store_uri(schema))
    server.admin_execute(sql.SQL("UPDATE {} SET value = '2' WHERE key = 'format'").format(
        _tbl(schema, "meta")))
    with pytest.raises(UnsupportedFormat, match="format 2"):
        open_store(server.store_uri(schema))


def test_a_schema_holding_other_tables_is_not_a_fact_store_and_is_left_alone(
        pg: tuple[PgServer, str]) -> None:
    server, schema = pg
    server.admin_execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    server.admin_execute(sql.SQL("CREATE TABLE {} (key text, value text)").format(
        _tbl(schema, "meta")))
    server.admin_execute(sql.SQL("INSERT INTO {} VALUES ('magic', 'someone else')").format(
        _tbl(schema, "meta")))
    with pytest.raises(NotAFactStore, match="not a fact-store"):
        open_store(server.store_uri(schema))
    tables = {r[0] for r in server.admin_execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
    assert tables == {"meta"}


def test_an_existing_empty_schema_is_used(pg: tuple[PgServer, str],
                                          opened: Callable[[str], Any]) -> None:
    server, schema = pg
    server.admin_execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    s = opened(server.store_uri(schema))
    _append(s)
    assert s.head() == 1


def test_concurrent_first_opens_create_the_tables_once(pg: tuple[PgServer, str]) -> None:
    server, schema = pg
    uri = server.store_uri(schema)
    results: list[Any] = []

    def open_one() -> None:
        try:
            results.append(open_store(uri))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert all(isinstance(r, pgstore.PostgresStore) for r in results), results
        assert len({r.db_uuid for r in results}) == 1
    finally:
        for r in results:
            if isinstance(r, pgstore.PostgresStore):
                r.close()


def test_a_duplicate_tx_uuid_is_refused_and_nothing_is_appended(
        pg: tuple[PgServer, str], opened: Callable[[str], Any]) -> None:
    server, schema = pg
    s = opened(server.store_uri(schema))
    u = uuid.uuid4()
    _append(s, b"first", u)
    with pytest.raises(StorageError, match="already in the log"):
        _append(s, b"again", u)
    assert [r.payload for r in s.read_after(0)] == [b"first"]
    _append(s, b"next")
    assert s.head() == 2


# --- snapshots ------------------------------------------------------------------------------------

def test_a_corrupt_snapshot_is_skipped_for_an_older_valid_one(
        pg: tuple[PgServer, str], opened: Callable[[str], Any],
        caplog: pytest.LogCaptureFixture) -> None:
    server, schema = pg
    s = opened(server.store_uri(schema))
    for _ in range(4):
        _append(s)
    s.save_snapshot(2, b"at 2")
    s.save_snapshot(4, b"at 4")
    server.admin_execute(sql.SQL("UPDATE {} SET payload = 'x' WHERE t = 4").format(
        _tbl(schema, "snapshots")))
    with caplog.at_level(logging.WARNING, logger="fact_store"):
        assert s.load_snapshot() == (2, b"at 2")
    assert "checksum" in caplog.text


def test_a_snapshot_whose_record_changed_is_ignored(pg: tuple[PgServer, str],
                                                    opened: Callable[[str], Any]) -> None:
    server, schema = pg
    s = opened(server.store_uri(schema))
    for _ in range(3):
        _append(s)
    s.save_snapshot(3, b"at 3")
    server.admin_execute(sql.SQL("UPDATE {} SET tx_uuid = %s WHERE t = 3").format(
        _tbl(schema, "tx_log")), (uuid.uuid4(),))
    assert s.load_snapshot() is None


# --- the writer lock across sessions ------------------------------------------------------------------

def test_another_session_holding_the_lock_times_out_the_writer(
        pg: tuple[PgServer, str], opened: Callable[[str], Any]) -> None:
    server, schema = pg
    a, b = opened(server.store_uri(schema)), opened(server.store_uri(schema))
    with a.writer():
        start = time.monotonic()
        with pytest.raises(LockTimeout, match="another process held the writer lock"):
            with b.writer(timeout=0.2):
                pass
        assert time.monotonic() - start < 60  # a hang guard: the machine may be loaded
    with b.writer(timeout=1) as head:
        assert head == 0


def test_a_second_append_in_one_block_is_refused_if_another_writer_got_in_between(
        pg: tuple[PgServer, str], opened: Callable[[str], Any]) -> None:
    """The documented PostgreSQL difference: COMMIT in append() releases the xact lock."""
    server, schema = pg
    a, b = opened(server.store_uri(schema)), opened(server.store_uri(schema))
    with a.writer() as head:
        a.append(head + 1, uuid.uuid4(), b"a1")
        _append(b, b"b2")
        with pytest.raises(StorageError, match="t must be head \\+ 1"):
            a.append(head + 2, uuid.uuid4(), b"a2")
        a.append(head + 3, uuid.uuid4(), b"a3")
    assert [r.payload for r in a.read_after(0)] == [b"a1", b"b2", b"a3"]


# --- sessions lost and regained ---------------------------------------------------------------------------

def _terminate(server: PgServer, schema: str, role: str) -> int:
    rows = server.admin_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (f"fact-store {schema} {role}",))
    return sum(1 for r in rows if r[0])


def test_reads_and_writes_survive_killed_sessions(pg: tuple[PgServer, str],
                                                  opened: Callable[[str], Any]) -> None:
    server, schema = pg
    s = opened(server.store_uri(schema))
    _append(s)
    assert _terminate(server, schema, "reader") == 1
    assert _terminate(server, schema, "writer") == 1
    assert s.head() == 1
    _append(s)
    assert [r.t for r in s.read_after(0)] == [1, 2]


def test_wait_falls_back_to_polling_when_the_listener_is_gone(
        pg: tuple[PgServer, str], opened: Callable[[str], Any]) -> None:
    server, schema = pg
    uri = server.store_uri(schema, poll_interval="0.1")
    a, b = opened(uri), opened(uri)
    assert not b.wait(0, timeout=0.05)  # starts the listener
    stop = threading.Event()

    def keep_killing() -> None:
        while not stop.is_set():
            _terminate(server, schema, "listener")
            time.sleep(0.005)

    killer = threading.Thread(target=keep_killing)
    killer.start()
    try:
        time.sleep(0.05)
        _append(a)
        start = time.monotonic()
        assert b.wait(0, timeout=120)
        assert time.monotonic() - start < 60  # woken, not timed out
    finally:
        stop.set()
        killer.join()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_gives_up_with_a_clear_error() -> None:
    uri = f"postgresql://nobody@127.0.0.1:{_closed_port()}/db?reconnect_timeout=0.5"
    start = time.monotonic()
    with pytest.raises(StorageError, match="unreachable for .* Giving up") as err:
        open_store(uri)
    assert 0.4 < time.monotonic() - start < 60  # it retried, then gave up (no hang)
    assert "reconnect_timeout" in str(err.value)


def test_a_missing_database_fails_at_once(pg: tuple[PgServer, str]) -> None:
    server, schema = pg
    start = time.monotonic()
    with pytest.raises(StorageError, match="does not exist"):
        open_store(server.store_uri(schema, dbname="no_such_db_" + uuid.uuid4().hex[:6])
                   + "&reconnect_timeout=600")
    assert time.monotonic() - start < 300  # at once, not after retrying for 600 s


# --- peer continuity -----------------------------------------------------------------------------------

def test_a_log_that_lost_what_this_peer_read_is_store_moved(
        pg: tuple[PgServer, str], opened: Callable[[str], Any]) -> None:
    """As after a failover to a lagging replica (or a crash in group mode): t=3 that
    this handle read is gone and another transaction took its place."""
    server, schema = pg
    a, b = opened(server.store_uri(schema)), opened(server.store_uri(schema))
    for _ in range(3):
        _append(b)
    assert [r.t for r in a.read_after(0)] == [1, 2, 3]
    server.admin_execute(sql.SQL("DELETE FROM {} WHERE t = 3").format(_tbl(schema, "tx_log")))
    _append(opened(server.store_uri(schema)), b"another t=3")  # b saw t=3 too: a new handle
    with pytest.raises(StoreMoved, match="no longer holds record t=3.*reconnect"):
        with a.writer():
            pass
    with pytest.raises(ConnectionClosed):
        a.head()
    fresh = opened(server.store_uri(schema))
    assert [r.payload for r in fresh.read_after(2)] == [b"another t=3"]


def test_a_reconnected_reader_checks_continuity_too(
        pg: tuple[PgServer, str], opened: Callable[[str], Any]) -> None:
    server, schema = pg
    a, b = opened(server.store_uri(schema)), opened(server.store_uri(schema))
    _append(b)
    _append(b)
    assert a.head() == 2 and [r.t for r in a.read_after(0)] == [1, 2]
    server.admin_execute(sql.SQL("DELETE FROM {} WHERE t = 2").format(_tbl(schema, "tx_log")))
    _append(opened(server.store_uri(schema)), b"other")
    server.admin_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = %s", (f"fact-store {schema} reader",))
    with pytest.raises(StoreMoved):
        a.head()


def test_group_mode_is_durable_when_the_writer_block_exits(
        pg: tuple[PgServer, str], opened: Callable[[str], Any]) -> None:
    server, schema = pg
    s = opened(server.store_uri(schema, durability="group"))
    for i in range(3):
        _append(s, b"g%d" % i)
    sessions = server.admin_execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s",
        (f"fact-store {schema} %",))
    assert sessions[0][0] >= 1
    assert [r.payload for r in s.read_after(0)] == [b"g0", b"g1", b"g2"]


def test_a_forked_child_opens_its_own_sessions_and_leaves_the_parents_alone(
        pg: tuple[PgServer, str], opened: Callable[[str], Any]) -> None:
    import os

    server, schema = pg
    s = opened(server.store_uri(schema))
    _append(s, b"parent")
    assert s.wait(0, timeout=0.1)  # the listener thread runs
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            _append(s, b"child")
            os._exit(0 if s.head() == 2 else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    _append(s, b"parent again")  # the parent's sessions survived the child
    assert [r.payload for r in s.read_after(0)] == [b"parent", b"child", b"parent again"]
    assert s.wait(2, timeout=0.1)
