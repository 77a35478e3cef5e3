"""The Db seam: the read interface every reader types against, and the declared write path.

``tx``, ``query``, ``pull``, ``entity`` and ``peer`` never reach into a Db's
fields: they use the members declared here, in the spirit of DataScript's
``ISearch`` (search by pattern), ``IIndexAccess`` (index slices, datoms,
index-range) and ``IDB`` (schema, basis). :class:`fact_store.db.Db` is the one
implementation; these protocols let a type checker and a reader see the seam.

The rows a read returns are plain tuples:

* :meth:`Database.search` returns ``(e, a, v, tx, added)``, whatever the index;
* :meth:`Database.index` returns a :class:`SortedIndex` of the current datoms in
  that index's own order: EAVT ``(e, a, v, tx)``, AEVT ``(a, e, v, tx)``,
  AVET ``(a, v, e, tx)`` (every attribute), VAET ``(v, a, e, tx)`` (refs only).
  It is the fast path of the query engine (no tuple is copied) and exists on
  unfiltered dbs only (``as_of``/``since``/``history`` dbs read through ``search``).

The write path is :meth:`WritableDatabase.apply_datoms`: ``tx/apply.py`` (a
checked transaction) and ``peer.py`` (a log record already checked when it was
written) both build db-after with it, and nothing else makes a Db from a Db.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Iterator, Protocol, Self

from fact_store.datom import Datom
from fact_store.edn.values import Keyword
from fact_store.schema import AttributeInfo, Schema

__all__ = ["SortedIndex", "Database", "WritableDatabase", "INDEX_NAMES"]

#: The four covering indexes of current datoms, by name.
INDEX_NAMES = ("eavt", "aevt", "avet", "vaet")


class SortedIndex(Protocol):
    """An immutable sorted list of index tuples (``fact_store.index.covering.PSortedList``).

    Bounds compare as tuples; ``fact_store.index.covering.MIN``/``MAX`` sort
    below/above every value. Every read is O(log n + matches).
    """

    def range(self, lo: Any, hi: Any) -> list[Any]:
        """Tuples ``t`` with ``lo <= t < hi``."""

    def count(self, lo: Any, hi: Any) -> int:
        """How many tuples ``range(lo, hi)`` would return, without building them."""

    def first(self, prefix: tuple[Any, ...]) -> Any | None:
        """The first tuple starting with ``prefix``, or None."""

    def prefix(self, prefix: tuple[Any, ...]) -> list[Any]:
        """Every tuple starting with ``prefix``."""

    def irange(self, lo: Any, hi: Any, inclusive_hi: bool = True) -> Iterator[Any]:
        """Tuples from ``lo`` to ``hi``, lazily."""

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Database(Protocol):
    """What a reader may use of a database value (a Db, or a filtered view of one)."""

    @property
    def schema(self) -> Schema:
        """The attributes installed at this basis (``schema.version`` changes with them)."""

    @property
    def basis_t(self) -> int:
        """The t of the last transaction this value includes."""

    @property
    def is_history(self) -> bool:
        """True for ``db.history()``: reads return retractions too."""

    @property
    def is_filtered(self) -> bool:
        """True for ``as_of``/``since``/``history``/``filter`` views (no :meth:`index` fast path)."""

    @property
    def last_instant(self) -> _dt.datetime:
        """The ``:db/txInstant`` of the basis transaction."""

    @property
    def next_eid(self) -> int:
        """The next entity id a tempid will get."""

    def entid(self, x: Any) -> int | None:
        """The entity id of an int, an ident or a lookup ref; None if absent."""

    def ident(self, eid: Any) -> Keyword | None:
        """The ident of entity ``eid``, or None."""

    def attribute(self, attr: Any) -> AttributeInfo | None:
        """The definition of attribute ``attr`` (Datomic's d/attribute); None if none."""

    def filter(self, pred: Any) -> Self:
        """The view keeping only datoms with ``pred(unfiltered db, datom)`` true."""

    def search(self, e: int | None = None, a: int | None = None, v: Any = None,
               tx: int | None = None) -> list[tuple[int, int, Any, int, bool]]:
        """Datoms matching the bound components (None = unbound) as ``(e, a, v, tx, added)``."""

    def count(self, e: int | None = None, a: int | None = None, v: Any = None) -> int:
        """How many datoms :meth:`search` would return (the planner's selectivity)."""

    def entity_rows(self, e: int) -> list[tuple[int, int, Any, int]]:
        """Every current datom of entity ``e`` as ``(e, a, v, tx)``, in EAVT order."""

    def index(self, name: str) -> SortedIndex:
        """The covering index ``name`` (one of :data:`INDEX_NAMES`) of an unfiltered db."""

    def datoms(self, index: Any, *components: Any) -> Iterator[Datom]:
        """The user API: Datoms of an index starting with ``components``."""

    def seek_datoms(self, index: Any, *components: Any) -> Iterator[Datom]:
        """Datoms of an index from the first one >= ``components``."""

    def index_range(self, attr: Any, start: Any = None, end: Any = None) -> Iterator[Datom]:
        """AVET datoms of ``attr`` with ``start <= v < end``."""

    def __len__(self) -> int:
        """The number of current datoms."""


class WritableDatabase(Database, Protocol):
    """A Db that can make the next one: the write path of ``tx`` and ``peer``."""

    def apply_datoms(self, t: int, adds: list[tuple[int, int, Any]],
                     retracts: list[tuple[int, int, Any, int]], schema: Schema, next_eid: int,
                     instant: _dt.datetime) -> Self:
        """The db after transaction ``t`` asserts ``adds`` and retracts ``retracts``."""

    def history_index(self) -> SortedIndex:
        """Every assertion and retraction as ``(e, a, v, tx, added)``, in EAVT order."""
