"""The Datalog REPL: prompt_toolkit input, dot commands, results as tables (rich).

A :class:`Session` is fed *entries*: text typed at the prompt (or lines of a
piped script) up to the point where the EDN brackets balance. An entry holds
one or more EDN forms, run by what they are:

- a query, ``[:find ...]`` or ``{:find ...}``, runs against the session's
  current db; the forms after it are its ``:in`` inputs (``$`` is the db and
  ``%`` the rules set with ``.rules``, both supplied by the session). Inputs
  not typed yet are asked for with a prompt that names the binding;
- a line starting with a dot is a command (``.help`` lists them): ``.tx``
  transacts, ``.as-of`` / ``.since`` / ``.history`` / ``.now`` choose the db
  that later queries read, and so on.

Results are rich tables on a terminal (columns named after the find
variables, entity ids shown as their ident or identity lookup ref) and EDN,
JSON or CSV otherwise. Every error a user can cause is shown as one message,
with the line and column when the text tells them, and the session goes on.

This module uses the public façade only (layer 8), plus ``fact_store.log.verify``
for ``fact-store verify``. :func:`export_log` and :func:`import_text` (the EDN
tx-data streams of ``.export`` / ``.import``) also live here, for the CLI.

>>> is_complete('[:find ?e'), is_complete('[:find ?e :where [?e :a/b "]"]]')
(False, True)
>>> split_forms('[:find ?a :in $ ?x] 42 #_ignored "s"')
[(0, 19), (20, 22), (33, 36)]
"""

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
import re
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence, TextIO

import fact_store as fs
from fact_store import Keyword, Symbol

__all__ = ["Session", "Output", "ReplError", "is_complete", "split_forms", "read_form",
           "locate_error", "format_error", "error_text", "export_log", "import_text",
           "run_interactive", "run_script", "FORMATS"]

FORMATS = ("table", "edn", "json", "csv")
QUERY_KEYS = (":find", ":in", ":where", ":with", ":keys", ":strs", ":syms", ":timeout")
_K = Keyword
_DOTS = Symbol("...")
_DOT = Symbol(".")

# ------------------------------------------------------------------ the form scanner
# A small EDN tokenizer that knows only what bracket balance needs: strings,
# comments, character literals, `#{`, tags and `#_`. The reader proper (a lark
# grammar) reads each form once the scanner has cut it out.

_OPEN = {"(": ")", "[": "]", "{": "}"}
_SPACE = " \t\r\n,"
_DELIMS = frozenset(' \t\r\n,()[]{}";')


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # open close string atom tag discard
    start: int
    end: int


#: A string literal's body up to its closing quote (possessive: linear, no backtracking state).
_STRING_BODY = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+', re.S)


def _tokens(text: str) -> tuple[list[_Tok], bool]:
    """The tokens of ``text`` and whether it ends inside a string. O(len(text))."""
    out: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _SPACE:
            i += 1
        elif c == ";":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif c in _OPEN:
            out.append(_Tok("open", i, i + 1))
            i += 1
        elif c in ")]}":
            out.append(_Tok("close", i, i + 1))
            i += 1
        elif c == '"':
            j = _STRING_BODY.match(text, i + 1).end()  # type: ignore[union-attr]
            if j >= n or text[j] != '"':  # the end, or a backslash ending the text  # an unterminated string is a form to the end (the reader says so)
                out.append(_Tok("string", i, n))
                return out, True
            out.append(_Tok("string", i, j + 1))
            i = j + 1
        elif c == "#" and i + 1 < n and text[i + 1] == "{":
            out.append(_Tok("open", i, i + 2))
            i += 2
        elif c == "#" and i + 1 < n and text[i + 1] == "_":
            out.append(_Tok("discard", i, i + 2))
            i += 2
        else:
            kind = "tag" if c == "#" and i + 1 < n and text[i + 1] != "#" else "atom"
            j = i + 2 if c == "\\" else i + 1  # \( and \" are characters, not delimiters
            while j < n and text[j] not in _DELIMS:
                j += 1
            out.append(_Tok(kind, i, min(j, n)))
            i = j
    return out, False


def is_complete(text: str) -> bool:
    """True when ``text`` holds whole forms only: brackets balance, no string left open.

    A stray closing bracket also counts as complete, so the reader can say what
    is wrong instead of the prompt waiting for more. O(len(text)).

    >>> is_complete('{:find [?e]'), is_complete('"a ( string"'), is_complete('[1 2]]')
    (False, True, True)
    >>> is_complete('[:find ?e :where [?e :a }')
    True
    """
    toks, open_string = _tokens(text)
    if open_string:
        return False
    closers: list[str] = []
    for t in toks:
        if t.kind == "open":
            closers.append(_OPEN[text[t.end - 1]])
        elif t.kind == "close":
            if not closers or closers.pop() != text[t.start]:
                return True  # a stray or mismatched closer: let the reader say so
    if not closers and toks and toks[-1].kind in ("tag", "discard"):
        return False
    return not closers


def split_forms(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of the top-level forms of ``text`` (``#_`` forms left out).

    An unfinished last form runs to the end of the text (the reader then says
    what is missing). O(len(text)).

    >>> text = '#inst "2020-01-01" [1 (2)] :k'
    >>> [text[s:e] for s, e in split_forms(text)]
    ['#inst "2020-01-01"', '[1 (2)]', ':k']
    """
    toks, _ = _tokens(text)
    forms: list[tuple[int, int]] = []
    depth = 0
    start: int | None = None
    discard = 0

    def finish(s: int, e: int) -> None:
        nonlocal discard, start
        if discard:
            discard -= 1
        else:
            forms.append((s, e))
        start = None

    for t in toks:
        if depth:
            if t.kind == "open":
                depth += 1
            elif t.kind == "close":
                depth -= 1
                if depth == 0:
                    assert start is not None
                    finish(start, t.end)
            continue
        if t.kind == "discard":
            discard += 1
        elif t.kind == "tag":
            if start is None:
                start = t.start
        elif t.kind == "open":
            if start is None:
                start = t.start
            depth = 1
        else:  # atom, string, or a stray closer (a form the reader will refuse)
            finish(t.start if start is None else start, t.end)
    if start is not None:
        forms.append((start, len(text)))
    return forms


def _subforms(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Every form inside ``text[start:end]``, outermost first (for locating errors)."""
    toks, _ = _tokens(text[start:end])
    stack: list[int] = []
    spans: list[tuple[int, int]] = []
    for t in toks:
        if t.kind == "open":
            stack.append(t.start)
        elif t.kind == "close" and stack:
            spans.append((stack.pop(), t.end))
        elif t.kind in ("atom", "string"):
            spans.append((t.start, t.end))
    spans.sort(key=lambda se: (se[0], -se[1]))
    for s, e in spans:
        yield start + s, start + e


# ------------------------------------------------------------------ errors with positions

class ReplError(Exception):
    """An error to show the user: a message and, when known, its offset in the entry."""

    def __init__(self, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _offset_of(text: str, line: int, col: int) -> int:
    pos = 0
    for _ in range(line - 1):
        nl = text.find("\n", pos)
        if nl < 0:
            break
        pos = nl + 1
    return min(len(text), pos + max(col, 1) - 1)


def read_form(text: str, start: int, end: int) -> Any:
    """Read the form at ``text[start:end]``; errors carry offsets into ``text``."""
    piece = text[start:end]
    try:
        return fs.read_edn(piece)
    except fs.EdnSyntaxError as exc:
        line, col = exc.data.get("line"), exc.data.get("column")
        first = exc.message.split("\n", 1)[0].rstrip(":")

        def move(m: re.Match[str]) -> str:
            pos = start + _offset_of(piece, int(m.group(1)), int(m.group(2)))
            ln, cl = _line_col(text, pos)
            return f"line {ln}, column {cl}"

        first = re.sub(r"line (\d+), column (\d+)", move, first)
        pos = start + _offset_of(piece, line, col) if line and col else None
        raise ReplError(first, pos) from None


def locate_error(text: str, start: int, end: int, exc: BaseException) -> int | None:
    """Best effort: the offset in ``text[start:end]`` of the form an error names."""
    data = getattr(exc, "data", None) or {}
    targets = [(k, data[k]) for k in ("attribute", "fn", "var", "symbol", "name", "form", "value")
               if k in data]
    spans = list(_subforms(text, start, end))
    for key, target in targets:
        if key == "fn" and isinstance(target, str):
            target = Symbol(target if not isinstance(target, Symbol) else str(target))
        elif type(target) is str and target.startswith(":"):
            target = Keyword(target)
        for s, e in spans:
            if (s, e) == (start, end) and len(spans) > 1:
                continue  # the whole form says nothing; look for a smaller one
            try:
                value = fs.read_edn(text[s:e])
                if isinstance(value, str) or isinstance(target, str):
                    if type(value) is type(target) and value == target:
                        return s
                elif value == target:
                    return s
            except Exception:  # noqa: BLE001 - unreadable pieces and values that refuse ==
                continue
    return None


def format_error(message: str, text: str, pos: int | None, line_offset: int = 0
                 ) -> tuple[str, str | None]:
    """The message (with its line and column) and a caret excerpt of ``text`` at ``pos``.

    ``line_offset`` is the number of lines before ``text`` in its file or stream.

    >>> format_error("unknown attribute :a/x", "[:find ?e\\n :where [?e :a/x]]", 21)
    ('unknown attribute :a/x (line 2, column 12)', '   :where [?e :a/x]]\\n             ^')
    """
    if line_offset:
        message = re.sub(r"\bline (\d+)", lambda m: f"line {int(m.group(1)) + line_offset}", message)
    if pos is None:
        return message, None
    line, col = _line_col(text, pos)
    if "line " not in message:
        message += f" (line {line + line_offset}, column {col})"
    src = text.split("\n")[line - 1].rstrip()
    if len(src) > 100:  # a window around the column, never the whole of a long line
        start = max(0, col - 1 - 40)
        cut = src[start:start + 80]
        prefix = "…" if start else ""
        src, col = prefix + cut + ("…" if start + 80 < len(src) else ""), col - start + len(prefix)
    return message, "  " + src + "\n  " + " " * (col - 1) + "^"


#: problems of one refused transaction listed in a message; the rest are counted
MAX_PROBLEMS_SHOWN = 10


def error_text(exc: BaseException) -> str:
    """The message of an error for a person: one line, or a capped list of problems.

    The same problem made many times is one line with its count.

    >>> many = [fs.TransactionError(f"problem {i}") for i in range(25)]
    >>> error_text(fs.TransactionError("x", violations=many)).splitlines()[-1].strip()
    '... and 15 more'
    >>> same = [fs.TransactionError("value 1 of :a/b is not a string")] * 1500
    >>> print(error_text(fs.TransactionError("x", violations=same)))
    transaction refused (1,500 problems):
      - value 1 of :a/b is not a string (1,500 times)
    """
    violations = getattr(exc, "violations", [])
    if isinstance(exc, fs.TransactionError) and len(violations) > 1:
        counts: dict[str, int] = {}
        for v in violations:
            counts[v.message] = counts.get(v.message, 0) + 1
        distinct = list(counts.items())
        shown = [f"  - {m}" + (f" ({n:,} times)" if n > 1 else "") for m, n in distinct[:MAX_PROBLEMS_SHOWN]]
        rest = sum(n for _, n in distinct[MAX_PROBLEMS_SHOWN:])
        if rest:
            shown.append(f"  ... and {rest:,} more")
        return f"transaction refused ({len(violations):,} problems):\n" + "\n".join(shown)
    msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return msg


# ------------------------------------------------------------------ values for display

def _sort_key(v: Any) -> tuple[Any, ...]:
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
        return (8, tuple(_sort_key(x) for x in v))
    if isinstance(v, dict):
        return (9, tuple(sorted((str(k), _sort_key(x)) for k, x in v.items())))
    return (10, repr(v))


def _natively_ordered(rows: Sequence[Sequence[Any]]) -> bool:
    """True when every column holds only ``int`` or only ``str`` values (exact types).

    Then plain tuple comparison orders the rows exactly as :func:`_sort_key`
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
    """``rows`` in :func:`_sort_key` order; only the first ``limit`` of them when given.

    The first ``limit`` of n rows cost O(n log limit) (a heap), not a full sort:
    a table shows 1,000 rows of a 1.35 M-row result without sorting the rest.

    >>> sort_rows([(3,), (1,), (2,)], limit=2)
    [(1,), (2,)]
    """
    key = None if _natively_ordered(rows) else _sort_key
    if limit is not None and len(rows) > limit:
        return heapq.nsmallest(limit, rows, key=key)
    rows.sort(key=key)
    return rows


def _edn(v: Any) -> str:
    try:
        return fs.write_edn(v)
    except Exception:  # noqa: BLE001 - a value the writer does not know: show it anyway
        return repr(v)


def edn_pretty(v: Any) -> str:
    """EDN text of ``v``; a map with several keys gets one key per line.

    >>> print(edn_pretty({_K(":a"): 1, _K(":b"): [2]}))
    {:a 1
     :b (2)}
    """
    if isinstance(v, dict) and len(v) > 1:
        items = [f"{_edn(k)} {_edn(x)}" for k, x in v.items()]
        return "{" + "\n ".join(items) + "}"
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, dict) for x in v):
        o, c = ("[", "]") if isinstance(v, tuple) else ("(", ")")
        return o + "\n ".join(edn_pretty(x).replace("\n", "\n ") for x in v) + c
    return _edn(v)


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)) and not isinstance(v, (Keyword, Symbol)):
        return int(v) if isinstance(v, int) and not isinstance(v, bool) else v
    if isinstance(v, float):
        return v if math.isfinite(v) else _edn(v)
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
        return [_jsonable(x) for x in sorted(v, key=_sort_key)]
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, fs.Entity):
        return _jsonable(dict(v.touch()))
    return _edn(v)


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str) and not isinstance(v, Symbol):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, decimal.Decimal)):
        return _edn(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    return _edn(v)


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


def _cell_text(v: Any) -> str:
    if isinstance(v, _Ref):
        if v.label is None:
            return str(v.eid)
        if isinstance(v.label, Keyword):
            return str(v.label)
        return _edn(tuple(v.label))
    if v is None:
        return "nil"
    if isinstance(v, str) and not isinstance(v, (Keyword, Symbol)):
        return v
    if isinstance(v, _dt.datetime):
        if v.utcoffset() == _dt.timedelta(0):
            return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
        return v.isoformat()
    return _edn(v)


def _raw(v: Any) -> Any:
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
            self.console.print(Text(_cell_text(v) if isinstance(v, _Ref) else edn_pretty(v)))
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
        raw_rows = [[_raw(c) for c in r] for r in rows]
        if data is None:
            data = [{_K(":" + _plain(c)): v for c, v in zip(columns, r)} for r in raw_rows]
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
            self.write(edn_pretty(data) if not isinstance(data, _EdnText) else data.text)

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
            table.add_row(*[Text(_cell_text(c), style="dim" if c is None else "") for c in r])
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
class _EdnText:
    text: str


def _plain(column: str) -> str:
    return column[1:] if column.startswith(("?", ":")) else column


# ------------------------------------------------------------------ queries as data

def _query_part(query: Any, key: str) -> list[Any] | None:
    """The forms under ``key`` (``":find"``...) of a query in map or vector form."""
    if isinstance(query, dict):
        v = query.get(key)
        return None if v is None else list(v) if isinstance(v, (list, tuple)) else [v]
    if isinstance(query, (list, tuple)):
        out: list[Any] | None = None
        for x in query:
            if isinstance(x, Keyword) and x in QUERY_KEYS:
                if x == key:
                    out = []
                elif out is not None:
                    break
            elif out is not None:
                out.append(x)
        return out
    return None


def is_query(value: Any) -> bool:
    """True for a query in map form ``{:find ...}`` or vector form ``[:find ...]``."""
    if isinstance(value, dict):
        return _K(":find") in value
    return isinstance(value, tuple) and bool(value) and value[0] == ":find" \
        and isinstance(value[0], Keyword)


@dataclass(frozen=True, slots=True)
class FindSpec:
    shape: str  # rel coll tuple scalar
    columns: tuple[str, ...]
    elements: tuple[Any, ...]
    keys: tuple[str, ...] | None = None


def find_spec(query: Any) -> FindSpec:
    """The shape of a query's result and its column names.

    >>> find_spec(fs.read_edn('[:find ?e (count ?x) :where [?e :a ?x]]')).columns
    ('?e', '(count ?x)')
    >>> find_spec(fs.read_edn('[:find [?n ...] :where [_ :a ?n]]')).shape
    'coll'
    """
    find = _query_part(query, ":find") or []
    keys = None
    for k in (":keys", ":strs", ":syms"):
        names = _query_part(query, k)
        if names:
            keys = tuple(str(n) for n in names)
    if len(find) == 2 and find[1] == _DOT and isinstance(find[1], Symbol):
        shape, els = "scalar", (find[0],)
    elif len(find) == 1 and isinstance(find[0], tuple):
        inner = find[0]
        if len(inner) >= 2 and inner[-1] == _DOTS and isinstance(inner[-1], Symbol):
            shape, els = "coll", tuple(inner[:-1])
        else:
            shape, els = "tuple", tuple(inner)
    else:
        shape, els = "rel", tuple(find)
    cols = keys if keys is not None and len(keys) == len(els) else tuple(_edn(e) for e in els)
    return FindSpec(shape, tuple(cols), els, keys)


def _entity_vars(query: Any, schema: Any) -> dict[str, str]:
    """Variables the :where clauses bind to an entity (``"e"``) or an attribute (``"a"``)."""
    out: dict[str, str] = {}

    def var(x: Any) -> str | None:
        return str(x) if isinstance(x, Symbol) and str(x).startswith("?") else None

    def walk(clauses: Iterable[Any]) -> None:
        for c in clauses:
            if isinstance(c, tuple) and c:
                terms = c[1:] if isinstance(c[0], Symbol) and str(c[0]).startswith("$") else c
                if not terms or isinstance(terms[0], list):
                    continue  # [(pred ...)] or [(fn ...) binding]
                e = var(terms[0])
                if e:
                    out.setdefault(e, "e")
                if len(terms) > 1:
                    a = var(terms[1])
                    if a:
                        out.setdefault(a, "a")
                    elif len(terms) > 2 and isinstance(terms[1], Keyword):
                        attr = schema.attr(terms[1])
                        v = var(terms[2])
                        if v and attr is not None and attr.is_ref:
                            out.setdefault(v, "e")
            elif isinstance(c, list) and c and isinstance(c[0], Symbol):
                head = str(c[0])
                if head in ("not", "or", "and"):
                    walk(c[1:])
                elif head in ("not-join", "or-join"):
                    walk(c[2:])

    walk(_query_part(query, ":where") or [])
    return out


# ------------------------------------------------------------------ the session

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
            return f"{_edn(self.pending.missing[0])}> "
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
        ins = _query_part(query, ":in")
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
                self.out.console.print(_text(str(result)))
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
                raise ReplError(f"unknown attribute {_edn(forms[0][0])}", forms[0][1])
            n = sum(1 for _ in db.datoms("aevt", attr.id))
            props = [("ident", attr.ident), ("id", attr.id), ("valueType", attr.value_type),
                     ("cardinality", _K(":db.cardinality/many" if attr.many else
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
                          data={_K(":" + k): v for k, v in props if v is not None})
            return
        rows = [_attr_row(a) for a in db.schema.attrs() if not _is_builtin(a.ident)]
        self.out.rows(["ident", "type", "cardinality", "unique", "flags", "doc"], rows)

    def cmd_attrs(self, args_text: str, raw: str) -> None:
        db = self.db()
        rows = []
        for a in db.schema.attrs():
            if _is_builtin(a.ident):
                continue
            n = sum(1 for _ in db.datoms("aevt", a.id))
            rows.append((a.ident, _K(str(a.value_type).replace("db.type/", "")), n))
        self.out.rows(["attribute", "type", "datoms"], rows)

    def cmd_rules(self, args_text: str, raw: str) -> None:
        forms = self._args(args_text)
        if not forms:
            if self.rules is None:
                self.out.note("no rules set: .rules [[(name ?a) clause ...] ...]")
            else:
                self.out.write(self.rules_text or _edn(self.rules))
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
            raise ReplError(f"no entity {_edn(eid)} in this db", es)
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
            raise ReplError(f"no entity {_edn(eid_form)} in this db", s)
        lab = self.labeler()
        fmt_table = self.out.format == "table"
        rows = []
        for d in datoms:
            a = db.schema.attr(d.a)
            v: Any = lab.ref(d.v) if fmt_table and a is not None and a.is_ref else d.v
            rows.append((lab.attr(d.a), v))
        title = f"entity {eid}" + (f" {_cell_text(lab.ref(eid))}" if fmt_table and
                                   lab.ref(eid).label is not None else "")
        data: dict[Any, Any] = {_K(":db/id"): eid}
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
            raise ReplError(f".{what} takes a t (0, 1, 2…), a tx id or an #inst, got {_edn(v)}", s)
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
            raise ReplError(f".log takes a number of transactions, got {_edn(n)}",
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
                            f"{' '.join(_edn(b) for b in p.missing)}")
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


def _text(s: str) -> Any:
    from rich.text import Text
    return Text(s)


def _show_point(p: Any) -> str:
    return p.isoformat() if isinstance(p, _dt.datetime) else str(p)


def _not_a_query(value: Any) -> str:
    shown = _edn(value)
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


def _is_builtin(ident: str) -> bool:
    ns = ident[1:].split("/", 1)[0]
    return ns == "db" or ns.startswith("db.")


def _attr_row(a: Any) -> tuple[Any, ...]:
    flags = [f for f, on in (("index", a.indexed), ("component", a.component),
                             ("noHistory", a.no_history)) if on]
    return (a.ident, _K(str(a.value_type).replace("db.type/", "")),
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


# ------------------------------------------------------------------ result renderers

def show_result(out: Output, query: Any, result: Any, db: fs.Db, labeler: Labeler | None) -> None:
    """Print a query result by its find spec: a table, or EDN/JSON/CSV data."""
    spec = find_spec(query)
    if spec.shape == "scalar":
        if labeler is not None and _entity_column(query, db, spec, 0):
            out.value(labeler.ref(result))
        else:
            out.value(result)
        return
    # a table shows out.max_rows rows: sort (and label, below) only those
    limit = out.max_rows if out.format == "table" else None
    total = None
    data: Any = result
    if spec.shape == "rel":
        if spec.keys is not None and result and isinstance(next(iter(result)), dict):
            rows = [tuple(r.get(_K(":" + k), r.get(k)) for k in spec.keys) for r in result]
        else:
            rows = list(result)  # q's rows are tuples already: no copy per row (C loops)
            if set(map(type, rows)) != {tuple}:
                rows = [tuple(r) for r in rows]
        total = len(rows)
        rows = sort_rows(rows, limit)
        if out.format == "edn":
            if spec.keys is not None:
                data = _EdnText(edn_pretty(tuple(sorted(result, key=_sort_key))))
            else:
                data = _EdnText("#{" + "\n  ".join(_edn(r) for r in rows) + "}")
        elif out.format == "json":
            data = rows if spec.keys is None else list(result)
    elif spec.shape == "coll":
        rows = [(v,) for v in result]
        total = len(rows)
        rows = sort_rows(rows, limit)
        data = [r[0] for r in rows]
        if out.format == "edn":
            data = _EdnText("[" + " ".join(_edn(v) for v in data) + "]")
    else:
        rows = [tuple(result)] if result is not None else []
        data = result
        if out.format == "edn":
            data = _EdnText(_edn(result))
    if labeler is not None:
        ents = [_entity_column(query, db, spec, i) for i in range(len(spec.columns))]
        rows = [tuple(labeler.ref(v) if ents[i] == "e" else labeler.attr(v) if ents[i] == "a" else v
                      for i, v in enumerate(r)) for r in rows]
    out.rows(spec.columns, rows, data=data, total=total)


def _entity_column(query: Any, db: fs.Db, spec: FindSpec, i: int) -> str | None:
    el = spec.elements[i] if i < len(spec.elements) else None
    if not isinstance(el, Symbol):
        return None
    return _entity_vars(query, db.schema).get(str(el))


def show_datoms(out: Output, db: fs.Db, datoms: Sequence[Any], labeler: Labeler | None,
                title: str | None = None) -> None:
    """A table of datoms: e, a (its ident), v (refs named), tx, added."""
    rows = []
    for d in datoms:
        attr = db.schema.attr(d.a)
        a = attr.ident if attr is not None else d.a
        if labeler is not None:
            e: Any = labeler.ref(d.e)
            v: Any = labeler.ref(d.v) if attr is not None and attr.is_ref else d.v
        else:
            e, v = d.e, d.v
        rows.append((e, a, v, d.tx, d.added))
    data = _EdnText("[" + "\n ".join(_edn((_raw(r[0]), r[1], _raw(r[2]), r[3], r[4]))
                                      for r in rows) + "]")
    if out.format == "json":
        data = [[_raw(r[0]), r[1], _raw(r[2]), r[3], r[4]] for r in rows]
    out.rows(["e", "a", "v", "tx", "added"], rows, title=title,
             data=data if out.format in ("edn", "json") else None)


def show_tx_report(out: Output, report: fs.TxReport, labeler: Labeler | None) -> None:
    """What a transaction made: its t, the tempids it resolved and its datoms."""
    db = report.db_after
    t = db.basis_t
    tempids = {k: v for k, v in report.tempids.items() if k != "datomic.tx"}
    if out.format == "table":
        out.note(f"transacted: t {t}, {len(report.tx_data)} datoms")
        if tempids:
            out.rows(["tempid", "eid"], sorted(tempids.items(), key=_sort_key), title="tempids",
                     count=False)
        show_datoms(out, db, report.tx_data, labeler, title="datoms")
        return
    data = {_K(":t"): t, _K(":tempids"): tempids,
            _K(":tx-data"): tuple((d.e, db.schema.attr(d.a).ident if db.schema.attr(d.a) else d.a,
                                   d.v, d.tx, d.added) for d in report.tx_data)}
    if out.format == "csv":
        show_datoms(out, db, report.tx_data, None)
    else:
        out.value(data)


def show_log(out: Output, conn: fs.Connection, db: fs.Db, n: int) -> None:
    """The last ``n`` transactions of the log (t, instant, datoms, the attributes they touched)."""
    start = max(1, db.basis_t - n + 1)
    rows = []
    for tx in conn.log().tx_range(start, db.basis_t + 1):
        added: dict[str, int] = {}
        retracted: dict[str, int] = {}
        for d in tx.data:
            if d.e == tx.tx:
                continue
            a = db.schema.attr(d.a)
            name = str(a.ident) if a is not None else str(d.a)
            counts = added if d.added else retracted
            counts[name] = counts.get(name, 0) + 1
        parts = [k + (f" ×{v}" if v > 1 else "") for k, v in added.items()]
        parts += ["-" + k + (f" ×{v}" if v > 1 else "") for k, v in retracted.items()]
        rows.append((tx.t, tx.instant, len(tx.data), ", ".join(parts)))
    rows.reverse()
    out.rows(["t", "instant", "datoms", "attributes"], rows)


# ------------------------------------------------------------------ export / import

EXPORT_KEY = _K(":fact-store/export")
_TEMPID = "fs-import:"


def export_log(conn: fs.Connection, out: TextIO, until_t: int | None = None,
               progress: Callable[[int, int], Any] | None = None) -> int:
    """Write the log as an EDN tx-data stream; return the number of transactions written.

    The stream starts with a header map ``{:fact-store/export 1 ...}``, then
    one vector of ``[:db/add e a v]`` / ``[:db/retract e a v]`` per
    transaction in t order. Attributes and refs to entities with an ident are
    written as idents; other entity ids as numbers, which :func:`import_text`
    maps to fresh ids of the target store; the transaction's own entity is
    ``"datomic.tx"``, its ``:db/txInstant`` included. Values of composite
    tuple attributes are left out (the target computes them). O(log size).
    """
    db = conn.sync()
    last = db.basis_t if until_t is None else min(until_t, db.basis_t)
    db0 = fs.Db.empty()
    boot = {d.e: d.v for d in db0.datoms("aevt", ":db/ident")}
    ident_of = dict(boot)
    ident_a = db0.schema.attr(":db/ident").id  # type: ignore[union-attr]
    vt_a = db0.schema.attr(":db/valueType").id  # type: ignore[union-attr]
    ta_a = db0.schema.attr(":db/tupleAttrs").id  # type: ignore[union-attr]
    ref_type = db0.entid(":db.type/ref")
    refs = {a.id for a in db0.schema.attrs() if a.is_ref}
    composite: set[int] = set()
    header = {EXPORT_KEY: 1, _K(":basis-t"): last,
              _K(":exported"): _dt.datetime.now(_dt.timezone.utc)}
    out.write(";; fact-store export: one transaction per form; load it with `fact-store import`\n")
    out.write(_edn(header) + "\n")
    n = 0
    for tx in conn.log().tx_range(1, last + 1):
        ops = []
        for d in tx.data:
            if d.a in composite:
                continue
            a = ident_of.get(d.a, d.a)
            e: Any = "datomic.tx" if d.e == tx.tx else boot.get(d.e, d.e)
            v = d.v
            if d.a in refs and type(v) is int:
                v = "datomic.tx" if v == tx.tx else ident_of.get(v, v)
            ops.append((_K(":db/add" if d.added else ":db/retract"), e, a, v))
        for d in tx.data:  # the schema as of after this transaction
            if d.a == ident_a:
                if d.added:
                    ident_of[d.e] = d.v
                elif ident_of.get(d.e) == d.v:
                    del ident_of[d.e]
            elif d.a == vt_a and d.added:
                (refs.add if d.v == ref_type else refs.discard)(d.e)
            elif d.a == ta_a and d.added:
                composite.add(d.e)
        out.write(f";; t {tx.t} {tx.instant.isoformat()}\n")
        out.write("[" + "\n ".join(_edn(op) for op in ops) + "]\n")
        n += 1
        if progress is not None:
            progress(n, last)
    return n


@dataclass
class ImportReport:
    transactions: int = 0
    datoms: int = 0
    basis_t: int = 0
    #: transactions that added no fact (the store already held them): only their own timestamp
    empty: int = 0


def import_summary(rep: ImportReport) -> str:
    """``3 transactions (16 datoms)``, and how many of them added nothing.

    >>> import_summary(ImportReport(transactions=1, datoms=4, empty=1))
    '1 transaction (4 datoms; it added no fact: the store already held them)'
    """
    s = f"{rep.transactions:,} transaction{'s' if rep.transactions != 1 else ''} ({rep.datoms:,} datoms"
    if rep.empty == rep.transactions and rep.empty:
        return s + ("; it added no fact" if rep.empty == 1 else "; none of them added a fact") + \
            ": the store already held them)"
    if rep.empty:
        return s + f"; {rep.empty:,} of them added no fact: the store already held those)"
    return s + ")"


def _adds_facts(report: fs.TxReport) -> bool:
    """True when a transaction asserted or retracted more than its own ``:db/txInstant``."""
    tx = fs.t_to_tx(report.db_after.basis_t)
    return any(d.e != tx for d in report.tx_data)


def import_text(conn: fs.Connection, text: str, instants: str = "auto",
                progress: Callable[[int, int], Any] | None = None,
                force: bool = False) -> ImportReport:
    """Transact an EDN tx-data stream: each top-level form is one transaction, in order.

    A stream written by :func:`export_log` (it starts with the export header)
    has its entity ids mapped to new ids of this store. ``instants``:
    ``keep`` the exported ``:db/txInstant`` values, ``now`` to drop them, or
    ``auto``: keep them when the store is empty. Stops at the first refused
    transaction with a ReplError naming it and its line; those before it stay.

    Before writing anything it refuses (ReplError) an exported stream that
    uses attributes neither the store nor the stream installs, and a stream
    whose every transaction would add no fact to a non-empty store (it was
    imported before; ``force`` imports it anyway). ``ImportReport.empty``
    counts the transactions that added nothing.
    """
    spans = split_forms(text)
    forms: list[tuple[Any, int]] = [(read_form(text, s, e), s) for s, e in spans]
    rep = ImportReport(basis_t=conn.db().basis_t)
    exported = bool(forms) and isinstance(forms[0][0], dict) and EXPORT_KEY in forms[0][0]
    if exported:
        forms = forms[1:]
    keep = instants == "keep" or (instants == "auto" and conn.db().basis_t == 0)
    for i, (tx_data, pos) in enumerate(forms, 1):
        if not isinstance(tx_data, (tuple, list)):
            raise ReplError(f"form {i} (line {_line_col(text, pos)[0]}) is not tx-data: "
                            f"{_edn(tx_data)[:60]}; nothing was imported", pos)
    if exported:
        _check_attributes(conn.db(), text, forms)
    if not force and forms and conn.db().basis_t > 0 and _imported_before(conn.db(), forms, exported):
        raise ReplError(
            f"nothing imported: this store already holds every fact of the stream (each of its "
            f"{len(forms):,} transactions would add nothing but its own timestamp; it was probably "
            "imported before); `fact-store import --force` imports it anyway")
    remap: dict[int, int] = {}
    total = len(forms)
    for i, (tx_data, pos) in enumerate(forms, 1):
        line = _line_col(text, pos)[0]
        if exported:
            tx_data = _remap(conn.db(), tx_data, remap, keep)
        try:
            report = conn.transact(tx_data)
        except fs.FactStoreError as exc:
            raise ReplError(f"transaction {i} (line {line}) was refused: {error_text(exc)}\n"
                            f"{rep.transactions} transactions before it were imported", pos) from None
        rep.transactions += 1
        rep.datoms += len(report.tx_data)
        rep.basis_t = report.db_after.basis_t
        rep.empty += not _adds_facts(report)
        if exported:
            for k, eid in report.tempids.items():
                if isinstance(k, str) and k.startswith(_TEMPID):
                    remap[int(k[len(_TEMPID):])] = eid
            remap[fs.t_to_tx(i)] = fs.t_to_tx(report.db_after.basis_t)
        if progress is not None:
            progress(i, total)
    return rep


def _imported_before(db: fs.Db, forms: list[tuple[Any, int]], exported: bool) -> bool:
    """True when every transaction of the stream, applied in turn to ``db`` without writing,
    adds no fact. Stops at the first one that adds a fact (or is refused: the real run says
    why), so a new stream costs one speculative transaction."""
    remap: dict[int, int] = {}
    for i, (tx_data, _pos) in enumerate(forms, 1):
        if exported:
            tx_data = _remap(db, tx_data, remap, keep_instants=False)
        try:
            report = db.with_(tx_data)
        except fs.FactStoreError:
            return False
        if _adds_facts(report):
            return False
        if exported:
            for k, eid in report.tempids.items():
                if isinstance(k, str) and k.startswith(_TEMPID):
                    remap[int(k[len(_TEMPID):])] = eid
            remap[fs.t_to_tx(i)] = fs.t_to_tx(report.db_after.basis_t)
        db = report.db_after
    return True


def _check_attributes(db: fs.Db, text: str, forms: list[tuple[Any, int]]) -> None:
    """Refuse an exported stream that uses attributes it does not install and ``db`` lacks.

    One message naming them (at most :data:`MAX_PROBLEMS_SHOWN`) and where the first is used,
    instead of one refused transaction listing every datom. O(datoms of the stream).
    """
    installed = {str(a.ident) for a in db.schema.attrs()}
    missing: dict[str, tuple[int, int]] = {}
    for i, (tx_data, pos) in enumerate(forms, 1):
        for op in tx_data:
            if isinstance(op, (tuple, list)) and len(op) == 4 and op[2] == ":db/ident" \
                    and isinstance(op[3], str):
                installed.add(str(op[3]))
        for op in tx_data:
            if isinstance(op, (tuple, list)) and len(op) == 4 and isinstance(op[2], Keyword):
                a = str(op[2])
                if a not in installed and a not in missing:
                    missing[a] = (i, _line_col(text, pos)[0])
    if not missing:
        return
    names = list(missing)
    shown = " ".join(names[:MAX_PROBLEMS_SHOWN])
    more = f" ... and {len(names) - MAX_PROBLEMS_SHOWN:,} more" if len(names) > MAX_PROBLEMS_SHOWN else ""
    i, line = missing[names[0]]
    raise ReplError(f"nothing imported: the stream uses {len(names):,} attribute"
                    f"{'s' if len(names) != 1 else ''} that neither this store nor the stream "
                    f"installs: {shown}{more} (the first in transaction {i}, line {line}). "
                    "Install the schema first (fact-store transact schema.edn), or import the "
                    "whole export")


def _remap(db: fs.Db, tx_data: Sequence[Any], remap: dict[int, int], keep_instants: bool) -> list[Any]:
    def m(x: Any) -> Any:
        if type(x) is int:
            return remap.get(x, f"{_TEMPID}{x}")
        return x

    out = []
    for op in tx_data:
        if not (isinstance(op, (tuple, list)) and len(op) == 4):
            out.append(op)
            continue
        kind, e, a, v = op
        if not keep_instants and a == ":db/txInstant" and e == "datomic.tx":
            continue
        attr = db.schema.attr(a) if isinstance(a, str) else None
        out.append((kind, m(e), a, m(v) if attr is not None and attr.is_ref else v))
    return out


# ------------------------------------------------------------------ the loops

def run_script(session: Session, stream: TextIO, bail: bool = False) -> None:
    """Feed a session from a non-terminal stream: entries end where the brackets balance."""
    try:
        _run_script(session, stream, bail)
    finally:
        session.out.redirect(None)  # closes a file .output opened


def _run_script(session: Session, stream: TextIO, bail: bool) -> None:
    buf: list[str] = []
    first_line = 0
    lineno = 0
    for line in stream:
        lineno += 1
        if not buf:
            if not line.strip():
                continue
            first_line = lineno - 1
        buf.append(line)
        text = "".join(buf)
        if entry_complete(text):
            buf = []
            before = session.errors
            session.feed(text.rstrip("\n"), first_line)
            if session.done or (bail and session.errors > before):
                return
    if buf and "".join(buf).strip():
        session.feed("".join(buf).rstrip("\n"), first_line)
    if session.pending is not None and session.pending.missing and not session.done:
        missing = " ".join(_edn(b) for b in session.pending.missing)
        session.pending = None
        session.errors += 1
        session.out.error(f"end of input: the last query still needs its inputs {missing}")


# -- completion -------------------------------------------------------------------------

_CLAUSE_HEADS = ("not", "not-join", "or", "or-join", "and", "pull", "count", "count-distinct",
                 "sum", "min", "max", "avg", "median", "distinct", "rand", "sample",
                 "get-else", "get-some", "missing?", "ground", "tuple", "untuple",
                 "str", "subs", "re-find", "re-matches", "identity")
_ARG_WORDS = {".format": FORMATS, ".timer": ("on", "off"), ".pager": ("on", "off"),
              ".limit": ("off", "100", "1000"),
              ".datoms": (":eavt", ":aevt", ":avet", ":vaet")}
_WORD = re.compile(r"[^\s()\[\]{}\",;]*$")


def completions(session: Session, text_before: str) -> list[tuple[str, str]]:
    """``(candidate, meta)`` pairs for the word before the cursor.

    Dot commands at the start of an entry, their arguments, attribute idents and
    query keywords after ``:``, variables after ``?``, rule and function names
    after ``(``. The schema is the live one.
    """
    word = _WORD.search(text_before).group(0)  # type: ignore[union-attr]
    before = text_before[: len(text_before) - len(word)]
    out: list[tuple[str, str]] = []
    stripped = text_before.lstrip()
    if stripped == word and word.startswith("."):
        return [(c, "command") for c in sorted(set(DOT_COMMANDS)) if c.startswith(word)]
    head = stripped.split(None, 1)[0] if stripped.startswith(".") else None
    if head in _ARG_WORDS and before.strip() == head:
        return [(w, head) for w in _ARG_WORDS[head] if w.startswith(word)]
    if word.startswith("?"):
        seen = sorted(set(re.findall(r"\?[^\s()\[\]{}\",;]+", before)))
        return [(v, "variable") for v in seen if v.startswith(word) and v != word]
    if word.startswith(":"):
        try:
            db = session.latest()
        except fs.FactStoreError:
            return []
        for k in QUERY_KEYS:
            if k.startswith(word):
                out.append((k, "query"))
        for a in db.schema.attrs():
            if str(a.ident).startswith(word):
                out.append((str(a.ident), str(a.value_type).replace(":db.type/", "")))
        if len(out) < 50:
            for k in (":db.type/string", ":db.type/long", ":db.type/ref", ":db.type/keyword",
                      ":db.type/boolean", ":db.type/instant", ":db.type/double", ":db.type/uuid",
                      ":db.cardinality/one", ":db.cardinality/many", ":db.unique/identity",
                      ":db.unique/value", ":eavt", ":aevt", ":avet", ":vaet"):
                if k.startswith(word) and all(k != c for c, _ in out):
                    out.append((k, "ident"))
        return out
    if before.endswith("("):
        names = sorted(rule_names(fs.read_edn(session.rules))) if session.rules else []
        out = [(n, "rule") for n in names if n.startswith(word)]
        out += [(n, "function") for n in _CLAUSE_HEADS if n.startswith(word) and word]
        return out
    return out


def _make_completer(session: Session) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class ReplCompleter(Completer):  # type: ignore[misc]
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            before = document.text_before_cursor
            word = _WORD.search(before).group(0)  # type: ignore[union-attr]
            for cand, meta in completions(session, before):
                yield Completion(cand, start_position=-len(word), display_meta=meta)

    return ReplCompleter()


def default_history_path() -> str:
    """``$FACT_STORE_HISTORY``, else ``~/.fact_store_history``."""
    return os.environ.get("FACT_STORE_HISTORY") or os.path.join(os.path.expanduser("~"),
                                                                ".fact_store_history")


def run_interactive(session: Session, history_path: str | None = None,
                    banner: str | None = None) -> None:
    """The terminal loop: prompt_toolkit with multi-line entry, history, completion, colour."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.jvm import ClojureLexer

    kb = KeyBindings()

    @kb.add("enter")
    @kb.add("c-j")  # a terminal in cooked mode turns the Enter typed ahead into a newline
    def _enter(event: Any) -> None:
        buf = event.current_buffer
        state = buf.complete_state
        if state is not None and state.current_completion is not None:
            buf.apply_completion(state.current_completion)
            return
        if not buf.text.strip() or entry_complete(buf.text):
            buf.validate_and_handle()
        else:
            depth = _depth(buf.text)
            buf.insert_text("\n" + " " * min(depth, 8))

    @kb.add("escape", "enter")
    def _force(event: Any) -> None:  # submit as is (the reader says what is missing)
        event.current_buffer.validate_and_handle()

    history: Any = InMemoryHistory()
    path = history_path or default_history_path()
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # private, as the store
        history = FileHistory(path)
    except OSError:
        pass

    def continuation(width: int, line_number: int, wrap_count: int) -> str:
        return "...> ".rjust(width)

    prompt = PromptSession(
        multiline=True, key_bindings=kb, history=history, lexer=PygmentsLexer(ClojureLexer),
        completer=_make_completer(session), complete_while_typing=False,
        prompt_continuation=continuation, enable_history_search=False)
    if banner:
        session.out.console.print(_text(banner))
    while not session.done:
        try:
            text = prompt.prompt(session.prompt())
        except KeyboardInterrupt:
            session.cancel()
            continue
        except EOFError:
            break
        with session.out.paged():
            session.feed(text)
    session.out.redirect(None)


def _depth(text: str) -> int:
    toks, _ = _tokens(text)
    d = 0
    for t in toks:
        d += 1 if t.kind == "open" else -1 if t.kind == "close" else 0
    return max(d, 0)
