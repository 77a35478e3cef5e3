"""A naive reference evaluator for conjunctive queries: loops over every datom.

It reads the whole db once with ``db.search()`` (nothing bound) and
evaluates the :where clauses by brute force over binding dicts, with
Datalog's order-independent meaning: positive clauses (patterns, or) first,
in any order, then the filters (predicates, not).  It knows data patterns,
the comparison predicates, ``not``, ``not-join``, ``or``, ``or-join`` and
``and``.  It is slow on purpose: it is the specification the engine is
tested against.
"""

from __future__ import annotations

import operator
from typing import Any

from fact_store.edn.values import Keyword, Symbol

OPS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
       "=": operator.eq, "not=": operator.ne}


def is_var(x: Any) -> bool:
    return type(x) is Symbol and x.startswith("?")


def clause_vars(c: Any) -> set[str]:
    if isinstance(c, tuple) and c and isinstance(c[0], list):     # [(pred ...)]
        return {a for a in c[0][1:] if is_var(a)}
    if isinstance(c, tuple):                                         # data pattern
        return {t for t in c if is_var(t)}
    head = str(c[0])
    if head in ("not", "and"):
        return set().union(*(clause_vars(x) for x in c[1:]))
    if head in ("not-join", "or-join"):
        return set(c[1])
    if head == "or":
        return set().union(*(clause_vars(x) for x in c[1:]))
    raise ValueError(c)


def positive_vars(c: Any) -> set[str]:
    if isinstance(c, tuple) and c and isinstance(c[0], list):
        return set()
    if isinstance(c, tuple):
        return clause_vars(c)
    head = str(c[0])
    if head in ("or", "or-join"):
        return clause_vars(c)
    if head == "and":
        return set().union(*(positive_vars(x) for x in c[1:]))
    return set()


class Reference:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.datoms = [d for d in db.search() if d[4]]

    def attr_id(self, a: Any) -> Any:
        if isinstance(a, str):
            got = self.db.schema.attr(a)
            return None if got is None else got.id
        return a

    def match(self, pattern: tuple[Any, ...], b: dict[str, Any]) -> list[dict[str, Any]]:
        terms = list(pattern)
        if len(terms) > 1 and not is_var(terms[1]) and terms[1] != Symbol("_"):
            terms[1] = self.attr_id(terms[1])
        out = []
        for d in self.datoms:
            nb = dict(b)
            ok = True
            for t, x in zip(terms, d):
                if t == Symbol("_"):
                    continue
                if is_var(t):
                    if t in nb:
                        if nb[t] != x:
                            ok = False
                            break
                    else:
                        nb[t] = x
                elif t != x:
                    ok = False
                    break
            if ok:
                out.append(nb)
        return out

    def conj(self, clauses: list[Any], bindings: list[dict[str, Any]]) -> list[dict[str, Any]]:
        positive = [c for c in clauses if positive_vars(c) or (
            isinstance(c, tuple) and not isinstance(c[0], list))]
        filters = [c for c in clauses if c not in positive]
        for c in positive:
            bindings = [nb for b in bindings for nb in self.clause(c, b, clauses)]
        for c in filters:
            bindings = [nb for b in bindings for nb in self.clause(c, b, clauses)]
        return bindings

    def clause(self, c: Any, b: dict[str, Any], siblings: list[Any]) -> list[dict[str, Any]]:
        if isinstance(c, tuple) and c and isinstance(c[0], list):
            fn, *args = c[0]
            vals = [b[a] if is_var(a) else a for a in args]
            return [b] if OPS[str(fn)](*vals) else []
        if isinstance(c, tuple):
            return self.match(c, b)
        head = str(c[0])
        if head in ("not", "not-join"):
            if head == "not":
                body = list(c[1:])
                join = clause_vars(c) & set(b)
            else:
                body = list(c[2:])
                join = set(c[1])
            seed = {k: v for k, v in b.items() if k in join}
            return [] if self.conj(body, [seed]) else [b]
        if head in ("or", "or-join"):
            if head == "or":
                branches = list(c[1:])
                join = clause_vars(c)
            else:
                branches = list(c[2:])
                join = set(c[1])
            seed = {k: v for k, v in b.items() if k in join}
            out = []
            seen = set()
            for br in branches:
                body = list(br[1:]) if isinstance(br, list) and str(br[0]) == "and" else [br]
                for r in self.conj(body, [seed]):
                    nb = dict(b)
                    nb.update({k: v for k, v in r.items() if k in join})
                    key = tuple(sorted(nb.items(), key=lambda kv: kv[0]))
                    if key not in seen:
                        seen.add(key)
                        out.append(nb)
            return out
        if head == "and":
            return self.conj(list(c[1:]), [b])
        raise ValueError(c)

    def q(self, find: list[str], where: list[Any]) -> set[tuple[Any, ...]]:
        return {tuple(b[v] for v in find) for b in self.conj(where, [{}])}


def kw(x: str) -> Keyword:
    return Keyword(x)
