"""Pull pattern → PullSpec (cached).

A pull pattern is EDN *data* (or EDN text, read first). :func:`parse_pattern`
turns it into a :class:`PullSpec`, a tree of frozen dataclasses that knows
nothing of any database: attribute names stay keywords here and are resolved
to attribute ids by :mod:`fact_store.pull.execute`, once per spec and schema.
Each dataclass carries, as a comment, the productions of Datomic's pull
grammar it represents (DataScript's ``parser.cljc`` does the same)::

    pattern            = [attr-spec+]
    attr-spec          = attr-name | wildcard | map-spec | attr-expr
    attr-name          = an edn keyword that names an attr
    wildcard           = "*" or '*'
    map-spec           = { ((attr-name | attr-expr) (pattern | recursion-limit))+ }
    attr-expr          = [attr-name attr-option+] | legacy-attr-expr
    attr-option        = :as any-value | :limit (positive-number | nil)
                       | :default any-value | :xform symbol
    recursion-limit    = positive-number | '...'
    legacy-attr-expr   = legacy-limit-expr | legacy-default-expr
    legacy-limit-expr  = [("limit" | 'limit') attr-name (positive-number | nil)]
    legacy-default-expr = [("default" | 'default') attr-name any-value]

(``[]`` there means a vector or a list.) Python spellings are accepted too:
attribute names as plain strings with or without the colon (``"person/name"``),
``"*"`` for the wildcard and ``...`` (Ellipsis) or ``"..."`` for unbounded
recursion.

Parsed specs are cached: EDN text by the text itself, data by a frozen copy
that keeps every value's type (so ``:default 1`` and ``:default true`` never
share an entry). A malformed pattern raises :class:`QuerySyntaxError` naming
the offending form; a pattern nested deeper than :data:`MAX_PATTERN_DEPTH`
raises :class:`LimitExceeded`.

>>> spec = parse_pattern('[:person/name {:person/follows [:person/age]} [:person/alias :limit 2]]')
>>> [a.key for a in spec.attrs]
[Keyword(':person/name'), Keyword(':person/follows'), Keyword(':person/alias')]
>>> spec.attrs[1].pattern.attrs[0].attr, spec.attrs[2].limit
(Keyword(':person/age'), 2)
>>> parse_pattern('[:person/name]') is parse_pattern('[:person/name]')
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, cast

from fact_store.edn.reader import read as read_edn
from fact_store.edn.values import Keyword, Symbol
from fact_store.errors import LimitExceeded, QueryError, QuerySyntaxError

#: Datomic's default ``:limit`` for cardinality-many and reverse attributes.
DEFAULT_LIMIT = 1000

#: Patterns nested deeper than this raise LimitExceeded (the parser recurses
#: once per level; this keeps it far below Python's recursion limit).
MAX_PATTERN_DEPTH = 64

#: Cache bound: when full, the older half is dropped (no per-hit bookkeeping).
CACHE_SIZE = 2048

DB_ID = Keyword(":db/id")

#: name -> callable; filled by :func:`fact_store.pull.register_xform`. Pattern
#: text can only *name* a function in this table: nothing is ever evaluated.
XFORMS: dict[str, Any] = {}


# ;; recursion-limit = positive-number | '...'
@dataclass(frozen=True, slots=True)
class RecursionLimit:
    """How deep a recursive map-spec entry goes: ``depth`` levels, or None for ``...``."""

    depth: int | None


# ;; attr-spec        = attr-name | map-spec | attr-expr
# ;; attr-name        = an edn keyword that names an attr   (:a/_b is the reverse of :a/b)
# ;; attr-expr        = [attr-name attr-option+] | legacy-attr-expr
# ;; attr-option      = :as any-value | :limit (positive-number | nil)
# ;;                  | :default any-value | :xform symbol
# ;; legacy-attr-expr = [("limit" | 'limit') attr-name (positive-number | nil)]
# ;;                  | [("default" | 'default') attr-name any-value]
# ;; map-spec entry   = (attr-name | attr-expr) (pattern | recursion-limit)
@dataclass(frozen=True, slots=True)
class PullAttr:
    """One selected attribute with its options.

    ``name`` is the keyword as written (``:a/_b`` for a reverse ref), ``attr``
    the attribute it reads (``:a/b``), ``key`` the key of the result map (the
    ``:as`` alias, else ``name``). ``limit`` is an int or None (unlimited) and
    only applies to cardinality-many and reverse attributes; ``default`` None
    means no default. ``pattern`` is the sub-pattern of a map-spec entry and
    ``recursion`` its recursion limit; at most one of them is set.
    """

    name: Keyword
    attr: Keyword
    reverse: bool = False
    key: Any = None
    limit: int | None = DEFAULT_LIMIT
    default: Any = None
    xform: str | None = None
    pattern: "PullSpec | None" = None
    recursion: RecursionLimit | None = None

    @property
    def is_db_id(self) -> bool:
        return self.attr == DB_ID


# ;; pattern   = [attr-spec+]
# ;; attr-spec = attr-name | wildcard | map-spec | attr-expr
# ;; wildcard  = "*" or '*'
@dataclass(frozen=True, slots=True)
class PullSpec:
    """A parsed pull pattern: the selected attributes in pattern order, and the wildcard flag.

    A map-spec with several entries contributes one :class:`PullAttr` per entry.
    """

    attrs: tuple[PullAttr, ...]
    wildcard: bool = False


# --- helpers ------------------------------------------------------------------

def show(form: Any) -> str:
    """``form`` as EDN-like text, for error messages.

    >>> show((Keyword(":a"), [Symbol("limit"), 1, None], {Keyword(":b"): "x"}))
    '[:a (limit 1 nil) {:b "x"}]'
    """
    if form is None:
        return "nil"
    if form is True:
        return "true"
    if form is False:
        return "false"
    if form is Ellipsis:
        return "..."
    if isinstance(form, (Keyword, Symbol)):
        return str.__str__(form)
    if isinstance(form, str):
        return '"' + form.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(form, tuple):
        return "[" + " ".join(show(x) for x in form) + "]"
    if isinstance(form, list):
        return "(" + " ".join(show(x) for x in form) + ")"
    if isinstance(form, dict):
        return "{" + ", ".join(f"{show(k)} {show(v)}" for k, v in form.items()) + "}"
    if isinstance(form, (set, frozenset)):
        return "#{" + " ".join(show(x) for x in form) + "}"
    return repr(form)


def _syntax(expected: str, form: Any, where: Any = None) -> QuerySyntaxError:
    got = show(form)
    msg = f"pull pattern: expected {expected}, got {got}"
    if where is not None and where is not form:
        msg += f" in {show(where)}"
    return QuerySyntaxError(msg, form=form, expected=expected)


def _is_seq(x: Any) -> bool:
    return type(x) is tuple or type(x) is list or (
        isinstance(x, (tuple, list)) and not isinstance(x, str))


def _is_positive_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x > 0


def _attr_name(form: Any) -> tuple[Keyword, Keyword, bool] | None:
    """(name, attr, reverse) for an attribute name, else None."""
    if isinstance(form, Symbol) or not isinstance(form, str):
        return None
    name = Keyword(form)
    body = str.__getitem__(name, slice(1, None))
    if not body or body in ("*", "...") or any(c.isspace() for c in body):
        return None
    slash = body.find("/")
    if slash == 0 or body.endswith("/"):
        return None
    local = body[slash + 1:] if slash > 0 else body
    if local.startswith("_") and len(local) > 1:
        attr = Keyword(body[:slash + 1] + local[1:] if slash > 0 else local[1:])
        return name, attr, True
    return name, name, False


def _is_wildcard(form: Any) -> bool:
    return isinstance(form, str) and str.__str__(form) in ("*", ":*")


def _recursion_limit(form: Any) -> RecursionLimit | None:
    if form is Ellipsis or (isinstance(form, str) and not isinstance(form, Keyword)
                            and str.__str__(form) == "..."):
        return RecursionLimit(None)
    if _is_positive_int(form):
        return RecursionLimit(form)
    return None


def _limit_value(value: Any, where: Any) -> int | None:
    if value is None:
        return None
    if _is_positive_int(value):
        return cast(int, value)
    raise _syntax(":limit to be a positive integer or nil", value, where)


def _xform_name(value: Any, where: Any) -> str:
    if not isinstance(value, str) or isinstance(value, Keyword):
        raise _syntax(":xform to be a symbol naming a registered function", value, where)
    name = str.__str__(value)
    if name not in XFORMS:
        raise QueryError(
            f"pull pattern: unknown :xform function {name} in {show(where)}; "
            "register it with fact_store.pull.register_xform(name, fn)",
            form=where, xform=name)
    return name


def _check_key(value: Any, where: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise _syntax(":as to be a hashable value (a keyword, string, number or vector)",
                      value, where) from None
    return value


_OPTIONS = (":as", ":limit", ":default", ":xform")


def _legacy_marker(x: Any) -> str | None:
    if isinstance(x, str) and not isinstance(x, Keyword):
        text = str.__str__(x)
        if text in ("limit", "default"):
            return text
    return None


def _attr_expr(form: Any) -> PullAttr:
    """Parse ``[attr-name attr-option+]`` or a legacy ``(limit ...)``/``(default ...)`` form."""
    items = list(form)
    marker = _legacy_marker(items[0]) if items else None
    if marker is not None:
        if len(items) != 3:
            expected = ("(limit attr-name (positive-number | nil))" if marker == "limit"
                        else "(default attr-name any-value)")
            raise _syntax(expected, form)
        parsed = _attr_name(items[1])
        if parsed is None:
            raise _syntax("an attribute name (a keyword)", items[1], form)
        name, attr, reverse = parsed
        if marker == "limit":
            return PullAttr(name, attr, reverse, name, limit=_limit_value(items[2], form))
        return PullAttr(name, attr, reverse, name, default=items[2])
    if not items:
        raise _syntax("[attr-name attr-option+]", form)
    parsed = _attr_name(items[0])
    if parsed is None:
        raise _syntax("an attribute name (a keyword) first in [attr-name attr-option+]",
                      items[0], form)
    name, attr, reverse = parsed
    if len(items) < 3 or len(items) % 2 == 0:
        raise _syntax("[attr-name attr-option+] with options :as, :limit, :default or :xform"
                      " each followed by a value", form)
    key: Any = name
    limit: int | None = DEFAULT_LIMIT
    default: Any = None
    xform: str | None = None
    seen: set[str] = set()
    for i in range(1, len(items), 2):
        opt, value = items[i], items[i + 1]
        if not isinstance(opt, str) or isinstance(opt, Symbol):
            raise _syntax("an attribute option (:as, :limit, :default or :xform)", opt, form)
        option = str.__str__(Keyword(opt))
        if option not in _OPTIONS:
            raise _syntax("an attribute option (:as, :limit, :default or :xform)", opt, form)
        if option in seen:
            raise _syntax(f"each option once, but {option} is repeated", form)
        seen.add(option)
        if option == ":as":
            key = _check_key(value, form)
        elif option == ":limit":
            limit = _limit_value(value, form)
        elif option == ":default":
            default = value
        else:
            xform = _xform_name(value, form)
    return PullAttr(name, attr, reverse, key, limit, default, xform)


def _attr_spec(form: Any, depth: int, out: list[PullAttr]) -> bool:
    """Append the PullAttrs of one attr-spec to ``out``; return True for the wildcard."""
    if _is_wildcard(form):
        return True
    parsed = _attr_name(form)
    if parsed is not None:
        name, attr, reverse = parsed
        out.append(PullAttr(name, attr, reverse, name))
        return False
    if isinstance(form, dict):
        if not form:
            raise _syntax("map-spec {(attr-name | attr-expr) (pattern | recursion-limit)}", form)
        for k, v in form.items():
            if _is_seq(k):
                base = _attr_expr(k)
            else:
                p = _attr_name(k)
                if p is None:
                    raise _syntax("an attribute name or attr-expr as map-spec key", k, form)
                base = PullAttr(p[0], p[1], p[2], p[0])
            if base.attr == DB_ID:
                raise _syntax("a ref attribute as map-spec key (:db/id has no sub-pattern)", k,
                              form)
            rec = _recursion_limit(v)
            if rec is not None:
                out.append(replace(base, recursion=rec))
            elif _is_seq(v):
                out.append(replace(base, pattern=_pattern(v, depth + 1)))
            else:
                raise _syntax("a pattern or recursion limit (positive integer or ...)"
                              " as map-spec value", v, form)
        return False
    if _is_seq(form):
        out.append(_attr_expr(form))
        return False
    raise _syntax("attr-name, wildcard, map-spec or attr-expr", form)


def _pattern(form: Any, depth: int) -> PullSpec:
    if depth > MAX_PATTERN_DEPTH:
        raise LimitExceeded(f"pull pattern nested deeper than {MAX_PATTERN_DEPTH} levels",
                            limit=MAX_PATTERN_DEPTH)
    if not _is_seq(form) or not form:
        raise _syntax("a pattern [attr-spec+]", form)
    attrs: list[PullAttr] = []
    wildcard = False
    for spec in form:
        if _attr_spec(spec, depth, attrs):
            wildcard = True
    return PullSpec(tuple(attrs), wildcard)


# --- cache --------------------------------------------------------------------

_TEXT_CACHE: dict[str, PullSpec] = {}
_DATA_CACHE: dict[Any, PullSpec] = {}


def _freeze(x: Any) -> Any:
    """A hashable copy of pattern data that keeps every value's type."""
    t = type(x)
    if t is tuple or t is list:
        return (t, tuple(_freeze(i) for i in x))
    if t is dict:
        return (t, tuple((_freeze(k), _freeze(v)) for k, v in x.items()))
    if t is float and math.isnan(x):
        raise TypeError("NaN never equals itself")
    hash(x)
    return (t, x)


def _remember(cache: dict[Any, PullSpec], key: Any, spec: PullSpec) -> None:
    if len(cache) >= CACHE_SIZE:
        for old in list(cache)[: CACHE_SIZE // 2]:
            cache.pop(old, None)  # another thread may have dropped it already
    cache[key] = spec


def parse_pattern(pattern: Any) -> PullSpec:
    """Parse a pull pattern (EDN text, read data, or a PullSpec) into a :class:`PullSpec`.

    The result is cached: parsing the same text again costs one dict lookup.
    Runtime complexity: O(size of the pattern) on a miss, O(1) for cached text.

    >>> parse_pattern("[* {:a/b [:db/id]}]").wildcard
    True
    >>> parse_pattern("[(limit :a/b 5)]").attrs[0].limit
    5
    >>> parse_pattern("[:a/b 42]")
    Traceback (most recent call last):
    ...
    fact_store.errors.QuerySyntaxError: pull pattern: expected attr-name, wildcard, map-spec or attr-expr, got 42

    :raises QuerySyntaxError: a malformed pattern; the message names the bad form.
    :raises QueryError: an ``:xform`` naming an unregistered function.
    :raises LimitExceeded: a pattern nested deeper than MAX_PATTERN_DEPTH.
    :raises EdnSyntaxError: text that is not EDN.
    """
    if type(pattern) is PullSpec:
        return pattern
    if isinstance(pattern, str) and not isinstance(pattern, (Keyword, Symbol)):
        spec = _TEXT_CACHE.get(pattern)
        if spec is None:
            spec = _pattern(read_edn(pattern), 1)
            _remember(_TEXT_CACHE, pattern, spec)
        return spec
    try:
        key = _freeze(pattern)
    except TypeError:
        return _pattern(pattern, 1)
    spec = _DATA_CACHE.get(key)
    if spec is None:
        spec = _pattern(pattern, 1)
        _remember(_DATA_CACHE, key, spec)
    return spec
