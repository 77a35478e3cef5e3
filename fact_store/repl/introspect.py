"""Queries as data: the find spec, the entity columns, the rule names a query uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from fact_store import Keyword, Symbol

import fact_store as fs  # the doctests
from fact_store.repl.shared import QUERY_KEYS, DOT, DOTS, KW
from fact_store.repl.output import edn_text

def query_part(query: Any, key: str) -> list[Any] | None:
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
        return KW(":find") in value
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
    find = query_part(query, ":find") or []
    keys = None
    for k in (":keys", ":strs", ":syms"):
        names = query_part(query, k)
        if names:
            keys = tuple(str(n) for n in names)
    if len(find) == 2 and find[1] == DOT and isinstance(find[1], Symbol):
        shape, els = "scalar", (find[0],)
    elif len(find) == 1 and isinstance(find[0], tuple):
        inner = find[0]
        if len(inner) >= 2 and inner[-1] == DOTS and isinstance(inner[-1], Symbol):
            shape, els = "coll", tuple(inner[:-1])
        else:
            shape, els = "tuple", tuple(inner)
    else:
        shape, els = "rel", tuple(find)
    cols = keys if keys is not None and len(keys) == len(els) else tuple(edn_text(e) for e in els)
    return FindSpec(shape, tuple(cols), els, keys)


def entity_vars(query: Any, schema: Any) -> dict[str, str]:
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

    walk(query_part(query, ":where") or [])
    return out
