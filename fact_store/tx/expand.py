"""Stage 1: tx-data (maps, nested maps, reverse refs, tx fns) -> ops with tempids and lookup refs.

>>> from fact_store.db import Db
>>> ops = expand(Db.empty(), [{":db/id": "x", ":db/doc": "hi"}]).ops
>>> [(o.op, o.e, o.attr.ident, o.v) for o in ops]
[(0, TempId('x'), Keyword(':db/doc'), 'hi')]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterator

from fact_store.edn.reader import DEFAULT_MAX_DEPTH
from fact_store.edn.values import DbId, Keyword, Symbol
from fact_store.dbapi import Database
from fact_store.errors import (FactStoreError, InvalidTxData, LimitExceeded, TransactionError,
                               TxFunctionError, UnknownAttribute, UnknownEntity, UnknownTxFunction)
from fact_store.schema import Attr, TUPLE, TupleValue, coerce, show
from fact_store.tx import functions

ADD, RETRACT = 0, 1
MAX_FN_DEPTH = 32

_auto_ids = itertools.count(1)


class TempId:
    """A tempid: a string or a negative int naming a new or upserted entity."""

    __slots__ = ("name",)

    def __init__(self, name: Any) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TempId) and other.name == self.name and type(other.name) is type(self.name)

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"TempId({self.name!r})"


class AutoTempId(TempId):
    """The tempid of an entity map without :db/id (not reported in tempids)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


class LookupRef:
    """``[attr value]`` naming the entity whose unique ``attr`` holds ``value``."""

    __slots__ = ("attr", "value", "form")

    def __init__(self, attr: Attr, value: Any, form: Any) -> None:
        self.attr, self.value, self.form = attr, value, form

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LookupRef) and (self.attr.id, self.value) == (other.attr.id, other.value)

    def __hash__(self) -> int:
        return hash((self.attr.id, self.value))

    def __repr__(self) -> str:
        return f"LookupRef({self.attr.ident}, {self.value!r})"


TX_TEMPID = TempId("datomic.tx")
Ent = int | TempId | LookupRef


@dataclass(slots=True)
class Op:
    op: int          # ADD or RETRACT
    e: Any           # int | TempId | LookupRef
    attr: Attr
    v: Any           # coerced value; for refs int | TempId | LookupRef
    form: Any = None  # the tx-data form it came from (for messages)


@dataclass(slots=True)
class Expanded:
    ops: list[Op] = field(default_factory=list)
    cas: list[tuple[Any, Attr, Any, Any, Any]] = field(default_factory=list)  # (e, attr, old, new, form)
    retract_entities: list[tuple[Any, Any]] = field(default_factory=list)      # (e, form)
    retract_all: list[tuple[Any, Attr, Any]] = field(default_factory=list)     # [:db/retract e a]
    errors: list[TransactionError] = field(default_factory=list)


_ADD_NAMES = {":db/add", "db/add"}
_RETRACT_NAMES = {":db/retract", "db/retract"}
_CAS_NAMES = {":db/cas", "db/cas", ":db.fn/cas", "db.fn/cas"}
_RETRACT_ENTITY_NAMES = {":db/retractEntity", "db/retractEntity", ":db.fn/retractEntity",
                         "db.fn/retractEntity"}
_ID_KEYS = (":db/id", "db/id")
#: Old-style schema (before Datomic 0.9.5530): an attribute (or a partition) was installed, or
#: altered, by asserting it as a value of these :db.part/db attributes. Installing is implicit
#: now; the forms are accepted when they name :db.part/db and add nothing.
_INSTALL_REVERSE = frozenset(p + k for p in (":", "") for k in (
    "db.install/_attribute", "db.alter/_attribute", "db.install/_partition"))
_INSTALL_FORWARD = frozenset(p + k for p in (":", "") for k in (
    "db.install/attribute", "db.alter/attribute", "db.install/partition"))
_PART_DB = ":db.part/db"


def _is_lookup_form(x: Any) -> bool:
    return (isinstance(x, (tuple, list)) and len(x) == 2 and not isinstance(x, TupleValue)
            and isinstance(x[0], str) and not isinstance(x[0], Symbol))


class _Expander:
    __slots__ = ("db", "schema", "out", "depth", "level")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.schema = db.schema
        self.out = Expanded()
        self.depth = 0
        # Entity maps are expanded with a stack of generators, not by recursion, so maps
        # nested in maps cost no Python stack; their nesting is bounded as EDN's is.
        self.level = 0  # nesting level of the map being expanded (0: a top-level form)

    def err(self, e: TransactionError) -> None:
        self.out.errors.append(e)

    # -- entity and value positions ------------------------------------------------

    def entity(self, x: Any, form: Any) -> Any:
        """Normalize an entity position: int, TempId, LookupRef; None after an error."""
        t = type(x)
        if t is int:
            if x <= 0:
                return TempId(x) if x < 0 else self._bad_entity(x, form)
            return x
        if t is str:
            if x.startswith(":"):
                return self._ident(x, form)
            return TX_TEMPID if x == "datomic.tx" else TempId(x)
        if t is Keyword:
            return self._ident(x, form)
        if _is_lookup_form(x):
            return self._lookup(x, form)
        if isinstance(x, TempId):
            return x
        if t is DbId:  # #db/id [:db.part/user -1]: the tempid -1; in :db.part/tx, the transaction
            return TX_TEMPID if x.part == ":db.part/tx" else TempId(x.idx)
        if isinstance(x, int) and not isinstance(x, bool):
            return self.entity(int(x), form)
        if isinstance(x, str):
            return self.entity(str(x), form)
        if hasattr(x, "eid") and isinstance(getattr(x, "eid"), int):  # an Entity
            return x.eid
        return self._bad_entity(x, form)

    def _bad_entity(self, x: Any, form: Any) -> None:
        self.err(InvalidTxData(f"{show(x)} is not an entity id, tempid, ident or lookup ref (in {show(form)})",
                               entity=x, form=form))
        return None

    def _ident(self, x: str, form: Any) -> Any:
        eid = self.schema.entid(x)
        if eid is None:
            self.err(UnknownEntity(f"no entity has the ident {x} (in {show(form)})", ident=x, form=form))
        return eid

    def _lookup(self, x: Any, form: Any) -> Any:
        attr = self.schema.attr(x[0])
        if attr is None:
            self.err(UnknownAttribute(f"lookup ref {show(list(x))} names unknown attribute {x[0]}",
                                      attribute=x[0], form=form))
            return None
        if attr.unique is None:
            self.err(InvalidTxData(f"lookup ref {show(list(x))}: {attr.ident} is not :db/unique",
                                   attribute=attr.ident, form=form))
            return None
        v = x[1]
        if attr.is_ref:
            v = self.entity(v, form)
            if v is None:
                return None
        else:
            try:
                v = coerce(attr, v)
            except TransactionError as exc:
                self.err(exc)
                return None
        return LookupRef(attr, v, x)

    def value(self, attr: Attr, x: Any, form: Any) -> Any:
        """Normalize a value: coerced scalar, or an entity position for refs."""
        if attr.is_ref:
            if isinstance(x, dict):
                return self.nested(attr, x, form)
            return self.entity(x, form)
        try:
            return coerce(attr, x)
        except TransactionError as exc:
            self.err(exc)
            return None
        except LimitExceeded:
            raise

    def nested(self, attr: Attr, m: dict[Any, Any], form: Any) -> Any:
        e = self._nested_entity(attr, m, form, self.level)
        if e is not None:
            self._expand_map(m, e, self.level + 1)
        return e

    def _nested_entity(self, attr: Attr, m: dict[Any, Any], form: Any, level: int) -> Any:
        """The entity of map ``m`` nested under ``attr`` (None after an error)."""
        if not attr.component and not any(
                (a := self.schema.attr(k)) is not None and a.unique for k in m if k not in _ID_KEYS):
            self.err(InvalidTxData(
                f"nested entity map under {attr.ident} must be a component or have a unique "
                f"attribute: {show(m)}", attribute=attr.ident, form=form))
            return None
        return self._map_entity(m, level + 1)

    # -- forms ---------------------------------------------------------------------

    def attribute(self, a: Any, form: Any) -> Attr | None:
        attr = self.schema.attr(a)
        if attr is None:
            if isinstance(a, (str, int)) and not isinstance(a, bool):
                self.err(UnknownAttribute(f"unknown attribute {a}: install it before use (in {show(form)})",
                                          attribute=a, form=form))
            else:
                self.err(InvalidTxData(f"{show(a)} is not an attribute (in {show(form)})", attribute=a, form=form))
        return attr

    def entity_map(self, m: dict[Any, Any]) -> Any:
        """Expand entity map ``m`` (and the maps nested in it); return its entity."""
        e = self._map_entity(m, self.level + 1)
        self._expand_map(m, e, self.level + 1)
        return e

    def _map_entity(self, m: dict[Any, Any], level: int) -> Any:
        if level > DEFAULT_MAX_DEPTH:
            raise LimitExceeded(f"entity maps nest more than {DEFAULT_MAX_DEPTH} levels deep "
                                "(the limit for EDN nesting)", limit=DEFAULT_MAX_DEPTH)
        eid_form = None
        for k in _ID_KEYS:
            if k in m:
                eid_form = m[k]
        return AutoTempId(next(_auto_ids)) if eid_form is None else self.entity(eid_form, m)

    def _expand_map(self, m: dict[Any, Any], e: Any, level: int) -> None:
        """Expand ``m`` depth first, as recursion would, but with a stack of generators:
        maps nested in maps cost no Python stack. O(total size)."""
        stack = [self._map_body(m, e, level)]
        saved = self.level
        try:
            while stack:
                try:
                    child = next(stack[-1])
                except StopIteration:
                    stack.pop()
                    continue
                stack.append(self._map_body(*child))
        finally:
            self.level = saved

    def _map_body(self, m: dict[Any, Any], e: Any, level: int
                  ) -> Iterator[tuple[dict[Any, Any], Any, int]]:
        """Append the ops of map ``m``; yields each nested map, to be expanded before the op
        that refers to it (the order recursion gives)."""
        ops = self.out.ops
        schema = self.schema
        for k, val in m.items():
            if k in _ID_KEYS:
                continue
            attr = schema.attr(k)
            if attr is None:
                if k in _INSTALL_REVERSE:
                    self._install(val, m)
                    continue
                if isinstance(k, str) and "/_" in k:
                    yield from self._reverse(e, k, val, m, level)
                    continue
                self.attribute(k, m)
                continue
            if attr.many and self._is_collection(attr, val):
                vals = val
            else:
                vals = (val,)
            for x in vals:
                if attr.is_ref and isinstance(x, dict):
                    v = self._nested_entity(attr, x, m, level)
                    if v is not None:
                        yield x, v, level + 1
                else:
                    self.level = level
                    v = self.value(attr, x, m)
                if v is not None and e is not None:
                    ops.append(Op(ADD, e, attr, v, m))

    def _install(self, part: Any, form: Any) -> None:
        """``:db.install/_attribute :db.part/db``: accepted, adds nothing (installing is implicit)."""
        if not (isinstance(part, str) and self.schema.entid(part) == self.schema.entid(_PART_DB)
                or part == self.schema.entid(_PART_DB)):
            self.err(InvalidTxData(f"{show(part)} is not :db.part/db: :db.install/_attribute and "
                                   f":db.alter/_attribute name the partition :db.part/db (in {show(form)})",
                                   form=form))

    def _is_collection(self, attr: Attr, val: Any) -> bool:
        if isinstance(val, (set, frozenset)):
            return True
        if isinstance(val, (list, tuple)) and not isinstance(val, TupleValue):
            if attr.value_type == TUPLE:
                return all(isinstance(x, (list, tuple)) for x in val)
            if attr.is_ref and _is_lookup_form(val) and self.schema.attr(val[0]) is not None:
                return False
            return True
        return False

    def _reverse(self, e: Any, k: str, val: Any, form: Any, level: int
                 ) -> Iterator[tuple[dict[Any, Any], Any, int]]:
        body = k[1:] if k.startswith(":") else k
        ns, _, name = body.rpartition("/")
        attr = self.schema.attr(f":{ns}/{name[1:]}")
        if attr is None or not attr.is_ref:
            self.err(UnknownAttribute(f"reverse attribute {k} does not name a ref attribute",
                                      attribute=k, form=form))
            return
        vals = val if isinstance(val, (list, set, frozenset)) or (
            isinstance(val, tuple) and not _is_lookup_form(val)) else (val,)
        for x in vals:
            if isinstance(x, dict):
                src = self._map_entity(x, level + 1)
                yield x, src, level + 1
            else:
                src = self.entity(x, form)
            if src is not None and e is not None:
                self.out.ops.append(Op(ADD, src, attr, e, form))

    def form(self, f: Any) -> None:
        if isinstance(f, dict):
            self.entity_map(f)
            return
        if not isinstance(f, (list, tuple)) or not f:
            self.err(InvalidTxData(f"tx-data item must be a list form or an entity map, got {show(f)}",
                                   form=f))
            return
        op = f[0]
        if not isinstance(op, str):
            self.err(InvalidTxData(f"list form must start with an operation keyword, got {show(f)}", form=f))
            return
        if op in _ADD_NAMES or op in _RETRACT_NAMES:
            is_add = op in _ADD_NAMES
            if len(f) != 4 and not (not is_add and len(f) == 3):
                self.err(InvalidTxData(f"{op} takes an entity, an attribute and a value: {show(f)}", form=f))
                return
            if is_add and len(f) == 4 and isinstance(f[2], str) and f[2] in _INSTALL_FORWARD:
                self._install(f[1], f)  # [:db/add :db.part/db :db.install/attribute e]
                self.entity(f[3], f)
                return
            e = self.entity(f[1], f)
            attr = self.attribute(f[2], f)
            if attr is None or e is None:
                return
            if attr.tuple_attrs is not None and is_add:
                self.err(InvalidTxData(f"{attr.ident} is a composite tuple: it is maintained by the "
                                       "store and cannot be asserted", attribute=attr.ident, form=f))
                return
            if len(f) == 3:
                self.out.retract_all.append((e, attr, f))
                return
            v = self.value(attr, f[3], f)
            if v is not None:
                self.out.ops.append(Op(ADD if is_add else RETRACT, e, attr, v, f))
            return
        if op in _CAS_NAMES:
            if len(f) != 5:
                self.err(InvalidTxData(f"{op} takes an entity, an attribute, the old and the new value: "
                                       f"{show(f)}", form=f))
                return
            e = self.entity(f[1], f)
            attr = self.attribute(f[2], f)
            if attr is None or e is None:
                return
            if attr.many:
                self.err(InvalidTxData(f":db/cas works on cardinality-one attributes only; {attr.ident} "
                                       "is cardinality many", attribute=attr.ident, form=f))
                return
            old = None if f[3] is None else self.value(attr, f[3], f)
            new = self.value(attr, f[4], f)
            if new is not None:
                self.out.cas.append((e, attr, old, new, f))
            return
        if op in _RETRACT_ENTITY_NAMES:
            if len(f) != 2:
                self.err(InvalidTxData(f"{op} takes one entity: {show(f)}", form=f))
                return
            e = self.entity(f[1], f)
            if e is not None:
                self.out.retract_entities.append((e, f))
            return
        fn = functions.lookup(op)
        if fn is None:
            self.err(UnknownTxFunction(f"unknown transaction function {op}: register it with "
                                       "register_tx_fn", function=op, form=f))
            return
        if self.depth >= MAX_FN_DEPTH:
            raise LimitExceeded(f"transaction functions nested deeper than {MAX_FN_DEPTH}", form=f)
        try:
            more = fn(self.db, *f[1:])
        except FactStoreError:
            raise
        except Exception as exc:  # a user's function failed: report it as data
            raise TxFunctionError(f"transaction function {op} raised {type(exc).__name__}: {exc}",
                                  function=op, form=f) from exc
        if more is None:
            return
        self.depth += 1
        try:
            for g in more:
                self.form(g)
        finally:
            self.depth -= 1


def expand(db: Database, tx_data: Any) -> Expanded:
    """Stage 1 of a transaction. Errors are collected in ``Expanded.errors``."""
    if isinstance(tx_data, (str, bytes, dict)) or not hasattr(tx_data, "__iter__"):
        raise InvalidTxData(f"tx-data must be a list of forms, got {type(tx_data).__name__}",
                            tx_data=tx_data)
    ex = _Expander(db)
    for f in tx_data:
        ex.form(f)
    return ex.out
