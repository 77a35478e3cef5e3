"""fact_store: an immutable fact database with Datomic's transactions and Datalog.

The public façade: everything a user (or overseer) needs is exported here;
nothing else is public.

>>> import fact_store as fs
>>> conn = fs.connect("mem:readme")
>>> _ = conn.transact([{":db/ident": ":person/name", ":db/valueType": ":db.type/string",
...                     ":db/cardinality": ":db.cardinality/one"}])
>>> report = conn.transact([{":db/id": "ivan", ":person/name": "Ivan"}])
>>> db = report.db_after
>>> db.entity(report.tempids["ivan"])[":person/name"]
'Ivan'
>>> conn.close()
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

try:  # one source of truth: the version in pyproject.toml, as installed
    __version__ = _dist_version("fact-store")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"

from fact_store.connection import Connection, Log, LogTx, connect
from fact_store.datom import Datom, t_to_tx, tx_to_t
from fact_store.db import Db
from fact_store.edn import read as read_edn
from fact_store.edn import read_all as read_all_edn
from fact_store.edn import write as write_edn
from fact_store.edn.values import DbId, Keyword, Symbol, kw
from fact_store.entity import Entity
from fact_store.schema import AttributeInfo
from fact_store.errors import *  # noqa: F403 - the exception hierarchy is public
from fact_store.pull import pull, pull_many
from fact_store.query import explain, q, register_aggregate, register_query_fn
from fact_store.schema import Attr, Schema
from fact_store.tx import TxReport, register_tx_fn, unregister_tx_fn

from fact_store import errors as _errors

__all__ = [
    "connect", "Connection", "Db", "TxReport", "Datom", "Entity", "Log", "LogTx",
    "Keyword", "Symbol", "DbId", "AttributeInfo", "kw", "q", "explain", "pull", "pull_many", "register_query_fn",
    "register_aggregate", "register_tx_fn", "unregister_tx_fn", "read_edn", "read_all_edn",
    "write_edn", "t_to_tx", "tx_to_t", "Schema", "Attr",
    *_errors.__all__,
]
