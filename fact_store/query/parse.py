"""EDN data → Query AST (frozen dataclasses), independent of any db, cached by text.

The first stage of the line parse → plan → execute → find.  The pieces of a
query (terms, find elements, bindings, clauses, rules) are ``forms.py``'s;
this module assembles them into a :class:`Query`, checks what spans sections
(every :find and :with variable bound, rules passed when called, no duplicate
inputs), and keeps parsed queries and rule sets in LRUs keyed by their text
(or frozen data): :func:`parse_query` and :func:`parse_rules` are the only
functions that read text.

>>> from fact_store.edn.values import Keyword as K, Symbol as S
>>> q = parse_query((K(":find"), S("?e"), K(":where"), (S("?e"), K(":a/b"), 1)))
>>> q.find
FindRel(elements=(Var(name='?e'),))
>>> q.where[0].terms
(Var(name='?e'), Const(value=Keyword(':a/b')), Const(value=1))
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from fact_store.edn.reader import read as read_edn
from fact_store.edn.values import Keyword, Symbol
from fact_store.query.forms import (
    BLANK, DEFAULT_SRC, Aggregate, And, BindColl, BindIgnore, BindScalar, BindTuple, Blank, Const,
    FindColl, FindRel, FindScalar, FindTuple, Function, Not, Or, Pattern, Predicate, PullExpr,
    RuleBranch, RuleExpr, RulesVar, SrcVar, Var, binding_vars, bound_by_clause, clause_vars,
    freeze, is_seq, iter_clauses, parse_binding, parse_clause, parse_find, parse_rules_data,
    parse_var, show, show_binding, symbol_name, syntax_error,
)

__all__ = [
    # the AST pieces, re-exported: the rest of the engine imports them from here
    "Var", "Const", "Blank", "BLANK", "SrcVar", "RulesVar", "DEFAULT_SRC",
    "FindRel", "FindColl", "FindScalar", "FindTuple", "Aggregate", "PullExpr",
    "BindIgnore", "BindScalar", "BindTuple", "BindColl",
    "Pattern", "Predicate", "Function", "RuleExpr", "Not", "Or", "And", "RuleBranch",
    "show", "show_binding", "freeze", "clause_vars", "bound_by_clause", "binding_vars",
    "iter_clauses",
    # this module
    "Query", "LRU", "parse_query", "parse_rules", "clear_caches",
]


# ---------------------------------------------------------------- query

# query = [find-spec return-map-spec? with-clause? inputs? where-clauses?]
@dataclass(frozen=True, slots=True)
class Query:
    find: Any
    with_: tuple[Var, ...]
    in_: tuple[Any, ...]                    # SrcVar | RulesVar | binding
    where: tuple[Any, ...]
    return_kind: str | None = None          # "keys" | "strs" | "syms"
    return_names: tuple[Any, ...] = ()      # Keyword / str / Symbol per find element
    form: Any = field(compare=False, repr=False, default=None)
    key: Any = field(compare=False, repr=False, default=None)   # text or frozen data
    in_default: bool = False                # no :in was written (it defaults to $)
    timeout_ms: int | None = None           # Datomic's :timeout, in milliseconds
    uses_source: bool = True                # some clause reads a source

    def without_inputs(self) -> "Query":
        """This query with an empty :in (run with no inputs when it reads no source)."""
        q = dataclasses.replace(self, in_=())
        object.__setattr__(q, "key", ("no-inputs", self.key))
        return q


_QUERY_KEYS = (":find", ":with", ":in", ":where", ":keys", ":strs", ":syms", ":timeout")


def _sections(form: Any) -> dict[str, list[Any]]:
    if isinstance(form, dict):
        out = {}
        for k, v in form.items():
            if not isinstance(k, str) or (k if k.startswith(":") else ":" + k) not in _QUERY_KEYS:
                raise syntax_error(f"Unknown query key {show(k)}, expected one of "
                                   f"{' '.join(_QUERY_KEYS)}", form)
            key = k if k.startswith(":") else ":" + k
            out[key] = list(v) if is_seq(v) else [v]
        return out
    if not is_seq(form):
        raise syntax_error("A query is a vector [:find ... :where ...] or a map {:find ...}", form)
    out = {}
    current = None
    for x in form:
        if isinstance(x, str) and type(x) is not Symbol and str.__str__(x) in _QUERY_KEYS:
            current = str.__str__(x)
            if current in out:
                raise syntax_error(f"Query has {current} twice", form)
            out[current] = []
        elif current is None:
            raise syntax_error("A query starts with :find", form)
        else:
            out[current].append(x)
    return out


def _parse_query_data(form: Any) -> Query:
    sec = _sections(form)
    if ":find" not in sec:
        raise syntax_error("A query needs :find", form)
    find = parse_find(sec[":find"])
    with_ = tuple(parse_var(v, [Keyword(":with"), *sec[":with"]]) for v in sec.get(":with", []))
    in_: list[Any] = []
    in_form = [Keyword(":in"), *sec.get(":in", [])]
    for x in sec.get(":in", [Symbol("$")]):
        s = symbol_name(x)
        if s is not None and s.startswith("$"):
            in_.append(SrcVar(s))
        elif s == "%":
            in_.append(RulesVar())
        else:
            in_.append(parse_binding(x, in_form))
    where = tuple(parse_clause(c) for c in sec.get(":where", []))
    kinds = [k for k in (":keys", ":strs", ":syms") if k in sec]
    return_kind = None
    names: tuple[Any, ...] = ()
    if len(kinds) > 1:
        raise syntax_error("Only one of :keys, :strs, :syms is allowed", form)
    if kinds:
        return_kind = kinds[0][1:]
        raw = sec[kinds[0]]
        if not all(isinstance(n, str) for n in raw):
            raise syntax_error(f":{return_kind} takes symbols", [Keyword(kinds[0]), *raw])
        if return_kind == "keys":
            names = tuple(Keyword(_plain(n)) for n in raw)
        elif return_kind == "strs":
            names = tuple(_plain(n) for n in raw)
        else:
            names = tuple(Symbol(_plain(n)) for n in raw)
        if isinstance(find, (FindScalar, FindColl)):
            raise syntax_error(f":{return_kind} needs a relation or tuple find spec", form)
        if len(names) != len(find.elements):
            raise syntax_error(f"Count of :{return_kind} ({len(names)}) must match count of :find "
                               f"({len(find.elements)})", form)
    timeout_ms = None
    if ":timeout" in sec:
        t = sec[":timeout"]
        if len(t) != 1 or isinstance(t[0], bool) or not isinstance(t[0], int) or t[0] <= 0:
            raise syntax_error(":timeout takes a positive number of milliseconds", form)
        timeout_ms = t[0]
    q = Query(find, with_, tuple(in_), where, return_kind, names, form,
              in_default=":in" not in sec, uses_source=_uses_source(where, find),
              timeout_ms=timeout_ms)
    _validate(q)
    return q


def _uses_source(where: tuple[Any, ...], find: Any) -> bool:
    if any(isinstance(el, PullExpr) for el in find.elements):
        return True
    for c in iter_clauses(where):
        if isinstance(c, (Pattern, RuleExpr)):
            return True
        if isinstance(c, (Predicate, Function)) and any(isinstance(a, SrcVar) for a in c.args):
            return True
    return False


def _plain(n: str) -> str:
    s = str.__str__(n)
    return s[1:] if s.startswith(":") else s


def _validate(q: Query) -> None:
    in_vars: set[Var] = set()
    seen: list[str] = []
    for b in q.in_:
        if isinstance(b, SrcVar):
            seen.append(b.name)
        elif isinstance(b, RulesVar):
            seen.append("%")
        else:
            in_vars.update(binding_vars(b))   # a var in two bindings joins them (Datomic)
    dups = sorted({n for n in seen if seen.count(n) > 1})
    if dups:
        raise syntax_error(f":in names {' '.join(str(d) for d in dups)} more than once", q.form)
    where_vars = set().union(*(bound_by_clause(c) for c in q.where)) if q.where else set()
    known = in_vars | where_vars
    find_vars: list[Var] = []
    for el in q.find.elements:
        if isinstance(el, Var):
            find_vars.append(el)
        elif isinstance(el, Aggregate):
            find_vars.append(el.var)
            find_vars.extend(a for a in el.args[:-1] if isinstance(a, Var))
        elif isinstance(el, PullExpr):
            find_vars.append(el.var)
    unknown = [v.name for v in list(find_vars) + list(q.with_) if v not in known]
    if unknown:
        raise syntax_error(f"Query for unknown vars: [{' '.join(unknown)}]", q.form)
    for el in q.find.elements:
        if isinstance(el, PullExpr) and isinstance(el.pattern, Var) and el.pattern not in in_vars:
            raise syntax_error(f"Pull pattern variable {el.pattern.name} must be bound in :in", q.form)
    uses_rules = any(_uses_rules(c) for c in q.where)
    if uses_rules and not any(isinstance(b, RulesVar) for b in q.in_):
        raise syntax_error("Query calls rules but has no % in :in", q.form)


def _uses_rules(c: Any) -> bool:
    if isinstance(c, RuleExpr):
        return True
    if isinstance(c, (Not, And)):
        return any(_uses_rules(y) for y in c.clauses)
    if isinstance(c, Or):
        return any(_uses_rules(b) for b in c.branches)
    return False


class LRU:
    """A small thread-safe LRU (DataScript keeps parsed queries in one too)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        try:
            v = self.data[key]
        except KeyError:
            return None
        with self.lock:
            try:
                self.data.move_to_end(key)
            except KeyError:
                pass
        return v

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            if len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


_query_cache = LRU(512)


_rules_cache = LRU(256)


def clear_caches() -> None:
    """Forget every parsed query and rule set."""
    _query_cache.clear()
    _rules_cache.clear()


def parse_query(query: Any) -> Query:
    """Parse query text or data into a :class:`Query` (cached by text / frozen data).

    Runtime complexity: O(1) on a cache hit for text; O(size of the query) otherwise.

    >>> parse_query("[:find ?e . :where [?e :a/b 1]]").find
    FindScalar(elements=(Var(name='?e'),))

    :raises QuerySyntaxError: the query is malformed; the message names the form.
    """
    if isinstance(query, Query):
        return query
    if isinstance(query, str):
        key: Any = query
    else:
        key = freeze(query)
    q: Query | None = _query_cache.get(key)
    if q is not None:
        return q
    form = read_edn(query) if isinstance(query, str) else query
    q = _parse_query_data(form)
    object.__setattr__(q, "key", key)
    _query_cache.put(key, q)
    return q


def parse_rules(rules: Any) -> tuple[Any, dict[str, tuple[RuleBranch, ...]]]:
    """Parse a rule set (text or data): returns (cache key, {name: branches}).

    >>> key, rs = parse_rules("[[(r ?a ?b) [?a :x ?b]] [(r ?a ?b) [?b :x ?a]]]")
    >>> [len(v) for v in rs.values()]
    [2]

    :raises QuerySyntaxError: a malformed rule, or branches of different arity.
    """
    if isinstance(rules, str):
        key: Any = ("rules-text", rules)
    else:
        key = ("rules-data", freeze(rules))
    got = _rules_cache.get(key)
    if got is not None:
        return key, got
    data = read_edn(rules) if isinstance(rules, str) else rules
    parsed = parse_rules_data(data)
    _rules_cache.put(key, parsed)
    return key, parsed
