"""The `fact-store` command: repl, q, transact, import/export, stats, verify, checkpoint.

Every subcommand takes ``--uri`` (default ``file:fact-store.db``, the embedded
store in the current directory; environment ``FACT_STORE_URI``). Commands that
print results take ``--format auto|table|edn|json|csv`` (``FACT_STORE_FORMAT``):
``auto`` is a table on a terminal and EDN otherwise. Exit codes: 0 ok,
1 failure (an error from the store, a refused transaction, a bad query,
a store that ``verify`` finds damaged), 2 usage (a bad option or argument).
Errors are one ``error:`` message on stderr, with the line and column when
the text tells them; ``FACT_STORE_DEBUG=1`` adds tracebacks of internal errors.

docs/CLI.md is the user's page.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import sys
from typing import Any, Callable, TextIO, TypeVar

import click

import fact_store as fs
from fact_store import repl
from fact_store.edn import show as _show
from fact_store.web.command import run as run_web
from fact_store.web.command import web_options

DEFAULT_URI = "file:fact-store.db"
F = TypeVar("F", bound=Callable[..., Any])


# ------------------------------------------------------------------ errors and exit codes

class Failure(click.ClickException):
    """Exit code 1 with one ``error:`` message (and a caret excerpt when there is one)."""

    exit_code = 1

    def __init__(self, message: str, excerpt: str | None = None) -> None:
        super().__init__(message)
        self.excerpt = excerpt

    def show(self, file: Any = None) -> None:
        out = repl.Output("edn", err=file if file is not None else sys.stderr)
        out.error(self.message, self.excerpt)


class Usage(click.UsageError):
    """Exit code 2."""


def _guard(f: F) -> F:
    """Turn the errors a user can cause into :class:`Failure`; never a traceback."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except repl.ReplError as exc:
            raise Failure(exc.message) from None
        except (fs.FactStoreError, OSError) as exc:
            raise Failure(repl.error_text(exc)) from None
        except KeyboardInterrupt:
            raise Failure("interrupted") from None
        except Exception as exc:  # noqa: BLE001 - a bug below us: one line, not a traceback
            if os.environ.get("FACT_STORE_DEBUG"):
                raise
            raise Failure(f"internal error ({type(exc).__name__}: {exc}); this is a bug, please "
                          "report it (FACT_STORE_DEBUG=1 shows the traceback)") from None

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------------ shared options

def _uri_option(f: F) -> F:
    return click.option("--uri", "-u", envvar="FACT_STORE_URI", default=DEFAULT_URI,
                        show_default=True, show_envvar=True, metavar="URI",
                        help="The store: file:PATH, mem:NAME or postgresql://...")(f)


def _format_option(f: F) -> F:
    return click.option("--format", "-f", "fmt", envvar="FACT_STORE_FORMAT", show_envvar=True,
                        type=click.Choice(("auto",) + repl.FORMATS), default="auto",
                        show_default=True,
                        help="auto: a table on a terminal, EDN otherwise.")(f)


def _time_options(f: F) -> F:
    f = click.option("--history", "history", is_flag=True,
                     help="Read the history db (assertions and retractions).")(f)
    f = click.option("--since", "since", metavar="T",
                     help="Read only what was added after T.")(f)
    return click.option("--as-of", "as_of", metavar="T",
                        help="Read the db as of T: a t, a tx id or an ISO date-time.")(f)


def _point(value: str | None, option: str) -> Any:
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        v = fs.read_edn(text) if text.startswith("#inst") else _dt.datetime.fromisoformat(text)
    except (ValueError, fs.FactStoreError):
        raise Usage(f"{option} takes a t (a number), a tx id or a date-time "
                    f"(2024-05-01T12:00:00Z), got {_show(value)}") from None
    if isinstance(v, _dt.datetime) and v.tzinfo is None:
        v = v.replace(tzinfo=_dt.timezone.utc)
    return v


def _format(fmt: str) -> str:
    if fmt != "auto":
        return fmt
    return "table" if sys.stdout.isatty() else "edn"


def file_path(uri: str) -> str | None:
    """The directory of a ``file:`` URI, or None for other stores.

    >>> file_path("file:data/db?durability=group"), file_path("mem:x")
    ('data/db', None)
    >>> file_path("file:///tmp/db")
    '/tmp/db'
    """
    if not uri.startswith("file:"):
        return None
    rest = uri[len("file:"):].partition("?")[0]
    if rest.startswith("//"):
        rest = "/" + rest[2:].partition("/")[2]
    return rest


def _connect(uri: str, create: bool = False) -> fs.Connection:
    path = file_path(uri)
    if path is not None and not create and not os.path.exists(os.path.join(path, "log")):
        raise Failure(f"no fact store at {path}: name one with --uri or FACT_STORE_URI, or "
                      "create it with `fact-store transact`, `import` or `repl`")
    return fs.connect(uri)


def _read_arg(text: str, what: str) -> str:
    """``-`` reads stdin, ``@FILE`` a file, anything else is the text itself."""
    if text == "-":
        return _read_file("-", what)
    if text.startswith("@"):
        return _read_file(text[1:], what)
    _check_text(text, what)
    return text


def _read_file(name: str, what: str = "FILE") -> str:
    """The text of ``name`` (``-``: stdin). A file that cannot be read is a usage error (exit 2)
    naming it."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read()
            name = "standard input"
        else:
            with open(name, "rb") as f:
                data = f.read()
        return data.decode("utf-8")
    except FileNotFoundError:
        raise Usage(f"{what}: no such file: {name}") from None
    except IsADirectoryError:
        raise Usage(f"{what}: {name} is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise Usage(f"{what}: {name} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise Usage(f"{what}: cannot read {name}: {exc.strerror or exc}") from None


def _check_text(text: str, what: str) -> None:
    """Refuse an argument holding lone surrogates (undecodable bytes in argv come as those)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Usage(f"{what}: not UTF-8 text ({text[exc.start]!a} at character "
                    f"{exc.start})") from None


def _session(conn: fs.Connection, fmt: str, as_of: Any = None, since: Any = None,
             history: bool = False) -> repl.Session:
    s = repl.Session(conn, repl.Output(_format(fmt)))
    s.as_of, s.since, s.history = as_of, since, history
    return s


def _check(session: repl.Session) -> None:
    if session.errors:
        raise click.exceptions.Exit(1)


# ------------------------------------------------------------------ the group

@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(fs.__version__, prog_name="fact-store")
def cli() -> None:
    """fact-store: an immutable fact database with Datalog.

    Run `fact-store repl` to explore a store, or one command at a time below.
    Exit codes: 0 ok, 1 failure, 2 usage.
    """


@cli.command("repl")
@click.argument("uri_arg", metavar="[URI]", required=False)
@_uri_option
@_format_option
@click.option("--history-file", envvar="FACT_STORE_HISTORY", metavar="FILE",
              help="Where typed entries are kept (default ~/.fact_store_history).")
@click.option("--bail", is_flag=True, help="Piped input: stop at the first error.")
@_guard
def repl_cmd(uri_arg: str | None, uri: str, fmt: str, history_file: str | None,
             bail: bool) -> None:
    """The Datalog REPL on URI (default: the store of the current directory).

    On a terminal: multi-line entry (Enter submits when the brackets balance),
    history, Tab completion. Piped stdin runs one entry after another; the exit
    code is 1 if any of them failed. Type .help for the commands.
    """
    uri = uri_arg or uri
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        try:
            import prompt_toolkit  # noqa: F401 - an optional dependency (the cli extra)
        except ImportError:
            raise Failure("the interactive REPL needs prompt_toolkit: pip install "
                          "'fact-store[cli]' (piped input works without it)") from None
    conn = _connect(uri, create=True)
    out = repl.Output(_format(fmt) if not interactive or fmt != "auto" else "table",
                      interactive=interactive)
    session = repl.Session(conn, out)
    try:
        if interactive:
            t = conn.db().basis_t
            repl.run_interactive(session, history_file, banner=(
                f"fact-store {fs.__version__} on {uri} (t {t}). "
                "Enter runs a form once its brackets balance; .help lists commands, .quit leaves."))
        else:
            repl.run_script(session, sys.stdin, bail=bail)
    finally:
        conn.close()
    if not interactive:
        _check(session)


@cli.command("q")
@click.argument("query")
@click.argument("inputs", nargs=-1)
@_uri_option
@_format_option
@_time_options
@_guard
def q_cmd(query: str, inputs: tuple[str, ...], uri: str, fmt: str, as_of: str | None,
          since: str | None, history: bool) -> None:
    """Run QUERY (EDN text, @FILE or - for stdin) with its :in INPUTs (EDN each).

    $ is the store's db; every other :in binding takes the next INPUT:

      fact-store q '[:find ?n :in $ ?a :where [?e :person/age ?a] [?e :person/name ?n]]' 42
    """
    text = _read_arg(query, "query")
    conn = _connect(uri)
    try:
        session = _session(conn, fmt, _point(as_of, "--as-of"), _point(since, "--since"), history)
        entry = "\n".join([text] + [_read_arg(i, "input") for i in inputs])
        spans = repl.split_forms(text)
        if len(spans) != 1:
            raise Usage(f"QUERY must be one EDN form (a query), got {len(spans)}")
        session.feed(entry)
        _check(session)  # a bad input is its error, not a missing one
        if session.pending is not None:
            missing = " ".join(fs.write_edn(b) for b in session.pending.missing)
            raise Usage(f"the query needs inputs after it for {missing}")
    finally:
        conn.close()


@cli.command("transact")
@click.argument("file", metavar="FILE|-")
@_uri_option
@_format_option
@_guard
def transact_cmd(file: str, uri: str, fmt: str) -> None:
    """Transact the tx-data in FILE (or stdin): each top-level form is one transaction.

    Prints what each made: its t, the tempids and the datoms. Stops at the
    first refused transaction (exit 1); those before it stay.
    """
    text = _read_file(file, "FILE")
    spans = repl.split_forms(text)
    if not spans:
        raise Failure(f"{file}: no tx-data (expected a vector such as [{{:db/id \"x\" :a/b 1}}])")
    forms = [(repl.read_form(text, s, e), s, e) for s, e in spans]
    conn = _connect(uri, create=True)
    try:
        out = repl.Output(_format(fmt))
        for tx_data, s, e in forms:
            if not isinstance(tx_data, (tuple, list)):
                raise Failure(*repl.format_error(
                    f"not tx-data: expected a vector of maps and [:db/add ...] lists, got "
                    f"{fs.write_edn(tx_data)[:60]}", text, s))
            try:
                report = conn.transact(tx_data)
            except fs.FactStoreError as exc:
                raise Failure(*repl.format_error(repl.error_text(exc), text,
                                                 repl.locate_error(text, s, e, exc))) from None
            repl.show_tx_report(out, report, repl.Labeler(report.db_after)
                                if out.format == "table" else None)
    finally:
        conn.close()


@cli.command("pull")
@click.argument("pattern")
@click.argument("eids", nargs=-1, required=True, metavar="EID...")
@_uri_option
@_format_option
@_time_options
@_guard
def pull_cmd(pattern: str, eids: tuple[str, ...], uri: str, fmt: str, as_of: str | None,
             since: str | None, history: bool) -> None:
    """Pull PATTERN for each EID: an entity id, an ident or a lookup ref.

      fact-store pull '[* {:person/friend [:person/name]}]' '[:person/name "Ann"]'
    """
    conn = _connect(uri)
    try:
        session = _session(conn, fmt, _point(as_of, "--as-of"), _point(since, "--since"), history)
        db = session.db()
        pattern_text = _read_arg(pattern, "pattern")
        results = []
        for eid_text in eids:
            try:
                eid = fs.read_edn(eid_text)
            except fs.EdnSyntaxError as exc:
                raise Failure(f"EID {_show(eid_text)}: {exc.message.splitlines()[0]}") from None
            if db.entid(eid) is None:
                raise Failure(f"no entity {eid_text} in this db")
            results.append(fs.pull(db, pattern_text, eid))
        session.out.value(results[0] if len(results) == 1 else tuple(results))
    finally:
        conn.close()


def _progress(total_hint: str) -> Any:
    """A rich progress bar on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(total_hint), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


@cli.command("import")
@click.argument("file", metavar="FILE|-")
@_uri_option
@click.option("--instants", type=click.Choice(("auto", "keep", "now")), default="auto",
              show_default=True,
              help="Exported :db/txInstant values: keep them, drop them (now), or keep them "
                   "when the store is empty (auto).")
@click.option("--force", is_flag=True,
              help="Import even when the store already holds every fact of the stream.")
@_guard
def import_cmd(file: str, uri: str, instants: str, force: bool) -> None:
    """Transact an EDN tx-data stream: one transaction per top-level form.

    A stream written by `fact-store export` gets its entity ids mapped to new
    ids of this store, so it can be loaded into any store. Nothing is written
    when the stream uses attributes that neither the store nor the stream
    installs, or when the store already holds every fact of the stream (it was
    imported before; --force imports it anyway).
    """
    text = _read_file(file, "FILE")
    conn = _connect(uri, create=True)
    try:
        bar = _progress("importing")
        if bar is None:
            rep = repl.import_text(conn, text, instants, force=force)
        else:
            with bar:
                task = bar.add_task("import", total=None)
                rep = repl.import_text(conn, text, instants, force=force,
                                       progress=lambda i, n: bar.update(task, completed=i, total=n))
        click.echo(f"imported {repl.import_summary(rep)}; t is now {rep.basis_t}",
                   err=file == "-" and not sys.stdout.isatty())
    finally:
        conn.close()


@cli.command("export")
@click.argument("file", metavar="FILE|-")
@_uri_option
@click.option("--as-of", "as_of", metavar="T", help="Only the transactions up to t T.")
@_guard
def export_cmd(file: str, uri: str, as_of: str | None) -> None:
    """Write the log as an EDN tx-data stream (to FILE, or stdout for -)."""
    point = _point(as_of, "--as-of")
    conn = _connect(uri)
    try:
        until = None
        if point is not None:
            until = conn.db().as_of(point).as_of_t
        bar = _progress("exporting")

        def run(out: TextIO) -> int:
            if bar is None:
                return repl.export_log(conn, out, until)
            with bar:
                task = bar.add_task("export", total=None)
                return repl.export_log(conn, out, until,
                                       progress=lambda i, n: bar.update(task, completed=i, total=n))

        if file == "-":
            n = run(sys.stdout)
            sys.stdout.flush()
        else:
            n = _write_atomically(file, run)
            click.echo(f"exported {n:,} transaction{'s' if n != 1 else ''} to {file}")
    finally:
        conn.close()


def _write_atomically(file: str, write: Callable[[TextIO], int]) -> int:
    """Run ``write`` on a private (0600) temporary file, then rename it to ``file``.

    A failure part-way removes the temporary file: ``file`` is either the whole
    dump or untouched, never truncated.
    """
    tmp = os.path.join(os.path.dirname(os.path.abspath(file)),
                       f".{os.path.basename(file)}.tmp.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with open(fd, "w", encoding="utf-8") as f:
            n = write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return n


def collect_stats(conn: fs.Connection) -> dict[str, Any]:
    """Counts of a store: t, transactions, datoms, entities, attributes, and sizes on disk.

    O(datoms): every current datom is read once.
    """
    db = conn.sync()
    tx0 = fs.t_to_tx(0)
    datoms = 0
    entities: set[int] = set()
    for a in db.schema.attrs():  # attribute by attribute: every current datom once
        for d in db.datoms("aevt", a.id):
            if d.tx == tx0:
                continue  # built-in schema
            datoms += 1
            if d.e < tx0:
                entities.add(d.e)
    attrs = [a for a in db.schema.attrs() if not a.builtin]
    stats: dict[str, Any] = {
        "uri": conn.uri, "t": db.basis_t, "transactions": db.basis_t,
        "datoms": datoms, "entities": len(entities), "attributes": len(attrs),
        "last-transaction": db.last_instant if db.basis_t else None,
    }
    path = file_path(conn.uri)
    if path is not None and os.path.isdir(path):
        log_bytes = snap_bytes = snaps = total = 0
        for name in os.listdir(path):
            size = os.path.getsize(os.path.join(path, name))
            total += size
            if name == "log":
                log_bytes = size
            elif name.startswith("snapshot-"):
                snaps += 1
                snap_bytes += size
        stats.update({"path": os.path.abspath(path), "log-bytes": log_bytes, "snapshots": snaps,
                      "snapshot-bytes": snap_bytes, "bytes-on-disk": total})
    return stats


@cli.command("stats")
@_uri_option
@_format_option
@_guard
def stats_cmd(uri: str, fmt: str) -> None:
    """Datoms, entities, attributes, t and sizes on disk."""
    conn = _connect(uri)
    try:
        stats = collect_stats(conn)
    finally:
        conn.close()
    out = repl.Output(_format(fmt))
    if out.format == "table":
        out.rows(["", "value"], [(k, _human(k, v)) for k, v in stats.items()], count=False)
    elif out.format == "csv":
        out.rows(["stat", "value"], list(stats.items()), count=False)
    else:
        out.value({fs.Keyword(":" + k): v for k, v in stats.items()})


def _human(key: str, v: Any) -> Any:
    if key.endswith("bytes") and isinstance(v, int) and v >= 1024:
        for unit in ("KiB", "MiB", "GiB", "TiB"):
            v /= 1024
            if v < 1024:
                return f"{v:.1f} {unit}"
    return v


@cli.command("verify")
@_uri_option
@_format_option
@click.option("--no-decode", is_flag=True, help="Check frames and checksums only.")
@_guard
def verify_cmd(uri: str, fmt: str, no_decode: bool) -> None:
    """Check every record and snapshot of the store without changing it (exit 1 if damaged).

    file: stores are checked frame by frame (fact_store.log.verify); other
    stores by reading their whole log. The report is text on a terminal
    (--format table), else a map (edn, json) or stat,value rows (csv).
    """
    path = file_path(uri)
    if path is not None:
        if not os.path.exists(path):
            raise Failure(f"no fact store at {path}")
        from fact_store.log import verify  # the façade has no verify: a store-level tool

        report = verify(path, decode=not no_decode)
        summary = report.summary()
        found: dict[str, Any] = {
            "uri": uri, "ok": report.ok, "records": report.records, "last-t": report.last_t,
            "database": str(report.db_uuid) if report.db_uuid is not None else None,
            "log-format": report.format_version, "bytes-verified": report.end_offset,
            "log-bytes": report.file_size, "torn-tail-bytes": report.torn_tail_bytes,
            "snapshots-checked": report.snapshots_checked,
            "snapshots-bad": tuple(f"{name}: {why}" for name, why in report.snapshots_bad),
            "problems": tuple(report.problems)}
    else:
        conn = _connect(uri)
        try:
            n = last = 0
            problems = []
            for tx in conn.log().tx_range():
                n += 1
                if tx.t != last + 1:
                    problems.append(f"t {tx.t} follows t {last}")
                    break
                last = tx.t
        finally:
            conn.close()
        summary = (f"{uri}: PROBLEMS FOUND\n  " + problems[0] if problems
                   else f"{uri}: OK\n  {n} records, last t={last}")
        found = {"uri": uri, "ok": not problems, "records": n, "last-t": last,
                 "problems": tuple(problems)}
    out = repl.Output(_format(fmt))
    if out.format == "table":
        click.echo(summary)
    elif out.format == "csv":
        out.rows(["stat", "value"], [(k, fs.write_edn(v) if isinstance(v, tuple) else v)
                                     for k, v in found.items()], count=False)
    else:
        out.value({fs.Keyword(":" + k): v for k, v in found.items()})
    if not found["ok"]:
        raise click.exceptions.Exit(1)


@cli.command("checkpoint")
@_uri_option
@_guard
def checkpoint_cmd(uri: str) -> None:
    """Write an index snapshot, so that opening the store replays only what follows it."""
    conn = _connect(uri)
    try:
        t = conn.checkpoint()
    finally:
        conn.close()
    click.echo(f"checkpoint written at t {t}" if t else "nothing to checkpoint: the store is empty")


@cli.command("web")
@_uri_option
@web_options
@_guard
def web_cmd(uri: str, **options: Any) -> None:
    """Serve the web console (query, pull, schema, entities, tx log; Jobs with overseer)."""
    _connect(uri).close()  # a missing file store is an error, not a new empty store
    run_web(uri, "/query", **options)


def main(argv: list[str] | None = None) -> None:
    """The console script ``fact-store``."""
    cli.main(args=argv, prog_name="fact-store")


if __name__ == "__main__":  # pragma: no cover
    main()
