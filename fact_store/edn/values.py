"""Keyword, Symbol, Tagged, DbId, FrozenMap, FrozenList: frozen, hashable values the reader produces.

A :class:`Keyword` is a ``str`` whose text is the EDN text, colon included,
so a plain string works wherever a keyword is expected:

>>> k = Keyword("job/status")
>>> k, k.namespace, k.name, k == ":job/status"
(Keyword(':job/status'), 'job', 'status', True)
>>> {k: 1}[":job/status"]
1
>>> Symbol("?e"), Symbol("clojure.string/blank?").name
(Symbol('?e'), 'blank?')
"""

from __future__ import annotations

import re
from typing import Any


DEFAULT_MAX_DEPTH = 256
"""How deeply collections may nest before :class:`LimitExceeded` is raised."""

# --- the text of keywords and symbols (the reader validates, the writer checks) ---

# A symbol's name or namespace: EDN's constituent characters (plus any Unicode
# letter); `.`, `+`, `-` may start one only if no digit follows.
_SEGMENT = r"(?:[.+\-](?![0-9])|[^\W\d]|[*!?$%&=<>])[\w*!?$%&=<>.+\-:#]*"
_SYMBOL_RE = re.compile(rf"/|{_SEGMENT}(?:/{_SEGMENT})?")
# A keyword's body: as a symbol's, but a segment may also start with a digit.
_KW_SEGMENT = r"[\w*!?$%&=<>.+\-][\w*!?$%&=<>.+\-:#]*"
_KEYWORD_RE = re.compile(rf":{_KW_SEGMENT}(?:/{_KW_SEGMENT})?")


def is_symbol_text(text: str) -> bool:
    """True if ``text`` is a valid EDN symbol that reads back as a Symbol.

    >>> is_symbol_text("?e"), is_symbol_text("clojure.string/blank?"), is_symbol_text("1a")
    (True, True, False)
    >>> is_symbol_text("nil")  # reads as None
    False
    """
    return (_SYMBOL_RE.fullmatch(text) is not None and text not in ("nil", "true", "false")
            and "::" not in text and not text.endswith(":"))


def is_keyword_text(text: str) -> bool:
    """True if ``text`` (colon included) is a valid EDN keyword.

    >>> is_keyword_text(":job/status"), is_keyword_text(":a b"), is_keyword_text("::a")
    (True, False, False)
    """
    return (_KEYWORD_RE.fullmatch(text) is not None
            and "::" not in text and not text.endswith(":"))


class Keyword(str):
    """An EDN keyword. ``Keyword("a/b") == Keyword(":a/b") == ":a/b"``."""

    __slots__ = ()

    def __new__(cls, text: str) -> "Keyword":
        if type(text) is Keyword:
            return text
        if not text.startswith(":"):
            text = ":" + text
        return str.__new__(cls, text)

    @property
    def namespace(self) -> str | None:
        body = str.__getitem__(self, slice(1, None))
        i = body.find("/")
        return body[:i] if i > 0 else None

    @property
    def name(self) -> str:
        body = str.__getitem__(self, slice(1, None))
        i = body.find("/")
        return body[i + 1:] if i > 0 else body

    def __repr__(self) -> str:
        return f"Keyword({str.__repr__(self)})"

    def __reduce__(self) -> Any:
        return (Keyword, (str(self),))


class Symbol(str):
    """An EDN symbol such as ``?e``, ``$``, ``...`` or ``clojure.string/blank?``."""

    __slots__ = ()

    def __new__(cls, text: str) -> "Symbol":
        if type(text) is Symbol:
            return text
        return str.__new__(cls, text)

    @property
    def namespace(self) -> str | None:
        i = self.find("/")
        return str(self)[:i] if i > 0 else None

    @property
    def name(self) -> str:
        i = self.find("/")
        return str(self)[i + 1:] if i > 0 else str(self)

    def __repr__(self) -> str:
        return f"Symbol({str.__repr__(self)})"

    def __reduce__(self) -> Any:
        return (Symbol, (str(self),))


class Char(str):
    """An EDN character literal (``\\a``, ``\\newline``): a one-character str."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Char({str.__repr__(self)})"


class Tagged:
    """A tagged literal the reader was told to keep as data (``#my/tag value``)."""

    __slots__ = ("tag", "value")
    tag: str
    value: Any

    def __init__(self, tag: str, value: Any) -> None:
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Tagged is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tagged) and (self.tag, self.value) == (other.tag, other.value)

    def __hash__(self) -> int:
        return hash((self.tag, self.value))

    def __repr__(self) -> str:
        return f"Tagged({self.tag!r}, {self.value!r})"


class DbId:
    """A ``#db/id [:db.part/user -1]`` literal: Datomic's old tempid, a partition and a negative index.

    ``#db/id [:db.part/user]`` (no index) reads as a fresh index each time it is read, as in
    Datomic, so two such literals name two new entities. Partitions are kept only to write the
    literal back (every entity id comes from one counter); ``:db.part/tx`` names the transaction.

    >>> DbId(":db.part/user", -1), DbId(":db.part/user", -1) == DbId("db.part/user", -1)
    (DbId(':db.part/user', -1), True)
    """

    __slots__ = ("part", "idx")
    part: Keyword
    idx: int

    def __init__(self, part: str, idx: int) -> None:
        object.__setattr__(self, "part", Keyword(part))
        object.__setattr__(self, "idx", idx)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("DbId is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DbId) and (self.part, self.idx) == (other.part, other.idx)

    def __hash__(self) -> int:
        return hash((DbId, self.part, self.idx))

    def __repr__(self) -> str:
        return f"DbId({str.__repr__(self.part)}, {self.idx})"

    def __reduce__(self) -> Any:
        return (DbId, (str(self.part), self.idx))


def _immutable(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise TypeError(f"{type(self).__name__} is immutable")


class FrozenMap(dict):  # type: ignore[type-arg]
    """An immutable, hashable EDN map: how the reader gives a map inside a set or a map key.

    EDN lets a set hold maps and a map have maps or vectors as keys; a Python
    ``dict`` cannot be hashed, so those maps are read as ``FrozenMap``. It is a
    ``dict`` (equal to a plain dict with the same items, written back as ``{…}``)
    whose keys and values are made hashable too (:func:`freeze`); changing it is refused.

    >>> m = FrozenMap({Keyword(":a"): 1})
    >>> m == {":a": 1}, m in {FrozenMap({":a": 1})}, isinstance(m, dict)
    (True, True, True)
    >>> m[":b"] = 2
    Traceback (most recent call last):
    ...
    TypeError: FrozenMap is immutable
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        dict.__init__(self, {freeze(k): freeze(v) for k, v in dict(*args, **kwargs).items()})

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _immutable

    def __repr__(self) -> str:
        return f"FrozenMap({dict.__repr__(self)})"

    def __reduce__(self) -> Any:
        return (FrozenMap, (dict(self),))


class FrozenList(list):  # type: ignore[type-arg]
    """An immutable, hashable EDN list ``(1 2)``: how the reader gives a list inside a set or key.

    A ``list``, equal to a plain list with the same items; only changing it is refused.

    >>> FrozenList([1, 2]) == [1, 2], hash(FrozenList([1, 2])) == hash(FrozenList([1, 2]))
    (True, True)
    """

    __slots__ = ()

    def __init__(self, items: Any = ()) -> None:
        list.__init__(self, [freeze(x) for x in items])

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def __eq__(self, other: object) -> bool:
        # EDN's sequential equality: [1] and (1) are the same value (a list reads as a tuple),
        # so a set or map holding both has a duplicate
        if isinstance(other, tuple):
            return tuple(self) == other
        return list.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _immutable
    append = extend = insert = remove = pop = clear = sort = reverse = _immutable

    def __repr__(self) -> str:
        return f"FrozenList({list.__repr__(self)})"

    def __reduce__(self) -> Any:
        return (FrozenList, (list(self),))


def freeze(value: Any) -> Any:
    """``value`` with every dict and list in it (through vectors, sets and maps) made hashable.

    Values without a dict or list come back as they are (the same object).

    >>> freeze((1, {":a": [2]}))
    (1, FrozenMap({':a': FrozenList([2])}))
    """
    t = type(value)
    if t is dict:
        return FrozenMap(value)
    if t is list:
        return FrozenList(value)
    if t is tuple:
        items = tuple(freeze(x) for x in value)
        return value if all(a is b for a, b in zip(items, value)) else items
    return value


class BigInt(int):
    """An integer written with the ``N`` suffix (``1N``): EDN's arbitrary precision."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"BigInt({int(self)})"


def kw(text: str) -> Keyword:
    """Shorthand for :class:`Keyword`.

    >>> kw(":db/id")
    Keyword(':db/id')
    """
    return Keyword(text)
