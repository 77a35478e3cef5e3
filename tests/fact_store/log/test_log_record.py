"""record.py: payloads and frames round-trip exactly and decode safely."""

from __future__ import annotations

import math
import struct
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fact_store.edn.values import BigInt, Char, FrozenList, FrozenMap, Keyword, Symbol
from fact_store.errors import LogCorrupted, StorageError, UnsupportedFormat
from fact_store.log import record as rec

UTC = timezone.utc

scalars = st.one_of(
    st.integers(min_value=-(2**200), max_value=2**200),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(),
    st.binary(),
    st.from_regex(r"\A[a-z][a-z0-9.\-]{0,10}(/[a-z][a-z0-9\-]{0,10})?\Z").map(Keyword),
    st.from_regex(r"\A[?a-z][a-z0-9.\-]{0,10}\Z").map(Symbol),
    st.integers(min_value=-(2**100), max_value=2**100).map(BigInt),
    st.datetimes(timezones=st.just(UTC)),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=True),
)
values = st.one_of(scalars, st.lists(st.one_of(scalars, st.none()), max_size=4).map(tuple))


def same(a: Any, b: Any) -> bool:
    """Type-exact equality: 1, 1.0 and True differ; NaN equals NaN; -0.0 differs from 0.0."""
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is float:
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if type(a) is Decimal:
        return str(a) == str(b)
    return bool(a == b)


@given(values)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_every_storable_value_round_trips_with_its_exact_type(v: Any) -> None:
    assert same(rec.decode_value(rec.encode_value(v)), v)


@given(st.lists(st.tuples(st.integers(0, 2**62), st.integers(0, 2**40), values,
                          st.integers(0, 2**62), st.booleans()), max_size=20),
       st.datetimes(timezones=st.just(UTC)))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_tx_payload_round_trips(datoms: list[tuple[Any, ...]], instant: datetime) -> None:
    got_instant, got = rec.decode_tx(rec.encode_tx(instant, datoms))
    assert got_instant == instant
    assert len(got) == len(datoms)
    for g, d in zip(got, datoms):
        assert all(same(x, y) for x, y in zip(g, d))


def test_1_and_1_0_and_true_stay_three_distinct_values() -> None:
    datoms = [(1, 2, 1, 3, True), (1, 2, 1.0, 3, True), (1, 2, True, 3, True),
              (1, 2, BigInt(1), 3, True), (1, 2, Decimal("1.0"), 3, True),
              (1, 2, Decimal("1.00"), 3, True)]
    _, got = rec.decode_tx(rec.encode_tx(datetime.now(UTC), datoms))
    assert [type(d[2]) for d in got] == [int, float, bool, BigInt, Decimal, Decimal]
    assert [repr(d[2]) for d in got] == ["1", "1.0", "True", "BigInt(1)", "Decimal('1.0')",
                                        "Decimal('1.00')"]


def test_edge_values_round_trip() -> None:
    edge = [2**63 - 1, -(2**63), 2**63, 2**64, -(2**63) - 1, 2**200, -0.0, math.inf, -math.inf,
            "", "\x00", "é\u0301", "\U0001f600", b"", (None,), (), (1, (2, "x")),
            datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            Decimal("-0"), Decimal("1E+400"), Decimal("sNaN"), Keyword(":a"), Symbol("...")]
    for v in edge:
        assert same(rec.decode_value(rec.encode_value(v)), v), v


def test_an_aware_non_utc_datetime_comes_back_as_the_same_instant_in_utc() -> None:
    v = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    got = rec.decode_value(rec.encode_value(v))
    assert got == v and got.tzinfo == UTC and got.hour == 10


@pytest.mark.parametrize("bad", [
    [1], {"a": 1}, {1}, frozenset(), bytearray(b"x"), Char("a"),
    datetime(2024, 1, 1), object(), "\ud800", Keyword(":a\ud800"), (1, [2]),
    FrozenMap({"a": 1}), FrozenList([1]), (1, FrozenMap()),  # EDN maps/lists read in sets: no datom value
], ids=repr)
def test_unstorable_values_are_refused_with_storage_error(bad: Any) -> None:
    with pytest.raises(StorageError):
        rec.encode_value(bad)
    with pytest.raises(StorageError):
        rec.encode_tx(datetime.now(UTC), [(1, 2, bad, 3, True)])


@pytest.mark.parametrize("datom", [(1.0, 2, 3, 4, True), (1, 2, 3, 4, 1), (True, 2, 3, 4, True),
                                   (1, 2, 3), (1, 2, 3, "4", False)], ids=repr)
def test_malformed_datoms_are_refused(datom: tuple[Any, ...]) -> None:
    with pytest.raises(StorageError, match="datom|cannot encode"):
        rec.encode_tx(datetime.now(UTC), [datom])


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(StorageError, match="naive datetime"):
        rec.encode_tx(datetime(2024, 1, 1), [])


def test_a_newer_payload_version_is_unsupported() -> None:
    payload = msgpack.packb([rec.PAYLOAD_VERSION + 1, None, []])
    with pytest.raises(UnsupportedFormat, match="payload version 2"):
        rec.decode_tx(payload)


@pytest.mark.parametrize("payload", [
    b"", b"\xc1", msgpack.packb({"a": 1}), msgpack.packb([1]), msgpack.packb([1, 2, 3]),
    msgpack.packb([1, msgpack.ExtType(5, b"\x00" * 8), [[1, 2, 3]]]),
    msgpack.packb([1, msgpack.ExtType(5, b"\x00" * 8), [[1, 2, [3], 4, True]]]),
    msgpack.packb([1, msgpack.ExtType(5, b"\x00" * 8), [[1, 2, msgpack.ExtType(99, b""), 4, True]]]),
    msgpack.packb([1, msgpack.ExtType(5, b"\x00" * 7), []]),
    msgpack.packb([1, msgpack.ExtType(5, b"\x7f" * 8), []]),
    msgpack.packb([1, msgpack.Timestamp(1, 0), []]),
    b"\x91" * 5000,
], ids=lambda b: repr(b[:20]))
def test_bad_payloads_raise_log_corrupted_only(payload: bytes) -> None:
    with pytest.raises(LogCorrupted, match="not valid"):
        rec.decode_tx(payload)


@given(st.binary(max_size=200))
@settings(max_examples=1000)
def test_arbitrary_bytes_never_raise_anything_but_storage_errors(data: bytes) -> None:
    for fn in (rec.decode_tx, rec.decode_value, rec.unpack):
        try:
            fn(data)
        except (LogCorrupted, UnsupportedFormat):
            pass
    try:
        rec.decode_frame(rec.crc_seed(uuid.UUID(int=1)), data)
    except (LogCorrupted, UnsupportedFormat):
        pass


@given(st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_valid_payloads_decode_or_raise_log_corrupted(data: st.DataObject) -> None:
    datoms = [(1, 2, v, 3, True) for v in data.draw(st.lists(values, min_size=1, max_size=5))]
    payload = bytearray(rec.encode_tx(datetime.now(UTC), datoms))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(payload) - 1))
        payload[i] = data.draw(st.integers(0, 255))
    try:
        rec.decode_tx(bytes(payload))
    except (LogCorrupted, UnsupportedFormat):
        pass


def test_frames_detect_any_single_bit_flip() -> None:
    seed = rec.crc_seed(uuid.UUID(int=5))
    frame = rec.encode_frame(seed, 7, uuid.UUID(int=9), b"some payload bytes")
    assert rec.decode_frame(seed, frame) == (7, uuid.UUID(int=9), b"some payload bytes")
    for i in range(len(frame) * 8):
        bad = bytearray(frame)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises((LogCorrupted, UnsupportedFormat)):
            rec.decode_frame(seed, bytes(bad))


def test_a_frame_from_another_database_fails_its_crc() -> None:
    frame = rec.encode_frame(rec.crc_seed(uuid.UUID(int=1)), 1, uuid.UUID(int=2), b"x")
    with pytest.raises(LogCorrupted, match="CRC"):
        rec.decode_frame(rec.crc_seed(uuid.UUID(int=3)), frame)


def test_pack_handles_str_keyed_maps_and_refuses_other_keys() -> None:
    obj = {"t": 3, "eavt": [[1, 2, Keyword(":x"), 3], [1, 2, (None, 1.5), 3]], "nested": {"a": []}}
    assert rec.unpack(rec.pack(obj)) == obj
    with pytest.raises(StorageError, match="not a str"):
        rec.pack({1: 2})
    def nested(depth: int) -> list[Any]:
        root: list[Any] = []
        cur = root
        for _ in range(depth):
            cur.append([])
            cur = cur[0]
        return root

    assert rec.unpack(rec.pack(nested(400))) == nested(400)
    with pytest.raises(StorageError, match="cannot encode"):
        rec.pack(nested(5000))  # no RecursionError: a StorageError
    with pytest.raises(LogCorrupted):
        rec.unpack(b"\x91" * 5000)  # msgpack's stack limit, reported as corruption
