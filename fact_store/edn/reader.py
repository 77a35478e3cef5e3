"""EDN text → Python values (one LALR Lark parser built at import + a Transformer).

The grammar is ``edn.lark`` beside this module. The parser runs the
transformer inline (lark's ``transformer=`` argument), so no parse tree is
built: each rule's method turns its children into a value as the rule is
reduced, and reading is iterative, so deep nesting never reaches Python's
recursion limit. The lexer is our own (``_EdnLexer``), built from the
grammar's terminals; it halves the time of a read. The one parser serves every
thread: what a read needs of its own (the text, the open brackets, the tags)
lives in a thread-local, so reads are thread-safe and re-entrant (a tag
reader may call :func:`read`).

==========================  ===========================================
EDN                         Python
==========================  ===========================================
``nil`` ``true`` ``false``  ``None`` ``True`` ``False``
``"text"``                  ``str``
``\\c`` ``\\newline``         :class:`~fact_store.edn.values.Char`
``42`` ``-7``               ``int`` (outside 64 bits: ``BigInt``)
``42N``                     :class:`~fact_store.edn.values.BigInt`
``1.5`` ``1e3``             ``float``; ``##Inf`` ``##-Inf`` ``##NaN`` too
``1.5M``                    ``decimal.Decimal``
``:a/b``                    :class:`~fact_store.edn.values.Keyword`
``?e`` ``a/b``              :class:`~fact_store.edn.values.Symbol`
``(1 2)``                   ``list`` (in a set or key: :class:`~fact_store.edn.values.FrozenList`)
``[1 2]``                   ``tuple``
``{:a 1}``                  ``dict`` (in a set or key: :class:`~fact_store.edn.values.FrozenMap`)
``#{1 2}``                  ``frozenset``
``#inst "…"``               ``datetime`` (aware, UTC)
``#uuid "…"``               ``uuid.UUID``
``#bytes "base64"``         ``bytes`` (our tag, not standard EDN)
``#db/id [:db.part/user]``  :class:`~fact_store.edn.values.DbId` (Datomic's old tempid literal)
==========================  ===========================================

Limits of the Python mapping, each refused with an :class:`EdnSyntaxError`
rather than silently losing data:

- Python's ``==`` merges values EDN keeps apart: ``1 == 1.0 == True``, and a
  Keyword, Symbol or Char equals the ``str`` of its text (``:a == ":a"``). A
  set or map whose elements or keys are distinct in EDN but equal in Python
  (``#{1 1.0}``, ``{:a 1 ":a" 2}``) cannot be a frozenset or dict, and is an
  error that says so. Truly equal ones (``#{1 1}``, ``#{1 1N}``) are EDN's own
  "duplicate" error.
- ``#inst`` keeps microseconds (digits past the sixth are dropped); the year
  must lie in 1..9999.

A map or list inside a set or a map key (``#{{:a 1}}``, ``{[1 {:b 2}] 3}``),
which a Python dict or list could not be, reads as a hashable, immutable
:class:`~fact_store.edn.values.FrozenMap` / ``FrozenList``: equal to the plain
dict or list with the same items, and written back unchanged.

The reader is lenient where Clojure is: ``1.`` is a float, keywords may start
with a digit after the colon (``:1``), ``#inst`` accepts a prefix of the
timestamp (``"2020-01"``), strings also know ``\\b`` and ``\\f``, and integer
literals too large for 64 bits read as ``BigInt`` without the ``N``.
"""

from __future__ import annotations

import base64
import binascii
import math
import itertools
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from typing import Any

from lark import Lark, Token, Transformer, Tree
from lark.common import LexerConf
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer

from fact_store.edn.values import (DEFAULT_MAX_DEPTH, BigInt, Char, DbId, FrozenList, FrozenMap,
                                   Keyword, Symbol, Tagged, freeze, is_keyword_text, is_symbol_text)
from fact_store.edn.writer import write
from fact_store.errors import EdnSyntaxError, LimitExceeded

__all__ = ["read", "read_all", "DEFAULT_MAX_DEPTH", "DEFAULT_MAX_CHARS", "DEFAULT_MAX_TOKEN",
           "DEFAULT_MAX_ITEMS", "BUILTIN_TAGS", "is_symbol_text", "is_keyword_text"]

DEFAULT_MAX_CHARS = 256 << 20
"""The longest text one read takes (256 Mi characters)."""
DEFAULT_MAX_TOKEN = 16 << 20
"""The longest single token: a string literal, symbol, keyword or number (16 Mi characters,
the largest transaction a store takes)."""
DEFAULT_MAX_ITEMS = 16 << 20
"""The most forms one collection (or one read_all) may hold."""

TagReader = Callable[[Any], Any]
_List = list  # the Transformer's ``list`` method shadows the builtin inside its class

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_EMPTY_SET: frozenset[Any] = frozenset()
_NAN = float("nan")  # one object, so `#{##NaN ##NaN}` is a duplicate as in Python

# --- validating atoms ---------------------------------------------------------

_INT_RE = re.compile(r"[+-]?(?:0|[1-9][0-9]*)N?")
_FLOAT_RE = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?M?")

_LITERALS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_SYMBOLIC = {"##Inf": math.inf, "##-Inf": -math.inf, "##NaN": _NAN}
_CHAR_NAMES = {"newline": "\n", "return": "\r", "space": " ", "tab": "\t",
               "backspace": "\b", "formfeed": "\f"}
_STRING_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", '"': '"', "b": "\b", "f": "\f"}
# A UTF-16 surrogate pair written as two escapes (as Java and JSON do) is one character.
_ESCAPE_RE = re.compile(
    r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(.))",
    re.S)
_HEX4_RE = re.compile(r"[0-9a-fA-F]{4}")


# Atoms repeat (`:db/id`, `?e`), so valid ones are kept; the caches are cleared
# when they grow past a bound, and a race between threads only costs a rebuild.
_CACHE_LIMIT = 4096
_symbol_cache: dict[str, Any] = {}
_keyword_cache: dict[str, Keyword] = {}

# --- the tags the reader knows --------------------------------------------------

_INST_RE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?)?)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _read_inst(value: Any) -> datetime:
    """``#inst``: an RFC 3339 timestamp (or a prefix of one) → an aware UTC datetime."""
    if type(value) is not str:
        raise ValueError(f"expected a string, got {_show(value)}")
    m = _INST_RE.fullmatch(value)
    if m is None:
        raise ValueError('expected an RFC 3339 timestamp such as "2024-01-31T09:30:00.000Z"')
    year, month, day, hour, minute, second, frac, _z, sign, off_h, off_m = m.groups()
    offset = timedelta()
    if sign:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError(f"offset {sign}{off_h}:{off_m} is out of range")
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                         int(minute or 0), int(second or 0), micro, tzinfo=timezone(offset))
        return local.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise ValueError(str(exc)) from exc


def _read_uuid(value: Any) -> uuid.UUID:
    """``#uuid``: the canonical 8-4-4-4-12 hex form → uuid.UUID."""
    if type(value) is not str:
        raise ValueError(f"expected a string, got {_show(value)}")
    if _UUID_RE.fullmatch(value) is None:
        raise ValueError('expected 8-4-4-4-12 hex digits such as "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"')
    return uuid.UUID(value)


def _read_bytes(value: Any) -> bytes:
    """``#bytes``: standard base64 (with padding) → bytes. Our tag, not EDN's."""
    if type(value) is not str:
        raise ValueError(f"expected a base64 string, got {_show(value)}")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError(f"invalid base64: {exc}") from exc


#: Indexes of ``#db/id [part]`` literals read without one: -1000001, -1000002, ... as Datomic's.
_fresh_db_ids = itertools.count(1_000_001)


def _read_db_id(value: Any) -> DbId:
    """``#db/id [:db.part/user]`` or ``#db/id [:db.part/user -1]``: Datomic's old tempid literal."""
    if type(value) is not tuple or not 1 <= len(value) <= 2 or type(value[0]) is not Keyword:
        raise ValueError("expected [partition] or [partition negative-index], such as [:db.part/user -1]")
    if len(value) == 1:
        return DbId(value[0], -next(_fresh_db_ids))
    idx = value[1]
    if type(idx) is not int or not -1_000_000 <= idx <= -1:
        raise ValueError(f"the index must be an integer from -1000000 to -1, got {_show(idx)}")
    return DbId(value[0], idx)


BUILTIN_TAGS: Mapping[str, TagReader] = {"inst": _read_inst, "uuid": _read_uuid, "bytes": _read_bytes,
                                         "db/id": _read_db_id}
"""Tags every read understands; a caller's ``tags=`` may override them."""

# --- per-read state -----------------------------------------------------------


class _State:
    """What one read needs beyond the shared parser: kept in a thread-local."""

    __slots__ = ("text", "open", "max_depth", "tags", "max_token", "max_items")

    def __init__(self, text: str, max_depth: int, tags: Mapping[str, TagReader],
                 max_token: int = DEFAULT_MAX_TOKEN, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        self.text = text
        self.open: list[Token] = []  # the brackets not closed yet, outermost first
        self.max_depth = max_depth
        self.tags = tags
        self.max_token = max_token
        self.max_items = max_items


_local = threading.local()

_CLOSER_OF = {"_LSQB": "]", "_LPAR": ")", "LBRACE": "}", "HASH_LBRACE": "}"}

# --- the transformer ------------------------------------------------------------


class _EdnTransformer(Transformer):  # type: ignore[type-arg]
    """Methods named after edn.lark's rules, aliases and bracket terminals.

    Rule methods get the list of their children (discarded forms are already
    gone) and return a value. Terminal methods run as the parser shifts each
    bracket and keep ``_State.open``, the brackets not closed yet.
    """

    # terminal callbacks -----------------------------------------------------------

    def _open(self, tok: Token) -> Token:
        state = _local.state
        state.open.append(tok)
        if len(state.open) > state.max_depth:
            line, column = _line_column(state.text, tok.start_pos)
            raise LimitExceeded(
                f"collections nest deeper than max_depth={state.max_depth} "
                f"at line {line}, column {column}:\n{_excerpt(state.text, tok.start_pos)}",
                limit="max_depth", max_depth=state.max_depth, line=line, column=column)
        return tok

    _LSQB = _LPAR = LBRACE = HASH_LBRACE = _open

    def _close(self, tok: Token) -> Token:
        _local.state.open.pop()  # the parser shifts only the closer that matches
        return tok

    _RSQB = _RPAR = _RBRACE = _close

    # forms -------------------------------------------------------------------------

    def start_one(self, children: list[Any]) -> Any:
        return children[0]

    def start_all(self, children: list[Any]) -> list[Any]:
        return children[0] if children else []

    def _discard(self, children: list[Any]) -> Tree:  # type: ignore[type-arg]
        return Tree("_discard", [])  # its parent splices in these (no) children

    def items(self, children: list[Any]) -> list[Any]:
        # [form] or [items, form]: discarded forms were spliced in as nothing.
        # Each children list is the parser's own fresh slice, so keep the first.
        if len(children) == 1:
            return children
        forms: list[Any] = children[0]
        forms.append(children[1])
        if not len(forms) & 0xFFF and len(forms) > _local.state.max_items:  # every 4,096
            _too_many(len(forms))
        return forms

    def vector(self, children: list[Any]) -> tuple[Any, ...]:
        return tuple(children[0]) if children else ()

    def list(self, children: _List[Any]) -> _List[Any]:
        return children[0] if children else []

    def map(self, children: _List[Any]) -> dict[Any, Any]:
        items = children[1] if len(children) > 1 else []
        n = len(items)
        if n & 1:
            raise _error(_local.state.text, children[0].start_pos,
                         f"a map needs an even number of forms, found {n}",
                         f"the key {_show(items[-1])} has no value")
        it = iter(items)
        try:
            result = dict(zip(it, it))
        except Exception:  # a map or list key: EDN allows it, so read it as a FrozenMap/FrozenList
            items[0::2] = [freeze(k) for k in items[0::2]]
            it = iter(items)
            try:
                result = dict(zip(it, it))
            except Exception as exc:  # a tag value whose __hash__ fails
                raise _unhashable(children[0], items[0::2], "map key", exc) from exc
        if 2 * len(result) != n:
            raise _collision(children[0], items[0::2], "key", "map")
        return result

    def set(self, children: _List[Any]) -> frozenset[Any]:
        items = children[1] if len(children) > 1 else []
        if not items:
            return _EMPTY_SET  # one object for every #{} (a frozenset is 216 bytes)
        try:
            result = frozenset(items)
        except Exception:  # maps and lists in a set: read them as FrozenMap/FrozenList
            items = [freeze(x) for x in items]
            try:
                result = frozenset(items)
            except Exception as exc:  # a tag value whose __hash__ fails
                raise _unhashable(children[0], items, "set element", exc) from exc
        if len(result) != len(items):
            raise _collision(children[0], items, "element", "set")
        return result

    def tagged(self, children: _List[Any]) -> Any:
        tok, value = children
        state = _local.state
        tag = tok.value[1:]
        reader = state.tags.get(tag) or BUILTIN_TAGS.get(tag)
        if reader is None:
            raise _error(state.text, tok.start_pos, f"unknown tag #{tag}",
                         f"the reader knows #inst, #uuid, #bytes and #db/id; "
                         f"pass tags={{{tag!r}: function}} to read it")
        try:
            return reader(value)
        except Exception as exc:
            raise _error(state.text, tok.start_pos, f"invalid #{tag} {_show(value)}",
                         str(exc) if reader in _BUILTIN_READERS
                         else f"its reader raised {type(exc).__name__}: {exc}") from exc

    # atoms: terminal callbacks too ------------------------------------------------

    def STRING(self, tok: Token) -> str:
        body: str = tok.value  # the lexer keeps the body only (no copy without the quotes)
        if "\\" not in body:
            return body
        return _unescape(body, (tok.start_pos or 0) + 1)

    def NUMBER(self, tok: Token) -> Any:
        text = tok.value
        try:
            if _INT_RE.fullmatch(text):
                if text[-1] == "N":
                    return BigInt(text[:-1])
                value = int(text)
                return value if _INT64_MIN <= value <= _INT64_MAX else BigInt(value)
            if _FLOAT_RE.fullmatch(text):
                return Decimal(text[:-1]) if text[-1] == "M" else float(text)
        except (ValueError, InvalidOperation) as exc:  # more digits than int() takes
            line, column = _line_column(_local.state.text, tok.start_pos)
            raise LimitExceeded(
                f"number with {len(text)} characters at line {line}, column {column}: {exc}",
                limit="int_max_str_digits", line=line, column=column) from exc
        raise _error(_local.state.text, tok.start_pos, f"invalid number {_clip(text)!r}",
                     "expected an integer (-7, 42N) or a float (1.5, 1e-3, 1.5M); "
                     "no leading zeros, no hex")

    def SYMBOL(self, tok: Token) -> Any:
        text = tok.value
        value = _symbol_cache.get(text, _symbol_cache)
        if value is not _symbol_cache:
            return value
        if text in _LITERALS:
            value = _LITERALS[text]
        elif is_symbol_text(text):
            value = Symbol(text)
        else:
            raise _error(_local.state.text, tok.start_pos,
                         f"invalid symbol {_clip(text)!r}",
                         "a symbol is letters, digits and . * + ! - _ ? $ % & = < > : #, "
                         "not starting with a digit, with at most one /")
        if len(_symbol_cache) >= _CACHE_LIMIT:
            _symbol_cache.clear()
        _symbol_cache[text] = value
        return value

    def KEYWORD(self, tok: Token) -> Keyword:
        text = tok.value
        value = _keyword_cache.get(text)
        if value is not None:
            return value
        if not is_keyword_text(text):
            raise _error(_local.state.text, tok.start_pos,
                         f"invalid keyword {_clip(text)!r}",
                         "expected ':' and a symbol, such as :status or :job/status")
        if len(_keyword_cache) >= _CACHE_LIMIT:
            _keyword_cache.clear()
        value = _keyword_cache[text] = Keyword(text)
        return value

    def CHAR(self, tok: Token) -> Char:
        body = tok.value[1:]
        if len(body) == 1:
            return Char(body)
        if body in _CHAR_NAMES:
            return Char(_CHAR_NAMES[body])
        if body[0] == "u" and _HEX4_RE.fullmatch(body, 1):
            return Char(chr(int(body[1:], 16)))
        raise _error(_local.state.text, tok.start_pos, f"invalid character {_clip(tok.value)!r}",
                     "expected \\c, \\newline, \\return, \\space, \\tab, \\backspace, "
                     "\\formfeed or \\uXXXX")

    def SYMBOLIC(self, tok: Token) -> float:
        value = _SYMBOLIC.get(tok.value)
        if value is None:
            raise _error(_local.state.text, tok.start_pos,
                         f"unknown symbolic value {_clip(tok.value)!r}",
                         "expected ##Inf, ##-Inf or ##NaN")
        return value


_BUILTIN_READERS = frozenset(BUILTIN_TAGS.values())

# --- the lexer ---------------------------------------------------------------------


class _Token(Token):
    """A lark Token made without Token.__new__'s keyword handling (4x cheaper).

    Only ``type``, ``value`` and ``start_pos`` are set; errors compute line
    and column from ``start_pos``. The lexer fills in the rest on the last
    token, which lark borrows positions from for its end-of-input token.
    """

    __slots__ = ()


class _EdnLexer(Lexer):
    """Lexes with one regex made from edn.lark's own terminals.

    The regex is ``(?:ignored)*+ (?:(?P<NAME>terminal)|...)``: whitespace and
    comments are skipped inside the regex engine, and each token costs one
    ``match`` call. The terminals are pairwise disjoint, so their order in
    the alternation does not matter. On 1,000 small maps (110 kB) a read
    with this lexer takes half the time it takes with lark's contextual one.
    """

    def __init__(self, conf: LexerConf) -> None:
        ignored = [t.pattern.to_regexp() for t in conf.terminals if t.name in conf.ignore]
        tokens = [f"(?P<{t.name}>{t.pattern.to_regexp()})"
                  for t in conf.terminals if t.name not in conf.ignore]
        gap = "(?:" + "|".join(ignored) + ")*+"  # possessive: never backtracks
        self.gap = re.compile(gap)
        self.token = re.compile(gap + "(?:" + "|".join(tokens) + ")")

    def lex(self, text: str) -> Iterator[Token]:  # type: ignore[override]
        match = self.token.match
        new = str.__new__
        max_token = _local.state.max_token
        pos = 0
        tok = None
        while True:
            m = match(text, pos)
            if m is None:
                break
            kind = m.lastgroup or ""  # every alternative is a named group
            start, end = m.span(kind)
            if end - start > max_token:
                _too_long(text, start, end - start, max_token)
            # a string token holds its body only: one copy fewer of a big literal
            value = text[start + 1:end - 1] if kind == "STRING" else text[start:end]
            tok = new(_Token, value)
            tok.type = kind
            tok.value = value
            tok.start_pos = start
            pos = m.end()
            yield tok
        end = self.gap.match(text, pos).end()  # type: ignore[union-attr]
        if end < len(text):
            raise _lexer_error(text, end)
        if tok is not None:
            tok.line = tok.column = tok.end_line = tok.end_column = tok.end_pos = None


_PARSER = Lark(
    files("fact_store.edn").joinpath("edn.lark").read_text(encoding="utf-8"),  # package data
    parser="lalr",
    lexer=_EdnLexer,
    start=["start_one", "start_all"],
    transformer=_EdnTransformer(),
)

# --- the API ----------------------------------------------------------------------


def read(text: str, tags: Mapping[str, TagReader] | None = None,
         max_depth: int = DEFAULT_MAX_DEPTH, *, max_chars: int = DEFAULT_MAX_CHARS,
         max_token: int = DEFAULT_MAX_TOKEN, max_items: int = DEFAULT_MAX_ITEMS) -> Any:
    """Read the one EDN form in ``text``.

    ``tags`` maps a tag (``"my/tag"``, without the ``#``) to a function of the
    tagged value; it may also override ``inst``, ``uuid`` and ``bytes``. An
    unknown tag is an error. Runtime complexity: O(len(text)).

    >>> read('[:find ?e :where [?e :job/status :unstarted]]')
    (Keyword(':find'), Symbol('?e'), Keyword(':where'), (Symbol('?e'), Keyword(':job/status'), Keyword(':unstarted')))
    >>> read('{:id #uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", :tags #{"a"}, :n 42N} ; note')
    {Keyword(':id'): UUID('f81d4fae-7dec-11d0-a765-00a0c91e6bf6'), Keyword(':tags'): frozenset({'a'}), Keyword(':n'): BigInt(42)}
    >>> read('#inst "2024-01-31T10:30:00.5+01:00"')
    datetime.datetime(2024, 1, 31, 9, 30, 0, 500000, tzinfo=datetime.timezone.utc)
    >>> read('#point [1 2]', tags={"point": lambda v: complex(*v)})
    (1+2j)
    >>> read('[1 2')
    Traceback (most recent call last):
    ...
    fact_store.errors.EdnSyntaxError: unexpected end of input at line 1, column 5: expected ']' to close the '[' at line 1, column 1:
      [1 2
          ^

    :raises EdnSyntaxError: the text is not exactly one EDN form; ``line`` and
        ``column`` (1-based) say where, the message shows the line with a caret.
    Memory: a read holds the text, the values it builds and at most about one
    more copy of the largest token; it keeps no per-character state, so a
    large string literal costs about twice its size (``benchmarks/bench_edn.py``).
    The limits are checked while reading, before anything of that size is built:
    ``max_chars`` characters of text, ``max_token`` characters in one token
    (string literal, symbol, keyword, number), ``max_items`` forms in one
    collection (checked every 4,096 forms).

    :raises LimitExceeded: collections nest deeper than ``max_depth``, the text,
        a token or a collection is larger than its limit, or an integer has
        more digits than Python's int-string limit. The message never quotes
        more than a line excerpt of the text.
    :raises TypeError: ``text`` is not a str.
    """
    return _parse(text, "start_one", tags, max_depth, max_chars, max_token, max_items)


def read_all(text: str, tags: Mapping[str, TagReader] | None = None,
             max_depth: int = DEFAULT_MAX_DEPTH, *, max_chars: int = DEFAULT_MAX_CHARS,
             max_token: int = DEFAULT_MAX_TOKEN, max_items: int = DEFAULT_MAX_ITEMS) -> list[Any]:
    """Read every EDN form in ``text``, in order (an empty list for none).

    Same arguments and errors as :func:`read`. Runtime complexity: O(len(text)).

    >>> read_all('1 "two" #_ :dropped (3) ; comment')
    [1, 'two', [3]]
    >>> read_all('  ')
    []
    """
    result: list[Any] = _parse(text, "start_all", tags, max_depth, max_chars, max_token,
                               max_items)
    return result


def _parse(text: str, start: str, tags: Mapping[str, TagReader] | None, max_depth: int,
           max_chars: int = DEFAULT_MAX_CHARS, max_token: int = DEFAULT_MAX_TOKEN,
           max_items: int = DEFAULT_MAX_ITEMS) -> Any:
    if not isinstance(text, str):
        raise TypeError(f"EDN text must be a str, not {type(text).__name__}")
    if len(text) > max_chars:
        raise LimitExceeded(f"EDN text of {len(text)} characters is longer than the limit of "
                            f"{max_chars} (max_chars)", limit="max_chars", max_chars=max_chars,
                            size=len(text))
    own_tags = {k[1:] if k.startswith("#") else k: v for k, v in tags.items()} if tags else {}
    state = _State(text, max_depth, own_tags, max_token, max_items)
    outer = getattr(_local, "state", None)  # a tag reader may itself call read()
    _local.state = state
    try:
        return _PARSER.parse(text, start=start)
    except UnexpectedToken as exc:
        raise _parser_error(state, exc, start) from exc
    except UnexpectedInput as exc:  # pragma: no cover - LALR with our lexer raises only that
        raise _error(text, len(text), "unexpected input", str(exc)) from exc
    finally:
        _local.state = outer


# --- errors ------------------------------------------------------------------------------

_VALUE_STARTS = {"_LSQB", "_LPAR", "LBRACE", "HASH_LBRACE", "STRING", "NUMBER", "SYMBOL",
                 "KEYWORD", "CHAR", "SYMBOLIC", "TAG", "_DISCARD"}
_SHOWN_CLOSERS = {"_RSQB": "']'", "_RPAR": "')'", "_RBRACE": "'}'"}
_OPENER_OF = {"]": "[", ")": "(", "}": "{"}


def _parser_error(state: _State, exc: UnexpectedToken, start: str) -> EdnSyntaxError:
    text = state.text
    expected = exc.expected or set()
    wanted = [_SHOWN_CLOSERS[name] for name in sorted(expected) if name in _SHOWN_CLOSERS]
    if expected & _VALUE_STARTS - {"_DISCARD"}:
        wanted.insert(0, "a value")
    if "$END" in expected:
        wanted.append("end of input")
    hint = "expected " + " or ".join(wanted) if wanted else ""
    token = exc.token
    opener = state.open[-1] if state.open else None
    closer = _CLOSER_OF[opener.type] if opener is not None else None
    if token.type == "$END":
        if opener is not None:
            hint = (f"expected {closer!r} to close the {opener.value!r} "
                    f"at {_where(text, opener.start_pos)}")
        return _error(text, len(text.rstrip()), "unexpected end of input", hint)
    if token.type in _SHOWN_CLOSERS:
        if opener is None:
            hint = f"there is no open {_OPENER_OF[token.value]!r} to close"
        elif token.value != closer:
            hint = (f"expected {closer!r} to close the {opener.value!r} "
                    f"at {_where(text, opener.start_pos)}")
    elif start == "start_one" and wanted == ["end of input"]:
        hint += " (read() takes one form; read_all() reads several)"
    shown = f'"{_clip(token.value)}"' if token.type == "STRING" else repr(_clip(token.value))
    return _error(text, token.start_pos, f"unexpected {shown}", hint)


def _lexer_error(text: str, pos: int) -> EdnSyntaxError:
    char = text[pos]
    if char == '"':
        return _error(text, pos, "unterminated string", 'expected a closing \'"\'')
    if char == "\\":
        return _error(text, pos, "unexpected '\\'",
                      "a character literal is \\c, \\newline, \\space, \\tab, \\return or \\uXXXX")
    if char == "#":
        return _error(text, pos, "unexpected '#'",
                      "expected a tag such as #inst, or #{, #_, ##Inf, ##-Inf, ##NaN")
    return _error(text, pos, f"unexpected character {char!r}", "")  # pragma: no cover - see edn.lark


_UNESCAPE_PIECES = 4096


def _unescape(body: str, offset: int) -> str:
    """Replace a string's escapes; ``offset`` is the body's position in the text.

    The pieces are joined every 4,096 escapes, so a string of many escapes never
    holds a list of one object per character (``re.sub`` would: 8x the input).
    """
    chunks: list[str] = []
    pieces: list[str] = []
    pos = 0
    for m in _ESCAPE_RE.finditer(body):
        high, low, hex4, other = m.groups()
        if high is not None:
            c = chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
        elif hex4 is not None:
            c = chr(int(hex4, 16))
        elif other in _STRING_ESCAPES:
            c = _STRING_ESCAPES[other]
        else:
            raise _error(_local.state.text, offset + m.start(),
                         f"invalid escape {_clip(m.group())!r} in a string",
                         "expected \\t \\r \\n \\b \\f \\\\ \\\" or \\u followed by 4 hex digits")
        pieces.append(body[pos:m.start()])
        pieces.append(c)
        pos = m.end()
        if len(pieces) >= _UNESCAPE_PIECES:
            chunks.append("".join(pieces))
            pieces.clear()
    pieces.append(body[pos:])
    chunks.append("".join(pieces))
    return "".join(chunks) if len(chunks) > 1 else chunks[0]


def _too_long(text: str, start: int, size: int, limit: int) -> None:
    line, column = _line_column(text, start)
    raise LimitExceeded(f"a token of {size} characters at line {line}, column {column} is "
                        f"longer than the limit of {limit} (max_token):\n{_excerpt(text, start)}",
                        limit="max_token", max_token=limit, size=size, line=line, column=column)


def _too_many(n: int) -> None:
    state = _local.state
    opener = state.open[-1] if state.open else None
    where = f" opened at {_where(state.text, opener.start_pos)}" if opener is not None else ""
    raise LimitExceeded(f"a collection{where} holds more than {state.max_items} forms "
                        f"({n} read so far; max_items)", limit="max_items",
                        max_items=state.max_items)


def _unhashable(opener: Token, candidates: list[Any], role: str, exc: Exception) -> EdnSyntaxError:
    bad = next((c for c in candidates if not _hashable(c)), _hashable)
    if bad is _hashable:  # all hashable: a tag reader's value whose __eq__ failed
        return _error(_local.state.text, opener.start_pos, f"cannot compare {role}s",
                      f"{type(exc).__name__}: {exc}")
    return _error(_local.state.text, opener.start_pos,
                  f"{_show(bad)} cannot be a {role}",
                  "its value is unhashable in Python")


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except Exception:
        return False
    return True


def _collision(opener: Token, candidates: list[Any], role: str, kind: str) -> EdnSyntaxError:
    text = _local.state.text
    try:
        seen: dict[Any, Any] = {}
        for value in candidates:
            if value in seen:
                first = seen[value]
                break
            seen[value] = value
        same = _same(first, value)
    except Exception:  # pragma: no cover - a tag value whose __eq__ fails only now
        return _error(text, opener.start_pos, f"duplicate {role} in a {kind}", "")
    if same:
        return _error(text, opener.start_pos, f"duplicate {role} {_show(value)} in a {kind}", "")
    return _error(text, opener.start_pos,
                  f"{role}s {_show(first)} and {_show(value)} of a {kind} are distinct in EDN "
                  f"but equal in Python",
                  "1 == 1.0 == true, and a keyword, symbol or character equals the string "
                  "of its text, so one Python " + ("dict" if kind == "map" else "frozenset")
                  + " cannot hold both")


_KINDS = {BigInt: int, FrozenMap: dict, FrozenList: list}


def _kind(value: Any) -> type:
    t = type(value)
    return _KINDS.get(t, t)


def _same(a: Any, b: Any) -> bool:
    """EDN equality: like ``==`` but type-exact (``1`` is not ``1.0``); 1 is 1N."""
    if _kind(a) is not _kind(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, frozenset):
        return len(a) == len(b) and all(any(_same(x, y) for y in b) for x in a)
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            any(_same(k, k2) and _same(v, v2) for k2, v2 in b.items()) for k, v in a.items())
    if isinstance(a, Tagged):
        return a.tag == b.tag and _same(a.value, b.value)
    return bool(a == b)


def _line_column(text: str, pos: int | None) -> tuple[int, int]:
    pos = pos or 0  # lark types a token's start_pos as optional; the lexer always sets it
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _where(text: str, pos: int | None) -> str:
    line, column = _line_column(text, pos)
    return f"line {line}, column {column}"


_EXCERPT_SPAN = 40


def _excerpt(text: str, pos: int | None) -> str:
    """The line holding ``pos``, indented, and a caret under ``pos`` (LK's get_context)."""
    pos = pos or 0
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    if end < 0:
        end = len(text)
    left = max(start, pos - _EXCERPT_SPAN)
    right = min(end, pos + _EXCERPT_SPAN)
    before = text[left:pos]
    line = ("..." if left > start else "") + before + text[pos:right] + ("..." if right < end else "")
    pad = ("   " if left > start else "") + "".join(c if c == "\t" else " " for c in before)
    return f"  {line.rstrip(chr(13))}\n  {pad}^"


def _error(text: str, pos: int | None, what: str, hint: str) -> EdnSyntaxError:
    line, column = _line_column(text, pos)
    context = _excerpt(text, pos)
    message = f"{what} at line {line}, column {column}{': ' + hint if hint else ''}:\n{context}"
    return EdnSyntaxError(message, line=line, column=column, context=context)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _show(value: Any) -> str:
    """A short EDN rendering of ``value`` for messages."""
    if isinstance(value, (str, bytes)) and len(value) > 60:
        value = value[:60]  # never render megabytes to show 60 characters
    elif isinstance(value, (tuple, list)) and len(value) > 10:
        value = type(value)(value[:10])
    elif isinstance(value, (dict, frozenset)) and len(value) > 10:
        return f"<{'map' if isinstance(value, dict) else 'set'} of {len(value)}>"
    try:
        shown = write(value)
    except Exception:  # a tag reader's value may have no EDN form
        try:
            shown = repr(value)
        except Exception:  # or no working repr
            shown = f"<{type(value).__name__}>"
    return _clip(shown, 60)
