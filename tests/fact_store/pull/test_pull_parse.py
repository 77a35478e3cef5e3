"""fact_store.pull.parse: pull pattern -> PullSpec, every production and every error."""

from __future__ import annotations

import pytest

from fact_store.edn.values import Keyword as K
from fact_store.edn.values import Symbol as S
from fact_store.errors import LimitExceeded, QueryError, QuerySyntaxError
from fact_store.pull import parse_pattern, register_xform
from fact_store.pull.parse import (DEFAULT_LIMIT, MAX_PATTERN_DEPTH, PullAttr, PullSpec,
                                   RecursionLimit, show)

NAME = K(":person/name")
FRIEND = K(":person/friend")


def attr(name: str, **kw: object) -> PullAttr:
    k = K(name)
    key = kw.pop("key", k)
    return PullAttr(k, k, False, key, **kw)  # type: ignore[arg-type]


# --- attr-name ------------------------------------------------------------------------

def test_attribute_names_keep_pattern_order() -> None:
    spec = parse_pattern((NAME, K(":person/age")))
    assert spec == PullSpec((attr(":person/name"), attr(":person/age")), wildcard=False)


def test_plain_strings_name_attributes_with_or_without_colon() -> None:
    spec = parse_pattern(["person/name", ":person/age"])
    assert [a.attr for a in spec.attrs] == [NAME, K(":person/age")]
    assert all(type(a.key) is K for a in spec.attrs)


def test_reverse_attribute_name_reads_the_forward_attribute() -> None:
    (a,) = parse_pattern((K(":person/_friend"),)).attrs
    assert (a.name, a.attr, a.reverse, a.key) == (K(":person/_friend"), FRIEND, True,
                                                  K(":person/_friend"))


def test_reverse_name_without_namespace() -> None:
    (a,) = parse_pattern((K(":_parent"),)).attrs
    assert (a.attr, a.reverse) == (K(":parent"), True)


def test_db_id_is_an_attribute_name() -> None:
    (a,) = parse_pattern((K(":db/id"),)).attrs
    assert a.is_db_id and not a.reverse


def test_default_limit_is_datomics_1000() -> None:
    assert parse_pattern((NAME,)).attrs[0].limit == DEFAULT_LIMIT == 1000


# --- wildcard -------------------------------------------------------------------------

@pytest.mark.parametrize("star", [S("*"), "*", K(":*")])
def test_wildcard_spellings(star: object) -> None:
    spec = parse_pattern((star, NAME))
    assert spec.wildcard and [a.attr for a in spec.attrs] == [NAME]


def test_pattern_without_wildcard() -> None:
    assert not parse_pattern((NAME,)).wildcard


# --- attr-with-opts -------------------------------------------------------------------

def test_attr_with_every_option() -> None:
    register_xform("test.parse/id", lambda v: v)
    (a,) = parse_pattern(((FRIEND, K(":as"), "friends", K(":limit"), 5, K(":default"), 0,
                           K(":xform"), S("test.parse/id")),)).attrs
    assert a == PullAttr(FRIEND, FRIEND, False, "friends", 5, 0, "test.parse/id")


def test_limit_nil_means_unlimited() -> None:
    (a,) = parse_pattern(((FRIEND, K(":limit"), None),)).attrs
    assert a.limit is None


def test_as_accepts_any_hashable_value() -> None:
    spec = parse_pattern(((NAME, K(":as"), K(":n")), (FRIEND, K(":as"), (1, 2))))
    assert [a.key for a in spec.attrs] == [K(":n"), (1, 2)]


def test_options_may_be_written_as_strings() -> None:
    (a,) = parse_pattern(((NAME, "as", "n", ":limit", 3),)).attrs
    assert (a.key, a.limit) == ("n", 3)


def test_reverse_attr_with_options() -> None:
    (a,) = parse_pattern(((K(":person/_friend"), K(":as"), "fans", K(":limit"), 2),)).attrs
    assert (a.attr, a.reverse, a.key, a.limit) == (FRIEND, True, "fans", 2)


# --- legacy attr-expr ----------------------------------------------------------------

def test_legacy_limit_form() -> None:
    (a,) = parse_pattern(([S("limit"), FRIEND, 2],)).attrs
    assert (a.attr, a.limit, a.key) == (FRIEND, 2, FRIEND)


def test_legacy_limit_nil() -> None:
    (a,) = parse_pattern(([S("limit"), FRIEND, None],)).attrs
    assert a.limit is None


def test_legacy_default_form_as_string_marker_in_vector() -> None:
    (a,) = parse_pattern((("default", NAME, "?"),)).attrs
    assert (a.attr, a.default) == (NAME, "?")


# --- map-spec -------------------------------------------------------------------------

def test_map_spec_with_sub_pattern() -> None:
    (a,) = parse_pattern(({FRIEND: (NAME,)},)).attrs
    assert a.pattern == PullSpec((attr(":person/name"),))
    assert a.recursion is None


def test_map_spec_with_several_entries_gives_one_attr_each() -> None:
    spec = parse_pattern(({FRIEND: (NAME,), K(":person/child"): (K(":db/id"),)},))
    assert [a.attr for a in spec.attrs] == [FRIEND, K(":person/child")]


@pytest.mark.parametrize("rec,depth", [(S("..."), None), ("...", None), (Ellipsis, None),
                                       (3, 3)])
def test_map_spec_recursion_limits(rec: object, depth: int | None) -> None:
    (a,) = parse_pattern(({FRIEND: rec},)).attrs
    assert a.recursion == RecursionLimit(depth) and a.pattern is None


def test_map_spec_key_may_be_an_attr_expr() -> None:
    (a,) = parse_pattern(({(FRIEND, K(":limit"), 2, K(":as"), "f"): (NAME,)},)).attrs
    assert (a.limit, a.key, a.pattern) == (2, "f", PullSpec((attr(":person/name"),)))


def test_map_spec_key_may_be_a_legacy_limit() -> None:
    (a,) = parse_pattern(({(S("limit"), FRIEND, 1): S("...")},)).attrs
    assert (a.limit, a.recursion) == (1, RecursionLimit(None))


def test_map_spec_on_reverse_attribute() -> None:
    (a,) = parse_pattern(({K(":person/_friend"): (NAME,)},)).attrs
    assert a.reverse and a.attr == FRIEND


# --- caching --------------------------------------------------------------------------

def test_data_patterns_are_cached_by_value() -> None:
    a = parse_pattern([":person/name", {":person/friend": [":person/age"]}])
    b = parse_pattern([":person/name", {":person/friend": [":person/age"]}])
    assert a is b


def test_cache_keeps_value_types_apart() -> None:
    a = parse_pattern(((NAME, K(":default"), 1),))
    b = parse_pattern(((NAME, K(":default"), True),))
    assert a.attrs[0].default is not True and b.attrs[0].default is True


def test_unhashable_defaults_still_parse() -> None:
    (a,) = parse_pattern([[NAME, K(":default"), {"x": [1]}]]).attrs
    assert a.default == {"x": [1]}


def test_a_pullspec_parses_to_itself() -> None:
    spec = parse_pattern((NAME,))
    assert parse_pattern(spec) is spec


# --- errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("pattern,message", [
    ((), "expected a pattern [attr-spec+], got []"),
    (NAME, "expected a pattern [attr-spec+], got :person/name"),
    ((42,), "expected attr-name, wildcard, map-spec or attr-expr, got 42"),
    ((S("name"),), "expected attr-name, wildcard, map-spec or attr-expr, got name"),
    ((None,), "expected attr-name, wildcard, map-spec or attr-expr, got nil"),
    (({},), "expected map-spec {(attr-name | attr-expr) (pattern | recursion-limit)}, got {}"),
    (({FRIEND: 0},), "expected a pattern or recursion limit (positive integer or ...) as "
                     "map-spec value, got 0 in {:person/friend 0}"),
    (({FRIEND: K(":person/name")},), "as map-spec value, got :person/name"),
    (({42: (NAME,)},), "expected an attribute name or attr-expr as map-spec key, got 42"),
    (({K(":db/id"): (NAME,)},), "(:db/id has no sub-pattern), got :db/id"),
    (({FRIEND: ()},), "expected a pattern [attr-spec+], got []"),
    (((NAME,),), "expected [attr-name attr-option+] with options :as, :limit, :default or "
                 ":xform each followed by a value, got [:person/name]"),
    (((NAME, K(":as")),), "got [:person/name :as]"),
    (((NAME, K(":as"), "a", K(":limit")),), "got [:person/name :as \"a\" :limit]"),
    (((NAME, K(":bogus"), 1),), "expected an attribute option (:as, :limit, :default or "
                                ":xform), got :bogus in [:person/name :bogus 1]"),
    (((NAME, S("as"), 1),), "expected an attribute option"),
    (((NAME, K(":limit"), 0),), "expected :limit to be a positive integer or nil, got 0"),
    (((NAME, K(":limit"), -1),), "got -1"),
    (((NAME, K(":limit"), True),), "got true"),
    (((NAME, K(":limit"), 2.5),), "got 2.5"),
    (((NAME, K(":as"), "a", K(":as"), "b"),), "each option once, but :as is repeated"),
    (((NAME, K(":as"), ["x"]),), "expected :as to be a hashable value"),
    (((NAME, K(":xform"), K(":f")),), "expected :xform to be a symbol naming a registered"),
    (((42, K(":as"), "x"),), "expected an attribute name (a keyword) first in "
                             "[attr-name attr-option+], got 42"),
    (([S("limit"), FRIEND],), "expected (limit attr-name (positive-number | nil)), "
                              "got (limit :person/friend)"),
    (([S("limit"), FRIEND, 0],), "expected :limit to be a positive integer or nil, got 0 in "
                                 "(limit :person/friend 0)"),
    (([S("limit"), 7, 1],), "expected an attribute name (a keyword), got 7 in (limit 7 1)"),
    (([S("default"), NAME],), "expected (default attr-name any-value)"),
    ((K(":"),), "got :"),
    (("",), 'got ""'),
    (("a b",), 'got "a b"'),
])
def test_syntax_errors_name_the_bad_form(pattern: object, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_pattern(pattern)
    assert message in str(info.value)
    assert str(info.value).startswith("pull pattern: expected ")
    assert info.value.code == "query/syntax"


def test_syntax_error_carries_the_form() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_pattern((NAME, (NAME, K(":limit"), -3)))
    assert info.value.data["form"] == -3


def test_unregistered_xform_is_a_query_error_saying_what_to_do() -> None:
    with pytest.raises(QueryError, match=r"unknown :xform function no.such/fn in "
                                         r"\[:person/name :xform no.such/fn\]; register it "
                                         r"with fact_store.pull.register_xform"):
        parse_pattern(((NAME, K(":xform"), S("no.such/fn")),))


def test_too_deep_pattern_raises_limit_exceeded() -> None:
    pattern: object = (NAME,)
    for _ in range(MAX_PATTERN_DEPTH):
        pattern = ({FRIEND: pattern},)
    with pytest.raises(LimitExceeded, match="nested deeper than 64 levels"):
        parse_pattern(pattern)


def test_deepest_allowed_pattern_parses() -> None:
    pattern: object = (NAME,)
    for _ in range(MAX_PATTERN_DEPTH - 1):
        pattern = ({FRIEND: pattern},)
    assert parse_pattern(pattern).attrs[0].attr == FRIEND


def test_show_writes_edn() -> None:
    assert show([S("limit"), K(":a"), None, True, 1.5, "q\"", {K(":k"): (1,)}]) == \
        '(limit :a nil true 1.5 "q\\"" {:k [1]})'


def test_register_xform_refuses_non_callables() -> None:
    with pytest.raises(ValueError, match="must be callable"):
        register_xform("test.parse/x", 42)  # type: ignore[arg-type]
