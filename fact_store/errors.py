"""The exception hierarchy of fact_store, and nothing else.

Every error a user can cause is a :class:`FactStoreError`. Each carries a
stable ``code`` (``"tx/unique-conflict"``) that tests and the CLI match on, a
message that says what was wrong, and the data as keyword attributes.

>>> err = UniqueConflict("value 1 of :a/b is already held by 7", attribute=":a/b", value=1)
>>> err.code, err.data["value"]
('tx/unique-conflict', 1)
>>> isinstance(err, TransactionError)
True
"""

from __future__ import annotations

from typing import Any


#: What a long-running client (an overseer worker) should do after an error: ``recovery(exc)``.
TRANSIENT = "transient"   #: retry the same call later (with backoff): the store may come back
RECONNECT = "reconnect"   #: this connection will never work again: open the store anew from its URI
FATAL = "fatal"           #: retrying cannot help (bad input, damaged store, bad configuration)


class FactStoreError(Exception):
    """Root of every error fact_store raises on purpose.

    ``recovery`` says what a caller that keeps running should do next (see
    :func:`recovery`): each class declares it, so there is one place to look.
    """

    code = "fact-store/error"
    recovery = FATAL

    def __init__(self, message: str = "", **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def __getattr__(self, name: str) -> Any:
        data = self.__dict__.get("data")
        if data is not None and name in data:
            return data[name]
        raise AttributeError(name)


# --- text -----------------------------------------------------------------

class EdnSyntaxError(FactStoreError, ValueError):
    """EDN text that does not parse; has line, column and a caret excerpt."""

    code = "edn/syntax"


class QueryError(FactStoreError):
    """A query that cannot run (unknown function, insufficient bindings...)."""

    code = "query/error"


class QuerySyntaxError(QueryError, ValueError):
    """A malformed query or pull pattern; names the offending form."""

    code = "query/syntax"


class LimitExceeded(FactStoreError):
    """A configured limit (value size, tx size, depth, rows, time) was exceeded."""

    code = "limit/exceeded"


# --- schema ----------------------------------------------------------------

class SchemaError(FactStoreError):
    """A bad attribute spec, a forbidden schema change, or an unknown attribute."""

    code = "schema/error"


# --- transactions ---------------------------------------------------------

class TransactionError(FactStoreError):
    """A transaction that was refused; nothing of it was applied.

    When one transaction breaks several rules, ``violations`` lists every one
    (each itself a TransactionError) and the message joins them.
    """

    code = "tx/error"

    def __init__(self, message: str = "", violations: list["TransactionError"] | None = None,
                 **data: Any) -> None:
        super().__init__(message, **data)
        self.violations = violations if violations is not None else [self]


class InvalidTxData(TransactionError):
    code = "tx/invalid-data"


class UnknownAttribute(TransactionError):
    code = "tx/unknown-attribute"


class InvalidValue(TransactionError):
    code = "tx/invalid-value"


class UniqueConflict(TransactionError):
    code = "tx/unique-conflict"


class CardinalityConflict(TransactionError):
    code = "tx/cardinality-conflict"


class DatomsConflict(TransactionError):
    code = "tx/datoms-conflict"


class CasFailed(TransactionError):
    code = "tx/cas-failed"


class UnresolvedTempid(TransactionError):
    code = "tx/unresolved-tempid"


class UnknownEntity(TransactionError):
    code = "tx/unknown-entity"


class UnknownTxFunction(TransactionError):
    code = "tx/unknown-function"


class TxFunctionError(TransactionError):
    code = "tx/function-error"


# --- storage ----------------------------------------------------------------

class StorageError(FactStoreError):
    """The store could not read or write its log or snapshots.

    Transient unless a subclass says otherwise: the server or disk may recover
    (an unreachable server, a failed append that wrote nothing).
    """

    code = "storage/error"
    recovery = TRANSIENT


class LogCorrupted(StorageError):
    """A bad record followed by valid data: the log is corrupt at ``offset``."""

    code = "storage/corrupted"
    recovery = FATAL


CorruptLogError = LogCorrupted


class UnsupportedFormat(StorageError):
    """A log or snapshot written by a newer format version."""

    code = "storage/unsupported-format"
    recovery = FATAL


class NotAFactStore(StorageError):
    """The file is not a fact-store log; it was not modified."""

    code = "storage/not-a-fact-store"
    recovery = FATAL


class DiskFullError(StorageError):
    code = "storage/disk-full"


class StoreMoved(StorageError):
    """The log was replaced, deleted or lost records this process had read; the handle is closed."""

    code = "storage/moved"
    recovery = RECONNECT


class LockTimeout(StorageError):
    code = "storage/lock-timeout"


class TransactionOutcomeUnknown(StorageError):
    """The store failed mid-commit; the transaction may or may not be in the log."""

    code = "storage/outcome-unknown"


class ConnectionClosed(StorageError):
    """A call on a closed connection or store handle: it will never work again."""

    code = "storage/closed"
    recovery = RECONNECT


class ConfigurationError(FactStoreError, ValueError):
    """A bad URI or option, or a missing optional driver (says what to install)."""

    code = "config/error"


class QueryLimitExceeded(LimitExceeded, QueryError):
    """A query over its row budget or deadline, or a regex/string past its bound."""

    code = "query/limit-exceeded"


def recovery(exc: BaseException) -> str:
    """What to do after ``exc``: :data:`TRANSIENT`, :data:`RECONNECT` or :data:`FATAL`.

    The one place that classifies store errors (each class declares its
    ``recovery``). Anything that is not a FactStoreError is FATAL: a bug, not
    the store.

    >>> recovery(StorageError("server unreachable")), recovery(StoreMoved("log replaced"))
    ('transient', 'reconnect')
    >>> recovery(LogCorrupted("bad record")), recovery(KeyError("x"))
    ('fatal', 'fatal')
    """
    if isinstance(exc, FactStoreError):
        return str(type(exc).recovery)
    return FATAL


__all__ = [
    "recovery",
    "TRANSIENT",
    "RECONNECT",
    "FATAL",
    "FactStoreError",
    "EdnSyntaxError",
    "QueryError",
    "QuerySyntaxError",
    "LimitExceeded",
    "SchemaError",
    "TransactionError",
    "InvalidTxData",
    "UnknownAttribute",
    "InvalidValue",
    "UniqueConflict",
    "CardinalityConflict",
    "DatomsConflict",
    "CasFailed",
    "UnresolvedTempid",
    "UnknownEntity",
    "UnknownTxFunction",
    "TxFunctionError",
    "StorageError",
    "LogCorrupted",
    "UnsupportedFormat",
    "NotAFactStore",
    "DiskFullError",
    "StoreMoved",
    "LockTimeout",
    "TransactionOutcomeUnknown",
    "ConnectionClosed",
    "ConfigurationError",
    "QueryLimitExceeded",
    "CorruptLogError",
]
