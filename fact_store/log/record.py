"""A tx record ↔ framed, versioned msgpack bytes.

Two layers live here, both pure functions on bytes:

**Payload** (what every store keeps per transaction, whatever its backend):
``msgpack([PAYLOAD_VERSION, instant, [[e, a, v, tx, added], ...]])``. Values
``v`` keep their exact type through a fixed ext-type table — never pickle:

======  ==================  ===============================================
 code    Python type         ext data
======  ==================  ===============================================
 (none)  int (signed 64-bit) msgpack int
 (none)  float, bool, None,  msgpack float64 / bool / nil / str / bin:
         str, bytes          ``1``, ``1.0`` and ``True`` stay distinct
 1       int beyond 64 bits  big-endian two's complement
 2       BigInt (any size)   big-endian two's complement
 3       Keyword             UTF-8 text, colon included
 4       Symbol              UTF-8 text
 5       datetime (aware)    int64 microseconds since 1970-01-01T00:00Z
 6       uuid.UUID           16 bytes
 7       decimal.Decimal     ``str(d)`` in ASCII (keeps the exponent: 1.0 ≠ 1.00)
 8       tuple               a msgpack array of values (may hold None)
======  ==================  ===============================================

An aware datetime is stored as its UTC instant and decodes in UTC; a naive
one is refused. A list, dict, set or any other type as a value is refused.

**Frame** (the file store's unit on disk, documented with the whole file
format in ``fact_store/log/file.py``): a 37-byte header — magic, record kind
(type and version), body length, t, tx uuid, CRC — then the body: the payload
(version 1), or an 8-byte durable watermark then the payload (version 2).

Decoding is safe on untrusted bytes: msgpack limits every length to the input
size, maps need str keys, only the ext codes above are accepted, nesting is
bounded, and every failure is a :class:`~fact_store.errors.LogCorrupted` (or
:class:`~fact_store.errors.UnsupportedFormat` for a newer payload version),
never a bare exception.

>>> from datetime import datetime, timezone
>>> from fact_store.edn.values import Keyword
>>> when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
>>> payload = encode_tx(when, [(1, 10, Keyword(":job/status"), 2, True), (1, 11, 1.0, 2, True)])
>>> decode_tx(payload) == (when, [(1, 10, Keyword(":job/status"), 2, True), (1, 11, 1.0, 2, True)])
True
>>> type(decode_tx(payload)[1][1][2])
<class 'float'>
"""

from __future__ import annotations

import reprlib
import struct
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple, Sequence

import msgpack

from fact_store.edn.values import BigInt, Keyword, Symbol
from fact_store.errors import LogCorrupted, StorageError, UnsupportedFormat

PAYLOAD_VERSION = 1

EXT_INT = 1
EXT_BIGINT = 2
EXT_KEYWORD = 3
EXT_SYMBOL = 4
EXT_INSTANT = 5
EXT_UUID = 6
EXT_DECIMAL = 7
EXT_TUPLE = 8

#: Tuples nest at most this deep (tuple attributes hold scalars; this is a guard).
MAX_TUPLE_DEPTH = 16
#: A Decimal's text is at most this long (Decimal("1e999999") is short; a
#: million digits of mantissa is not a value anyone stores on purpose).
MAX_DECIMAL_CHARS = 10_000

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_Q = struct.Struct(">q")

_NATIVE = (float, bool, str, bytes, type(None))
_VALUE_TYPES = frozenset({int, float, bool, str, bytes, type(None), Keyword, Symbol, BigInt,
                          datetime, uuid.UUID, Decimal, tuple})
_DECODE_ERRORS = (LogCorrupted, ValueError, TypeError, OverflowError, ArithmeticError,
                  RecursionError, IndexError)


# --- values -----------------------------------------------------------------

def _int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 8) // 8 or 1, "big", signed=True)


def _to_msgpack(v: Any, depth: int = 0) -> Any:
    """One value → a msgpack-native object or an ExtType (the fixed table)."""
    t = type(v)
    if t is int:
        if _INT64_MIN <= v <= _INT64_MAX:
            return v
        return msgpack.ExtType(EXT_INT, _int_bytes(v))
    if t in _NATIVE:
        return v
    if t is Keyword:
        return msgpack.ExtType(EXT_KEYWORD, str.encode(v, "utf-8"))
    if t is Symbol:
        return msgpack.ExtType(EXT_SYMBOL, str.encode(v, "utf-8"))
    if t is BigInt:
        return msgpack.ExtType(EXT_BIGINT, _int_bytes(int(v)))
    if t is datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise StorageError(f"cannot store the naive datetime {v!r}: give it a timezone "
                               "(datetime(..., tzinfo=timezone.utc))", value=v)
        return msgpack.ExtType(EXT_INSTANT, _Q.pack((v - _EPOCH) // _MICRO))
    if t is uuid.UUID:
        return msgpack.ExtType(EXT_UUID, v.bytes)
    if t is Decimal:
        return msgpack.ExtType(EXT_DECIMAL, str(v).encode("ascii"))
    if t is tuple or isinstance(v, tuple):  # TupleValue (tuple attributes) included
        if depth >= MAX_TUPLE_DEPTH:
            raise StorageError(f"tuple nested deeper than {MAX_TUPLE_DEPTH} levels", value=v)
        inner = [_to_msgpack(x, depth + 1) for x in v]
        return msgpack.ExtType(EXT_TUPLE, msgpack.packb(inner, use_bin_type=True,
                                                         strict_types=True))
    raise StorageError(
        f"cannot store a value of type {t.__name__} ({v!r:.80}); storable types are int, "
        "float, bool, None, str, bytes, Keyword, Symbol, BigInt, aware datetime, UUID, "
        "Decimal and tuples of these", value_type=t.__name__)


def _ext_hook(depth: int) -> Any:
    def hook(code: int, data: bytes) -> Any:
        if code == EXT_KEYWORD:
            text = data.decode("utf-8")
            if not text.startswith(":") or len(text) < 2:
                raise LogCorrupted(f"bad keyword text {text[:80]!r}")
            return Keyword(text)
        if code == EXT_SYMBOL:
            text = data.decode("utf-8")
            if not text:
                raise LogCorrupted("empty symbol")
            return Symbol(text)
        if code == EXT_INSTANT:
            if len(data) != 8:
                raise LogCorrupted(f"instant of {len(data)} bytes, expected 8")
            return _EPOCH + _Q.unpack(data)[0] * _MICRO
        if code == EXT_UUID:
            if len(data) != 16:
                raise LogCorrupted(f"uuid of {len(data)} bytes, expected 16")
            return uuid.UUID(bytes=data)
        if code == EXT_INT or code == EXT_BIGINT:
            if not data:
                raise LogCorrupted("empty integer")
            n = int.from_bytes(data, "big", signed=True)
            return BigInt(n) if code == EXT_BIGINT else n
        if code == EXT_DECIMAL:
            if len(data) > MAX_DECIMAL_CHARS:
                raise LogCorrupted(f"decimal of {len(data)} characters")
            return Decimal(data.decode("ascii"))
        if code == EXT_TUPLE:
            if depth >= MAX_TUPLE_DEPTH:
                raise LogCorrupted(f"tuple nested deeper than {MAX_TUPLE_DEPTH} levels")
            items = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True,
                                    ext_hook=_ext_hook(depth + 1), max_map_len=0)
            if type(items) is not list:
                raise LogCorrupted("tuple ext does not hold an array")
            for x in items:
                if type(x) not in _VALUE_TYPES:
                    raise LogCorrupted(f"tuple element of type {type(x).__name__}")
            return tuple(items)
        raise LogCorrupted(f"unknown msgpack ext type {code}; this build knows "
                           f"{EXT_INT}..{EXT_TUPLE}")
    return hook


_HOOK = _ext_hook(0)


def _packb(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True, strict_types=True, datetime=False)


def _fail_decode(what: str, exc: BaseException) -> LogCorrupted:
    if isinstance(exc, LogCorrupted):
        return LogCorrupted(f"{what} is not valid: {exc.message}", **exc.data)
    return LogCorrupted(f"{what} is not valid: {type(exc).__name__}: {exc}",
                        reason=type(exc).__name__)


def encode_value(v: Any) -> bytes:
    """One value → msgpack bytes, typed by the ext table.

    >>> decode_value(encode_value((1, None, 1.0, True)))
    (1, None, 1.0, True)
    >>> encode_value([1])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fact_store.errors.StorageError: cannot store a value of type list ([1]); ...

    :raises StorageError: the value (or a tuple element) has no storable type.
    """
    try:
        return _packb(_to_msgpack(v))
    except (UnicodeEncodeError, OverflowError, ValueError, TypeError) as exc:
        raise StorageError(f"cannot encode {v!r:.80}: {exc}") from exc


def decode_value(data: bytes) -> Any:
    """msgpack bytes from :func:`encode_value` → the value, with its exact type.

    :raises LogCorrupted: the bytes are not one encoded value.
    """
    try:
        v = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True,
                            ext_hook=_HOOK, max_map_len=0)
    except _DECODE_ERRORS as exc:
        raise _fail_decode("encoded value", exc) from exc
    if type(v) not in _VALUE_TYPES:
        raise LogCorrupted(f"encoded value is a {type(v).__name__}, not a storable value")
    return v


def pack(obj: Any) -> bytes:
    """A structure of lists, str-keyed dicts and values → msgpack bytes.

    For snapshot writers: lists and dicts are containers, everything else is a
    value typed by the ext table (a tuple is a value, so it comes back a tuple).

    >>> unpack(pack({"t": 3, "datoms": [[1, 2, (3, None), 4]]}))
    {'t': 3, 'datoms': [[1, 2, (3, None), 4]]}

    Runtime complexity: O(n) in the size of ``obj``.

    :raises StorageError: a value has no storable type, a dict key is not a str,
        or containers nest deeper than msgpack's limit (511).
    """
    try:
        return _packb(_prepare(obj))
    except (UnicodeEncodeError, OverflowError, ValueError, TypeError) as exc:
        raise StorageError(f"cannot encode: {exc}") from exc


def _default(v: Any) -> Any:
    return _to_msgpack(v)


def pack_flat(obj: Any) -> bytes:
    """Like :func:`pack` for lists of flat values, with the walk in msgpack's C code.

    Lists and str-keyed dicts are containers; everything else, tuples included, is a
    value typed by the ext table (the ``strict_types`` packer hands every non-native
    type, subclasses included, to the same table :func:`pack` uses). Integers beyond
    64 bits fall back to :func:`pack`. O(n), mostly in C.
    """
    try:
        return msgpack.packb(obj, use_bin_type=True, strict_types=True, default=_default)
    except OverflowError:
        return pack(obj)
    except (UnicodeEncodeError, ValueError, TypeError) as exc:
        raise StorageError(f"cannot encode: {exc}") from exc


def _prepare(obj: Any) -> Any:
    # Iterative over containers so a deep structure cannot exhaust the stack.
    t = type(obj)
    if t is not list and t is not dict:
        return _to_msgpack(obj)
    root: Any = [] if t is list else {}
    stack: list[tuple[Any, Any]] = [(obj, root)]
    while stack:
        src, dst = stack.pop()
        items = src.items() if type(src) is dict else enumerate(src)
        for k, x in items:
            if type(dst) is dict and type(k) is not str:
                raise StorageError(f"dict key {k!r:.40} is not a str; use a list of pairs")
            tx = type(x)
            if tx is list or tx is dict:
                y: Any = [] if tx is list else {}
                stack.append((x, y))
            else:
                y = _to_msgpack(x)
            if type(dst) is list:
                dst.append(y)
            else:
                dst[k] = y
    return root


def unpack(data: bytes, what: str = "msgpack data", use_list: bool = True) -> Any:
    """Inverse of :func:`pack`; safe on untrusted bytes.

    ``use_list=False`` returns arrays as tuples (snapshot loaders want index rows as tuples).

    No allocation beyond ``len(data)``; arrays nest at most msgpack's stack
    limit; only the ext table's types come back.

    :raises LogCorrupted: the bytes are not valid (``what`` names them in the message).
    """
    try:
        return msgpack.unpackb(data, raw=False, use_list=use_list, strict_map_key=True,
                               ext_hook=_HOOK, timestamp=0)
    except _DECODE_ERRORS as exc:
        raise _fail_decode(what, exc) from exc


# --- tx payload ---------------------------------------------------------------

def encode_tx(instant: datetime, datoms: Sequence[Sequence[Any]]) -> bytes:
    """A transaction's instant and datoms → payload bytes.

    ``datoms`` are ``(e, a, v, tx, added)``: ``e``, ``a``, ``tx`` ints (64-bit),
    ``added`` a bool, ``v`` any storable value. The stored datoms are the
    expanded ones (RELIABILITY.md R7): replay never runs code.

    Runtime complexity: O(number of datoms + their size).

    :raises StorageError: a datom is not a 5-tuple of the right types, a value
        has no storable type, or ``instant`` is not an aware datetime.
    """
    rows: list[list[Any]] = []
    try:
        for d in datoms:
            e, a, v, tx, added = d
            if (type(e) is not int or type(a) is not int or type(tx) is not int
                    or type(added) is not bool):
                raise StorageError(
                    f"datom {tuple(d)!r:.120} must be (int e, int a, v, int tx, bool added)",
                    datom=tuple(d))
            rows.append([e, a, _to_msgpack(v), tx, added])
        if type(instant) is not datetime:
            raise StorageError(f"tx instant {instant!r} is not a datetime")
        return _packb([PAYLOAD_VERSION, _to_msgpack(instant), rows])
    except (UnicodeEncodeError, OverflowError, ValueError, TypeError) as exc:
        raise StorageError(f"cannot encode the transaction: {exc}") from exc


def decode_tx(payload: bytes) -> tuple[datetime, list[tuple[Any, Any, Any, Any, bool]]]:
    """Payload bytes → ``(instant, [(e, a, v, tx, added), ...])``.

    Runtime complexity: O(len(payload)).

    :raises UnsupportedFormat: the payload was written by a newer version.
    :raises LogCorrupted: the bytes are not a valid payload (never another exception).
    """
    try:
        obj = msgpack.unpackb(payload, raw=False, use_list=True, strict_map_key=True,
                              ext_hook=_HOOK, max_map_len=0)
    except _DECODE_ERRORS as exc:
        raise _fail_decode("tx payload", exc) from exc
    if type(obj) is not list or len(obj) < 1 or type(obj[0]) is not int:
        raise LogCorrupted("tx payload is not valid: not a [version, instant, datoms] array")
    if obj[0] != PAYLOAD_VERSION:
        raise UnsupportedFormat(
            f"tx payload version {obj[0]}; this build reads version {PAYLOAD_VERSION}. "
            "Upgrade fact-store to read this log.", version=obj[0])
    if len(obj) != 3 or type(obj[1]) is not datetime or type(obj[2]) is not list:
        raise LogCorrupted("tx payload is not valid: not a [version, instant, datoms] array")
    out: list[tuple[Any, Any, Any, Any, bool]] = []
    for row in obj[2]:
        if type(row) is not list or len(row) != 5:
            raise LogCorrupted(f"tx payload is not valid: datom {reprlib.repr(row)} is not 5 items")
        e, a, v, tx, added = row
        if (type(e) is not int or type(a) is not int or type(tx) is not int
                or type(added) is not bool or type(v) not in _VALUE_TYPES):
            raise LogCorrupted(f"tx payload is not valid: datom {reprlib.repr(row)} has a bad type")
        out.append((e, a, v, tx, added))
    return obj[1], out


# --- frames -------------------------------------------------------------------

#: magic, kind, body length, t, tx uuid, crc — little-endian, 37 bytes.
FRAME = struct.Struct("<4sBIQ16sI")
FRAME_PREFIX = struct.Struct("<4sBIQ16s")
RECORD_MAGIC = b"\xd1TX\x1e"
#: High nibble: record type (1 = transaction); low nibble: record version.
#: Version 1: the body is the payload; the record implies every byte of the log
#: before it was durable when it was written.
KIND_TX_V1 = 0x11
#: Version 2: the body is an 8-byte *durable watermark* (the log offset up to
#: which the writer knew the log was durable when it wrote the record, <= the
#: record's own offset), then the payload. Same 37-byte header and CRC rule, so
#: an older build sees a valid frame of an unknown kind. The field holds the
#: bitwise complement of the offset, little-endian: never a run of zero bytes
#: (offsets are small), so zeros written over it always change the record.
KIND_TX_V2 = 0x12
#: Bytes a version-2 body holds before its payload.
WATERMARK_SIZE = 8
_WM_MASK = (1 << 64) - 1


def encode_watermark(durable: int) -> bytes:
    """The 8 bytes of a durable watermark (its complement, little-endian)."""
    return (durable ^ _WM_MASK).to_bytes(WATERMARK_SIZE, "little")


def decode_watermark(field: bytes | memoryview) -> int:
    """Inverse of :func:`encode_watermark`."""
    return int.from_bytes(field, "little") ^ _WM_MASK


class FrameHeader(NamedTuple):
    magic: bytes
    kind: int
    length: int
    t: int
    tx_uuid: bytes
    crc: int


def crc_seed(db_uuid: uuid.UUID) -> int:
    """The CRC start value for records of one database.

    Seeding every record's CRC with the database uuid makes a record copied from
    another database fail its check, like a torn one.
    """
    return zlib.crc32(db_uuid.bytes)


def encode_frame(seed: int, t: int, tx_uuid: uuid.UUID, payload: bytes,
                 durable: int | None = None) -> bytes:
    """Header + body bytes of one record (the CRC covers both).

    ``durable`` None: a version-1 frame (body = payload). Else a version-2 frame
    whose body starts with ``durable``, the durable watermark.

    >>> s = crc_seed(uuid.UUID(int=1))
    >>> frame = encode_frame(s, 1, uuid.UUID(int=2), b"abc")
    >>> len(frame), decode_frame(s, frame)[:2]
    (40, (1, UUID('00000000-0000-0000-0000-000000000002')))
    >>> frame2 = encode_frame(s, 1, uuid.UUID(int=2), b"abc", durable=64)
    >>> len(frame2), decode_frame(s, frame2)[2], frame_watermark(frame2, 100)
    (48, b'abc', 64)
    """
    if durable is None:
        kind, body = KIND_TX_V1, payload
    else:
        kind, body = KIND_TX_V2, encode_watermark(durable) + payload
    prefix = FRAME_PREFIX.pack(RECORD_MAGIC, kind, len(body), t, tx_uuid.bytes)
    crc = zlib.crc32(body, zlib.crc32(prefix, seed))
    return b"".join((prefix, crc.to_bytes(4, "little"), body))


def frame_crc(seed: int, header: bytes | memoryview, payload: bytes | memoryview) -> int:
    """The CRC a frame with this 37-byte ``header`` and body must carry."""
    return zlib.crc32(payload, zlib.crc32(header[:FRAME_PREFIX.size], seed))


def frame_watermark(frame: bytes | memoryview, offset: int) -> int | None:
    """The durable watermark of a whole, checked frame of a known kind that starts at
    log ``offset``: its field (version 2), or ``offset`` itself (version 1: every
    byte before it was durable); None for a version-2 body too short to hold one."""
    if frame[4] == KIND_TX_V1:
        return offset
    if len(frame) < FRAME.size + WATERMARK_SIZE:
        return None
    return decode_watermark(frame[FRAME.size:FRAME.size + WATERMARK_SIZE])


def decode_frame(seed: int, data: bytes, max_payload: int = 16 << 20
                 ) -> tuple[int, uuid.UUID, bytes]:
    """One whole frame → ``(t, tx_uuid, payload)``; the fuzzing entry point.

    :raises LogCorrupted: bad magic, length, CRC, or trailing bytes.
    :raises UnsupportedFormat: a valid frame of a record kind this build does not know.
    """
    if len(data) < FRAME.size:
        raise LogCorrupted(f"frame of {len(data)} bytes is shorter than its {FRAME.size}-byte header")
    h = FrameHeader(*FRAME.unpack_from(data))
    if h.magic != RECORD_MAGIC:
        raise LogCorrupted("frame does not start with the record magic")
    if h.length > max_payload + WATERMARK_SIZE or FRAME.size + h.length != len(data):
        raise LogCorrupted(f"frame length {h.length} does not match its {len(data)} bytes")
    body = data[FRAME.size:]
    if frame_crc(seed, data, body) != h.crc:
        raise LogCorrupted(f"frame CRC mismatch (t={h.t})", t=h.t)
    if h.kind == KIND_TX_V1:
        if h.length > max_payload:
            raise LogCorrupted(f"frame length {h.length} is above the maximum {max_payload}")
        return h.t, uuid.UUID(bytes=h.tx_uuid), body
    if h.kind == KIND_TX_V2:
        if h.length < WATERMARK_SIZE:  # a right CRC: not garbage, a format we cannot read
            raise UnsupportedFormat(f"version-2 frame body of {h.length} bytes has no "
                                    "watermark", kind=h.kind)
        return h.t, uuid.UUID(bytes=h.tx_uuid), body[WATERMARK_SIZE:]
    raise UnsupportedFormat(f"record kind 0x{h.kind:02x}; this build knows 0x{KIND_TX_V1:02x} "
                            f"and 0x{KIND_TX_V2:02x}", kind=h.kind)
