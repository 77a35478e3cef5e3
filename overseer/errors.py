"""OverseerError and its subclasses.

One root, :class:`OverseerError`, as ``fact_store`` has ``FactStoreError``.
Each error carries a stable ``code`` and its data as keyword attributes
(``err.data["missing"]``), and its message says what was wrong.

Two kinds are special:

- :class:`DuplicateJobId` is raised *inside* a transaction function (under the
  writer lock), so it is also a ``fact_store.TransactionError``: the store
  aborts the transaction and ``conn.transact`` re-raises it unchanged, which
  lets ``except overseer.GraphError`` catch a graph whose ids already exist.
- :class:`JobSignal` and its subclasses are control flow, not failures:
  :func:`overseer.abort` and :func:`overseer.fault` raise them from inside a
  handler and the harness turns them into the job's outcome.

>>> err = GraphError("job graph has a cycle: a -> b -> a", cycle=["a", "b", "a"])
>>> err.code, err.data["cycle"]
('overseer/graph', ['a', 'b', 'a'])
>>> issubclass(DuplicateJobId, GraphError), issubclass(StaleAttempt, fs.CasFailed)
(True, True)
"""

from __future__ import annotations

from typing import Any

import fact_store as fs


class OverseerError(Exception):
    """Root of every error overseer raises on purpose."""

    code = "overseer/error"

    def __init__(self, message: str = "", **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class GraphError(OverseerError, ValueError):
    """A job graph that cannot be inserted: a cycle, a missing dependency, a duplicate id."""

    code = "overseer/graph"


class DuplicateJobId(GraphError, fs.TransactionError):
    """Job ids that already exist in the store (raised under the writer lock: nothing written)."""

    code = "overseer/duplicate-job-id"

    def __init__(self, message: str = "", violations: Any = None, **data: Any) -> None:
        fs.TransactionError.__init__(self, message, violations=violations, **data)


class HandlerNotFound(OverseerError, LookupError):
    """Job types that have no handler."""

    code = "overseer/handler-not-found"


class ConfigError(OverseerError, ValueError):
    """A bad worker configuration value."""

    code = "overseer/config"


class ClaimLost(OverseerError):
    """Another worker claimed the job first (a normal event; the claim API returns it as a value)."""

    code = "overseer/claim-lost"


class StaleAttempt(fs.CasFailed):
    """A heartbeat, outcome or reset for an attempt that is no longer the job's current one.

    Raised inside overseer's transaction functions, so the store aborts the
    transaction; fencing (RELIABILITY J2) rests on it.
    """

    code = "overseer/stale-attempt"


# --- control flow from inside a handler ------------------------------------------------

class JobSignal(OverseerError):
    """Base of the exceptions a handler raises to choose its job's outcome."""

    code = "overseer/signal"


class JobAborted(JobSignal):
    """``abort(msg)``: the job and every transitive dependent become ``:aborted``."""

    code = "overseer/aborted"

    def __init__(self, message: str = "", silent: bool = False, **data: Any) -> None:
        super().__init__(message, silent=silent, **data)
        self.silent = silent


class JobFaulted(JobSignal):
    """``fault(msg)``: a transient failure; the job goes back to ``:unstarted`` for a later try.

    ``retry_in`` (seconds) sets when; None leaves it to the worker's backoff.
    """

    code = "overseer/faulted"

    def __init__(self, message: str = "", retry_in: float | None = None, **data: Any) -> None:
        super().__init__(message, retry_in=retry_in, **data)
        self.retry_in = retry_in


class WorkerInterrupted(BaseException):
    """A second SIGINT/SIGTERM while a job runs: the job is released back to ``:unstarted``.

    A ``BaseException``, like ``KeyboardInterrupt``, so a handler's ``except
    Exception`` does not swallow it.
    """

    code = "overseer/interrupted"


class JobTimedOut(BaseException):
    """Raised inside a handler thread whose attempt ran past its timeout (the attempt was faulted).

    A ``BaseException`` so that a handler's ``except Exception`` does not swallow
    it. Python delivers it only between bytecodes: a handler blocked in one long C
    call (a socket read without a timeout, ``time.sleep``) sees it when that call
    returns. Use ``isolate=True`` (a child process per job) to have it killed.
    """
