"""Installs overseer's attributes (idempotently).

The attribute definitions live in ``overseer/schema.edn``, which ships inside the
package and is read with :mod:`importlib.resources` (every attribute has a
``:db/doc``); the repository's ``schema/overseer.edn`` is a readable copy that a
test keeps identical. :func:`install_schema` transacts only the attributes a store
lacks, through the ``:overseer/install-schema`` transaction function, which
decides under the writer lock: two processes installing at once give one
transaction that installs and one that adds nothing.

Status values are plain keywords, as in Overseer: ``:unstarted``, ``:started``,
``:finished``, ``:failed``, ``:aborted``.

>>> import fact_store as fs
>>> conn = fs.connect("mem:overseer-schema-doc")
>>> install_schema(conn) > 0
True
>>> install_schema(conn)          # already there: nothing transacted
0
>>> conn.db().schema.attr(":job/status").indexed
True
>>> conn.close()
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import fact_store as fs

#: The package resource that holds the attribute definitions.
SCHEMA_RESOURCE = "schema.edn"

UNSTARTED = fs.Keyword(":unstarted")
STARTED = fs.Keyword(":started")
FINISHED = fs.Keyword(":finished")
FAILED = fs.Keyword(":failed")
ABORTED = fs.Keyword(":aborted")
#: Every job status, in lifecycle order.
STATUSES = (UNSTARTED, STARTED, FINISHED, FAILED, ABORTED)
#: Statuses a job never leaves.
TERMINAL = frozenset((FINISHED, FAILED, ABORTED))


@functools.lru_cache(maxsize=1)
def schema_tx() -> tuple[dict[Any, Any], ...]:
    """The schema maps of overseer/schema.edn (read once, from the installed package)."""
    text = resources.files("overseer").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return tuple(fs.read_edn(text))


def _install_fn(db: Any) -> list[Any]:
    """``:overseer/install-schema``: the schema maps whose attribute ``db`` lacks."""
    return [dict(m) for m in schema_tx() if db.schema.attr(m[fs.Keyword(":db/ident")]) is None]


fs.register_tx_fn(":overseer/install-schema", _install_fn)


def install_schema(conn: Any) -> int:
    """Install overseer's attributes on ``conn`` if missing; return how many were installed.

    Idempotent and safe to call from several processes at once. Job arguments
    are the application's own attributes: install them yourself.
    """
    db = conn.db()
    if not _install_fn(db):
        return 0
    report = conn.transact([[":overseer/install-schema"]])
    ident = db.schema.attr(":db/ident")
    return sum(1 for d in report.tx_data if ident is not None and d.a == ident.id and d.added)
