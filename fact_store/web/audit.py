"""Who did what through the console: attributes of the transaction entity of each action.

Every write the console makes (an overseer retry, an abort, a submitted graph)
carries ``:audit/who`` (the name typed in the form, and the client address),
``:audit/why`` and ``:audit/via`` on its tx entity, so the tx log shows them.
"""

from __future__ import annotations

import fact_store as fs

AUDIT_SCHEMA = [
    {":db/ident": ":audit/who", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one",
     ":db/doc": "Who made this transaction through the web console (the name given, and the client address)."},
    {":db/ident": ":audit/why", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one",
     ":db/doc": "Why: the reason given in the web console, or the action's name."},
    {":db/ident": ":audit/via", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one",
     ":db/doc": "The tool that made the transaction (\"fact-store web\")."},
]


def install_audit_schema(conn: fs.Connection) -> None:
    """Install the ``:audit/*`` attributes unless the store has them (idempotent)."""
    db = conn.db()
    if all(db.schema.attr(a[":db/ident"]) is not None for a in AUDIT_SCHEMA):
        return
    conn.transact(AUDIT_SCHEMA)
