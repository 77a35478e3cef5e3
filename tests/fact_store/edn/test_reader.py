"""fact_store.edn.reader: every EDN construct, every error, and a fuzz property."""

from __future__ import annotations

import math
import threading
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fact_store.edn.reader import read, read_all
from fact_store.edn.values import BigInt, Char, FrozenList, FrozenMap, Keyword, Symbol, Tagged
from fact_store.edn.writer import write
from fact_store.errors import EdnSyntaxError, LimitExceeded

UTC = timezone.utc


def syntax_error(text: str, **kwargs: object) -> EdnSyntaxError:
    with pytest.raises(EdnSyntaxError) as info:
        read(text, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- atoms ---------------------------------------------------------------------------


def test_nil_true_false_read_as_python_constants() -> None:
    assert read_all("nil true false") == [None, True, False]
    assert read("true") is True and read("nil") is None


def test_names_that_start_like_constants_are_symbols() -> None:
    assert read_all("nilly true? falsey") == [Symbol("nilly"), Symbol("true?"), Symbol("falsey")]


def test_strings_with_every_escape() -> None:
    assert read(r'"tab\t cr\r nl\n bs\\ quote\" bksp\b ff\f"') == \
        'tab\t cr\r nl\n bs\\ quote" bksp\b ff\f'
    assert read(r'"\u00e9\u20AC"') == "é€"
    assert read('""') == ""


def test_string_surrogate_pair_escapes_make_one_character() -> None:
    assert read(r'"\ud83d\ude00"') == "😀"
    assert read(r'"\ud83d"') == "\ud83d"  # a lone surrogate stays as it is


def test_strings_may_span_lines_and_hold_any_unicode() -> None:
    assert read('"line 1\nline 2 ; not a comment, [not a vector]"') == \
        "line 1\nline 2 ; not a comment, [not a vector]"
    assert read('"日本語 😀"') == "日本語 😀"


@pytest.mark.parametrize(("text", "char"), [
    (r"\a", "a"), (r"\Z", "Z"), (r"\7", "7"), (r"\newline", "\n"), (r"\space", " "),
    (r"\tab", "\t"), (r"\return", "\r"), (r"\backspace", "\b"), (r"\formfeed", "\f"),
    (r"\u0041", "A"), (r"\u00e9", "é"), (r"\u", "u"), (r"\\", "\\"), (r"\(", "("),
    (r"\]", "]"), ('\\"', '"'), (r"\;", ";"), (r"\,", ","), (r"\é", "é"),
])
def test_characters(text: str, char: str) -> None:
    value = read(text)
    assert type(value) is Char and value == char


def test_characters_end_at_a_delimiter() -> None:
    assert read(r"[\a\b]") == (Char("a"), Char("b"))
    assert read(r"(\a)") == [Char("a")]


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("-0", 0), ("42", 42), ("+42", 42), ("-42", -42),
    ("9223372036854775807", 2 ** 63 - 1), ("-9223372036854775808", -(2 ** 63)),
])
def test_integers_within_64_bits_are_ints(text: str, value: int) -> None:
    result = read(text)
    assert type(result) is int and result == value


@pytest.mark.parametrize(("text", "value"), [
    ("42N", 42), ("-1N", -1), ("0N", 0), ("9223372036854775808", 2 ** 63),
    ("-9223372036854775809", -(2 ** 63) - 1), ("123456789012345678901234567890N", 123456789012345678901234567890),
])
def test_big_integers_are_bigints(text: str, value: int) -> None:
    result = read(text)
    assert type(result) is BigInt and result == value


@pytest.mark.parametrize(("text", "value"), [
    ("1.5", 1.5), ("-1.5", -1.5), ("+0.25", 0.25), ("1e3", 1000.0), ("1E3", 1000.0),
    ("2.5e-3", 0.0025), ("2.5E+3", 2500.0), ("1.", 1.0), ("0.0", 0.0), ("1e999", math.inf),
])
def test_floats(text: str, value: float) -> None:
    result = read(text)
    assert type(result) is float and result == value


def test_negative_zero_keeps_its_sign() -> None:
    assert math.copysign(1, read("-0.0")) == -1


@pytest.mark.parametrize(("text", "value"), [
    ("1.5M", Decimal("1.5")), ("1M", Decimal("1")), ("-0.001M", Decimal("-0.001")),
    ("1.5E+3M", Decimal("1.5E+3")), ("3.14159265358979323846264338327950288M", Decimal("3.14159265358979323846264338327950288")),
])
def test_decimals(text: str, value: Decimal) -> None:
    result = read(text)
    assert type(result) is Decimal and result == value and str(result) == str(value)


def test_symbolic_floats() -> None:
    inf, minus_inf, nan = read_all("##Inf ##-Inf ##NaN")
    assert inf == math.inf and minus_inf == -math.inf and math.isnan(nan)


@pytest.mark.parametrize("text", [":a", ":job/status", ":db.type/string", ":a-b?", ":x.y.z/w*", ":1", ":a/1b",
                                  ":nil", ":true", ":<=", ":a:b", ":a#b"])
def test_keywords(text: str) -> None:
    value = read(text)
    assert type(value) is Keyword and value == text


@pytest.mark.parametrize("text", ["a", "/", "...", "?x", "$", "$2", "_", "clojure.string/blank?", "not=", "<=",
                                  "+", "-", ".", "-a", "+a", ".a", "-.5", "a1", "*x*", "!x", "x#y", "a:b", "%",
                                  "&", "=", ">", "<", "é", "ns.sub/name", "->x"])
def test_symbols(text: str) -> None:
    value = read(text)
    assert type(value) is Symbol and value == text


# --- collections -------------------------------------------------------------------------


def test_collection_types() -> None:
    value = read('(1 [2 3] {:a #{4}} ())')
    assert value == [1, (2, 3), {Keyword(":a"): frozenset({4})}, []]
    assert type(value) is list and type(value[1]) is tuple
    assert type(value[2]) is dict and type(value[2][":a"]) is frozenset


def test_empty_collections() -> None:
    assert read_all("() [] {} #{}") == [[], (), {}, frozenset()]


def test_nested_collections_and_whitespace_without_spaces() -> None:
    assert read('[[1][2]{:a[3]}#{[4]}"s"\\c :k]') == (
        (1,), (2,), {Keyword(":a"): (3,)}, frozenset({(4,)}), "s", Char("c"), Keyword(":k"))


def test_commas_are_whitespace() -> None:
    assert read("{:a 1, :b 2,,, }") == {Keyword(":a"): 1, Keyword(":b"): 2}
    assert read("[,1,2,]") == (1, 2)


def test_comments_run_to_the_end_of_the_line() -> None:
    assert read("[1 ; two 2 ]\n 3] ; done") == (1, 3)
    assert read_all("; only a comment") == []


def test_map_keeps_text_order_and_accepts_any_hashable_key() -> None:
    value = read('{:z 1 "a" 2 [1 2] 3 #{1} 4 nil 5 2.5 6}')
    assert list(value) == [Keyword(":z"), "a", (1, 2), frozenset({1}), None, 2.5]


def test_a_keyword_key_is_found_by_its_text() -> None:
    assert read("{:job/status :done}")[":job/status"] == ":done"


# --- discard -------------------------------------------------------------------------------


def test_discard_drops_the_next_form() -> None:
    assert read("[1 #_2 3]") == (1, 3)
    assert read("[1 #_ [2 [3]] 4]") == (1, 4)
    assert read("{:a 1 #_ :b #_ 2}") == {Keyword(":a"): 1}
    assert read("#{1 #_1}") == frozenset({1})
    assert read("[#_1]") == ()


def test_nested_discard_drops_two_forms() -> None:
    assert read("[#_ #_ 1 2 3]") == (3,)
    assert read("#_ #_ 1 2 3") == 3


def test_discard_around_the_only_form() -> None:
    assert read("#_ :a :b #_ :c") == Keyword(":b")
    assert read_all("#_ 1") == []


def test_discard_between_a_tag_and_its_value() -> None:
    assert read('#uuid #_ 1 "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"') == \
        uuid.UUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")


def test_discard_without_a_space() -> None:
    assert read("[1 #_foo 2]") == (1, 2)


# --- tags ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ('"1985-04-12T23:20:50.52Z"', datetime(1985, 4, 12, 23, 20, 50, 520000, tzinfo=UTC)),
    ('"1985-04-12T23:20:50Z"', datetime(1985, 4, 12, 23, 20, 50, tzinfo=UTC)),
    ('"1985-04-12T23:20:50.123456789Z"', datetime(1985, 4, 12, 23, 20, 50, 123456, tzinfo=UTC)),
    ('"1996-12-19T16:39:57-08:00"', datetime(1996, 12, 20, 0, 39, 57, tzinfo=UTC)),
    ('"1996-12-19T16:39:57+01:30"', datetime(1996, 12, 19, 15, 9, 57, tzinfo=UTC)),
    ('"2024-01-31t09:30:00z"', datetime(2024, 1, 31, 9, 30, tzinfo=UTC)),
    ('"2024-01-31T09:30"', datetime(2024, 1, 31, 9, 30, tzinfo=UTC)),
    ('"2024-01-31"', datetime(2024, 1, 31, tzinfo=UTC)),
    ('"2024-01"', datetime(2024, 1, 1, tzinfo=UTC)),
    ('"2024"', datetime(2024, 1, 1, tzinfo=UTC)),
])
def test_inst_reads_rfc3339_as_aware_utc_datetime(text: str, value: datetime) -> None:
    result = read("#inst " + text)
    assert result == value and result.tzinfo is UTC


def test_uuid() -> None:
    assert read('#uuid "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"') == \
        uuid.UUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")


def test_bytes_is_base64() -> None:
    assert read('#bytes "aGVsbG8="') == b"hello"
    assert read('#bytes ""') == b""


def test_custom_tags_are_functions_of_the_value() -> None:
    tags = {"my/point": lambda v: complex(*v), "#my/kept": lambda v: Tagged("my/kept", v)}
    assert read("[#my/point [1 2] #my/kept {:a 1}]", tags=tags) == \
        (1 + 2j, Tagged("my/kept", {Keyword(":a"): 1}))


def test_custom_tags_may_override_the_builtin_ones() -> None:
    assert read('#inst "2020"', tags={"inst": str}) == "2020"


def test_a_tag_reader_may_itself_call_read() -> None:
    assert read('[#edn "[1 #edn \\"2\\"]" 3]', tags={"edn": lambda v: read(v, tags={"edn": read})}) == \
        ((1, 2), 3)


# --- read and read_all ---------------------------------------------------------------------------------


def test_read_all_reads_every_form_in_order() -> None:
    assert read_all("1 :a [b] \"c\"") == [1, Keyword(":a"), (Symbol("b"),), "c"]
    assert read_all("") == [] and read_all(" ,\n ; c") == []


def test_read_needs_exactly_one_form() -> None:
    err = syntax_error("1 2")
    assert str(err) == ("unexpected '2' at line 1, column 3: expected end of input "
                        "(read() takes one form; read_all() reads several):\n  1 2\n    ^")
    err = syntax_error("  ")
    assert str(err).startswith("unexpected end of input at line 1, column 1: expected a value:")


def test_read_rejects_non_str_text() -> None:
    with pytest.raises(TypeError, match="must be a str, not bytes"):
        read(b"1")  # type: ignore[arg-type]


def test_reading_from_many_threads_at_once() -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(200):
                assert read(f"[{i} {{:k {i}}} #{{{i}}}]") == (i, {Keyword(":k"): i}, frozenset({i}))
                with pytest.raises(EdnSyntaxError, match="column 5"):
                    read(f"[{i} ]]")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


# --- depth --------------------------------------------------------------------------------------


def test_nesting_up_to_max_depth_reads() -> None:
    value = read("[" * 256 + "]" * 256)
    for _ in range(255):
        value = value[0]
    assert value == ()


def test_nesting_past_max_depth_is_limit_exceeded() -> None:
    with pytest.raises(LimitExceeded) as info:
        read("[" * 257 + "]" * 257)
    assert str(info.value).startswith("collections nest deeper than max_depth=256 at line 1, column 257:")
    assert (info.value.line, info.value.column) == (1, 257)


def test_max_depth_counts_every_kind_of_collection() -> None:
    assert read("[({#{} 1})]", max_depth=4) == ([{frozenset(): 1}],)
    with pytest.raises(LimitExceeded):
        read("[({#{} 1})]", max_depth=3)
    with pytest.raises(LimitExceeded):
        read("[1]", max_depth=0)
    assert read("1", max_depth=0) == 1


def test_very_deep_nesting_is_never_a_recursion_error() -> None:
    with pytest.raises(LimitExceeded):
        read("[" * 200_000)
    with pytest.raises(LimitExceeded):
        read("#{" * 100_000 + "}" * 100_000)


def test_a_larger_max_depth_reads_deeper() -> None:
    assert read("[" * 600 + "]" * 600, max_depth=600) is not None


# --- duplicates and Python equality -----------------------------------------------------------------


def test_duplicate_map_key_is_an_error() -> None:
    err = syntax_error("[1\n {:a 1 :b 2 :a 3}]")
    assert str(err) == "duplicate key :a in a map at line 2, column 2:\n   {:a 1 :b 2 :a 3}]\n   ^"
    assert (err.line, err.column) == (2, 2)


@pytest.mark.parametrize(("text", "shown"), [
    ("#{1 2 1}", "1"), ("#{1 1N}", "1N"), ('#{"a" "a"}', '"a"'), ("#{[1 {:a 1}] [1 {:a 1}]}", None),
    ("#{##NaN ##NaN}", "##NaN"), ("#{#{1 2} #{2 1}}", None),
])
def test_duplicate_set_element_is_an_error(text: str, shown: str | None) -> None:
    if shown is None:  # the element is unhashable or complex; only the kind of error matters
        with pytest.raises(EdnSyntaxError):
            read(text)
        return
    assert str(syntax_error(text)).startswith(f"duplicate element {shown} in a set at line 1, column 1")


def test_duplicate_after_discard_is_still_a_duplicate() -> None:
    assert read("#{1 #_1 2}") == frozenset({1, 2})
    syntax_error("#{1 #_2 1}")


@pytest.mark.parametrize(("text", "first", "second"), [
    ("#{1 1.0}", "1", "1.0"), ("#{1 true}", "1", "true"), ("#{0 false}", "0", "false"),
    ('#{:a ":a"}', ":a", '":a"'), ('#{a "a"}', "a", '"a"'), ('#{\\a "a"}', "\\a", '"a"'),
    ("#{[1] [1.0]}", "[1]", "[1.0]"), ("#{0.0 -0.0}", "0.0", "-0.0"), ("#{1 1M}", "1", "1M"),
])
def test_values_equal_only_in_python_are_refused_in_a_set(text: str, first: str, second: str) -> None:
    message = str(syntax_error(text))
    assert message.startswith(f"elements {first} and {second} of a set are distinct in EDN but equal "
                              "in Python at line 1, column 1: 1 == 1.0 == true, and a keyword, symbol or "
                              "character equals the string of its text, so one Python frozenset cannot "
                              "hold both:")


def test_keys_equal_only_in_python_are_refused_in_a_map() -> None:
    message = str(syntax_error('{:a 1 ":a" 2}'))
    assert message.startswith('keys :a and ":a" of a map are distinct in EDN but equal in Python')
    assert "one Python dict cannot hold both" in message


def test_maps_lists_and_vectors_of_them_can_be_set_elements_and_map_keys() -> None:
    # EDN allows any value in a set or as a key; maps and lists there read as FrozenMap/FrozenList
    s = read("#{{:a 1} [1 {:b [2]}] (1 2) #{{}}}")
    assert s == {FrozenMap({":a": 1}), (1, FrozenMap({":b": (2,)})), FrozenList([1, 2]),
                 frozenset({FrozenMap()})}
    assert {":a": 1} in [x for x in s]  # equal to plain dicts and lists
    assert [1, 2] in [x for x in s]
    m = read("{{:a 1} :map, [1 {:c 2}] :vec, (x) :list, {[1] {:d 4}} :nested}")
    assert m[FrozenMap({":a": 1})] == ":map" and m[(1, FrozenMap({":c": 2}))] == ":vec"
    assert m[FrozenList(["x"])] == ":list"
    assert m[FrozenMap({(1,): {":d": 4}})] == ":nested"
    for value in (s, m):
        assert read(write(value)) == value
    inner = next(k for k in m if isinstance(k, FrozenMap) and ":a" in k)
    with pytest.raises(TypeError, match="immutable"):
        inner[":b"] = 2
    with pytest.raises(TypeError, match="immutable"):
        FrozenList([1]).append(2)
    # values that need no freezing keep their plain types
    assert type(read("{:a {:b 1}}")[":a"]) is dict and type(next(iter(read("#{[1 2]}")))) is tuple


def test_frozen_maps_still_find_duplicates_and_python_only_equalities() -> None:
    assert str(syntax_error("#{{:a 1} {:a 1}}")).startswith("duplicate element {:a 1} in a set")
    assert str(syntax_error("#{{:a 1} {:a 1.0}}")).startswith(
        "elements {:a 1} and {:a 1.0} of a set are distinct in EDN but equal in Python")
    assert str(syntax_error("{(1) 1 (1) 2}")).startswith("duplicate key (1) in a map")


class Incomparable:
    def __hash__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        raise ValueError("cannot compare")


def test_tag_values_that_cannot_be_compared_are_a_syntax_error() -> None:
    tags = {"x": lambda v: Incomparable()}
    assert str(syntax_error("#{#x 1 #x 2}", tags=tags)).startswith(
        "cannot compare set elements at line 1, column 1: ValueError: cannot compare")
    assert str(syntax_error("{#x 1 1 #x 2 2}", tags=tags)).startswith("cannot compare map keys")


def test_an_unhashable_custom_tag_value_cannot_be_a_key() -> None:
    assert str(syntax_error("#{#my/t 1}", tags={"my/t": lambda v: bytearray(b"x")})).startswith(
        '#bytes "eA==" cannot be a set element')


# --- syntax errors: message, line and column ----------------------------------------------------------


@pytest.mark.parametrize(("text", "message", "line", "column"), [
    ("[:find ?e]]", "unexpected ']' at line 1, column 11: there is no open '[' to close:\n"
                    "  [:find ?e]]\n            ^", 1, 11),
    ("[:find\n ?e)]", "unexpected ')' at line 2, column 4: expected ']' to close the '[' at line 1, column 1:\n"
                      "   ?e)]\n     ^", 2, 4),
    ("{:a [1 2}", "unexpected '}' at line 1, column 9: expected ']' to close the '[' at line 1, column 5:\n"
                  "  {:a [1 2}\n          ^", 1, 9),
    (")", "unexpected ')' at line 1, column 1: there is no open '(' to close:\n  )\n  ^", 1, 1),
    ("[1 2", "unexpected end of input at line 1, column 5: expected ']' to close the '[' at line 1, column 1:\n"
             "  [1 2\n      ^", 1, 5),
    ("(1\n  #{2\n", "unexpected end of input at line 2, column 6: expected '}' to close the '#{' at line 2, "
                   "column 3:\n    #{2\n       ^", 2, 6),
    ("[#_]", "unexpected ']' at line 1, column 4: expected a value:\n  [#_]\n     ^", 1, 4),
    ("#inst", "unexpected end of input at line 1, column 6: expected a value:\n  #inst\n       ^", 1, 6),
    ("{:a}", "a map needs an even number of forms, found 1 at line 1, column 1: the key :a has no value:\n"
             "  {:a}\n  ^", 1, 1),
    ('"abc', "unterminated string at line 1, column 1: expected a closing '\"':\n  \"abc\n  ^", 1, 1),
    ('[1 "a\\qb"]', "invalid escape '\\\\q' in a string at line 1, column 6: expected \\t \\r \\n \\b \\f \\\\ "
                    "\\\" or \\u followed by 4 hex digits:\n  [1 \"a\\qb\"]\n       ^", 1, 6),
    ('"\\u12"', "invalid escape '\\\\u' in a string at line 1, column 2", 1, 2),
    ("(1 \\ )", "unexpected '\\' at line 1, column 4: a character literal is \\c, \\newline, \\space, \\tab, "
                "\\return or \\uXXXX:\n  (1 \\ )\n     ^", 1, 4),
    ("\\abc", "invalid character '\\\\abc' at line 1, column 1: expected \\c, \\newline, \\return, \\space, "
              "\\tab, \\backspace, \\formfeed or \\uXXXX", 1, 1),
    ("\\u00zz", "invalid character '\\\\u00zz'", 1, 1),
    ("#(inc %)", "unexpected '#' at line 1, column 1: expected a tag such as #inst, or #{, #_, ##Inf, ##-Inf, "
                 "##NaN:\n  #(inc %)\n  ^", 1, 1),
    ("#:a{}", "unexpected '#' at line 1, column 1", 1, 1),
    ("##Foo", "unknown symbolic value '##Foo' at line 1, column 1: expected ##Inf, ##-Inf or ##NaN", 1, 1),
    ("#foo 1", "unknown tag #foo at line 1, column 1: the reader knows #inst, #uuid, #bytes and #db/id; "
               "pass tags={'foo': function} to read it:\n  #foo 1\n  ^", 1, 1),
    ('#inst "2020-13-01"', 'invalid #inst "2020-13-01" at line 1, column 1: month must be in 1..12', 1, 1),
    ('#inst "yesterday"', 'invalid #inst "yesterday" at line 1, column 1: expected an RFC 3339 timestamp', 1, 1),
    ('#inst "2020-01-01T00:00:00+24:00"', 'invalid #inst "2020-01-01T00:00:00+24:00" at line 1, column 1: '
                                          "offset +24:00 is out of range", 1, 1),
    ('#inst "0000-01-01"', 'invalid #inst "0000-01-01" at line 1, column 1: year 0 is out of range', 1, 1),
    ('#inst "0001-01-01T00:00:00+01:00"', 'invalid #inst "0001-01-01T00:00:00+01:00"', 1, 1),
    ("#inst 2020", "invalid #inst 2020 at line 1, column 1: expected a string, got 2020", 1, 1),
    ('#uuid "not-a-uuid"', 'invalid #uuid "not-a-uuid" at line 1, column 1: expected 8-4-4-4-12 hex digits', 1, 1),
    ("#uuid 1", "invalid #uuid 1 at line 1, column 1: expected a string, got 1", 1, 1),
    ('#bytes "a"', 'invalid #bytes "a" at line 1, column 1: invalid base64', 1, 1),
    ('#bytes "é"', 'invalid #bytes "é" at line 1, column 1: invalid base64', 1, 1),
    ("#bytes []", "invalid #bytes [] at line 1, column 1: expected a base64 string, got []", 1, 1),
    ("012", "invalid number '012' at line 1, column 1: expected an integer (-7, 42N) or a float (1.5, 1e-3, "
            "1.5M); no leading zeros, no hex", 1, 1),
    ("[1 1.2.3]", "invalid number '1.2.3' at line 1, column 4", 1, 4),
    ("0x1F", "invalid number '0x1F'", 1, 1),
    (".5", "invalid number '.5'", 1, 1),
    ("1_000", "invalid number '1_000'", 1, 1),
    ("1a", "invalid number '1a'", 1, 1),
    ("1NM", "invalid number '1NM'", 1, 1),
    (":", "invalid keyword ':' at line 1, column 1: expected ':' and a symbol, such as :status or "
          ":job/status", 1, 1),
    ("::a", "invalid keyword '::a'", 1, 1),
    (":a/", "invalid keyword ':a/'", 1, 1),
    (":/", "invalid keyword ':/'", 1, 1),
    (":a/b/c", "invalid keyword ':a/b/c'", 1, 1),
    ("a@b", "invalid symbol 'a@b' at line 1, column 1: a symbol is letters, digits and "
            ". * + ! - _ ? $ % & = < > : #, not starting with a digit, with at most one /", 1, 1),
    ("@a", "invalid symbol '@a'", 1, 1),
    ("'a", "invalid symbol \"'a\"", 1, 1),
    ("a/b/c", "invalid symbol 'a/b/c'", 1, 1),
    ("/a", "invalid symbol '/a'", 1, 1),
    ("a/", "invalid symbol 'a/'", 1, 1),
    ("a::b", "invalid symbol 'a::b'", 1, 1),
    ("-1a", "invalid number '-1a'", 1, 1),
    ("\t[1\n\t\t 2 3])", "unexpected ')' at line 2, column 8: there is no open '(' to close:\n"
                         "  \t\t 2 3])\n  \t\t     ^", 2, 8),
])
def test_syntax_errors(text: str, message: str, line: int, column: int) -> None:
    err = syntax_error(text)
    assert str(err).startswith(message)
    assert (err.line, err.column) == (line, column)
    assert err.code == "edn/syntax" and isinstance(err, ValueError)


def test_error_context_is_the_line_and_a_caret() -> None:
    err = syntax_error("[1\n [2 @]\n]")
    assert err.context == "   [2 @]\n      ^"


def test_long_lines_are_clipped_around_the_error() -> None:
    err = syntax_error("[" + "1 " * 100 + ") " + "2 " * 100 + "]")
    excerpt_line, caret_line = err.context.split("\n")
    assert excerpt_line == "  ..." + "1 " * 20 + ") " + "2 " * 19 + "..."
    assert caret_line.index("^") == excerpt_line.index(")")


def test_errors_at_a_crlf_line_end() -> None:
    err = syntax_error("[1\r\n 2 )\r\n")
    assert (err.line, err.column) == (2, 4)
    assert err.context == "   2 )\n     ^"


def test_a_failing_custom_tag_reader_is_a_syntax_error_naming_the_cause() -> None:
    err = syntax_error("[1\n #my/t 0]", tags={"my/t": lambda v: 1 / v})
    assert str(err).startswith("invalid #my/t 0 at line 2, column 2: its reader raised ZeroDivisionError: "
                               "division by zero")
    assert isinstance(err.__cause__, ZeroDivisionError)


def test_too_many_digits_is_limit_exceeded() -> None:
    with pytest.raises(LimitExceeded, match="number with 5000 characters at line 1, column 2"):
        read("[" + "1" * 5000 + "]")


# --- fuzz: any text parses or raises one of our two errors ----------------------------------------------

EDN_ALPHABET = '[](){}#_:;"\\ ,\n\tabeflnrtuxzINM019.+-/*?!$%&=<>\'@^~`é\u2028'


def reads_or_fails_cleanly(text: str) -> None:
    try:
        read_all(text)
    except (EdnSyntaxError, LimitExceeded) as err:
        assert err.line >= 1 and err.column >= 1
        assert " at line " in str(err)


@settings(max_examples=500)
@given(st.text())
def test_fuzz_any_unicode_text(text: str) -> None:
    reads_or_fails_cleanly(text)


@settings(max_examples=1500)
@given(st.text(alphabet=EDN_ALPHABET, max_size=60))
def test_fuzz_text_made_of_edn_characters(text: str) -> None:
    reads_or_fails_cleanly(text)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(['[', ']', '(', ')', '{', '}', '#{', '#_', '#inst', '#uuid', '#bytes', '#x/y',
                                 '##Inf', '##NaN', '"2020-01-01"', '"aGk="', '"s\\n"', ':k', ':a/b', 'sym',
                                 'nil', 'true', '1', '1.0', '1N', '1M', '\\c', '\\newline', ';c\n', ' ', ',']),
                max_size=40))
def test_fuzz_sequences_of_edn_tokens(tokens: list[str]) -> None:
    reads_or_fails_cleanly(" ".join(tokens))
    reads_or_fails_cleanly("".join(tokens))
    try:
        read("".join(tokens), max_depth=2)
    except (EdnSyntaxError, LimitExceeded):
        pass


@settings(max_examples=300)
@given(st.recursive(st.none() | st.integers() | st.text(max_size=5) | st.floats(),
                    lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple),
                    max_leaves=12),
       st.integers(min_value=0), st.text(alphabet=EDN_ALPHABET, max_size=3))
def test_fuzz_damaged_edn_text(value: object, where: int, damage: str) -> None:
    text = write(value)
    at = where % (len(text) + 1)
    reads_or_fails_cleanly(text[:at] + damage + text[at + 1:])
