"""fact_store.edn.writer: every type, every error, and read(write(x)) == x."""

from __future__ import annotations

import math
import uuid
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fact_store.edn.reader import read
from fact_store.edn.values import BigInt, Char, Keyword, Symbol, Tagged
from fact_store.edn.writer import write
from fact_store.errors import EdnSyntaxError, LimitExceeded

UTC = timezone.utc


# --- examples, one per type ------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (None, "nil"), (True, "true"), (False, "false"),
    (0, "0"), (-42, "-42"), (2 ** 63 - 1, "9223372036854775807"), (-(2 ** 63), "-9223372036854775808"),
    (2 ** 63, "9223372036854775808N"), (-(2 ** 63) - 1, "-9223372036854775809N"),
    (BigInt(7), "7N"), (BigInt(-7), "-7N"),
    (1.5, "1.5"), (-0.0, "-0.0"), (1e16, "1e+16"), (1e-7, "1e-07"), (5e-324, "5e-324"),
    (math.inf, "##Inf"), (-math.inf, "##-Inf"), (math.nan, "##NaN"),
    (Decimal("1.5"), "1.5M"), (Decimal("100"), "100M"), (Decimal("1E+3"), "1E+3M"), (Decimal("-0"), "-0M"),
    (Keyword(":job/status"), ":job/status"), (Keyword("a"), ":a"),
    (Symbol("?e"), "?e"), (Symbol("..."), "..."), (Symbol("clojure.string/blank?"), "clojure.string/blank?"),
    (Symbol("/"), "/"),
    (uuid.UUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6"), '#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"'),
    (b"hello", '#bytes "aGVsbG8="'), (bytearray(b"\x00\xff"), '#bytes "AP8="'), (b"", '#bytes ""'),
    (Tagged("my/point", (1, 2)), "#my/point [1 2]"),
])
def test_scalars(value: Any, text: str) -> None:
    assert write(value) == text


@pytest.mark.parametrize(("value", "text"), [
    ("", '""'), ("plain", '"plain"'), ('say "hi"', r'"say \"hi\""'), ("a\\b", r'"a\\b"'),
    ("l1\nl2\tx\ry", r'"l1\nl2\tx\ry"'), ("\b\f", r'"\b\f"'), ("\x00\x1f\x7f", r'"\u0000\u001f\u007f"'),
    ("日本 😀 é", '"日本 😀 é"'), ("; [not] {code}", '"; [not] {code}"'),
])
def test_strings_are_escaped(value: str, text: str) -> None:
    assert write(value) == text
    assert read(text) == value


@pytest.mark.parametrize(("char", "text"), [
    ("a", r"\a"), ("\n", r"\newline"), (" ", r"\space"), ("\t", r"\tab"), ("\r", r"\return"),
    ("\b", r"\backspace"), ("\f", r"\formfeed"), ("(", r"\("), ("\\", "\\\\"), ('"', '\\"'), (",", r"\,"),
    (";", r"\;"), ("é", r"\é"), ("\x00", r"\u0000"), ("\u00a0", r"\u00a0"), ("\u2028", r"\u2028"),
    ("😀", "\\😀"), ("\ud800", r"\ud800"),
])
def test_chars(char: str, text: str) -> None:
    assert write(Char(char)) == text
    value = read(text)
    assert type(value) is Char and value == char


def test_collections() -> None:
    assert write((1, [2, (3,)], frozenset())) == "[1 (2 [3]) #{}]"
    assert write({Keyword(":a"): 1, "b": (2,)}) == '{:a 1, "b" [2]}'
    assert write({}) == "{}" and write([]) == "()" and write(()) == "[]"
    assert write({3}) == "#{3}"
    assert read(write(frozenset({1, 2, 3}))) == frozenset({1, 2, 3})


def test_other_mappings_and_subclasses_write_as_their_base_types() -> None:
    class Point(NamedTuple):
        x: int
        y: int

    class Name(str):
        pass

    class Count(int):
        pass

    assert write(Point(1, 2)) == "[1 2]"
    assert write(OrderedDict(a=1)) == '{"a" 1}'
    assert write(MappingProxyType({"a": 1})) == '{"a" 1}'
    assert write(Name("x")) == '"x"'
    assert write(Count(3)) == "3"
    assert write({1: set()}) == "{1 #{}}"


def test_datetimes_write_as_inst_in_utc() -> None:
    assert write(datetime(2024, 1, 31, 9, 30, tzinfo=UTC)) == '#inst "2024-01-31T09:30:00.000Z"'
    assert write(datetime(2024, 1, 31, 9, 30, 0, 520000, tzinfo=UTC)) == '#inst "2024-01-31T09:30:00.520Z"'
    assert write(datetime(2024, 1, 31, 9, 30, 0, 123456, tzinfo=UTC)) == '#inst "2024-01-31T09:30:00.123456Z"'
    cet = timezone(timedelta(hours=1))
    assert write(datetime(2024, 1, 1, 0, 30, tzinfo=cet)) == '#inst "2023-12-31T23:30:00.000Z"'
    assert write(datetime(1, 1, 1, tzinfo=UTC)) == '#inst "0001-01-01T00:00:00.000Z"'


def test_the_written_text_reads_back_for_each_example() -> None:
    value = (None, True, 2 ** 70, BigInt(1), -0.0, Decimal("2.50"), Keyword(":k"), Symbol("s"), Char(" "),
             uuid.UUID(int=5), b"\x01", "s\n", [1], {1: 2}, frozenset({3}),
             datetime(2024, 1, 31, 9, 30, 0, 1, tzinfo=UTC))
    again = read(write(value))
    assert again == value
    assert type(again[2]) is BigInt  # an int past 64 bits reads back as a BigInt, an int subclass
    assert [type(x) for x in again[3:]] == [type(x) for x in value[3:]]


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    (1j, "cannot write a complex as EDN: 1j"),
    (date(2024, 1, 1), "cannot write a date as EDN: datetime.date(2024, 1, 1)"),
    (object, "cannot write a type as EDN"),
    ([1, {2: 3j}], "cannot write a complex as EDN: 3j"),
    (Keyword(":a b"), "cannot write keyword ':a b': not valid EDN (':' then a symbol such as :job/status)"),
    (Keyword("::a"), "cannot write keyword '::a'"),
    (Keyword(":"), "cannot write keyword ':'"),
    (Symbol("nil"), "cannot write symbol 'nil': not valid EDN (and nil, true, false read as values, "
                    "not symbols)"),
    (Symbol("1a"), "cannot write symbol '1a'"),
    (Symbol(""), "cannot write symbol ''"),
    (Symbol("a b"), "cannot write symbol 'a b'"),
    (Char("ab"), "cannot write Char 'ab': a Char is one character"),
    (Decimal("NaN"), "cannot write Decimal('NaN'): EDN decimals are finite"),
    (Decimal("-Infinity"), "cannot write Decimal('-Infinity'): EDN decimals are finite"),
    (datetime(2024, 1, 1), "cannot write naive datetime datetime.datetime(2024, 1, 1, 0, 0) as #inst: its "
                           "instant is unknown; give it a timezone (datetime.now(timezone.utc))"),
    (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "cannot write datetime.datetime(1, 1, 1, 0, 0, "
                                                              "tzinfo=datetime.timezone(datetime.timedelta("
                                                              "seconds=3600))) as #inst: outside years 1..9999"),
    (Tagged("1x", 1), "cannot write tag '1x': a tag is a symbol starting with a letter, such as my/tag"),
    (Tagged("_x", 1), "cannot write tag '_x'"),
    (Tagged(5, 1), "cannot write tag 5"),  # type: ignore[arg-type]
])
def test_values_without_an_edn_form_are_refused(value: Any, message: str) -> None:
    with pytest.raises(EdnSyntaxError) as info:
        write(value)
    assert str(info.value).startswith(message)


def test_nesting_past_max_depth_is_limit_exceeded() -> None:
    deep: Any = ()
    for _ in range(256):
        deep = (deep,)
    assert write(deep[0]) == "[" * 256 + "]" * 256
    with pytest.raises(LimitExceeded, match="nest deeper than max_depth"):
        write(deep)
    assert write(deep, max_depth=257).startswith("[[[")


def test_a_cycle_is_limit_exceeded_not_recursion_error() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(LimitExceeded):
        write(cycle)
    with pytest.raises(LimitExceeded, match="recursion limit"):
        write(cycle, max_depth=10 ** 6)


def test_huge_ints_past_pythons_digit_limit_are_limit_exceeded() -> None:
    with pytest.raises(LimitExceeded, match="int-string limit"):
        write(10 ** 5000)


# --- round trip ---------------------------------------------------------------------------------------


def edn_key(value: Any) -> Any:
    """A hashable key equal for two values iff they are the same EDN value (types included)."""
    kind = type(value).__name__
    if type(value) is int and not -(2 ** 63) <= value < 2 ** 63:
        kind = "BigInt"  # the reader never makes such an int: it reads back as the BigInt it equals
    if isinstance(value, float):
        return kind, repr(value)
    if isinstance(value, (tuple, list)):
        return kind, tuple(edn_key(x) for x in value)
    if isinstance(value, frozenset):
        return kind, frozenset(edn_key(x) for x in value)
    if isinstance(value, dict):
        return kind, frozenset((edn_key(k), edn_key(v)) for k, v in value.items())
    if isinstance(value, datetime):
        return kind, value.astimezone(UTC).isoformat()
    if isinstance(value, Tagged):
        return kind, value.tag, edn_key(value.value)
    return kind, value


NAME = st.from_regex(r"[a-zA-Z*!?_$%&=<>][a-zA-Z0-9*!?_$%&=<>.+\-#:]{0,6}", fullmatch=True).filter(
    lambda s: "::" not in s and not s.endswith(":"))
SYMBOL_TEXT = st.one_of(
    st.sampled_from(["/", "...", "?x", "$", "$2", "_", "not=", "<=", "-", "+", "clojure.string/blank?", "é"]),
    st.builds(lambda ns, n: f"{ns}/{n}" if ns else n, st.one_of(st.none(), NAME), NAME),
).filter(lambda s: s not in ("nil", "true", "false"))

UTC_DATETIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                             timezones=st.sampled_from([UTC, timezone(timedelta(hours=-8)),
                                                        timezone(timedelta(hours=5, minutes=30))]))

HASHABLE_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers().map(BigInt),
    st.floats(allow_nan=False), st.decimals(allow_nan=False, allow_infinity=False),
    st.text(), SYMBOL_TEXT.map(Symbol), SYMBOL_TEXT.filter(lambda s: s != "/").map(lambda s: Keyword(":" + s)),
    st.characters().map(Char), st.uuids(), st.binary(max_size=8), UTC_DATETIMES,
)
LEAVES = HASHABLE_LEAVES | st.floats()  # NaN too, but never two of them in one set or map

HASHABLES = st.recursive(
    HASHABLE_LEAVES,
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.frozensets(inner, max_size=3),
    max_leaves=6)

EDN_VALUES = st.recursive(
    LEAVES,
    lambda inner: (st.lists(inner, max_size=5) | st.lists(inner, max_size=5).map(tuple)
                   | st.dictionaries(HASHABLES, inner, max_size=4) | st.frozensets(HASHABLES, max_size=4)),
    max_leaves=25)


@settings(max_examples=800)
@given(EDN_VALUES)
def test_read_of_write_round_trips_with_types(value: Any) -> None:
    text = write(value)
    assert edn_key(read(text)) == edn_key(value)


@settings(max_examples=200)
@given(EDN_VALUES)
def test_writing_is_stable_after_one_round_trip(value: Any) -> None:
    once = read(write(value))
    assert edn_key(read(write(once))) == edn_key(once)


@settings(max_examples=200)
@given(st.recursive(HASHABLE_LEAVES, lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=8),
       st.sampled_from(["my/tag", "t", "a.b/c-d"]))
def test_tagged_values_round_trip_with_a_tag_reader(value: Any, tag: str) -> None:
    tagged = Tagged(tag, value)
    assert edn_key(read(write(tagged), tags={tag: lambda v: Tagged(tag, v)})) == edn_key(tagged)
