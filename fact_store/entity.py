"""Lazy, read-only entity view over one Db.

``db.entity(eid)`` returns an :class:`Entity`: a read-only mapping from
attribute idents to values, loaded on first access. Ref values come back as
entities, so a program can walk the graph, except a ref to an entity that has
a ``:db/ident`` (an enum value such as ``:db.cardinality/one``), which comes
back as that keyword, as in Datomic; ``entity[":ns/_attr"]`` follows a ref
backwards. Cardinality-many attributes give frozensets.

>>> from fact_store.db import Db
>>> e = Db.empty().entity(":db/ident")
>>> e[":db/ident"], e["db/cardinality"]
(Keyword(':db/ident'), Keyword(':db.cardinality/one'))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from fact_store.dbapi import Database
from fact_store.edn.values import Keyword


class Entity(Mapping[Keyword, Any]):
    """A lazy, read-only map of one entity's current attributes."""

    __slots__ = ("db", "eid", "_cache")

    def __init__(self, db: Database, eid: int) -> None:
        self.db = db
        self.eid = eid
        self._cache: dict[Keyword, Any] | None = None

    def _load(self) -> dict[Keyword, Any]:
        if self._cache is None:
            schema = self.db.schema
            ident_of = schema.ident_of
            out: dict[Keyword, Any] = {}
            for e, a, v, _tx, _added in self.db.search(e=self.eid):
                attr = schema.attr(a)
                if attr is None:
                    continue
                val: Any
                if attr.is_ref:  # an enum: its ident; any other entity: a navigable Entity
                    val = ident_of.get(v)
                    if val is None:
                        val = Entity(self.db, v)
                else:
                    val = v
                if attr.many:
                    out.setdefault(attr.ident, set()).add(val)
                else:
                    out[attr.ident] = val
            for k, vs in out.items():
                if isinstance(vs, set):
                    out[k] = frozenset(vs)
            self._cache = out
        return self._cache

    def _reverse(self, key: str) -> Any:
        body = key[1:] if key.startswith(":") else key
        ns, _, name = body.rpartition("/")
        attr = self.db.schema.attr(f":{ns}/{name[1:]}")
        if attr is None or not attr.is_ref:
            raise KeyError(key)
        sources = [Entity(self.db, r[0]) for r in self.db.search(a=attr.id, v=self.eid)]
        if not sources:
            raise KeyError(key)
        if attr.component:
            return sources[0]
        return frozenset(sources)

    def __getitem__(self, key: str) -> Any:
        if key in (":db/id", "db/id"):
            return self.eid
        data = self._load()
        k = Keyword(key) if isinstance(key, str) else key
        if k in data:
            return data[k]
        if isinstance(key, str) and "/_" in key:
            return self._reverse(key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[Keyword]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def touch(self) -> dict[Keyword, Any]:
        """Every attribute loaded, as a plain dict (refs stay entities)."""
        return dict(self._load())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entity) and other.eid == self.eid and other.db is self.db

    def __hash__(self) -> int:
        return hash(self.eid)

    def __repr__(self) -> str:
        return f"#entity{{:db/id {self.eid}}}"
