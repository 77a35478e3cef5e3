"""The form scanner (where an entry's EDN forms start and end) and errors with positions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

import fact_store as fs
from fact_store import Keyword, Symbol

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


def scan_tokens(text: str) -> tuple[list[_Tok], bool]:
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
    toks, open_string = scan_tokens(text)
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
    toks, _ = scan_tokens(text)
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
    toks, _ = scan_tokens(text[start:end])
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


def line_col(text: str, pos: int) -> tuple[int, int]:
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
            ln, cl = line_col(text, pos)
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
    line, col = line_col(text, pos)
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
