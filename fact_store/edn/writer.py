"""Python values → EDN text; writer(reader(x)) round-trips.

:func:`write` is the inverse of :func:`fact_store.edn.reader.read`: for every
value the reader produces, ``read(write(x)) == x`` with the same types, and
the mapping is the reader's table read right to left, plus what Python has
and the reader never produces:

- a ``list`` writes as an EDN list ``(…)`` and a ``tuple`` as a vector
  ``[…]`` (so ``[1 2]`` and ``(1 2)`` both survive a round trip; write tx-data
  and queries with tuples, or as EDN text, to get vectors);
- a ``set`` and any other ``Mapping`` write as ``#{…}`` and ``{…}`` (they read
  back as ``frozenset`` and ``dict``);
- ``bytes`` and ``bytearray`` write as ``#bytes "base64"``, a tag of ours that
  the reader knows; other EDN readers need a reader for it;
- an ``int`` outside 64 bits writes with the ``N`` suffix, as a ``BigInt`` does;
- ``float`` infinities and NaN write as ``##Inf``, ``##-Inf``, ``##NaN``;
- an aware ``datetime`` writes as ``#inst`` in UTC with milliseconds (or
  microseconds when it has them); a naive one is refused, since its instant is
  unknown;
- :class:`~fact_store.edn.values.Tagged` writes as ``#tag value``.

Anything else (and a Keyword or Symbol whose text is not valid EDN, a NaN or
infinite ``Decimal``) raises :class:`EdnSyntaxError` naming the value.
Output is compact: one space between elements and ``", "`` between map
entries; set elements come in the set's iteration order.
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from fact_store.edn.values import (DEFAULT_MAX_DEPTH, BigInt, Char, DbId, Keyword, Symbol, Tagged,
                                   is_keyword_text, is_symbol_text)
from fact_store.errors import EdnSyntaxError, FactStoreError, LimitExceeded

__all__ = ["write"]

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1

_STRING_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\\x7f]')
_STRING_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r",
                   "\b": "\\b", "\f": "\\f"}
_CHAR_NAMES = {"\n": "\\newline", "\r": "\\return", " ": "\\space", "\t": "\\tab",
               "\b": "\\backspace", "\f": "\\formfeed"}
_TAG_RE = re.compile(r"[^\W\d_]")


def write(value: Any, max_depth: int = DEFAULT_MAX_DEPTH) -> str:
    """Write ``value`` as EDN text that :func:`~fact_store.edn.reader.read` reads back.

    Runtime complexity: O(size of the text written).

    >>> from fact_store.edn.values import Keyword, Symbol
    >>> write((Keyword(":find"), Symbol("?e"), Keyword(":where"), (Symbol("?e"), Keyword(":job/status"), Keyword(":unstarted"))))
    '[:find ?e :where [?e :job/status :unstarted]]'
    >>> write({Keyword(":job/id"): "j-1\\n", "n": [1, 2.5, None, True], "s": frozenset()})
    '{:job/id "j-1\\\\n", "n" (1 2.5 nil true), "s" #{}}'
    >>> import datetime, uuid
    >>> write(datetime.datetime(2024, 1, 31, 9, 30, tzinfo=datetime.timezone.utc))
    '#inst "2024-01-31T09:30:00.000Z"'
    >>> write([float("inf"), 2 ** 64, b"hi", uuid.UUID(int=1)])
    '(##Inf 18446744073709551616N #bytes "aGk=" #uuid "00000000-0000-0000-0000-000000000001")'
    >>> write(1j)
    Traceback (most recent call last):
    ...
    fact_store.errors.EdnSyntaxError: cannot write a complex as EDN: 1j

    :raises EdnSyntaxError: a value (or part of one) has no EDN form.
    :raises LimitExceeded: collections nest deeper than ``max_depth`` (the
        reader's default, so what is written reads back with the defaults),
        or contain themselves.
    """
    out: list[str] = []
    try:
        _write(value, out.append, max_depth)
    except RecursionError as exc:  # a max_depth above what Python's stack allows
        raise LimitExceeded(f"cannot write: collections nest too deeply for Python's "
                            f"recursion limit (max_depth={max_depth})", limit="max_depth") from exc
    return "".join(out)


def _write(value: Any, emit: Callable[[str], Any], depth: int) -> None:
    t = type(value)
    if t is str:
        emit(_string(value))
    elif t is Keyword:
        if not is_keyword_text(value):
            raise EdnSyntaxError(f"cannot write keyword {str.__repr__(value)}: not valid EDN "
                                 "(':' then a symbol such as :job/status)", value=value)
        emit(str(value))
    elif t is int or t is BigInt:
        emit(_integer(value))
    elif t is tuple or t is list or t is dict or t is frozenset or t is set:
        if depth <= 0:
            raise LimitExceeded(f"cannot write: collections nest deeper than max_depth "
                                f"(or contain themselves); {type(value).__name__} at the limit",
                                limit="max_depth")
        if t is dict:
            emit("{")
            first = True
            for k, v in value.items():
                if not first:
                    emit(", ")
                first = False
                _write(k, emit, depth - 1)
                emit(" ")
                _write(v, emit, depth - 1)
            emit("}")
        else:
            emit("[" if t is tuple else "(" if t is list else "#{")
            first = True
            for item in value:
                if not first:
                    emit(" ")
                first = False
                _write(item, emit, depth - 1)
            emit("]" if t is tuple else ")" if t is list else "}")
    elif value is None:
        emit("nil")
    elif value is True:
        emit("true")
    elif value is False:
        emit("false")
    elif t is Symbol:
        if not is_symbol_text(value):
            raise EdnSyntaxError(f"cannot write symbol {str.__repr__(value)}: not valid EDN "
                                 "(and nil, true, false read as values, not symbols)", value=value)
        emit(str(value))
    elif t is float:
        emit(_float(value))
    elif t is Char:
        emit(_char(value))
    else:
        _write_other(value, emit, depth)


def _write_other(value: Any, emit: Callable[[str], Any], depth: int) -> None:
    """Subclasses of the types above and the types the reader makes from tags."""
    if isinstance(value, datetime):
        emit(_inst(value))
    elif isinstance(value, uuid.UUID):
        emit(f'#uuid "{value}"')
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise EdnSyntaxError(f"cannot write {value!r}: EDN decimals are finite", value=value)
        emit(f"{value}M")
    elif isinstance(value, (bytes, bytearray)):
        emit(f'#bytes "{base64.b64encode(value).decode("ascii")}"')
    elif isinstance(value, DbId):
        emit(f"#db/id [{value.part} {value.idx}]")
    elif isinstance(value, Tagged):
        if not isinstance(value.tag, str) or not (_TAG_RE.match(value.tag) and is_symbol_text(value.tag)):
            raise EdnSyntaxError(f"cannot write tag {value.tag!r}: a tag is a symbol "
                                 "starting with a letter, such as my/tag", value=value)
        emit(f"#{value.tag} ")
        _write(value.value, emit, depth)
    # Subclasses: Keyword/Symbol/Char/BigInt are matched exactly above, so the
    # order here matters (bool before int, str after the str subclasses).
    elif isinstance(value, Keyword):
        _write(Keyword(str(value)), emit, depth)
    elif isinstance(value, Symbol):
        _write(Symbol(str(value)), emit, depth)
    elif isinstance(value, Char):
        emit(_char(value))
    elif isinstance(value, str):
        emit(_string(value))
    elif isinstance(value, bool):  # pragma: no cover - bool cannot be subclassed
        emit("true" if value else "false")
    elif isinstance(value, int):
        emit(_integer(value))
    elif isinstance(value, float):
        emit(_float(value))
    elif isinstance(value, tuple):
        _write(tuple(value), emit, depth)
    elif isinstance(value, list):
        _write(list(value), emit, depth)
    elif isinstance(value, Mapping):
        _write(dict(value), emit, depth)
    elif isinstance(value, (set, frozenset)):
        _write(frozenset(value), emit, depth)
    else:
        raise EdnSyntaxError(f"cannot write a {type(value).__name__} as EDN: {value!r}", value=value)


def _string(value: str) -> str:
    if _STRING_NEEDS_ESCAPE.search(value) is None:
        return f'"{value}"'
    return '"' + _STRING_NEEDS_ESCAPE.sub(_escape_char, value) + '"'


def _escape_char(m: re.Match[str]) -> str:
    c = m.group()
    return _STRING_ESCAPES.get(c) or f"\\u{ord(c):04x}"


def _integer(value: int) -> str:
    try:
        text = str(int(value))
    except ValueError as exc:  # more digits than Python's int-string limit
        raise LimitExceeded(f"cannot write an integer with more digits than "
                            f"Python's int-string limit: {exc}", limit="int_max_str_digits") from exc
    if type(value) is BigInt or not _INT64_MIN <= value <= _INT64_MAX:
        return text + "N"
    return text


def _float(value: float) -> str:
    if math.isfinite(value):
        return repr(float(value))  # shortest text that reads back to the same float
    if math.isnan(value):
        return "##NaN"
    return "##Inf" if value > 0 else "##-Inf"


def _char(value: str) -> str:
    if len(value) != 1:
        raise EdnSyntaxError(f"cannot write Char {str.__repr__(value)}: a Char is one character",
                             value=value)
    c = str(value)
    if c in _CHAR_NAMES:
        return _CHAR_NAMES[c]
    if (c.isprintable() and not c.isspace()) or ord(c) > 0xFFFF:
        return "\\" + c
    return f"\\u{ord(c):04x}"


def _inst(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise EdnSyntaxError(f"cannot write naive datetime {value!r} as #inst: its instant is "
                             "unknown; give it a timezone (datetime.now(timezone.utc))",
                             value=value)
    try:
        u = value.astimezone(timezone.utc)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise EdnSyntaxError(f"cannot write {value!r} as #inst: outside years 1..9999 in UTC",
                             value=value) from exc
    frac = f"{u.microsecond // 1000:03d}" if u.microsecond % 1000 == 0 else f"{u.microsecond:06d}"
    return (f'#inst "{u.year:04d}-{u.month:02d}-{u.day:02d}T'
            f'{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{frac}Z"')


class _Full(Exception):
    """Raised inside :func:`show` once the text has reached its limit."""


def show(value: Any, limit: int = 200) -> str:
    """``value`` as EDN text for a message: never raises, cut to about ``limit`` characters.

    What a user reads in an error or a log line: EDN as they would type it, not
    a Python repr. Lists and tuples both show as vectors (``[…]``, how a user
    writes a lookup ref or a query), values with no EDN form show as
    ``#object[TypeName …]`` (as Clojure prints them), and rendering stops at
    the limit, so a megabyte of input never becomes a megabyte of message.
    Runtime complexity: O(limit).

    >>> from fact_store.edn.values import Keyword, Symbol
    >>> show({Keyword(":db/id"): 1, "n": [Symbol("?x"), None, True]})
    '{:db/id 1, "n" [?x nil true]}'
    >>> show(list(range(1000)), limit=20)
    '[0 1 2 3 4 5 6 7 8 …]'
    >>> show(1j)
    '#object[complex 1j]'
    """
    out: list[str] = []
    size = [0]

    def emit(text: str) -> None:
        out.append(text)
        size[0] += len(text)
        if size[0] > limit:
            raise _Full

    try:
        _show(value, emit, 16)
    except _Full:
        text = "".join(out)
        cut = text[:max(1, limit - 1)]
        return cut.rstrip() + " …" + _closers(cut)
    except Exception:  # pragma: no cover - a message must never fail to render
        return f"#object[{type(value).__name__}]"
    return "".join(out)


def _closers(text: str) -> str:
    """The brackets that close what ``text`` left open (quotes aside), for a cut rendering."""
    stack: list[str] = []
    in_str = False
    prev = ""
    for c in text:
        if in_str:
            if c == '"' and prev != "\\":
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[({":
            stack.append({"[": "]", "(": ")", "{": "}"}[c])
        elif c in "])}" and stack:
            stack.pop()
        prev = c
    return ('"' if in_str else "") + "".join(reversed(stack))


def _show_items(items: Any, open_: str, close: str, emit: Callable[[str], Any], depth: int) -> None:
    """A vector or set for :func:`_show`: its items space-separated, or ``…`` past ``depth``."""
    if depth <= 0:
        emit(f"{open_}…{close}")
        return
    emit(open_)
    for i, item in enumerate(items):
        if i:
            emit(" ")
        _show(item, emit, depth - 1)
    emit(close)


def _show(value: Any, emit: Callable[[str], Any], depth: int) -> None:
    if isinstance(value, (list, tuple)) and not isinstance(value, (str, bytes)):
        _show_items(value, "[", "]", emit, depth)
    elif isinstance(value, Mapping):
        if depth <= 0:
            emit("{…}")
            return
        emit("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                emit(", ")
            _show(k, emit, depth - 1)
            emit(" ")
            _show(v, emit, depth - 1)
        emit("}")
    elif isinstance(value, (set, frozenset)):
        _show_items(value, "#{", "}", emit, depth)
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4000:
        emit(f"#object[int of {value.bit_length()} bits]")
    else:
        try:
            text = write(value, max_depth=1)
        except FactStoreError:
            try:
                shown = str(value)
            except Exception:  # pragma: no cover
                shown = ""
            emit(f"#object[{type(value).__name__}{' ' + shown if shown else ''}]")
            return
        emit(text)
