"""Attribute specs, bootstrap idents, and validating/coercing a value against its attribute.

Schema is data: attributes are entities installed by transacting maps such as
``{":db/ident": ":person/name", ":db/valueType": ":db.type/string",
":db/cardinality": ":db.cardinality/one"}``. A :class:`Schema` is an immutable
view of those datoms, rebuilt by the transaction that changes them.

>>> s = Schema.bootstrap()
>>> a = s.attr(":db/ident")
>>> a.id, a.value_type, a.many, a.unique
(1, Keyword(':db.type/keyword'), False, Keyword(':db.unique/identity'))
>>> s.attr("db/doc").ident
Keyword(':db/doc')
>>> coerce(s.attr(":db/doc"), "hello")
'hello'
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import uuid as _uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Iterable, Mapping

from fact_store.edn.writer import show as _edn_show
from fact_store.edn.values import Char, Keyword, Symbol
from fact_store.errors import InvalidValue, LimitExceeded, SchemaError

K = Keyword

# --- bootstrap ids ------------------------------------------------------------

DB_IDENT, DB_VALUE_TYPE, DB_CARDINALITY, DB_UNIQUE, DB_INDEX, DB_IS_COMPONENT = 1, 2, 3, 4, 5, 6
DB_NO_HISTORY, DB_DOC, DB_TX_INSTANT, DB_TUPLE_ATTRS, DB_TUPLE_TYPE, DB_TUPLE_TYPES = 7, 8, 9, 10, 11, 12

VALUE_TYPES = ("string", "keyword", "symbol", "boolean", "long", "bigint", "float", "double",
               "bigdec", "instant", "uuid", "uri", "bytes", "ref", "tuple")
TYPE_IDS = {K(f":db.type/{name}"): 20 + i for i, name in enumerate(VALUE_TYPES)}
CARD_ONE, CARD_MANY = K(":db.cardinality/one"), K(":db.cardinality/many")
UNIQUE_IDENTITY, UNIQUE_VALUE = K(":db.unique/identity"), K(":db.unique/value")
ENUM_IDS = {**TYPE_IDS, CARD_ONE: 40, CARD_MANY: 41, UNIQUE_IDENTITY: 42, UNIQUE_VALUE: 43,
            K(":db.part/db"): 50, K(":db.part/user"): 51, K(":db.part/tx"): 52}
REF = K(":db.type/ref")
TUPLE = K(":db.type/tuple")

#: Attributes whose datoms define the schema.
SCHEMA_ATTRS = frozenset({DB_IDENT, DB_VALUE_TYPE, DB_CARDINALITY, DB_UNIQUE, DB_INDEX,
                          DB_IS_COMPONENT, DB_NO_HISTORY, DB_TUPLE_ATTRS, DB_TUPLE_TYPE,
                          DB_TUPLE_TYPES})

#: Attributes a schema entity's datoms are read from (the schema ones and :db/doc).
SCHEMA_PROPS = SCHEMA_ATTRS | {DB_DOC}

#: Default limits (RELIABILITY V3); a connection may pass its own.
MAX_VALUE_BYTES = 1 << 20

_schema_versions = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Attr:
    """One installed attribute (public: ``fact_store.Attr``; ``db.schema.attr(x)`` returns one).

    ``id`` is the attribute's entity id and what datoms hold in their ``a``;
    ``ident`` its name; ``value_type`` a ``:db.type/...`` keyword; ``many``
    True for cardinality many; ``unique`` None, ``:db.unique/identity`` or
    ``:db.unique/value``; ``component``, ``no_history``, ``indexed`` the flags
    of the same names; ``tuple_attrs`` the part ids of a composite tuple,
    ``tuple_type``/``tuple_types`` those of a homogeneous/heterogeneous one;
    ``doc`` its ``:db/doc``.

    >>> a = Schema.bootstrap().attr(":db/txInstant")
    >>> a.id, a.ident, a.value_type, a.many, a.builtin
    (9, Keyword(':db/txInstant'), Keyword(':db.type/instant'), False, True)
    """

    id: int
    ident: Keyword
    value_type: Keyword
    many: bool = False
    unique: Keyword | None = None
    indexed: bool = False
    component: bool = False
    no_history: bool = False
    tuple_attrs: tuple[int, ...] | None = None
    tuple_type: Keyword | None = None
    tuple_types: tuple[Keyword, ...] | None = None
    doc: str | None = None

    @property
    def is_ref(self) -> bool:
        return self.value_type == REF

    @property
    def is_identity(self) -> bool:
        return self.unique == UNIQUE_IDENTITY

    @property
    def builtin(self) -> bool:
        """True for the attributes every database has (namespace ``db`` or ``db.*``)."""
        ns = self.ident[1:].split("/", 1)[0]
        return ns == "db" or ns.startswith("db.")


@dataclass(frozen=True, slots=True)
class AttributeInfo:
    """What ``db.attribute(ident)`` returns: one attribute's definition, as Datomic's d/attribute.

    ``cardinality`` is ``:db.cardinality/one`` or ``/many``; ``unique`` ``:db.unique/identity``,
    ``/value`` or None; ``indexed`` is what ``:db/index`` asked for, while ``has_avet`` is always
    true (AVET holds every attribute); ``fulltext`` is always false (no fulltext index yet);
    ``tuple_attrs`` names a composite tuple's attributes, ``tuple_type``/``tuple_types`` a
    tuple's value types.
    """

    id: int
    ident: Keyword
    value_type: Keyword
    cardinality: Keyword
    unique: Keyword | None
    indexed: bool
    has_avet: bool
    is_component: bool
    no_history: bool
    fulltext: bool
    tuple_attrs: tuple[Keyword, ...] | None
    tuple_type: Keyword | None
    tuple_types: tuple[Keyword, ...] | None
    doc: str | None

    @classmethod
    def of(cls, attr: Attr, schema: "Schema") -> "AttributeInfo":
        return cls(attr.id, attr.ident, attr.value_type, CARD_MANY if attr.many else CARD_ONE,
                   attr.unique, attr.indexed, True, attr.component, attr.no_history, False,
                   None if attr.tuple_attrs is None else tuple(schema.require(a).ident for a in attr.tuple_attrs),
                   attr.tuple_type, attr.tuple_types, attr.doc)


_BOOT: list[Attr] = [
    Attr(DB_IDENT, K(":db/ident"), K(":db.type/keyword"), unique=UNIQUE_IDENTITY,
         doc="The name of an entity, e.g. an attribute."),
    Attr(DB_VALUE_TYPE, K(":db/valueType"), REF, doc="The type of an attribute's values."),
    Attr(DB_CARDINALITY, K(":db/cardinality"), REF, doc="One value per entity, or many."),
    Attr(DB_UNIQUE, K(":db/unique"), REF, doc="Identity (upsert) or value uniqueness."),
    Attr(DB_INDEX, K(":db/index"), K(":db.type/boolean"), doc="Kept for compatibility: AVET holds every attribute."),
    Attr(DB_IS_COMPONENT, K(":db/isComponent"), K(":db.type/boolean"), doc="A ref to a part owned by the entity."),
    Attr(DB_NO_HISTORY, K(":db/noHistory"), K(":db.type/boolean"), doc="Keep no history for this attribute."),
    Attr(DB_DOC, K(":db/doc"), K(":db.type/string"), doc="Documentation."),
    Attr(DB_TX_INSTANT, K(":db/txInstant"), K(":db.type/instant"), indexed=True,
         doc="When the transaction was committed."),
    Attr(DB_TUPLE_ATTRS, K(":db/tupleAttrs"), TUPLE, tuple_type=K(":db.type/keyword"),
         doc="The attributes a composite tuple is made of."),
    Attr(DB_TUPLE_TYPE, K(":db/tupleType"), REF, doc="The value type of a homogeneous tuple."),
    Attr(DB_TUPLE_TYPES, K(":db/tupleTypes"), TUPLE, tuple_type=K(":db.type/keyword"),
         doc="The value types of a heterogeneous tuple."),
]

#: The ids of the attributes every database starts with (they cannot be altered).
BOOTSTRAP_ATTR_IDS = frozenset(a.id for a in _BOOT)


class Schema:
    """An immutable view of the installed attributes and idents (public: ``fact_store.Schema``,
    as ``db.schema``).

    ``attr(x)`` accepts an attribute id, a Keyword, or a string with or
    without the leading colon, and returns an :class:`Attr` or None;
    ``require(x)`` raises :class:`~fact_store.errors.SchemaError` instead;
    ``attrs()`` lists them all; ``entid(ident)`` and ``ident_of[eid]`` map
    idents and ids. ``version`` differs for every distinct schema (query plans
    are cached on it).
    """

    __slots__ = ("_by_id", "_by_ident", "idents", "ident_of", "version", "composites",
                 "ref_ids", "component_ids", "no_history_ids")

    def __init__(self, attrs: Iterable[Attr], idents: Mapping[Keyword, int]) -> None:
        self._by_id: dict[int, Attr] = {a.id: a for a in attrs}
        self.idents: dict[Keyword, int] = dict(idents)
        self.ident_of: dict[int, Keyword] = {eid: ident for ident, eid in self.idents.items()}
        self._by_ident: dict[str, Attr] = {}
        for a in self._by_id.values():
            self._by_ident[a.ident] = a
            self._by_ident[a.ident[1:]] = a
        self.version = next(_schema_versions)
        #: attr id -> composite tuple attrs that include it
        comp: dict[int, list[Attr]] = {}
        for a in self._by_id.values():
            for part in a.tuple_attrs or ():
                comp.setdefault(part, []).append(a)
        self.composites = {k: tuple(v) for k, v in comp.items()}
        self.ref_ids = frozenset(a.id for a in self._by_id.values() if a.is_ref)
        self.component_ids = frozenset(a.id for a in self._by_id.values() if a.component)
        self.no_history_ids = frozenset(a.id for a in self._by_id.values() if a.no_history)

    @classmethod
    def bootstrap(cls) -> "Schema":
        idents = {a.ident: a.id for a in _BOOT}
        idents.update(ENUM_IDS)
        return cls(_BOOT, idents)

    def attr(self, x: Any) -> Attr | None:
        """The attribute named or numbered ``x``, or None. O(1)."""
        if type(x) is int:
            return self._by_id.get(x)
        if isinstance(x, str):
            return self._by_ident.get(x)
        return None

    def require(self, x: Any) -> Attr:
        """Like :meth:`attr` but raises SchemaError for an unknown attribute."""
        a = self.attr(x)
        if a is None:
            raise SchemaError(f"unknown attribute {x!r}: install it with a schema map first",
                              attribute=x)
        return a

    def attrs(self) -> list[Attr]:
        """Every installed attribute, by id."""
        return [self._by_id[k] for k in sorted(self._by_id)]

    def entid(self, ident: str) -> int | None:
        """The entity id named by ``ident`` (a Keyword or ':'-prefixed string), or None."""
        eid: int | None = self.idents.get(ident)  # type: ignore[call-overload]
        if eid is None and isinstance(ident, str) and not ident.startswith(":"):
            eid = self.idents.get(":" + ident)  # type: ignore[call-overload]
        return eid

    def with_changes(self, attrs: Iterable[Attr], idents: Mapping[Keyword, int],
                     removed_idents: Iterable[Keyword] = ()) -> "Schema":
        by_id = dict(self._by_id)
        for a in attrs:
            by_id[a.id] = a
        new_idents = dict(self.idents)
        for k in removed_idents:
            new_idents.pop(k, None)
        new_idents.update(idents)
        return Schema(by_id.values(), new_idents)


# --- values -------------------------------------------------------------------

class TupleValue(tuple):  # type: ignore[type-arg]
    """A tuple attribute's value: a tuple that orders nil before everything.

    >>> sorted([TupleValue((1, None)), TupleValue((1, 2)), TupleValue((None, 5))])
    [TupleValue((None, 5)), TupleValue((1, None)), TupleValue((1, 2))]
    """

    __slots__ = ()

    def _key(self: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple((0,) if x is None else (1, x) for x in self)

    def __lt__(self, other: Any) -> bool:
        if isinstance(other, tuple):
            return self._key() < TupleValue._key(other)
        return NotImplemented

    def __le__(self, other: Any) -> bool:
        if isinstance(other, tuple):
            return self._key() <= TupleValue._key(other)
        return NotImplemented

    def __gt__(self, other: Any) -> bool:
        if isinstance(other, tuple):
            return self._key() > TupleValue._key(other)
        return NotImplemented

    def __ge__(self, other: Any) -> bool:
        if isinstance(other, tuple):
            return self._key() >= TupleValue._key(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"TupleValue({tuple.__repr__(self)})"


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
#: str subclasses that are other EDN types: never accepted as text.
_NOT_TEXT = (Keyword, Symbol, Char)
_UTC = _dt.timezone.utc


#: The longest bigdec text the log accepts (record.MAX_DECIMAL_CHARS): refused here, before commit.
MAX_DECIMAL_CHARS = 10_000
#: The most decimal digits of a bigint: below Python's default int-string limit (4,300), so
#: every accepted bigint prints, queries and exports in any process.
MAX_BIGINT_DIGITS = 4_000
_BIGINT_BOUND = 10 ** MAX_BIGINT_DIGITS


def show(value: Any, limit: int = 80) -> str:
    """``value`` as EDN text for a message, cut near ``limit`` characters; never raises.

    >>> show(2 ** 20000)
    '#object[int of 20001 bits]'
    >>> show("x" * 100, 10)
    '"xxxxxxxx …"'
    >>> show([Keyword(":a/b"), 1])
    '[:a/b 1]'
    """
    return _edn_show(value, limit)


def _bad(attr: Attr, value: Any, expected: str) -> InvalidValue:
    return InvalidValue(
        f"value {show(value)} of {attr.ident} is not a valid {attr.value_type}: expected {expected}",
        attribute=attr.ident, value=value, value_type=attr.value_type)


def _too_long(attr: Attr, size: int, limit: int, unit: str = "bytes") -> LimitExceeded:
    return LimitExceeded(f"value of {attr.ident} is {size} {unit} long, more than the limit of "
                         f"{limit}", attribute=attr.ident, limit=limit)


def _check_unicode(attr: Attr, value: str) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate such as ``"\\ud800"``)."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidValue(
            f"value of {attr.ident} is not valid Unicode text: a lone surrogate "
            f"{value[exc.start]!a} at character {exc.start}", attribute=attr.ident,
            value_type=attr.value_type) from None


def coerce_scalar(value_type: str, attr: Attr, value: Any) -> Any:
    """Check ``value`` against a scalar value type; return the stored form."""
    t = value_type
    if t == ":db.type/string" or t == ":db.type/uri":
        # Exact: a Keyword, Symbol or Char is a str in Python but not a string in EDN or
        # Datomic; storing :oleg as the string ":oleg" would change the value's type.
        if not isinstance(value, str) or isinstance(value, _NOT_TEXT):
            raise _bad(attr, value, "a string")
        _check_unicode(attr, value)
        if len(value) > MAX_VALUE_BYTES // 4 and len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
            raise LimitExceeded(f"value of {attr.ident} is longer than {MAX_VALUE_BYTES} bytes",
                                attribute=attr.ident, limit=MAX_VALUE_BYTES)
        return str(value) if type(value) is not str else value
    if t == ":db.type/long":
        if type(value) is not int and not (isinstance(value, int) and not isinstance(value, bool)):
            raise _bad(attr, value, "an integer")
        if not _I64_MIN <= value <= _I64_MAX:
            raise _bad(attr, value, "a 64-bit integer (use :db.type/bigint for larger)")
        return int(value)
    if t == ":db.type/keyword":
        if not isinstance(value, str) or isinstance(value, (Symbol, Char)) or value in ("", ":"):
            raise _bad(attr, value, "a keyword")
        _check_unicode(attr, value)
        if len(value) > MAX_VALUE_BYTES // 4 and len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
            raise _too_long(attr, len(value.encode("utf-8", "surrogatepass")), MAX_VALUE_BYTES)
        return Keyword(value)
    if t == ":db.type/boolean":
        if type(value) is not bool:
            raise _bad(attr, value, "true or false")
        return value
    if t == ":db.type/double" or t == ":db.type/float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(attr, value, "a number")
        f = float(value)
        if math.isnan(f):
            raise _bad(attr, value, "a number that is not NaN (NaN is refused: it has no place in a sorted index)")
        return f
    if t == ":db.type/instant":
        if isinstance(value, _dt.datetime):
            return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
        raise _bad(attr, value, "a datetime")
    if t == ":db.type/uuid":
        if isinstance(value, _uuid.UUID):
            return value
        if isinstance(value, str) and not isinstance(value, _NOT_TEXT):
            try:
                return _uuid.UUID(value)
            except ValueError:
                pass
        raise _bad(attr, value, "a UUID")
    if t == ":db.type/bigint":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(attr, value, "an integer")
        if value.bit_length() > 13_000 and abs(value) >= _BIGINT_BOUND:
            raise LimitExceeded(f"value of {attr.ident} has more than {MAX_BIGINT_DIGITS} "
                                "digits, the limit for a bigint", attribute=attr.ident,
                                limit=MAX_BIGINT_DIGITS)
        return int(value)
    if t == ":db.type/bigdec":
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise _bad(attr, value, "a Decimal")
        d = Decimal(value)
        if d.is_nan():
            raise _bad(attr, value, "a Decimal that is not NaN")
        if len(d.as_tuple().digits) + 32 > MAX_DECIMAL_CHARS and len(str(d)) > MAX_DECIMAL_CHARS:
            raise _too_long(attr, len(str(d)), MAX_DECIMAL_CHARS, "characters")
        return d
    if t == ":db.type/symbol":
        if not isinstance(value, str) or isinstance(value, (Keyword, Char)) or not value:
            raise _bad(attr, value, "a symbol")
        _check_unicode(attr, value)
        if len(value) > MAX_VALUE_BYTES // 4 and len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
            raise _too_long(attr, len(value.encode("utf-8", "surrogatepass")), MAX_VALUE_BYTES)
        return Symbol(value)
    if t == ":db.type/bytes":
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise _bad(attr, value, "bytes")
        b = bytes(value)
        if len(b) > MAX_VALUE_BYTES:
            raise LimitExceeded(f"value of {attr.ident} is longer than {MAX_VALUE_BYTES} bytes",
                                attribute=attr.ident, limit=MAX_VALUE_BYTES)
        return b
    if t == ":db.type/ref":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise _bad(attr, value, "an entity id")
        return value
    raise _bad(attr, value, f"a value of a known type (unknown type {t})")


def coerce(attr: Attr, value: Any) -> Any:
    """Check ``value`` against ``attr``'s value type and return the stored form.

    Refs must already be resolved to entity ids.

    >>> a = Attr(100, K(":a/n"), K(":db.type/long"))
    >>> coerce(a, 5)
    5
    >>> coerce(a, True)
    Traceback (most recent call last):
    ...
    fact_store.errors.InvalidValue: value true of :a/n is not a valid :db.type/long: expected an integer

    :raises InvalidValue: a value of the wrong type or out of range.
    """
    vt = attr.value_type
    if vt == TUPLE:
        if not isinstance(value, (tuple, list)):
            raise _bad(attr, value, "a tuple")
        if attr.tuple_types is not None:
            if len(value) != len(attr.tuple_types):
                raise _bad(attr, value, f"a tuple of {len(attr.tuple_types)} values")
            return TupleValue(None if x is None else coerce_scalar(t, attr, x)
                              for t, x in zip(attr.tuple_types, value))
        if attr.tuple_type is not None:
            if not 2 <= len(value) <= 8:
                raise _bad(attr, value, "a tuple of 2 to 8 values")
            return TupleValue(None if x is None else coerce_scalar(attr.tuple_type, attr, x)
                              for x in value)
        if attr.tuple_attrs is not None:
            if len(value) != len(attr.tuple_attrs):
                raise _bad(attr, value, f"a tuple of {len(attr.tuple_attrs)} values")
            return TupleValue(value)
        raise _bad(attr, value, "a tuple")
    return coerce_scalar(vt, attr, value)


def attr_from_entity(eid: int, props: Mapping[int, Any], ident_of: Mapping[int, Keyword],
                     schema: Schema) -> Attr | None:
    """Build the Attr of entity ``eid`` from its current schema datoms ``props`` (attr id -> v).

    Returns None when the entity is not an attribute (no valueType).

    :raises SchemaError: an incomplete or inconsistent attribute spec.
    """
    ident = props.get(DB_IDENT)
    vt_id = props.get(DB_VALUE_TYPE)
    if vt_id is None:
        for key in (DB_CARDINALITY, DB_UNIQUE, DB_IS_COMPONENT, DB_TUPLE_ATTRS):
            if key in props:
                raise SchemaError(f"attribute {ident or eid} has no :db/valueType", entity=eid)
        return None
    if ident is None:
        raise SchemaError(f"attribute entity {eid} has no :db/ident", entity=eid)
    vt = ident_of.get(vt_id)
    if vt not in TYPE_IDS:
        raise SchemaError(f"{ident}: :db/valueType must be one of {', '.join(TYPE_IDS)}, got {vt or vt_id}",
                          attribute=ident)
    card = ident_of.get(props.get(DB_CARDINALITY))  # type: ignore[arg-type]
    if card not in (CARD_ONE, CARD_MANY):
        raise SchemaError(f"{ident}: :db/cardinality must be :db.cardinality/one or :db.cardinality/many",
                          attribute=ident)
    unique = None
    if DB_UNIQUE in props:
        unique = ident_of.get(props[DB_UNIQUE])
        if unique not in (UNIQUE_IDENTITY, UNIQUE_VALUE):
            raise SchemaError(f"{ident}: :db/unique must be :db.unique/identity or :db.unique/value",
                              attribute=ident)
    component = bool(props.get(DB_IS_COMPONENT, False))
    if component and vt != REF:
        raise SchemaError(f"{ident}: only ref attributes can be :db/isComponent", attribute=ident)
    tuple_attrs = tuple_type = tuple_types = None
    if vt == TUPLE:
        ta, tt, tts = props.get(DB_TUPLE_ATTRS), props.get(DB_TUPLE_TYPE), props.get(DB_TUPLE_TYPES)
        if sum(x is not None for x in (ta, tt, tts)) != 1:
            raise SchemaError(f"{ident}: a tuple attribute needs exactly one of :db/tupleAttrs, "
                              ":db/tupleType, :db/tupleTypes", attribute=ident)
        if ta is not None:
            ids = []
            for part in ta:
                pa = schema.attr(part)
                if pa is None:
                    raise SchemaError(f"{ident}: :db/tupleAttrs names unknown attribute {part}",
                                      attribute=ident)
                if pa.value_type == TUPLE or pa.many:
                    raise SchemaError(f"{ident}: {part} cannot be part of a composite tuple "
                                      "(tuple or cardinality-many)", attribute=ident)
                ids.append(pa.id)
            if not 2 <= len(ids) <= 8:
                raise SchemaError(f"{ident}: :db/tupleAttrs needs 2 to 8 attributes", attribute=ident)
            tuple_attrs = tuple(ids)
        elif tt is not None:
            tuple_type = ident_of.get(tt)
            if tuple_type not in TYPE_IDS or tuple_type in (TUPLE,):
                raise SchemaError(f"{ident}: bad :db/tupleType {tuple_type or tt}", attribute=ident)
        else:
            types = []
            for x in tts or ():
                k = Keyword(x) if isinstance(x, str) else None
                if k not in TYPE_IDS or k == TUPLE:
                    raise SchemaError(f"{ident}: bad type {x} in :db/tupleTypes", attribute=ident)
                types.append(k)
            tuple_types = tuple(types)
    return Attr(eid, Keyword(ident), vt, many=card == CARD_MANY, unique=unique,
                indexed=bool(props.get(DB_INDEX, False)), component=component,
                no_history=bool(props.get(DB_NO_HISTORY, False)), tuple_attrs=tuple_attrs,
                tuple_type=tuple_type, tuple_types=tuple_types, doc=props.get(DB_DOC))


def check_change(old: Attr, new: Attr) -> None:
    """Refuse the schema changes Datomic refuses (the data checks live in tx/apply).

    >>> a = Attr(100, K(":a/n"), K(":db.type/long"))
    >>> check_change(a, replace(a, many=True))
    >>> check_change(a, replace(a, value_type=K(":db.type/string")))
    Traceback (most recent call last):
    ...
    fact_store.errors.SchemaError: cannot change :db/valueType of :a/n from :db.type/long to :db.type/string
    """
    if old.value_type != new.value_type:
        raise SchemaError(f"cannot change :db/valueType of {old.ident} from {old.value_type} to "
                          f"{new.value_type}", attribute=old.ident)
    if old.tuple_attrs != new.tuple_attrs or old.tuple_type != new.tuple_type \
            or old.tuple_types != new.tuple_types:
        raise SchemaError(f"cannot change the tuple definition of {old.ident}", attribute=old.ident)


# --- the schema from datoms (pure: tx/apply and peer both use these) ----------------------

def schema_from_datoms(current: Iterable[tuple[int, int, Any, Any]]) -> Schema:
    """Rebuild the Schema from the current datoms ``(e, a, v, tx)`` of a db (any order).

    >>> s = schema_from_datoms([(100, DB_IDENT, ":a/n", 0), (100, DB_VALUE_TYPE, 24, 0),
    ...                         (100, DB_CARDINALITY, 40, 0)])
    >>> s.attr(":a/n").value_type, s.attr(":a/n").many
    (Keyword(':db.type/long'), False)
    """
    boot = Schema.bootstrap()
    props: dict[int, dict[int, Any]] = {}
    idents: dict[Keyword, int] = {}
    for e, a, v, _tx in current:
        if a in SCHEMA_PROPS:
            props.setdefault(e, {})[a] = v
        if a == DB_IDENT:
            idents[Keyword(v)] = e
    interim = boot.with_changes([], idents)
    ident_of = interim.ident_of
    attrs = []
    composite = []
    for e, p in props.items():
        if DB_TUPLE_ATTRS in p:  # composites name their parts: build them last
            composite.append((e, p))
            continue
        attr = attr_from_entity(e, p, ident_of, interim)
        if attr is not None:
            attrs.append(attr)
    if composite:
        interim = interim.with_changes(attrs, {})
        attrs += [a for a in (attr_from_entity(e, p, ident_of, interim) for e, p in composite)
                  if a is not None]
    return interim.with_changes(attrs, {})


def schema_entities(adds: Iterable[tuple[int, int, Any]],
                    retracts: Iterable[tuple[int, int, Any, int]]) -> set[int]:
    """The entities whose schema datoms a transaction changes (empty: the schema stays)."""
    es = {e for e, a, _ in adds if a in SCHEMA_ATTRS}
    es.update(e for e, a, _, _ in retracts if a in SCHEMA_ATTRS)
    return es


def schema_after(schema: Schema, before: Mapping[int, Mapping[int, Any]],
                 adds: Iterable[tuple[int, int, Any]],
                 retracts: Iterable[tuple[int, int, Any, int]]) -> Schema:
    """The schema after a transaction that changes the schema entities of ``before``.

    ``before`` maps each changed entity to its schema datoms before the
    transaction (attr id -> v, see :data:`SCHEMA_PROPS`).

    :raises SchemaError: a change Datomic refuses (:func:`check_change`, an ident
        taken, a definition retracted, a bootstrap attribute altered).
    """
    ident_of = dict(schema.ident_of)
    props: dict[int, dict[int, Any]] = {e: dict(p) for e, p in before.items()}
    for e, a, v, _ in retracts:
        if e in props and props[e].get(a) == v:
            del props[e][a]
    for e, a, v in adds:
        if e in props:
            props[e][a] = v
    removed: list[Keyword] = []
    new_idents: dict[Keyword, int] = {}
    for e in props:
        old_ident = schema.ident_of.get(e)
        ident = props[e].get(DB_IDENT)
        if old_ident is not None and old_ident != ident:
            removed.append(old_ident)
            ident_of.pop(e, None)
        if ident is not None:
            owner = schema.idents.get(ident)
            if owner is not None and owner != e:
                raise SchemaError(f"ident {ident} already names entity {owner}", ident=ident)
            new_idents[Keyword(ident)] = e
            ident_of[e] = Keyword(ident)
    interim = schema.with_changes([], new_idents, removed)
    attrs: list[Attr] = []
    for e in props:
        old = schema.attr(e)
        new = attr_from_entity(e, props[e], ident_of, interim)
        if old is not None:
            if new is None:
                raise SchemaError(f"cannot retract the definition of installed attribute {old.ident}",
                                  attribute=old.ident)
            check_change(old, new)
        if new is not None:
            if old is not None and new != old and old.id in BOOTSTRAP_ATTR_IDS:
                raise SchemaError(f"cannot alter bootstrap attribute {old.ident}", attribute=old.ident)
            attrs.append(new)
    return schema.with_changes(attrs, new_idents, removed)


__all__ = ["Attr", "AttributeInfo", "Schema", "TupleValue", "coerce", "check_change", "attr_from_entity", "replace",
           "schema_from_datoms", "schema_entities", "schema_after", "SCHEMA_ATTRS", "SCHEMA_PROPS",
           "BOOTSTRAP_ATTR_IDS"]
