"""Values for display and :class:`Output`: rich tables on a terminal, EDN, JSON or CSV otherwise."""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import decimal
import heapq
import io
import json
import math
import operator
import os
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence, TextIO

import fact_store as fs
from fact_store import Keyword, Symbol

from fact_store.repl.shared import FORMATS, KW
from fact_store.repl.scanner import ReplError

def sort_key(v: Any) -> tuple[Any, ...]:
    """A total order over mixed values, so results print in a stable order."""
    if v is None:
        return (0,)
    if isinstance(v, bool):
        return (1, v)
    if isinstance(v, (int, float, decimal.Decimal)):
        if isinstance(v, float) and math.isnan(v):
            return (2, math.inf, 1)
        return (2, v, 0)
    if isinstance(v, Keyword):
        return (3, str(v))
    if isinstance(v, Symbol):
        return (4, str(v))
    if isinstance(v, str):
        return (5, v)
    if isinstance(v, _dt.datetime):
        return (6, v.timestamp())
    if isinstance(v, uuid.UUID):
        return (7, str(v))
    if isinstance(v, (tuple, list)):
        return (8, tuple(sort_key(x) for x in v))
    if isinstance(v, dict):
        return (9, tuple(sorted((str(k), sort_key(x)) for k, x in v.items())))
    return (10, repr(v))


def _natively_ordered(rows: Sequence[Sequence[Any]]) -> bool:
    """True when every column holds only ``int`` or only ``str`` values (exact types).

    Then plain tuple comparison orders the rows exactly as :func:`sort_key`
    does, and sorting needs no Python key function (several times faster).
    O(rows × columns).

    >>> _natively_ordered([(1, "a"), (2, "b")]), _natively_ordered([(1,), (True,)])
    (True, False)
    """
    if not rows:
        return True
    for i in range(len(rows[0])):
        types = set(map(type, map(operator.itemgetter(i), rows)))  # C loops: ~20 ns a row
        if types != {int} and types != {str}:
            return False
    return True


def sort_rows(rows: list[Any], limit: int | None = None) -> list[Any]:
    """``rows`` in :func:`sort_key` order; only the first ``limit`` of them when given.

    The first ``limit`` of n rows cost O(n log limit) (a heap), not a full sort:
    a table shows 1,000 rows of a 1.35 M-row result without sorting the rest.

    >>> sort_rows([(3,), (1,), (2,)], limit=2)
    [(1,), (2,)]
    """
    key = None if _natively_ordered(rows) else sort_key
    if limit is not None and len(rows) > limit:
        return heapq.nsmallest(limit, rows, key=key)
    rows.sort(key=key)
    return rows


def edn_text(v: Any) -> str:
    try:
        return fs.write_edn(v)
    except Exception:  # noqa: BLE001 - a value the writer does not know: show it anyway
        return repr(v)


def edn_pretty(v: Any) -> str:
    """EDN text of ``v``; a map with several keys gets one key per line.

    >>> print(edn_pretty({KW(":a"): 1, KW(":b"): [2]}))
    {:a 1
     :b (2)}
    """
    if isinstance(v, dict) and len(v) > 1:
        items = [f"{edn_text(k)} {edn_text(x)}" for k, x in v.items()]
        return "{" + "\n ".join(items) + "}"
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, dict) for x in v):
        o, c = ("[", "]") if isinstance(v, tuple) else ("(", ")")
        return o + "\n ".join(edn_pretty(x).replace("\n", "\n ") for x in v) + c
    return edn_text(v)


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)) and not isinstance(v, (Keyword, Symbol)):
        return int(v) if isinstance(v, int) and not isinstance(v, bool) else v
    if isinstance(v, float):
        return v if math.isfinite(v) else edn_text(v)
    if isinstance(v, (Keyword, Symbol)):
        return str(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, (uuid.UUID, decimal.Decimal)):
        return str(v)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode("ascii")
    if isinstance(v, dict):
        return {(str(k)[1:] if isinstance(k, Keyword) else str(k)): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (set, frozenset)):
        return [_jsonable(x) for x in sorted(v, key=sort_key)]
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, fs.Entity):
        return _jsonable(dict(v.touch()))
    return edn_text(v)


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str) and not isinstance(v, Symbol):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, decimal.Decimal)):
        return edn_text(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    return edn_text(v)


@dataclass(frozen=True, slots=True)
class _Ref:
    """An entity id shown by its ident or identity lookup ref (tables only)."""

    eid: int
    label: Any  # Keyword ident, (attr, value) lookup ref, or None


class Labeler:
    """Names entity ids for tables: ``:db/ident`` first, then a ``:db.unique/identity`` value.

    One index seek per distinct entity, cached.
    """

    def __init__(self, db: fs.Db) -> None:
        self.db = db
        self._cache: dict[int, _Ref] = {}
        self._identity = {a.id: a.ident for a in db.schema.attrs()
                          if a.unique == ":db.unique/identity" and a.ident != ":db/ident"}

    def ref(self, eid: Any) -> Any:
        if type(eid) is not int:
            return eid
        r = self._cache.get(eid)
        if r is None:
            label: Any = self.db.ident(eid)
            if label is None and self._identity:
                try:
                    for d in self.db.datoms("eavt", eid):
                        if d.a in self._identity:
                            label = (self._identity[d.a], d.v)
                            break
                except fs.FactStoreError:
                    label = None
            r = self._cache[eid] = _Ref(eid, label)
        return r

    def attr(self, aid: Any) -> Any:
        a = self.db.schema.attr(aid) if type(aid) is int else None
        return a.ident if a is not None else aid


def cell_text(v: Any) -> str:
    if isinstance(v, _Ref):
        if v.label is None:
            return str(v.eid)
        if isinstance(v.label, Keyword):
            return str(v.label)
        return edn_text(tuple(v.label))
    if v is None:
        return "nil"
    if isinstance(v, str) and not isinstance(v, (Keyword, Symbol)):
        return v
    if isinstance(v, _dt.datetime):
        if v.utcoffset() == _dt.timedelta(0):
            return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
        return v.isoformat()
    return edn_text(v)


def raw_value(v: Any) -> Any:
    return v.eid if isinstance(v, _Ref) else v


# ------------------------------------------------------------------ output

class Output:
    """Where results go, in one of :data:`FORMATS`.

    ``table`` renders rich tables; ``edn``, ``json`` and ``csv`` write plain
    text to ``out``. Notes (confirmations, timings) go to ``out`` in an
    interactive table session and to ``err`` otherwise, so piped output stays
    pure data.
    """

    def __init__(self, fmt: str = "table", out: TextIO | None = None, err: TextIO | None = None,
                 interactive: bool = False, max_rows: int | None = 1000,
                 color: bool | None = None) -> None:
        from rich.console import Console

        if fmt not in FORMATS:
            raise ReplError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
        self.format = fmt
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.interactive = interactive
        self.max_rows = max_rows
        kw: dict[str, Any] = {"highlight": False}
        if color is False:
            kw["no_color"] = True
            kw["color_system"] = None
        self.console = Console(file=self.out, **kw)
        self.err_console = Console(file=self.err, stderr=True, **kw)
        #: page an entry's output longer than the terminal (interactive sessions; ``.pager``)
        self.pager = interactive
        #: the terminal's stream and console while ``.output FILE`` sends results to a file
        self._terminal: tuple[TextIO, Any] | None = None

    # -- where results go ----------------------------------------------------------

    @property
    def redirected(self) -> str | None:
        """The file ``.output`` sends results to, or None."""
        return getattr(self.out, "name", None) if self._terminal is not None else None

    def redirect(self, path: str | None) -> None:
        """Send results to ``path`` (truncated first), or back to the terminal for None."""
        from rich.console import Console

        if self._terminal is not None:
            self.out.close()
            self.out, self.console = self._terminal
            self._terminal = None
        if path is None:
            return
        f = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the next redirect
        self._terminal = (self.out, self.console)
        self.out = f
        # a file is as wide as its longest row: ids and values are never cut or folded
        self.console = Console(file=f, width=_FILE_WIDTH, no_color=True, color_system=None,
                               highlight=False)

    @contextmanager
    def paged(self) -> Iterator[None]:
        """Collect what one entry prints; show it through a pager when it is longer than the
        terminal (as psql and pgcli do: ``$PAGER``, else ``less`` with ``LESS=-SRXF``)."""
        if not (self.pager and self.interactive and self._terminal is None):
            yield
            return
        from rich.console import Console

        term_out, term_console = self.out, self.console
        buf = io.StringIO()
        self.out = buf
        self.console = Console(file=buf, width=term_console.width, height=term_console.height,
                               color_system=term_console.color_system,
                               force_terminal=term_console.is_terminal,
                               no_color=term_console.no_color, highlight=False)
        try:
            yield
        finally:
            self.out, self.console = term_out, term_console
            text = buf.getvalue()
            if text.count("\n") >= max(term_console.height - 1, 1):
                page(text)
            elif text:
                term_out.write(text)
                term_out.flush()

    # -- plain lines -----------------------------------------------------------

    def note(self, text: str) -> None:
        """An informational line: on stdout at an interactive table prompt, else on stderr."""
        from rich.text import Text

        if self.interactive and self.format == "table":
            con = self._terminal[1] if self._terminal is not None else self.console
        else:
            con = self.err_console
        con.print(Text(text, style="dim"), soft_wrap=True)

    def error(self, text: str, excerpt: str | None = None) -> None:
        from rich.text import Text

        t = Text("error: ", style="bold red")
        t.append(text)
        if excerpt:
            t.append("\n" + excerpt)
        self.err_console.print(t, soft_wrap=True)

    def write(self, text: str) -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    # -- data ---------------------------------------------------------------

    def value(self, v: Any) -> None:
        """One value: a pull result, a scalar."""
        if self.format == "json":
            self.write(json.dumps(_jsonable(v), ensure_ascii=False))
        elif self.format == "csv":
            self.rows(["value"], [(v,)])
        elif self.format == "table":
            from rich.text import Text
            self.console.print(Text(cell_text(v) if isinstance(v, _Ref) else edn_pretty(v)))
        else:
            self.write(edn_pretty(v))

    def rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
             title: str | None = None, data: Any = None, count: bool = True,
             total: int | None = None) -> None:
        """A table of ``rows`` (already ordered) under ``columns``.

        ``data`` is what EDN and JSON print (default: a vector of maps keyed by
        the column names); CSV prints a header and the rows. ``total``: how many
        rows the result has when ``rows`` holds only the first of them (a table
        shows at most ``max_rows``).
        """
        if self.format == "table":
            self._table(columns, rows, title, count, total)
            return
        raw_rows = [[raw_value(c) for c in r] for r in rows]
        if data is None:
            data = [{KW(":" + _plain(c)): v for c, v in zip(columns, r)} for r in raw_rows]
        if self.format == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow([_plain(c) for c in columns])
            for r in raw_rows:
                w.writerow([_csv_cell(c) for c in r])
            self.write(buf.getvalue())
        elif self.format == "json":
            self.write(json.dumps(_jsonable(data), ensure_ascii=False))
        else:
            self.write(edn_pretty(data) if not isinstance(data, EdnText) else data.text)

    def _table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None,
               count: bool, total: int | None = None) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        shown = rows if self.max_rows is None else rows[: self.max_rows]
        table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left",
                      header_style="bold", show_edge=False, pad_edge=False)
        for i, c in enumerate(columns):
            numeric = bool(shown) and all(
                isinstance(r[i], (int, float, decimal.Decimal)) and not isinstance(r[i], bool)
                for r in shown)
            table.add_column(Text(c), justify="right" if numeric else "left", overflow="fold")
        for r in shown:
            table.add_row(*[Text(cell_text(c), style="dim" if c is None else "") for c in r])
        self.console.print(table)
        if count:
            n = len(rows) if total is None else total
            more = n - len(shown)
            tail = f" ({more} not shown; .limit off or .format edn shows all)" if more > 0 else ""
            self.console.print(Text(f"({n} row{'s' if n != 1 else ''}){tail}", style="dim"))


#: the width tables get in a file (``.output``): wide enough never to fold a row
_FILE_WIDTH = 100_000


def page(text: str) -> None:
    """Show ``text`` through ``$PAGER`` (``less -SRXF`` by default; ``cat`` never pages)."""
    import click

    if "LESS" not in os.environ:  # pgcli's choice: keep colours, quit when one screen suffices
        os.environ["LESS"] = "-SRXF"
    click.echo_via_pager(text, color=True)


@dataclass(frozen=True, slots=True)
class EdnText:
    text: str


def _plain(column: str) -> str:
    return column[1:] if column.startswith(("?", ":")) else column
