"""Datomic's pull API: declarative, nested selections of entities.

``pull(db, pattern, eid)`` returns one dict, ``pull_many(db, pattern, eids)``
a list aligned with ``eids``. A pattern is EDN text or the same data already
read; it is parsed once and cached (:func:`parse_pattern`), and bound to each
schema once. ``:xform`` options name functions registered here with
:func:`register_xform`: pattern text never evaluates code.

>>> register_xform("my.app/upper", str.upper)
>>> parse_pattern("[[:person/name :xform my.app/upper]]").attrs[0].xform
'my.app/upper'
"""

from __future__ import annotations

from typing import Any, Callable

from fact_store.pull.execute import pull, pull_many
from fact_store.pull.parse import (DEFAULT_LIMIT, XFORMS, PullAttr, PullSpec, RecursionLimit,
                                   parse_pattern)

__all__ = ["pull", "pull_many", "parse_pattern", "register_xform", "PullSpec", "PullAttr",
           "RecursionLimit", "DEFAULT_LIMIT"]


def register_xform(name: str, fn: Callable[[Any], Any]) -> None:
    """Make ``fn`` available to patterns as ``:xform name`` (a symbol such as ``my.app/upper``).

    ``fn`` receives the attribute's value (the whole list for a
    cardinality-many or reverse attribute) and returns the value to report.
    Registering a name again replaces its function, also for cached patterns.

    >>> register_xform("my.app/count", len)
    >>> register_xform("bad name", len)
    Traceback (most recent call last):
    ...
    ValueError: xform name must be a symbol without spaces, got 'bad name'

    :raises ValueError: a name that is not a symbol, or an ``fn`` that is not callable.
    """
    text = str.__str__(name) if isinstance(name, str) else None
    if not text or text.startswith(":") or any(c.isspace() for c in text) or text in (
            "nil", "true", "false"):
        raise ValueError(f"xform name must be a symbol without spaces, got {name!r}")
    if not callable(fn):
        raise ValueError(f"xform {text} must be callable, got {fn!r}")
    XFORMS[text] = fn
