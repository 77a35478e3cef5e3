"""The :class:`Session`: entries in, queries, dot commands and their results out."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import fact_store as fs
from fact_store import Symbol

from fact_store.repl.shared import FORMATS, KW
from fact_store.repl.scanner import ReplError, error_text, format_error, is_complete, locate_error, read_form, split_forms
from fact_store.repl.output import Labeler, Output, cell_text, edn_text
from fact_store.repl.introspect import query_part, is_query
from fact_store.repl.render import show_datoms, show_log, show_result, show_tx_report
from fact_store.repl.transfer import export_log, import_summary, import_text

_HELP: list[tuple[str, str]] = [
    ("[:find ...] INPUT…", "run a query on the current db; forms after it are its :in inputs"),
    (".tx TX-DATA", "transact a vector of tx-data; shows the tempids and the datoms it made"),
    (".schema [ATTR]", "the installed attributes (yours; .schema :db/ident for built-ins)"),
    (".attrs", "attribute idents with their type and number of datoms"),
    (".pull PATTERN EID", "pull a pattern, e.g. .pull [*] [:person/name \"Ann\"]"),
    (".entity EID", "every datom of one entity (an id, an ident or a lookup ref)"),
    (".datoms INDEX C…", "raw datoms of :eavt :aevt :avet or :vaet, from components C…"),
    (".as-of T", "read the db as of t T (a t, a tx id or an #inst); shown in the prompt"),
    (".since T", "read only what was added after T"),
    (".history", "read every assertion and retraction ([?e ?a ?v ?tx ?added])"),
    (".now", "back to the latest db"),
    (".log [N]", "the last N transactions (default 10)"),
    (".explain QUERY INPUT…", "run a query and show the plan: clause order, index, row counts"),
    (".rules [RULES]", "set the rules passed as % (shown without argument; .rules nil clears)"),
    (".timer on|off", "print the time each entry took"),
    (".format table|edn|json|csv", "how results are printed"),
    (".limit N|off", "rows shown per table (default 1000)"),
    (".output [FILE]", "send results to FILE (truncated first); .output alone: back to the terminal"),
    (".pager on|off", "show output longer than the terminal through $PAGER (default on)"),
    (".import FILE", "transact an EDN tx-data stream (one transaction per form)"),
    (".export FILE", "write the log as an EDN tx-data stream (up to the current .as-of)"),
    (".help", "this list"),
    (".quit", "leave (Ctrl-D also works)"),
]

DOT_COMMANDS = tuple(c.split()[0] for c, _ in _HELP if c.startswith(".")) + (".exit",)


class _Quit(Exception):
    pass


@dataclass
class _Pending:
    """A query waiting for :in inputs the user has not typed yet."""

    query: Any
    text: str  # the query's source text
    entry: str  # the entry it came from
    start: int
    end: int
    line_offset: int
    bindings: list[tuple[str, Any]]  # (kind, binding form): db, rules or input
    inputs: list[Any] = field(default_factory=list)
    explain: bool = False

    @property
    def missing(self) -> list[Any]:
        wanted = [b for k, b in self.bindings if k == "input"]
        return wanted[len(self.inputs):]


class Session:
    """One REPL session on a connection: feed it entries with :meth:`feed`.

    It never raises for something the user typed: errors are printed and
    counted in ``errors``; ``done`` turns True after ``.quit``.
    """

    def __init__(self, conn: fs.Connection, out: Output) -> None:
        self.conn = conn
        self.out = out
        self.as_of: Any = None
        self.since: Any = None
        self.history = False
        self.rules: Any = None
        self.rules_text: str | None = None
        self.timer = False
        self.pending: _Pending | None = None
        self.done = False
        self.errors = 0
        self._latest: fs.Db | None = None

    # -- the db the next query reads ------------------------------------------

    def latest(self) -> fs.Db:
        if self._latest is None:
            self._latest = self.conn.sync()
        return self._latest

    def db(self) -> fs.Db:
        db = self.latest()
        if self.as_of is not None:
            db = db.as_of(self.as_of)
        if self.since is not None:
            db = db.since(self.since)
        if self.history:
            db = db.history()
        return db

    def labeler(self) -> Labeler:
        db = self.latest()
        return Labeler(db.as_of(self.as_of) if self.as_of is not None else db)

    def view(self) -> str:
        """The current view, as the prompt shows it: ``""``, ``"as-of 3"``, ``"since 2 history"``."""
        parts = []
        if self.as_of is not None:
            parts.append(f"as-of {_show_point(self.as_of)}")
        if self.since is not None:
            parts.append(f"since {_show_point(self.since)}")
        if self.history:
            parts.append("history")
        return " ".join(parts)

    def prompt(self) -> str:
        if self.pending is not None and self.pending.missing:
            return f"{edn_text(self.pending.missing[0])}> "
        v = self.view()
        return f"fact-store{' ' + v if v else ''}> "

    def cancel(self) -> None:
        """Drop a query waiting for inputs (Ctrl-C at its prompt)."""
        self.pending = None

    # -- running entries -----------------------------------------------------------

    def feed(self, text: str, line_offset: int = 0) -> None:
        """Run one entry (whole forms). ``line_offset``: lines before it (piped scripts)."""
        if not text.strip():
            return
        self._latest = None
        t0 = time.perf_counter()
        try:
            stripped = text.lstrip()
            if stripped.startswith(".") and re.match(r"\.[A-Za-z]", stripped):
                if self.pending is not None:
                    self.pending = None
                    self.out.note("(the query waiting for its inputs was dropped)")
                self._command(text, line_offset)
            else:
                self._forms(text, line_offset)
        except _Quit:
            self.done = True
            return
        except ReplError as exc:
            self._report(exc.message, text, exc.pos, line_offset)
        except (fs.FactStoreError, OSError) as exc:
            self._report(error_text(exc), text, None, line_offset)
        except KeyboardInterrupt:
            self.pending = None
            self._report("interrupted", text, None, line_offset)
        except Exception as exc:  # noqa: BLE001 - a bug below us: one line, and the session goes on
            if os.environ.get("FACT_STORE_DEBUG"):
                import traceback
                traceback.print_exc()
            self._report(f"internal error ({type(exc).__name__}: {exc}); this is a bug, please "
                         "report it (FACT_STORE_DEBUG=1 shows the traceback)", text, None,
                         line_offset)
        if self.timer:
            self.out.note(f"Time: {(time.perf_counter() - t0) * 1000:.3f} ms")

    def _report(self, message: str, text: str, pos: int | None, line_offset: int) -> None:
        self.errors += 1
        self.out.error(*format_error(message, text, pos, line_offset))

    def _forms(self, text: str, line_offset: int) -> None:
        for start, end in split_forms(text):
            value = read_form(text, start, end)
            if self.pending is not None:
                self.pending.inputs.append(value)
                if not self.pending.missing:
                    p, self.pending = self.pending, None
                    self._run_query(p)
                continue
            if not is_query(value):
                raise ReplError(_not_a_query(value), start)
            self.pending = self._pending(value, text, start, end, line_offset)
            if not self.pending.missing:
                p, self.pending = self.pending, None
                self._run_query(p)

    def _pending(self, query: Any, text: str, start: int, end: int, line_offset: int,
                 explain: bool = False) -> _Pending:
        ins = query_part(query, ":in")
        bindings: list[tuple[str, Any]] = []
        for b in (ins if ins is not None else [Symbol("$")]):
            if isinstance(b, Symbol) and str(b) == "$":
                bindings.append(("db", b))
            elif isinstance(b, Symbol) and str(b) == "%" and self.rules is not None:
                bindings.append(("rules", b))
            else:
                bindings.append(("input", b))
        return _Pending(query, text[start:end], text, start, end, line_offset, bindings,
                        explain=explain)

    def _run_query(self, p: _Pending) -> None:
        db = self.db()
        it = iter(p.inputs)
        args = [db if k == "db" else self.rules if k == "rules" else next(it) for k, _ in p.bindings]
        try:
            if p.explain:
                result = fs.explain(p.text, *args)
            else:
                result = fs.q(p.text, *args)
        except fs.FactStoreError as exc:
            pos = locate_error(p.entry, p.start, p.end, exc)
            self._report(error_text(exc), p.entry, pos, p.line_offset)
            return
        if p.explain:
            if self.out.format == "table":
                self.out.console.print(rich_text(str(result)))
            else:
                self.out.write(str(result))
            return
        self.show_result(p.query, result, db)

    def show_result(self, query: Any, result: Any, db: fs.Db) -> None:
        """Print a query result in the session's format."""
        show_result(self.out, query, result, db, self.labeler() if self.out.format == "table" else None)

    # -- dot commands -------------------------------------------------------------

    def _command(self, text: str, line_offset: int) -> None:
        m = re.match(r"\s*(\.[A-Za-z-]+)", text)
        name = m.group(1) if m else text.split()[0]
        rest_at = m.end() if m else len(text)
        handler = _COMMANDS.get(name)
        if handler is None:
            close = [c for c in DOT_COMMANDS if c.startswith(name[:3])]
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ReplError(f"unknown command {name}{hint} (.help lists the commands)",
                            text.index(name))
        # blank the command word so the forms after it keep their positions
        args_text = " " * rest_at + text[rest_at:]
        handler(self, args_text, text[rest_at:].strip())

    def _args(self, args_text: str) -> list[tuple[Any, int, int]]:
        return [(read_form(args_text, s, e), s, e) for s, e in split_forms(args_text)]

    def cmd_help(self, args_text: str, raw: str) -> None:
        self.out.rows(["command", "description"], _HELP, count=False)

    def cmd_quit(self, args_text: str, raw: str) -> None:
        raise _Quit()

    def cmd_tx(self, args_text: str, raw: str) -> None:
        forms = self._args(args_text)
        if len(forms) != 1 or not isinstance(forms[0][0], (tuple, list)):
            raise ReplError(".tx takes one vector of tx-data: .tx [{:db/id \"x\" :a/b 1}]",
                            forms[1][1] if len(forms) > 1 else None)
        tx_data, s, e = forms[0]
        try:
            report = self.conn.transact(tx_data)
        except fs.FactStoreError as exc:
            raise ReplError(error_text(exc), locate_error(args_text, s, e, exc)) from None
        self._latest = None
        show_tx_report(self.out, report, Labeler(report.db_after) if self.out.format == "table"
                       else None)
        if self.as_of is not None and self.out.format == "table":
            self.out.note(f"(the view is still as of {_show_point(self.as_of)}; .now to see it)")

    def cmd_schema(self, args_text: str, raw: str) -> None:
        db = self.latest()
        forms = self._args(args_text)
        if forms:
            attr = db.schema.attr(forms[0][0]) if isinstance(forms[0][0], str) else None
            if attr is None:
                raise ReplError(f"unknown attribute {edn_text(forms[0][0])}", forms[0][1])
            n = sum(1 for _ in db.datoms("aevt", attr.id))
            props = [("ident", attr.ident), ("id", attr.id), ("valueType", attr.value_type),
                     ("cardinality", KW(":db.cardinality/many" if attr.many else
                                        ":db.cardinality/one")),
                     ("unique", attr.unique), ("index", attr.indexed),
                     ("isComponent", attr.component), ("noHistory", attr.no_history),
                     ("doc", attr.doc), ("datoms", n)]
            if attr.tuple_attrs:
                props.append(("tupleAttrs", tuple(db.schema.attr(a).ident  # type: ignore[union-attr]
                                                  for a in attr.tuple_attrs)))
            if attr.tuple_types or attr.tuple_type:
                props.append(("tupleType(s)", attr.tuple_types or attr.tuple_type))
            self.out.rows(["property", "value"], props, title=str(attr.ident), count=False,
                          data={KW(":" + k): v for k, v in props if v is not None})
            return
        rows = [_attr_row(a) for a in db.schema.attrs() if not is_builtin(a.ident)]
        self.out.rows(["ident", "type", "cardinality", "unique", "flags", "doc"], rows)

    def cmd_attrs(self, args_text: str, raw: str) -> None:
        db = self.db()
        rows = []
        for a in db.schema.attrs():
            if is_builtin(a.ident):
                continue
            n = sum(1 for _ in db.datoms("aevt", a.id))
            rows.append((a.ident, KW(str(a.value_type).replace("db.type/", "")), n))
        self.out.rows(["attribute", "type", "datoms"], rows)

    def cmd_rules(self, args_text: str, raw: str) -> None:
        forms = self._args(args_text)
        if not forms:
            if self.rules is None:
                self.out.note("no rules set: .rules [[(name ?a) clause ...] ...]")
            else:
                self.out.write(self.rules_text or edn_text(self.rules))
            return
        value, s, e = forms[0]
        if value is None:
            self.rules = self.rules_text = None
            self.out.note("rules cleared")
            return
        if not isinstance(value, (tuple, list)):
            raise ReplError("rules are a vector of [(name ?arg ...) clause ...]", s)
        # let the engine check them now rather than at the first query
        fs.q("[:find ?x . :in % ?x]", args_text[s:e], 1)
        self.rules, self.rules_text = args_text[s:e], args_text[s:e].strip()
        names = sorted(rule_names(value))
        self.out.note(f"rules set: {', '.join(names)} (queries get them as %)")

    def cmd_pull(self, args_text: str, raw: str) -> None:
        forms = self._args(args_text)
        if len(forms) != 2:
            raise ReplError(".pull takes a pattern and an entity: .pull [*] [:person/name \"Ann\"]")
        (pattern, ps, pe), (eid, es, _) = forms
        db = self.db()
        if db.entid(eid) is None:
            raise ReplError(f"no entity {edn_text(eid)} in this db", es)
        self.out.value(fs.pull(db, args_text[ps:pe], eid))

    def cmd_entity(self, args_text: str, raw: str) -> None:
        forms = self._args(args_text)
        if len(forms) != 1:
            raise ReplError(".entity takes one entity: an id, an ident or a lookup ref")
        eid_form, s, _ = forms[0]
        db = self.db()
        eid = db.entid(eid_form)
        datoms = list(db.datoms("eavt", eid)) if eid is not None else []
        if not datoms:
            raise ReplError(f"no entity {edn_text(eid_form)} in this db", s)
        lab = self.labeler()
        fmt_table = self.out.format == "table"
        rows = []
        for d in datoms:
            a = db.schema.attr(d.a)
            v: Any = lab.ref(d.v) if fmt_table and a is not None and a.is_ref else d.v
            rows.append((lab.attr(d.a), v))
        title = f"entity {eid}" + (f" {cell_text(lab.ref(eid))}" if fmt_table and
                                   lab.ref(eid).label is not None else "")
        data: dict[Any, Any] = {KW(":db/id"): eid}
        for (a, v) in rows:
            attr = db.schema.attr(a)
            if attr is not None and attr.many:
                data.setdefault(a, []).append(v)
            else:
                data[a] = v
        self.out.rows(["attribute", "value"], rows, title=title, data=data)

    def cmd_datoms(self, args_text: str, raw: str) -> None:
        forms = self._args(args_text)
        if not forms:
            raise ReplError(".datoms takes an index and components: .datoms :avet :person/name")
        index = forms[0][0]
        db = self.db()
        comps = [f[0] for f in forms[1:]]
        limit = self.out.max_rows if self.out.format == "table" else None
        datoms = []
        for d in db.datoms(index, *comps):
            datoms.append(d)
            if limit is not None and len(datoms) > limit:
                break
        show_datoms(self.out, db, datoms, self.labeler() if self.out.format == "table" else None)

    def _point(self, args_text: str, what: str) -> Any:
        forms = self._args(args_text)
        if len(forms) != 1:
            raise ReplError(f".{what} takes one t, tx id or #inst: .{what} 3")
        v, s, _ = forms[0]
        if isinstance(v, bool) or not isinstance(v, (int, _dt.datetime)) or \
                (isinstance(v, int) and v < 0):
            raise ReplError(f".{what} takes a t (0, 1, 2…), a tx id or an #inst, got {edn_text(v)}", s)
        return v

    def cmd_as_of(self, args_text: str, raw: str) -> None:
        self.as_of = self._point(args_text, "as-of")
        latest = self.latest().basis_t
        if isinstance(self.as_of, int) and fs.tx_to_t(self.as_of) > latest:
            self.out.note(f"note: t {self.as_of} is after the latest t {latest}")
        self.out.note(f"reading the db as of {_show_point(self.as_of)}")

    def cmd_since(self, args_text: str, raw: str) -> None:
        self.since = self._point(args_text, "since")
        self.out.note(f"reading what was added after {_show_point(self.since)}")

    def cmd_history(self, args_text: str, raw: str) -> None:
        self.history = True
        self.out.note("reading the history db: every assertion and retraction")

    def cmd_now(self, args_text: str, raw: str) -> None:
        self.as_of = self.since = None
        self.history = False
        self.out.note(f"reading the latest db (t {self.latest().basis_t})")

    def cmd_log(self, args_text: str, raw: str) -> None:
        forms = self._args(args_text)
        n = forms[0][0] if forms else 10
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ReplError(f".log takes a number of transactions, got {edn_text(n)}",
                            forms[0][1] if forms else None)
        show_log(self.out, self.conn, self.latest(), n)

    def cmd_explain(self, args_text: str, raw: str) -> None:
        spans = split_forms(args_text)
        if not spans:
            raise ReplError(".explain takes a query and its inputs: .explain [:find ...]")
        s, e = spans[0]
        query = read_form(args_text, s, e)
        if not is_query(query):
            raise ReplError(_not_a_query(query), s)
        p = self._pending(query, args_text, s, e, 0, explain=True)
        for s2, e2 in spans[1:]:
            p.inputs.append(read_form(args_text, s2, e2))
        if p.missing:
            raise ReplError(f".explain needs the query's inputs after it: "
                            f"{' '.join(edn_text(b) for b in p.missing)}")
        self._run_query(p)

    def cmd_timer(self, args_text: str, raw: str) -> None:
        if raw not in ("on", "off"):
            raise ReplError(f".timer takes on or off, got {raw or 'nothing'}")
        self.timer = raw == "on"
        self.out.note(f"timer {raw}")

    def cmd_format(self, args_text: str, raw: str) -> None:
        fmt = raw.lstrip(":")
        if fmt not in FORMATS:
            raise ReplError(f".format takes one of {', '.join(FORMATS)}, got {raw or 'nothing'}")
        self.out.format = fmt
        self.out.note(f"format {fmt}")

    def cmd_limit(self, args_text: str, raw: str) -> None:
        if raw == "off":
            self.out.max_rows = None
        elif raw.isdigit() and int(raw) > 0:
            self.out.max_rows = int(raw)
        else:
            raise ReplError(f".limit takes a number of rows or off, got {raw or 'nothing'}")
        self.out.note(f"limit {raw}")

    def cmd_output(self, args_text: str, raw: str) -> None:
        if raw in ("", "stdout"):
            was = self.out.redirected
            self.out.redirect(None)
            self.out.note(f"results go to the terminal again{f' ({was} is closed)' if was else ''}")
            return
        path = _path_arg(raw, "output")
        self.out.redirect(path)
        self.out.note(f"results go to {path} until .output")

    def cmd_pager(self, args_text: str, raw: str) -> None:
        if raw not in ("on", "off"):
            raise ReplError(f".pager takes on or off, got {raw or 'nothing'}")
        self.out.pager = raw == "on"
        self.out.note(f"pager {raw}")

    def cmd_import(self, args_text: str, raw: str) -> None:
        path = _path_arg(raw, "import")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        rep = import_text(self.conn, text)
        self._latest = None
        self.out.note(f"imported {import_summary(rep)} from {path}; t is now {rep.basis_t}")

    def cmd_export(self, args_text: str, raw: str) -> None:
        path = _path_arg(raw, "export")
        until = self.latest().as_of(self.as_of).as_of_t if self.as_of is not None else None
        with open(path, "w", encoding="utf-8") as f:
            n = export_log(self.conn, f, until_t=until)
        self.out.note(f"exported {n:,} transaction{'s' if n != 1 else ''} to {path}")


def rich_text(s: str) -> Any:
    from rich.text import Text
    return Text(s)


def _show_point(p: Any) -> str:
    return p.isoformat() if isinstance(p, _dt.datetime) else str(p)


def _not_a_query(value: Any) -> str:
    shown = edn_text(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    if isinstance(value, (tuple, list, dict)):
        return (f"not a query: {shown} (a query starts with :find; to transact tx-data, "
                f"write .tx [...])")
    return f"not a query: {shown} (a query is [:find ...] or {{:find ...}}; .help lists commands)"


def _path_arg(raw: str, what: str) -> str:
    path = raw.strip()
    if len(path) >= 2 and path[0] == path[-1] and path[0] in "\"'":
        path = path[1:-1]
    if not path:
        raise ReplError(f".{what} takes a file name: .{what} data.edn")
    return os.path.expanduser(path)


def is_builtin(ident: str) -> bool:
    ns = ident[1:].split("/", 1)[0]
    return ns == "db" or ns.startswith("db.")


def _attr_row(a: Any) -> tuple[Any, ...]:
    flags = [f for f, on in (("index", a.indexed), ("component", a.component),
                             ("noHistory", a.no_history)) if on]
    return (a.ident, KW(str(a.value_type).replace("db.type/", "")),
            "many" if a.many else "one",
            str(a.unique).rsplit("/", 1)[-1] if a.unique else "",
            " ".join(flags), a.doc or "")


def rule_names(rules: Any) -> set[str]:
    """The names of the rules in a rules vector (for completion).

    >>> sorted(rule_names(fs.read_edn('[[(a ?x) [?x :k]] [(b ?y) (a ?y)]]')))
    ['a', 'b']
    """
    out = set()
    for r in rules if isinstance(rules, (tuple, list)) else ():
        if isinstance(r, (tuple, list)) and r and isinstance(r[0], list) and r[0] \
                and isinstance(r[0][0], Symbol):
            out.add(str(r[0][0]))
    return out


_COMMANDS: dict[str, Callable[[Session, str, str], None]] = {
    ".help": Session.cmd_help, ".quit": Session.cmd_quit, ".exit": Session.cmd_quit,
    ".tx": Session.cmd_tx, ".schema": Session.cmd_schema, ".attrs": Session.cmd_attrs,
    ".rules": Session.cmd_rules, ".pull": Session.cmd_pull, ".entity": Session.cmd_entity,
    ".datoms": Session.cmd_datoms, ".as-of": Session.cmd_as_of, ".since": Session.cmd_since,
    ".history": Session.cmd_history, ".now": Session.cmd_now, ".log": Session.cmd_log,
    ".explain": Session.cmd_explain, ".timer": Session.cmd_timer,
    ".format": Session.cmd_format, ".limit": Session.cmd_limit,
    ".import": Session.cmd_import, ".export": Session.cmd_export,
    ".output": Session.cmd_output, ".pager": Session.cmd_pager,
}

#: dot commands whose argument is the rest of the line (a file name, a word), not EDN
LINE_COMMANDS = (".import", ".export", ".format", ".timer", ".limit", ".help", ".quit", ".exit",
                 ".history", ".now", ".attrs", ".output", ".pager")


def entry_complete(text: str) -> bool:
    """When the prompt submits: brackets balance, or a line command ends with its line."""
    stripped = text.lstrip()
    if stripped.startswith("."):
        word = stripped.split(None, 1)[0]
        if word in LINE_COMMANDS:
            return True
    return is_complete(text)
