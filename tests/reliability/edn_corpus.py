"""The hostile EDN corpus (RELIABILITY.md B-02): text -> the pinned outcome.

Outcomes: ``"error"`` (EdnSyntaxError), ``"limit"`` (LimitExceeded), or the
Python type of the value read. Where the reader's documented choice differs
from RELIABILITY.md's wording, the comment says so. These texts also seed the
EDN fuzz corpus (``fuzz/corpus/edn``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from fact_store.edn.values import BigInt, Char, Keyword, Symbol

NONE = type(None)

EDN_CASES: list[tuple[str, object]] = [
    # structure and tags
    ("#_", "error"), ("#_ #_ 1 2 3", int), ("#_ 1", "error"), ("[#_ 1]", tuple),
    ("#foo", "error"), ("#foo 1", "error"),  # a tag without a prefix is reserved
    ("#foo/bar 1", "error"),                  # an unknown user tag: no reader registered
    ("#inst \"2020-02-30T00:00:00Z\"", "error"),  # Feb 30
    ("#inst \"2016-12-31T23:59:60Z\"", "error"),  # a leap second: not representable
    ("#inst \"2020-01-01T00:00:00-00:00\"", datetime),
    ("#inst \"0000-01-01T00:00:00Z\"", "error"), ("#inst \"10000-01-01T00:00:00Z\"", "error"),
    ("#inst \"2020-01-01T00:00:00.123456789Z\"", datetime), ("#inst 5", "error"),
    ("#uuid \"nope\"", "error"), ("#uuid \"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"", UUID),
    ("#uuid 5", "error"), ("#bytes \"!!\"", "error"), ("#bytes \"AAE=\"", bytes),
    # collections
    ("{:a 1 :a 2}", "error"), ("#{1 1}", "error"), ("#{1 1N}", "error"),
    # RELIABILITY B-02 calls these valid with distinct members; Python's == merges
    # 1, 1.0 and true, so the reader refuses them (documented in edn/reader.py):
    ("{1 :a 1.0 :b}", "error"), ("#{1 1.0 true}", "error"), ("{:a 1 \":a\" 2}", "error"),
    ("{[1] 1 [1.0] 2}", "error"), ("#{[1] (1)}", "error"), ("{[] 1 () 2}", "error"),
    ("[1,2,,3]", tuple), ("(1 2)", list), ("{}", dict), ("#{}", frozenset), ("[]", tuple),
    ("{:a}", "error"), ("[1 2", "error"), ("(", "error"), (")", "error"), ("]", "error"),
    # numbers
    ("-0", int), ("-0.0", float), ("01", "error"), ("+1", int), ("1N", BigInt),
    ("1.5M", Decimal), ("1e400", float), ("##NaN", float), ("##Inf", float), ("##-Inf", float),
    ("##Foo", "error"), ("##", "error"), ("1.", float), (".5", "error"), ("1/2", "error"),
    ("0x10", "error"), ("1e", "error"), ("123abc", "error"), ("-", Symbol), ("+", Symbol),
    ("9223372036854775807", int), ("9223372036854775808", BigInt),
    ("-9223372036854775809", BigInt), ("1" * 5000, "limit"),
    # symbols and keywords
    ("/", Symbol), ("a/", "error"), (":/", "error"), ("::a", "error"), (":a/b/c", "error"),
    (":", "error"), ("::", "error"), (":1", Keyword), ("a:b", Symbol), ("nil", NONE),
    ("true", bool), ("false", bool), ("truex", Symbol), ("a/b", Symbol),
    # characters
    ("\\newline", Char), ("\\space", Char), ("\\tab", Char), ("\\u00e9", Char), ("\\a", Char),
    ("\\\\", Char), ("\\u12", "error"), ("\\uZZZZ", "error"), ("\\", "error"),
    ("\\uD800", Char),  # RELIABILITY B-02 wants an error; the reader gives a Char (see B-04)
    # strings
    ("\"\\t\\n\\r\\\"\\\\\\b\\f\"", str), ("\"\\q\"", "error"), ("\"abc", "error"),
    ("\"a\rb\nc\r\nd\"", str), ("\ufeff1", "error"), ("\"\x00\"", str), ("\"\\u\"", "error"),
    ("\"\\ud83d\\ude00\"", str), ("\"\\uD800\"", str), ("\"" + "\\" * 11, "error"),
    # sizes and layout
    ("[" * 300 + "]" * 300, "limit"), ("[" * 10_000, "limit"), ("{" * 10_000, "limit"),
    ("#{" * 10_000, "limit"), ("(" * 100_000, "limit"), ("#_" * 10_000 + "1", "error"),
    ("#foo/bar " * 10_000 + "1", "error"), ("; only a comment", "error"), ("1 ; c", int),
    ("1 2", "error"), ("[1] [2]", "error"), (" , 1 , ", int),
    # things EDN is not
    ("#:a{:b 1}", "error"), ("^:meta x", "error"), ("`a", "error"), ("~a", "error"),
    ("@a", "error"), ("'a", "error"), ("#\"regex\"", "error"), ("#(inc %)", "error"),
    ("#?(:clj 1)", "error"), ("#=(+ 1 2)", "error"), ("#", "error"), ("", "error"),
]
