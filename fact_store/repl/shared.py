"""Names every part of the REPL shares."""

from __future__ import annotations

from fact_store import Keyword, Symbol


FORMATS = ("table", "edn", "json", "csv")
QUERY_KEYS = (":find", ":in", ":where", ":with", ":keys", ":strs", ":syms", ":timeout")
KW = Keyword
DOTS = Symbol("...")
DOT = Symbol(".")
