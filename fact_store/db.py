"""Db: an immutable value at basis t; datoms(), entid(), as_of/since/history/with_, q, pull.

A ``Db`` holds four covering indexes of the *current* datoms (EAVT, AEVT,
AVET for every attribute, VAET for refs) and two history indexes (EAVT and
AVET order, assertions and retractions, 5-tuples ending in ``added``). All of
them are :class:`~fact_store.index.covering.PSortedList` values, so a Db never
changes and taking one is O(1).

Reads of the current db touch current datoms only: a value lookup is
O(log n + matches) however much history exists. ``as_of``, ``since`` and
``history`` return filtered Db values that share the same indexes; ``as_of``
reads the history index and keeps, per (e, a, v), the last operation at or
before its t.

``Db`` implements :class:`fact_store.dbapi.WritableDatabase`: readers use the
members declared there, and ``tx``/``peer`` make the next Db with
:meth:`Db.apply_datoms`. ``with_``, ``q``, ``pull`` and ``pull_many`` are
conveniences over the layer above (tx, query, pull), imported when first
called: those modules take a Db as an argument and never import this one.

>>> db = Db.empty()
>>> db.basis_t, db.entid(":db/ident"), db.ident(1)
(0, 1, Keyword(':db/ident'))
>>> db.search(e=1, a=1)
[(1, 1, Keyword(':db/ident'), 1099511627776, True)]
"""

from __future__ import annotations

import datetime as _dt
import threading
from typing import Any, Callable, Iterable, Iterator

from fact_store.datom import TX0, USER0, Datom, t_to_tx, tx_to_t
from fact_store.edn.writer import show
from fact_store.edn.values import Keyword
from fact_store.errors import FactStoreError, SchemaError
from fact_store.index.covering import MAX, MIN, PSortedList
from fact_store.schema import (DB_CARDINALITY, DB_DOC, DB_IDENT, DB_INDEX, DB_TUPLE_TYPE,
                               DB_TX_INSTANT, DB_UNIQUE, DB_VALUE_TYPE, ENUM_IDS, AttributeInfo,
                               Schema, TupleValue, coerce)

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_INDEX_NAMES = {"eavt": "eavt", "aevt": "aevt", "avet": "avet", "vaet": "vaet",
                ":eavt": "eavt", ":aevt": "aevt", ":avet": "avet", ":vaet": "vaet"}
#: ``_mk(Datom, row)`` builds a Datom without NamedTuple's Python-level __new__.
_mk = tuple.__new__


def _index_name(index: Any) -> str:
    name = str(index).lstrip(":").lower()
    if name not in _INDEX_NAMES:
        raise FactStoreError(f"unknown index {show(index)}: expected one of :eavt :aevt :avet :vaet",
                             index=index)
    return name


class HistNode:
    """One link of the history chain: the history datoms of transaction ``t``.

    Writing never pays for the history indexes: each transaction only links a
    node holding its datoms. The first read that needs history (``as_of``,
    ``since``, ``history``) folds the chain back to the nearest node that has
    its indexes built, in one bulk update, caches the result on its own node
    and cuts the chain there. History only grows, so a node's indexes serve
    every older Db too (reads filter by tx).
    """

    __slots__ = ("prev", "t", "datoms", "_indexes")

    _lock = threading.Lock()

    def __init__(self, prev: "HistNode | None", t: int, datoms: Any) -> None:
        self.prev = prev
        self.t = t
        #: the history datoms of this node, or a callable producing them (bulk loads)
        self.datoms: Any = datoms
        self._indexes: tuple[PSortedList, PSortedList] | None = None

    def indexes(self) -> tuple[PSortedList, PSortedList]:
        """(history EAVT, history AVET) including this node. O(pending * log n), once."""
        idx = self._indexes
        if idx is not None:
            return idx
        with HistNode._lock:
            if self._indexes is not None:
                return self._indexes
            pending: list[HistNode] = []
            node: HistNode | None = self
            while node is not None and node._indexes is None:
                pending.append(node)
                node = node.prev
            adds: list[tuple[int, int, Any, int, bool]] = []
            for n in reversed(pending):
                ds = n.datoms
                adds.extend((ds() if callable(ds) else ds) or ())
            if node is None:
                heavt = PSortedList.from_unsorted(adds)
                havet = PSortedList.from_unsorted((a, v, e, tx, ad) for e, a, v, tx, ad in adds)
            else:
                built = node._indexes
                assert built is not None  # the loop above stopped at a node with indexes
                heavt, havet = built
                heavt = heavt.update(sorted(adds))
                havet = havet.update(sorted((a, v, e, tx, ad) for e, a, v, tx, ad in adds))
            self._indexes = (heavt, havet)
            self.prev = None
            self.datoms = None
            return self._indexes


class Db:
    """An immutable database value at basis ``basis_t``."""

    __slots__ = ("schema", "basis_t", "_eavt", "_aevt", "_avet", "_vaet", "_hist",
                 "next_eid", "last_instant", "_as_of_tx", "_since_tx", "is_history", "_pred", "__weakref__")

    def __init__(self, schema: Schema, basis_t: int, eavt: PSortedList, aevt: PSortedList,
                 avet: PSortedList, vaet: PSortedList, hist: "HistNode",
                 next_eid: int, last_instant: _dt.datetime,
                 as_of_tx: int | None = None, since_tx: int | None = None,
                 is_history: bool = False, pred: Any = None) -> None:
        self.schema = schema
        self.basis_t = basis_t
        self._eavt, self._aevt, self._avet, self._vaet = eavt, aevt, avet, vaet
        self._hist = hist
        self.next_eid = next_eid
        self.last_instant = last_instant
        self._as_of_tx = as_of_tx
        self._since_tx = since_tx
        self.is_history = is_history
        #: db.filter's predicate(s): a datom is visible when pred(unfiltered db, datom) is true
        self._pred: tuple[Any, ...] | None = pred

    # -- construction --------------------------------------------------------

    @classmethod
    def empty(cls) -> "Db":
        """The db every store starts from: the bootstrap schema, installed at t 0."""
        schema = Schema.bootstrap()
        tx = t_to_tx(0)
        datoms: list[tuple[int, int, Any]] = []
        for a in schema.attrs():
            datoms.append((a.id, DB_IDENT, a.ident))
            datoms.append((a.id, DB_VALUE_TYPE, ENUM_IDS[a.value_type]))
            datoms.append((a.id, DB_CARDINALITY,
                           ENUM_IDS[Keyword(":db.cardinality/many" if a.many else ":db.cardinality/one")]))
            if a.unique:
                datoms.append((a.id, DB_UNIQUE, ENUM_IDS[a.unique]))
            if a.indexed:
                datoms.append((a.id, DB_INDEX, True))
            if a.tuple_type:
                datoms.append((a.id, DB_TUPLE_TYPE, ENUM_IDS[a.tuple_type]))
            if a.doc:
                datoms.append((a.id, DB_DOC, a.doc))
        for ident, eid in ENUM_IDS.items():
            datoms.append((eid, DB_IDENT, ident))
        return cls.from_datoms(schema, [(e, a, v, tx) for e, a, v in datoms], basis_t=0,
                               next_eid=USER0, last_instant=_EPOCH)

    @classmethod
    def from_datoms(cls, schema: Schema, datoms: Iterable[tuple[int, int, Any, int]],
                    basis_t: int, next_eid: int | None = None,
                    last_instant: _dt.datetime = _EPOCH,
                    history: Iterable[tuple[int, int, Any, int, bool]] | None = None) -> "Db":
        """Build a Db directly from current datoms ``(e, a, v, tx)`` (bulk load, no tx processing).

        ``history`` defaults to one assertion per current datom. O(n log n).
        """
        eavt = list(datoms)
        eavt.sort()  # O(n) when already in EAVT order (timsort finds the one run)
        ref_ids = schema.ref_ids
        # AEVT and AVET by attribute buckets: EAVT order is already (e, v, tx) order
        # inside each attribute, so AEVT needs no sort at all.
        buckets: dict[int, list[tuple[int, int, Any, int]]] = {}
        for r in eavt:
            b = buckets.get(r[1])
            if b is None:
                buckets[r[1]] = b = []
            b.append(r)
        aevt: list[tuple[int, int, Any, int]] = []
        avet: list[tuple[int, Any, int, int]] = []
        for a in sorted(buckets):
            rows = buckets[a]
            aevt.extend([(a, e, v, tx) for e, _, v, tx in rows])
            part = [(a, v, e, tx) for e, _, v, tx in rows]
            part.sort()
            avet.extend(part)
        vaet = [(v, a, e, tx) for e, a, v, tx in eavt if a in ref_ids]
        vaet.sort()
        if history is None:
            no_hist = schema.no_history_ids
            hist = HistNode(None, basis_t, lambda: [(e, a, v, tx, True) for e, a, v, tx in eavt
                                                    if a not in no_hist])
        else:
            hist = HistNode(None, basis_t, history if isinstance(history, list) or callable(history)
                            else list(history))
        if next_eid is None:
            top = max((e for e, _, _, _ in eavt if e < TX0), default=USER0 - 1)
            next_eid = max(USER0, top + 1)
        return cls(schema, basis_t, PSortedList.from_sorted(eavt), PSortedList.from_sorted(aevt),
                   PSortedList.from_sorted(avet), PSortedList.from_sorted(vaet),
                   hist, next_eid, last_instant)

    @classmethod
    def from_indexes(cls, schema: Schema, basis_t: int, eavt: list[Any], aevt: list[Any],
                     avet: list[Any], vaet: list[Any], next_eid: int,
                     last_instant: _dt.datetime, history: Any) -> "Db":
        """Build a Db from index rows already in their orders (a snapshot load). O(n)."""
        return cls(schema, basis_t, PSortedList.from_sorted(eavt), PSortedList.from_sorted(aevt),
                   PSortedList.from_sorted(avet), PSortedList.from_sorted(vaet),
                   HistNode(None, basis_t, history), next_eid, last_instant)

    def apply_datoms(self, t: int, adds: list[tuple[int, int, Any]],
               retracts: list[tuple[int, int, Any, int]], schema: Schema, next_eid: int,
               instant: _dt.datetime) -> "Db":
        """The Db after transaction ``t`` asserts ``adds`` and retracts ``retracts``.

        The write path (:class:`fact_store.dbapi.WritableDatabase`): ``retracts``
        carry the tx of the datom they remove; the caller (tx/apply, or peer for a
        log record) guarantees adds are absent and retracts present, and passes
        the schema after them. O(n / LOAD + k * LOAD).
        """
        tx = t_to_tx(t)
        ref_ids = schema.ref_ids
        no_hist = schema.no_history_ids
        eavt_add = [(e, a, v, tx) for e, a, v in adds]
        eavt_rm = [(e, a, v, otx) for e, a, v, otx in retracts]
        h_add = [(e, a, v, tx, True) for e, a, v in adds if a not in no_hist]
        h_add.extend((e, a, v, tx, False) for e, a, v, _ in retracts if a not in no_hist)
        return Db(
            schema, t,
            self._eavt.update(eavt_add, eavt_rm),
            self._aevt.update([(a, e, v, x) for e, a, v, x in eavt_add],
                              [(a, e, v, x) for e, a, v, x in eavt_rm]),
            self._avet.update([(a, v, e, x) for e, a, v, x in eavt_add],
                              [(a, v, e, x) for e, a, v, x in eavt_rm]),
            self._vaet.update([(v, a, e, x) for e, a, v, x in eavt_add if a in ref_ids],
                              [(v, a, e, x) for e, a, v, x in eavt_rm if a in ref_ids]),
            HistNode(self._hist, t, h_add) if h_add else self._hist,
            next_eid, instant)

    def _filtered(self, as_of_tx: int | None, since_tx: int | None, is_history: bool,
                  pred: Any = False) -> "Db":
        return Db(self.schema, self.basis_t, self._eavt, self._aevt, self._avet, self._vaet,
                  self._hist, self.next_eid, self.last_instant, as_of_tx, since_tx, is_history,
                  self._pred if pred is False else pred)

    def history_index(self) -> PSortedList:
        """The history index in EAVT order, (e, a, v, tx, added); built on first use."""
        return self._hist.indexes()[0]

    def index(self, name: str) -> PSortedList:
        """The covering index ``name`` (``"eavt"``, ``"aevt"``, ``"avet"`` or ``"vaet"``) as
        tuples in that index's order (see :mod:`fact_store.dbapi`). O(1).

        >>> Db.empty().index("aevt").first((1,))
        (1, 1, Keyword(':db/ident'), 1099511627776)

        :raises FactStoreError: on a filtered db (read those through :meth:`search`).
        """
        if self.is_filtered:
            raise FactStoreError("a filtered db (as_of, since or history) has no covering index "
                                 "of current datoms: use search()", index=name)
        if name == "eavt":
            return self._eavt
        if name == "aevt":
            return self._aevt
        if name == "avet":
            return self._avet
        if name == "vaet":
            return self._vaet
        return self.index(_index_name(name))

    # -- time ----------------------------------------------------------------

    def _to_tx(self, point: Any) -> int:
        if isinstance(point, _dt.datetime):
            when = point if point.tzinfo else point.replace(tzinfo=_dt.timezone.utc)
            rows = self._avet.range((DB_TX_INSTANT, MIN), (DB_TX_INSTANT, when, MAX))
            return rows[-1][2] if rows else t_to_tx(0)
        if isinstance(point, bool) or not isinstance(point, int):
            raise FactStoreError(f"expected a t, a tx id or a datetime, got {show(point)}", point=point)
        return point if point >= TX0 else t_to_tx(point)

    def as_of(self, point: Any) -> "Db":
        """The db as it was at ``point`` (a t, a tx id or a datetime). O(1)."""
        tx = self._to_tx(point)
        if self._as_of_tx is not None:
            tx = min(tx, self._as_of_tx)
        return self._filtered(tx, self._since_tx, self.is_history)

    def since(self, point: Any) -> "Db":
        """Only the datoms added after ``point`` (exclusive). O(1)."""
        return self._filtered(self._as_of_tx, self._to_tx(point), self.is_history)

    def history(self) -> "Db":
        """Every assertion and retraction, as 5-tuples with ``added``. O(1)."""
        return self._filtered(self._as_of_tx, self._since_tx, True)

    @property
    def as_of_t(self) -> int | None:
        return None if self._as_of_tx is None else tx_to_t(self._as_of_tx)

    @property
    def since_t(self) -> int | None:
        return None if self._since_tx is None else tx_to_t(self._since_tx)

    @property
    def is_filtered(self) -> bool:
        return (self._as_of_tx is not None or self._since_tx is not None or self.is_history
                or self._pred is not None)

    def filter(self, pred: Any) -> "Db":
        """The db with only the datoms for which ``pred(db, datom)`` is true (Datomic's d/filter).

        ``db`` is this db without the filter (its as_of/since/history kept), ``datom`` a
        :class:`~fact_store.datom.Datom`. Every read sees the filter: ``search``, ``datoms``,
        ``seek_datoms``, ``index_range``, ``entity``, ``pull`` and queries; filters compose,
        and ``as_of``/``since``/``history`` keep them. Reads cost one ``pred`` call per datom
        met. O(1).

        >>> db = Db.empty().filter(lambda db, d: d.a != 8)          # hide :db/doc
        >>> db.entity(":db/ident").get(":db/doc"), Db.empty().entity(":db/ident").get(":db/doc") is None
        (None, False)
        """
        if not callable(pred):
            raise FactStoreError(f"filter takes a function of (db, datom), got {show(pred)}", pred=pred)
        return self._filtered(self._as_of_tx, self._since_tx, self.is_history, (self._pred or ()) + (pred,))

    def _visible(self, rows: list[tuple[int, int, Any, int, bool]]) -> list[tuple[int, int, Any, int, bool]]:
        preds = self._pred
        assert preds is not None
        base = self._filtered(self._as_of_tx, self._since_tx, self.is_history, None)
        return [r for r in rows if all(p(base, _mk(Datom, r)) for p in preds)]

    # -- identity ------------------------------------------------------------

    def entid(self, x: Any) -> int | None:
        """The entity id of an int, an ident keyword or a lookup ref ``[attr, value]``; None if absent.

        :raises SchemaError: a lookup ref on an attribute that is not unique.
        """
        if type(x) is int:
            return x
        if isinstance(x, str):
            return self.schema.entid(x)
        if isinstance(x, (tuple, list)) and len(x) == 2 and not isinstance(x, TupleValue):
            attr = self.schema.attr(x[0])
            if attr is None:
                raise SchemaError(f"lookup ref {show(list(x))} names an unknown attribute", lookup_ref=x)
            if attr.unique is None:
                raise SchemaError(f"lookup ref {show(list(x))}: {attr.ident} is not :db/unique",
                                  lookup_ref=x)
            if x[1] is None:
                return None
            v = x[1]
            if attr.is_ref:
                v = self.entid(v)
                if v is None:
                    return None
            else:
                try:
                    v = coerce(attr, v)
                except FactStoreError:
                    return None
            rows = self.search(None, attr.id, v)
            return rows[0][0] if rows else None
        if isinstance(x, bool) or x is None:
            return None
        if isinstance(x, int):
            return int(x)
        return None

    def ident(self, eid: Any) -> Keyword | None:
        """The ident of entity ``eid``, or None."""
        return self.schema.ident_of.get(eid)

    def attribute(self, attr: Any) -> AttributeInfo | None:
        """The definition of attribute ``attr`` (an ident or an id), as Datomic's d/attribute; None if none.

        >>> a = Db.empty().attribute(":db/ident")
        >>> a.id, a.value_type, a.cardinality, a.unique, a.has_avet
        (1, Keyword(':db.type/keyword'), Keyword(':db.cardinality/one'), Keyword(':db.unique/identity'), True)
        """
        a = self.schema.attr(attr)
        return None if a is None else AttributeInfo.of(a, self.schema)

    # -- raw access for query, pull and entity ---------------------------------

    def search(self, e: int | None = None, a: int | None = None, v: Any = None,
               tx: int | None = None) -> list[tuple[int, int, Any, int, bool]]:
        """Datoms matching the bound components, as ``(e, a, v, tx, added)`` tuples.

        None means unbound. ``a`` is an attribute id, refs' ``v`` an eid. The
        index follows from what is bound. O(log n + matches) on a current db.
        """
        if self._pred is not None:
            return self._visible(self._unfiltered_search(e, a, v, tx))
        return self._unfiltered_search(e, a, v, tx)

    def _unfiltered_search(self, e: int | None, a: int | None, v: Any,
                           tx: int | None) -> list[tuple[int, int, Any, int, bool]]:
        if self._as_of_tx is not None or self.is_history:
            return self._search_history(e, a, v, tx)
        if e is not None:
            if a is not None:
                if v is not None:
                    rows = self._eavt.prefix((e, a, v))
                else:
                    rows = self._eavt.prefix((e, a))
            else:
                rows = self._eavt.prefix((e,))
                if v is not None:
                    rows = [r for r in rows if r[2] == v]
            out = [(r[0], r[1], r[2], r[3], True) for r in rows]
        elif a is not None:
            if v is not None:
                out = [(r[2], a, v, r[3], True) for r in self._avet.prefix((a, v))]
            else:
                out = [(r[1], a, r[2], r[3], True) for r in self._aevt.prefix((a,))]
        elif v is not None:
            out = []
            if type(v) is int and v > 0:
                out = [(r[2], r[1], v, r[3], True) for r in self._vaet.prefix((v,))]
            ref_ids = self.schema.ref_ids
            for attr in self.schema.attrs():  # one AVET seek per attribute of a comparable type
                if attr.id in ref_ids:
                    continue
                try:
                    rows = self._avet.prefix((attr.id, v))
                except TypeError:
                    continue
                out.extend((r[2], attr.id, r[1], r[3], True) for r in rows
                           if type(r[1]) is type(v))
        else:
            out = [(r[0], r[1], r[2], r[3], True) for r in self._eavt]
        if tx is not None:
            out = [r for r in out if r[3] == tx]
        if self._since_tx is not None:
            s = self._since_tx
            out = [r for r in out if r[3] > s]
        return out

    def count(self, e: int | None = None, a: int | None = None, v: Any = None) -> int:
        """How many current datoms match (query planners' selectivity). O(log n + leaves spanned).

        Filtered dbs count through :meth:`search`.
        """
        if self.is_filtered:
            return len(self.search(e, a, v))
        if e is not None:
            prefix: tuple[Any, ...] = (e,) if a is None else (e, a) if v is None else (e, a, v)
            idx = self._eavt
        elif a is not None:
            prefix, idx = ((a,), self._aevt) if v is None else ((a, v), self._avet)
        elif v is not None:
            return len(self.search(None, None, v))
        else:
            return len(self._eavt)
        last = prefix[-1]
        hi = prefix[:-1] + (last + 1,) if type(last) is int else prefix + (MAX,)
        return idx.count(prefix, hi)

    def entity_rows(self, e: int) -> list[tuple[int, int, Any, int]]:
        """Every current datom of entity ``e`` as ``(e, a, v, tx)`` rows, in EAVT order.

        The cheapest read of one entity (pull and entity use it). O(log n + matches).
        """
        if self.is_filtered:
            return [(r[0], r[1], r[2], r[3]) for r in self.search(e) if r[4]]
        return self._eavt.prefix((e,))

    def _search_history(self, e: Any, a: Any, v: Any, tx: Any) -> list[tuple[int, int, Any, int, bool]]:
        heavt, havet = self._hist.indexes()
        if e is not None:
            if a is not None:
                rows = heavt.prefix((e, a, v) if v is not None else (e, a))
            else:
                rows = heavt.prefix((e,))
                if v is not None:
                    rows = [r for r in rows if r[2] == v]
        elif a is not None:
            hr = havet.prefix((a, v) if v is not None else (a,))
            rows = [(r[2], r[0], r[1], r[3], r[4]) for r in hr]
        elif v is not None:
            rows = [r for r in heavt if r[2] == v and type(r[2]) is type(v)]
        else:
            rows = list(heavt)
        upto = self._as_of_tx
        if upto is not None:
            rows = [r for r in rows if r[3] <= upto]
        if not self.is_history:
            last: dict[tuple[int, int, Any], tuple[int, int, Any, int, bool]] = {}
            for r in rows:
                last[(r[0], r[1], r[2])] = r
            rows = [r for r in last.values() if r[4]]
        if tx is not None:
            rows = [r for r in rows if r[3] == tx]
        if self._since_tx is not None:
            s = self._since_tx
            rows = [r for r in rows if r[3] > s]
        return rows

    # -- the user API ----------------------------------------------------------

    def _components(self, index: str, components: tuple[Any, ...]) -> list[Any]:
        order = {"eavt": "eavt", "aevt": "aevt", "avet": "avet", "vaet": "vaet"}[index]
        out: list[Any] = []
        attr = None
        for pos, c in zip(order, components):
            if c is None:
                break
            if pos == "e":
                eid = self.entid(c)
                out.append(eid if eid is not None else -1)
            elif pos == "a":
                attr = self.schema.attr(c)
                if attr is None:
                    raise SchemaError(f"unknown attribute {show(c)} in datoms()", attribute=c)
                out.append(attr.id)
            elif pos == "v":
                if attr is not None and attr.is_ref or index == "vaet":
                    eid = self.entid(c)
                    out.append(eid if eid is not None else -1)
                elif attr is not None:
                    out.append(coerce(attr, c))
                else:
                    out.append(c)
            else:
                out.append(self._to_tx(c))
        return out

    def datoms(self, index: Any, *components: Any) -> Iterator[Datom]:
        """Datoms of ``index`` (``:eavt``, ``:aevt``, ``:avet`` or ``:vaet``) starting with ``components``.

        Components may be idents and lookup refs. O(log n + matches).

        >>> [d.v for d in Db.empty().datoms(":eavt", ":db/doc", ":db/ident")]
        [Keyword(':db/doc')]
        """
        name = _INDEX_NAMES.get(index) or _index_name(index)
        if name == "eavt" and len(components) == 1 and type(components[0]) is int:
            comps: list[Any] = [components[0]]  # the common case: every datom of one entity
        else:
            comps = self._components(name, components)
        if not self.is_filtered:
            idx = {"eavt": self._eavt, "aevt": self._aevt, "avet": self._avet, "vaet": self._vaet}[name]
            rows = idx.prefix(tuple(comps))
            if name == "eavt":
                return (_mk(Datom, (r[0], r[1], r[2], r[3], True)) for r in rows)
            if name == "aevt":
                return (_mk(Datom, (r[1], r[0], r[2], r[3], True)) for r in rows)
            if name == "avet":
                return (_mk(Datom, (r[2], r[0], r[1], r[3], True)) for r in rows)
            return (_mk(Datom, (r[2], r[1], r[0], r[3], True)) for r in rows)
        bound: dict[str, Any] = dict(zip(name, comps))
        rows2 = self.search(bound.get("e"), bound.get("a"), bound.get("v"), bound.get("t"))
        if name == "vaet":
            ref_ids = self.schema.ref_ids
            rows2 = [r for r in rows2 if r[1] in ref_ids]
        keyf = {"eavt": lambda r: (r[0], r[1], r[2], r[3], r[4]),
                "aevt": lambda r: (r[1], r[0], r[2], r[3], r[4]),
                "avet": lambda r: (r[1], r[2], r[0], r[3], r[4]),
                "vaet": lambda r: (r[2], r[1], r[0], r[3], r[4])}[name]
        return (Datom(*r) for r in sorted(rows2, key=keyf))

    def seek_datoms(self, index: Any, *components: Any) -> Iterator[Datom]:
        """Datoms of ``index`` from the first one >= ``components`` to the end of the index."""
        name = _index_name(index)
        comps = tuple(self._components(name, components))
        if self.is_filtered:
            rows = [d for d in self.datoms(name)]
            keyf: Callable[[Datom], tuple[Any, ...]] = {
                    "eavt": lambda d: (d.e, d.a, d.v, d.tx), "aevt": lambda d: (d.a, d.e, d.v, d.tx),
                    "avet": lambda d: (d.a, d.v, d.e, d.tx), "vaet": lambda d: (d.v, d.a, d.e, d.tx)}[name]
            return (d for d in rows if keyf(d)[:len(comps)] >= comps)
        idx = {"eavt": self._eavt, "aevt": self._aevt, "avet": self._avet, "vaet": self._vaet}[name]
        conv: Callable[[Any], Datom] = {"eavt": lambda r: Datom(r[0], r[1], r[2], r[3], True),
                "aevt": lambda r: Datom(r[1], r[0], r[2], r[3], True),
                "avet": lambda r: Datom(r[2], r[0], r[1], r[3], True),
                "vaet": lambda r: Datom(r[2], r[1], r[0], r[3], True)}[name]
        return (conv(r) for r in idx.irange(comps, (MAX,)))

    def index_range(self, attr: Any, start: Any = None, end: Any = None) -> Iterator[Datom]:
        """AVET datoms of ``attr`` with ``start <= v < end`` (Datomic's index-range; None = open).

        O(log n + matches).
        """
        a = self.schema.attr(attr)
        if a is None:
            raise SchemaError(f"unknown attribute {show(attr)} in index_range()", attribute=attr)
        lo = (a.id, MIN) if start is None else (a.id, coerce(a, start))
        hi = (a.id, MAX) if end is None else (a.id, coerce(a, end))
        if self.is_filtered:
            rows = self.search(None, a.id)
            rows.sort(key=lambda r: (r[2], r[0], r[3]))
            return (Datom(*r) for r in rows
                    if (start is None or r[2] >= lo[1]) and (end is None or r[2] < hi[1]))
        return (_mk(Datom, (r[2], r[0], r[1], r[3], True)) for r in self._avet.range(lo, hi))

    def entity(self, eid: Any) -> Any:
        """A lazy, read-only view of entity ``eid`` (see :class:`fact_store.entity.Entity`)."""
        from fact_store.entity import Entity  # entity.py sits beside db.py and reads a Db
        e = self.entid(eid)
        return None if e is None else Entity(self, e)

    # -- the layer above, as methods (imported on first call: tx, query and pull take a
    #    Db as an argument and never import this module, so there is no cycle) ---------

    def with_(self, tx_data: Any, instant: Any = None) -> Any:
        """A speculative transaction: the TxReport ``conn.transact`` would give, nothing written.

        No datom limit applies (``connect(max_tx_datoms=)`` limits the connection only).
        """
        from fact_store.tx.apply import transact
        return transact(self, tx_data, instant=instant, max_datoms=None)

    def q(self, query: Any, *inputs: Any, **options: Any) -> Any:
        """Run a Datalog query with this db as ``$`` (see :func:`fact_store.q`)."""
        from fact_store.query import q
        return q(query, self, *inputs, **options)

    def pull(self, pattern: Any, eid: Any) -> Any:
        """Pull ``pattern`` for ``eid`` from this db (see :func:`fact_store.pull`)."""
        from fact_store.pull import pull
        return pull(self, pattern, eid)

    def pull_many(self, pattern: Any, eids: Any) -> Any:
        """Pull ``pattern`` for each of ``eids`` (see :func:`fact_store.pull_many`)."""
        from fact_store.pull import pull_many
        return pull_many(self, pattern, eids)

    def tx_to_t(self, tx: int) -> int:
        """The basis t of transaction id ``tx``."""
        return tx_to_t(tx)

    def t_to_tx(self, t: int) -> int:
        """The transaction id of basis ``t``."""
        return t_to_tx(t)

    def __len__(self) -> int:
        """The number of current datoms (unfiltered dbs). O(1)."""
        return len(self._eavt)

    def __repr__(self) -> str:
        extra = []
        if self._as_of_tx is not None:
            extra.append(f"as_of={tx_to_t(self._as_of_tx)}")
        if self._since_tx is not None:
            extra.append(f"since={tx_to_t(self._since_tx)}")
        if self.is_history:
            extra.append("history")
        return f"<Db basis_t={self.basis_t}{' ' + ' '.join(extra) if extra else ''}>"
