"""The registry of transaction functions (:db/cas, application functions registered by name).

Transaction functions run inside the writer lock against db-before and return
more tx-data. Only Python callables the application registered are ever
called; no code is evaluated from text. ``:db/cas`` and
``:db/retractEntity`` are built into :mod:`fact_store.tx.expand`.

>>> register_tx_fn(":my/inc", lambda db, e, a, by: [[":db/add", e, a, by]])
>>> lookup(":my/inc") is not None, lookup("my/inc") is not None
(True, True)
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from fact_store.edn.values import Keyword

TxFn = Callable[..., Any]

_registry: dict[str, TxFn] = {}
_lock = threading.Lock()


def register_tx_fn(name: str, fn: TxFn) -> None:
    """Register ``fn(db, *args) -> tx_data`` under ``name`` (``:ns/name``) for this process.

    Every process that transacts must register the same functions (they run
    in the process that transacts, against the latest db).
    """
    if not callable(fn):
        raise TypeError(f"transaction function {name} must be callable")
    with _lock:
        _registry[str(Keyword(name))] = fn


def unregister_tx_fn(name: str) -> None:
    with _lock:
        _registry.pop(str(Keyword(name)), None)


def lookup(name: str) -> TxFn | None:
    """The function registered as ``name``, or None."""
    return _registry.get(str(Keyword(name)) if isinstance(name, str) else name)


def registered() -> list[str]:
    return sorted(_registry)
