"""EDN: values, the reader (a lark grammar) and the writer.

``read``, ``read_all`` and ``write`` import their module on first call, so that
a process needing only the values (a log store's codec) never builds the
grammar.
"""

from typing import Any

from fact_store.edn.values import BigInt, Char, DbId, FrozenList, FrozenMap, Keyword, Symbol, Tagged, kw

__all__ = ["BigInt", "Char", "DbId", "FrozenList", "FrozenMap", "Keyword", "Symbol", "Tagged", "kw", "read", "read_all", "show", "write"]


def read(text: str, **kwargs: Any) -> Any:
    """Read one EDN form from ``text`` (see :func:`fact_store.edn.reader.read`)."""
    from fact_store.edn.reader import read as _read
    return _read(text, **kwargs)


def read_all(text: str, **kwargs: Any) -> list[Any]:
    """Read every EDN form in ``text``."""
    from fact_store.edn.reader import read_all as _read_all
    return _read_all(text, **kwargs)


def write(value: Any, **kwargs: Any) -> str:
    """Write ``value`` as EDN text (see :func:`fact_store.edn.writer.write`)."""
    from fact_store.edn.writer import write as _write
    return _write(value, **kwargs)


def show(value: Any, limit: int = 200) -> str:
    """``value`` as EDN text for a message, cut near ``limit`` (see :func:`fact_store.edn.writer.show`)."""
    from fact_store.edn.writer import show as _show
    return _show(value, limit)
