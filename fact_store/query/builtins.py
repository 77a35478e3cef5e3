"""The fixed table of predicates and aggregates that queries may call.

A function symbol in query text resolves *only* here: in :data:`FUNCTIONS`
(built-ins), then in the functions the application registered with
:func:`register_query_fn`.  Nothing is ever looked up on a module, in
globals, or with ``eval``/``getattr``, so query text cannot run arbitrary Python.
Aggregates likewise resolve in :data:`AGGREGATES` then :func:`register_aggregate`.

Values follow Clojure's rules where Python's differ: only ``None`` and
``False`` are falsey (``0`` and ``""`` are true), ``(= 1 1.0)`` is false,
``(str nil)`` is ``""`` and ``(str :a)`` is ``":a"``.

>>> FUNCTIONS["+"].fn(1, 2, 3), FUNCTIONS["str"].fn("a", None, Keyword(":k"), 1)
(6, 'a:k1')
>>> AGGREGATES["median"].fn([3, 1, 2, 10])
2.5
"""

from __future__ import annotations

import inspect
import math
import operator
import random as _random
import re
import statistics
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable

import re2

from fact_store.edn.values import Keyword, Symbol
from fact_store.errors import QueryError, QueryLimitExceeded
from fact_store.query.forms import show

__all__ = ["Fn", "Agg", "FUNCTIONS", "AGGREGATES", "register_query_fn", "register_aggregate",
           "resolve_fn", "resolve_aggregate", "registry_version", "is_truthy", "MAX_REGEX_LENGTH",
           "MAX_RANGE_LENGTH"]

#: Longest regular expression a query may compile (a bound on compile cost and on
#: the patterns users can smuggle through query text).
MAX_REGEX_LENGTH = 1000

#: Most numbers one ``range`` call may produce (its collection becomes rows).
MAX_RANGE_LENGTH = 1_000_000

#: Longest string ``str``, ``subs``, ``clojure.string/join`` may build (1 MiB, the value limit).
MAX_STRING_LENGTH = 1 << 20


@dataclass(frozen=True, slots=True)
class Fn:
    """A callable a query may use: ``min_args``..``max_args`` (None = variadic)."""

    name: str
    fn: Callable[..., Any]
    min_args: int = 0
    max_args: int | None = None
    needs_source: bool = False     # first argument must be a source ($)
    pure: bool = True


@dataclass(frozen=True, slots=True)
class Agg:
    """An aggregate: ``fn(*constant_args, values)`` with ``n_consts`` leading constants."""

    name: str
    fn: Callable[..., Any]
    min_consts: int = 0
    max_consts: int | None = 0              # None: any number
    needs_rng: bool = False


def is_truthy(x: Any) -> bool:
    """Clojure truthiness: everything but None and False.

    >>> is_truthy(0), is_truthy(""), is_truthy(None), is_truthy(False)
    (True, True, False, False)
    """
    return x is not None and x is not False


# ---------------------------------------------------------------- equality / order

def _num_kind(x: Any) -> int:
    t = type(x)
    if t is bool:
        return 1
    if t is float:
        return 3
    if t is Decimal:
        return 4
    if isinstance(x, (int, Fraction)):
        return 2
    return 0


def clj_eq(a: Any, b: Any) -> bool:
    """Clojure ``=``: ``1`` and ``1.0`` differ, ``True`` is not ``1``.

    >>> clj_eq(1, 1.0), clj_eq(True, 1), clj_eq(Keyword(":a"), ":a"), clj_eq((1, 2), (1, 2))
    (False, False, True, True)
    """
    ka, kb = _num_kind(a), _num_kind(b)
    if ka != kb:
        return False
    return bool(a == b)


def _eq(*xs: Any) -> bool:
    a = xs[0]
    return all(clj_eq(a, b) for b in xs[1:])


def _not_eq(*xs: Any) -> bool:
    return not _eq(*xs)


def _num_eq(*xs: Any) -> bool:
    a = xs[0]
    return all(a == b for b in xs[1:])


def _chain(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def f(*xs: Any) -> bool:
        if len(xs) == 2:
            return op(xs[0], xs[1])
        return all(op(xs[i], xs[i + 1]) for i in range(len(xs) - 1))
    return f


def _compare(a: Any, b: Any) -> int:
    a, b = order_key(a), order_key(b)   # keywords and symbols: namespace, then name
    return -1 if a < b else (1 if a > b else 0)


# ---------------------------------------------------------------- arithmetic

#: Largest integer query arithmetic may produce: 4,000 decimal digits, as a stored bigint.
#: Without it a recursive rule that squares a number does work that doubles every step,
#: and one step can outlast the query's deadline.
MAX_INT_DIGITS = 4_000
_INT_BOUND: int = 10 ** MAX_INT_DIGITS
_MAX_INT_BITS = _INT_BOUND.bit_length()


def _too_big(i: int) -> bool:
    n = i.bit_length()
    return n > _MAX_INT_BITS or (n == _MAX_INT_BITS and abs(i) >= _INT_BOUND)


def _num(x: Any) -> Any:
    """``x``, refusing integers (and fractions) grown past :data:`MAX_INT_DIGITS`."""
    t = type(x)
    if t is int:
        big = _too_big(x)
    elif t is Fraction:
        big = _too_big(x.numerator) or _too_big(x.denominator)
    else:
        return x
    if big:
        raise QueryLimitExceeded(f"Arithmetic produced an integer of more than {MAX_INT_DIGITS} "
                                 "digits, the limit for query arithmetic",
                                 limit=MAX_INT_DIGITS)
    return x


def _add(*xs: Any) -> Any:
    if not xs:
        return 0
    out = xs[0]
    for x in xs[1:]:
        out = _num(out + x)
    return out


def _sub(*xs: Any) -> Any:
    if len(xs) == 1:
        return -xs[0]
    out = xs[0]
    for x in xs[1:]:
        out = _num(out - x)
    return out


def _mul(*xs: Any) -> Any:
    out = 1
    for x in xs:
        out = _num(out * x)
    return out


def _div(*xs: Any) -> Any:
    """Clojure ``/``: exact on integers when it divides, else a float."""
    if len(xs) == 1:
        xs = (1, xs[0])
    out = xs[0]
    for x in xs[1:]:
        if isinstance(out, int) and isinstance(x, int) and not isinstance(x, bool):
            if x == 0:
                raise ZeroDivisionError("Divide by zero")
            out = out // x if out % x == 0 else out / x
        else:
            out = _num(out / x)
    return out


def _quot(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    return float(math.trunc(a / b))


def _rem(a: Any, b: Any) -> Any:
    return a - b * _quot(a, b)


def _mod(a: Any, b: Any) -> Any:
    return a % b


# ---------------------------------------------------------------- strings

def to_str(x: Any) -> str:
    """Clojure ``str`` of one value."""
    if x is None:
        return ""
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, str):
        return str.__str__(x)
    if isinstance(x, float):
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        if math.isnan(x):
            return "NaN"
        return repr(x)
    return str(x)


def _str(*xs: Any) -> str:
    return _capped("".join(to_str(x) for x in xs), "str")


def _capped(s: str, fname: str) -> str:
    if len(s) > MAX_STRING_LENGTH:
        raise QueryLimitExceeded(f"{fname} built a string of {len(s)} characters, more than the "
                                 f"limit of {MAX_STRING_LENGTH}", limit=MAX_STRING_LENGTH)
    return s


def _subs(s: str, start: int, end: int | None = None) -> str:
    if end is None:
        end = len(s)
    if not isinstance(s, str):
        raise TypeError(f"subs needs a string, got {s!r}")
    if not (0 <= start <= end <= len(s)):
        raise IndexError(f"String index out of range: subs {start} {end} of length {len(s)}")
    return s[start:end]


def _range(*args: Any) -> Any:
    """Clojure's ``(range end)``, ``(range start end)``, ``(range start end step)``: the numbers
    from ``start`` (0) up to, not including, ``end`` by ``step`` (1); for a collection binding,
    ``[(range 0 ?n) [?i ...]]``.  At most :data:`MAX_RANGE_LENGTH` numbers.

    >>> _range(3), _range(1, 7, 2), _range(3, 0, -1), _range(0, 1, 0.5)
    ((0, 1, 2), (1, 3, 5), (3, 2, 1), (0, 0.5))
    """
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, float, Fraction, Decimal)):
            raise TypeError(f"range needs numbers, got {show(a)}")
    start, end, step = (0, args[0], 1) if len(args) == 1 else (
        (args[0], args[1], 1) if len(args) == 2 else args)
    if step == 0:
        raise ValueError("range with a step of 0 never ends")
    n = max(0, math.ceil((end - start) / step))
    if n > MAX_RANGE_LENGTH:
        raise QueryLimitExceeded(f"range of {n} numbers, more than the limit of {MAX_RANGE_LENGTH}",
                                 limit=MAX_RANGE_LENGTH)
    if all(type(a) is int for a in args):
        return tuple(range(start, end, step))
    return tuple(start if i == 0 else start + i * step for i in range(n))


def _count(x: Any) -> int:
    if x is None:
        return 0
    if isinstance(x, dict):
        return len(x)
    return len(x)


def _name(x: Any) -> str:
    if isinstance(x, (Keyword, Symbol)):
        return x.name
    if isinstance(x, str):
        return x
    raise TypeError(f"name needs a keyword, symbol or string, got {x!r}")


def _namespace(x: Any) -> str | None:
    if isinstance(x, (Keyword, Symbol)):
        return x.namespace
    raise TypeError(f"namespace needs a keyword or symbol, got {x!r}")


def _keyword(*xs: Any) -> Keyword:
    if len(xs) == 1:
        return Keyword(to_str(xs[0]))
    ns, name = xs
    return Keyword(f"{ns}/{name}" if ns is not None else name)


def _blank(s: Any) -> bool:
    return s is None or str(s).strip() == ""


def _includes(s: str, sub: str) -> bool:
    return str(sub) in str(s)


def _split(s: str, sep: Any) -> tuple[str, ...]:
    if isinstance(sep, (Regex, re.Pattern)):
        return tuple(re_pattern(sep).split(s))
    return tuple(s.split(sep))


def _join(*xs: Any) -> str:
    if len(xs) == 1:
        return _capped("".join(to_str(x) for x in xs[0]), "clojure.string/join")
    sep, coll = xs
    return _capped(to_str(sep).join(to_str(x) for x in coll), "clojure.string/join")


# ---------------------------------------------------------------- regex
#
# Query regexes run on RE2 (google-re2), whose matching is linear in the subject's
# length whatever the pattern: no regex can outrun the query deadline. Patterns RE2
# cannot express (backreferences, lookaround) run on Python's ``re`` with two bounds:
# no repetition nested in an unbounded one (exponential backtracking), and a subject
# length cap so that the polynomial worst case of the remaining backtracking,
# n ** (unbounded repetitions + 2), stays under FALLBACK_REGEX_STEPS.

#: The worst-case backtracking work allowed for a pattern RE2 cannot run.
FALLBACK_REGEX_STEPS = 10 ** 7

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a pattern RE2 refuses is ours to report, not stderr's


class Regex:
    """A compiled query regex: RE2 when it can express the pattern, else bounded ``re``.

    >>> r = re_pattern("a*a*a*c")
    >>> r.engine, r.search("x" * 10 + "aac").group(0)
    ('re2', 'aac')
    >>> re_pattern(r"(a)\\1").engine, re_pattern(r"(a)\\1").max_subject
    ('re', 3162)
    """

    __slots__ = ("pattern", "engine", "max_subject", "_rx")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        try:
            self._rx: Any = re2.compile(pattern, _RE2_OPTIONS)
            self.engine, self.max_subject = "re2", None
            return
        except re2.error:
            pass
        self._rx = re.compile(pattern)  # re.error: the caller reports an invalid regex
        unbounded = _check_backtracking(pattern)
        self.engine = "re"
        self.max_subject = int(FALLBACK_REGEX_STEPS ** (1 / (unbounded + 2)))

    @property
    def groups(self) -> int:
        return int(self._rx.groups)

    def _subject(self, s: Any) -> Any:
        if self.max_subject is not None and isinstance(s, str) and len(s) > self.max_subject:
            raise QueryLimitExceeded(
                f"Regex {self.pattern[:80]!r} uses backreferences or lookaround, which only "
                f"Python's backtracking engine runs; with its repetitions it may search "
                f"strings of up to {self.max_subject} characters, and this one has {len(s)}",
                pattern=self.pattern[:80], limit=self.max_subject)
        return s

    def search(self, s: Any) -> Any:
        return self._rx.search(self._subject(s))

    def fullmatch(self, s: Any) -> Any:
        return self._rx.fullmatch(self._subject(s))

    def finditer(self, s: Any) -> Any:
        return self._rx.finditer(self._subject(s))

    def split(self, s: Any) -> list[Any]:
        return list(self._rx.split(self._subject(s)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regex) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(("Regex", self.pattern))

    def __repr__(self) -> str:
        return f"#\"{self.pattern}\""


_regex_cache: dict[str, Regex] = {}


def re_pattern(p: Any) -> Regex:
    """Compile a query-supplied regex, refusing patterns longer than MAX_REGEX_LENGTH.

    >>> re_pattern("a+b").pattern
    'a+b'
    """
    if isinstance(p, Regex):
        return p
    if isinstance(p, re.Pattern):
        p = p.pattern
    if not isinstance(p, str):
        raise TypeError(f"re-pattern needs a string, got {p!r}")
    got = _regex_cache.get(p)
    if got is not None:
        return got
    if len(p) > MAX_REGEX_LENGTH:
        raise QueryLimitExceeded(f"Regex pattern of {len(p)} characters is longer than the "
                                 f"limit of {MAX_REGEX_LENGTH}", pattern=p[:80])
    try:
        got = Regex(p)
    except re.error as exc:
        raise QueryError(f"Invalid regex {p[:200]!r}: {exc}", pattern=p[:80]) from exc
    if len(_regex_cache) > 256:
        _regex_cache.clear()
    _regex_cache[p] = got
    return got


def _check_backtracking(p: str) -> int:
    """Refuse patterns whose matching can take exponential time in Python's ``re``;
    return how many unbounded repetitions the pattern holds (its polynomial degree).

    The shapes that backtrack exponentially are an unbounded repetition containing
    another unbounded repetition (``(a+)+``, ``(a*b?)*``) or an alternation
    (``(a|a)*``); those are refused.  Bounded repeats (``{0,3}``) and plain ``a*``,
    ``[ab]+``, ``(abc)+`` are fine.
    """
    import re._parser as sre  # the stdlib's own pattern parser (no code is run)

    count = 0

    def walk(items: Any, in_star: bool) -> None:
        nonlocal count
        for op, arg in items:
            name = str(op)
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                lo, hi, body = arg
                star = hi == sre.MAXREPEAT or hi > 16
                if star and in_star:
                    _refuse()
                count += star
                walk(body, in_star or star)
            elif name == "SUBPATTERN":
                walk(arg[-1], in_star)
            elif name == "BRANCH":
                if in_star:
                    _refuse()
                for alt in arg[1]:
                    walk(alt, in_star)
            elif name in ("ASSERT", "ASSERT_NOT"):
                walk(arg[1], in_star)
            elif name == "GROUPREF_EXISTS":
                walk(arg[1], in_star)
                if arg[2] is not None:
                    walk(arg[2], in_star)
            elif name == "ATOMIC_GROUP":
                walk(arg, in_star)

    def _refuse() -> None:
        raise QueryLimitExceeded(
            f"Regex {p[:80]!r} uses backreferences or lookaround (so it runs on Python's "
            "backtracking engine, not RE2) and nests a repetition (or an alternation) inside "
            "an unbounded repetition, which can backtrack for exponential time: rewrite it "
            "without the nesting", pattern=p[:80])

    walk(sre.parse(p), False)
    return count


def _match_value(m: re.Match[str]) -> Any:
    if m.re.groups == 0:
        return m.group(0)
    return (m.group(0),) + m.groups()


def _re_find(p: Any, s: str) -> Any:
    m = re_pattern(p).search(s)
    return None if m is None else _match_value(m)


def _re_matches(p: Any, s: str) -> Any:
    m = re_pattern(p).fullmatch(s)
    return None if m is None else _match_value(m)


def _re_seq(p: Any, s: str) -> Any:
    out = tuple(_match_value(m) for m in re_pattern(p).finditer(s))
    return out or None


# ---------------------------------------------------------------- collections

def _ground(x: Any) -> Any:
    return x


def _tuple(*xs: Any) -> tuple[Any, ...]:
    return tuple(xs)


def _untuple(t: Any) -> tuple[Any, ...]:
    return tuple(t)


def _get(m: Any, k: Any, default: Any = None) -> Any:
    try:
        if isinstance(m, dict):
            return m.get(k, default)
        if isinstance(m, (set, frozenset)):
            return k if k in m else default
        if isinstance(m, (list, tuple, str)) and isinstance(k, int) and 0 <= k < len(m):
            return m[k]
    except TypeError:
        pass
    return default


def _contains(coll: Any, k: Any) -> bool:
    if isinstance(coll, (dict, set, frozenset)):
        return k in coll
    if isinstance(coll, (list, tuple, str)):
        return isinstance(k, int) and 0 <= k < len(coll)
    return False


def _distinct_p(*xs: Any) -> bool:
    return len(set(xs)) == len(xs)


def _and(*xs: Any) -> Any:
    out: Any = True
    for x in xs:
        if not is_truthy(x):
            return x
        out = x
    return out


def _or(*xs: Any) -> Any:
    out: Any = None
    for x in xs:
        if is_truthy(x):
            return x
        out = x
    return out


# ---------------------------------------------------------------- db functions

def _attr_of(db: Any, attr: Any, fname: str) -> Any:
    a = db.schema.attr(attr)
    if a is None:
        raise QueryError(f"{fname}: unknown attribute {attr!s}", attribute=attr)
    return a


def _entid(db: Any, e: Any) -> Any:
    return e if type(e) is int else db.entid(e)


def _get_else(db: Any, e: Any, attr: Any, default: Any) -> Any:
    a = _attr_of(db, attr, "get-else")
    if a.many:
        raise QueryError(f"get-else needs a cardinality-one attribute, {a.ident} is many",
                         attribute=a.ident)
    if default is None:
        raise QueryError("get-else: the default value may not be nil")
    eid = _entid(db, e)
    if eid is None:
        return default
    rows = db.search(eid, a.id)
    return rows[0][2] if rows else default


def _get_some(db: Any, e: Any, *attrs: Any) -> Any:
    """Datomic returns the first attribute's *entity id* with its value (DataScript: the keyword)."""
    eid = _entid(db, e)
    for attr in attrs:
        a = _attr_of(db, attr, "get-some")
        if eid is None:
            return None
        rows = db.search(eid, a.id)
        if rows:
            return (a.id, rows[0][2])
    return None


def _missing(db: Any, e: Any, attr: Any) -> bool:
    a = _attr_of(db, attr, "missing?")
    eid = _entid(db, e)
    return eid is None or not db.search(eid, a.id)


# ---------------------------------------------------------------- the table

def _f(name: str, fn: Callable[..., Any], lo: int = 0, hi: int | None = None,
       source: bool = False) -> tuple[str, Fn]:
    return name, Fn(name, fn, lo, hi, source)


def _even(x: int) -> bool:
    if not isinstance(x, int) or isinstance(x, bool):
        raise TypeError(f"Argument must be an integer: {x!r}")
    return x % 2 == 0


FUNCTIONS: dict[str, Fn] = dict([
    _f("=", _eq, 1), _f("==", _num_eq, 1), _f("not=", _not_eq, 1), _f("!=", _not_eq, 1),
    _f("<", _chain(operator.lt), 1), _f(">", _chain(operator.gt), 1),
    _f("<=", _chain(operator.le), 1), _f(">=", _chain(operator.ge), 1),
    _f("compare", _compare, 2, 2),
    _f("+", _add), _f("-", _sub, 1), _f("*", _mul), _f("/", _div, 1),
    _f("quot", _quot, 2, 2), _f("rem", _rem, 2, 2), _f("mod", _mod, 2, 2),
    _f("inc", lambda x: _num(x + 1), 1, 1), _f("dec", lambda x: _num(x - 1), 1, 1),
    _f("max", lambda *xs: max(xs), 1), _f("min", lambda *xs: min(xs), 1),
    _f("abs", abs, 1, 1),
    _f("zero?", lambda x: x == 0, 1, 1), _f("pos?", lambda x: x > 0, 1, 1),
    _f("neg?", lambda x: x < 0, 1, 1), _f("even?", _even, 1, 1),
    _f("odd?", lambda x: not _even(x), 1, 1),
    _f("nil?", lambda x: x is None, 1, 1), _f("some?", lambda x: x is not None, 1, 1),
    _f("true?", lambda x: x is True, 1, 1), _f("false?", lambda x: x is False, 1, 1),
    _f("not", lambda x: not is_truthy(x), 1, 1), _f("and", _and), _f("or", _or),
    _f("boolean", is_truthy, 1, 1),
    _f("identity", lambda x: x, 1, 1), _f("ground", _ground, 1, 1),
    _f("str", _str), _f("subs", _subs, 2, 3), _f("count", _count, 1, 1),
    _f("range", _range, 1, 3),
    _f("name", _name, 1, 1), _f("namespace", _namespace, 1, 1), _f("keyword", _keyword, 1, 2),
    _f("vector", lambda *xs: tuple(xs)), _f("list", lambda *xs: list(xs)),
    _f("tuple", _tuple, 1), _f("untuple", _untuple, 1, 1),
    _f("hash-map", lambda *xs: dict(zip(xs[::2], xs[1::2]))),
    _f("hash-set", lambda *xs: frozenset(xs)), _f("set", lambda c: frozenset(c), 1, 1),
    _f("get", _get, 2, 3), _f("contains?", _contains, 2, 2), _f("distinct?", _distinct_p, 1),
    _f("empty?", lambda c: c is None or len(c) == 0, 1, 1),
    _f("first", lambda c: next(iter(c), None) if c is not None else None, 1, 1),
    _f("re-pattern", re_pattern, 1, 1), _f("re-find", _re_find, 2, 2),
    _f("re-matches", _re_matches, 2, 2), _f("re-seq", _re_seq, 2, 2),
    _f("get-else", _get_else, 4, 4, True), _f("get-some", _get_some, 3, None, True),
    _f("missing?", _missing, 3, 3, True),
    # clojure.string, as Datomic users write it (qualified) and DataScript (both)
    _f("clojure.string/blank?", _blank, 1, 1),
    _f("clojure.string/includes?", _includes, 2, 2),
    _f("clojure.string/starts-with?", lambda s, p: str(s).startswith(str(p)), 2, 2),
    _f("clojure.string/ends-with?", lambda s, p: str(s).endswith(str(p)), 2, 2),
    _f("clojure.string/lower-case", lambda s: str(s).lower(), 1, 1),
    _f("clojure.string/upper-case", lambda s: str(s).upper(), 1, 1),
    _f("clojure.string/capitalize", lambda s: str(s)[:1].upper() + str(s)[1:].lower(), 1, 1),
    _f("clojure.string/trim", lambda s: str(s).strip(), 1, 1),
    _f("clojure.string/triml", lambda s: str(s).lstrip(), 1, 1),
    _f("clojure.string/trimr", lambda s: str(s).rstrip(), 1, 1),
    _f("clojure.string/reverse", lambda s: str(s)[::-1], 1, 1),
    _f("clojure.string/split", _split, 2, 2),
    _f("clojure.string/join", _join, 1, 2),
])
for _short in ("blank?", "includes?", "starts-with?", "ends-with?", "lower-case", "upper-case",
               "trim"):
    FUNCTIONS[_short] = FUNCTIONS["clojure.string/" + _short]
del _short

#: Functions whose result is a predicate outcome that can be computed column-wise fast.
COMPARISONS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


# ---------------------------------------------------------------- aggregates

def _agg_count(vs: list[Any]) -> int:
    return len(vs)


def _agg_count_distinct(vs: list[Any]) -> int:
    return len(set(vs))


def _agg_sum(vs: list[Any]) -> Any:
    return sum(vs)


def _agg_avg(vs: list[Any]) -> Any:
    return sum(vs) / len(vs)


def _agg_median(vs: list[Any]) -> Any:
    return statistics.median(vs)


def _agg_variance(vs: list[Any]) -> Any:
    """Population variance, as Datomic and DataScript compute it."""
    n = len(vs)
    mean = sum(vs) / n
    return sum((x - mean) ** 2 for x in vs) / n


def _agg_stddev(vs: list[Any]) -> float:
    return math.sqrt(_agg_variance(vs))


def order_key(x: Any) -> Any:
    """Datomic's (Clojure's) order for keywords and symbols: no namespace first, then by
    namespace, then by name; other values order as Python orders them.

    >>> sorted([Keyword(":b/a"), Keyword(":a.b/c"), Keyword(":z"), Keyword(":a/z")], key=order_key)
    [Keyword(':z'), Keyword(':a/z'), Keyword(':a.b/c'), Keyword(':b/a')]
    """
    if isinstance(x, (Keyword, Symbol)):
        ns = x.namespace
        return (ns is not None, ns or "", x.name)
    return x


def _count_arg(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise QueryError(f"The count of an aggregate must be a non-negative integer, got {show(n)}")
    return n


def _key_for(vs: Any) -> Callable[[Any], Any] | None:
    """:func:`order_key` when ``vs`` holds a keyword or symbol, else None (Python's order,
    about ten times cheaper on a column of numbers)."""
    types = {type(v) for v in vs}
    return order_key if Keyword in types or Symbol in types else None


def _agg_min(*args: Any) -> Any:
    if len(args) == 1:
        return min(args[0], key=_key_for(args[0]))
    n, vs = args
    return tuple(sorted(set(vs), key=_key_for(vs))[:_count_arg(n)])


def _agg_max(*args: Any) -> Any:
    if len(args) == 1:
        return max(args[0], key=_key_for(args[0]))
    n, vs = args
    return tuple(sorted(set(vs), key=_key_for(vs), reverse=True)[:_count_arg(n)])


def _agg_distinct(vs: list[Any]) -> frozenset[Any]:
    return frozenset(vs)


def _agg_rand(n: int, vs: list[Any], rng: _random.Random) -> tuple[Any, ...]:
    return tuple(rng.choice(vs) for _ in range(_count_arg(n)))


def _agg_sample(n: int, vs: list[Any], rng: _random.Random) -> tuple[Any, ...]:
    d = list(dict.fromkeys(vs))
    return tuple(rng.sample(d, min(_count_arg(n), len(d))))


AGGREGATES: dict[str, Agg] = {
    "count": Agg("count", _agg_count), "count-distinct": Agg("count-distinct", _agg_count_distinct),
    "sum": Agg("sum", _agg_sum), "avg": Agg("avg", _agg_avg), "median": Agg("median", _agg_median),
    "variance": Agg("variance", _agg_variance), "stddev": Agg("stddev", _agg_stddev),
    "min": Agg("min", _agg_min, 0, 1), "max": Agg("max", _agg_max, 0, 1),
    "distinct": Agg("distinct", _agg_distinct),
    "rand": Agg("rand", _agg_rand, 1, 1, needs_rng=True),
    "sample": Agg("sample", _agg_sample, 1, 1, needs_rng=True),
}


# ---------------------------------------------------------------- registration

_registered_fns: dict[str, Fn] = {}
_registered_aggs: dict[str, Agg] = {}
_version = [0]


def registry_version() -> int:
    """Bumped by every registration, so plans that resolved a function are never stale."""
    return _version[0]


def _arity(fn: Callable[..., Any]) -> tuple[int, int | None]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0, None
    lo, hi = 0, 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            hi = None  # type: ignore[assignment]
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            if p.default is p.empty:
                lo += 1
            if hi is not None:
                hi += 1
    return lo, hi


def register_query_fn(name: str, fn: Callable[..., Any]) -> None:
    """Let queries call ``fn`` by ``name`` (``[(my/fn ?x) ?y]``, pull ``:xform`` too).

    Built-in names cannot be replaced; registering a name again replaces the
    earlier registration.

    >>> register_query_fn("test/double", lambda x: 2 * x)
    >>> resolve_fn("test/double").fn(4)
    8

    :raises QueryError: ``name`` is a built-in, or ``fn`` is not callable.
    """
    name = str.__str__(name)
    if name in FUNCTIONS:
        raise QueryError(f"{name} is a built-in query function and cannot be replaced", name=name)
    if not callable(fn):
        raise QueryError(f"register_query_fn({name!r}): {fn!r} is not callable", name=name)
    lo, hi = _arity(fn)
    _registered_fns[name] = Fn(name, fn, lo, hi)
    _version[0] += 1


def register_aggregate(name: str, fn: Callable[..., Any]) -> None:
    """Let queries use ``(name ?x)`` or ``(name const ... ?x)`` in :find.

    ``fn`` is called once per group as ``fn(*constants, values)`` with the list
    of the group's values (one per distinct tuple: use :with to keep duplicates).

    >>> register_aggregate("test/span", lambda vs: max(vs) - min(vs))
    >>> resolve_aggregate("test/span").fn([3, 9, 4])
    6

    :raises QueryError: ``name`` is a built-in aggregate, or ``fn`` is not callable.
    """
    name = str.__str__(name)
    if name in AGGREGATES:
        raise QueryError(f"{name} is a built-in aggregate and cannot be replaced", name=name)
    if not callable(fn):
        raise QueryError(f"register_aggregate({name!r}): {fn!r} is not callable", name=name)
    lo, hi = _arity(fn)
    lo = max(lo - 1, 0)
    _registered_aggs[name] = Agg(name, fn, lo, None if hi is None else max(hi - 1, 0))
    _version[0] += 1


def resolve_fn(name: str) -> Fn | None:
    """The function ``name`` stands for in a query, or None (built-ins first)."""
    got = FUNCTIONS.get(name)
    if got is None:
        got = _registered_fns.get(name)
    return got


def resolve_aggregate(name: str) -> Agg | None:
    """The aggregate ``name`` stands for in :find, or None."""
    got = AGGREGATES.get(name)
    if got is None:
        got = _registered_aggs.get(name)
    return got
