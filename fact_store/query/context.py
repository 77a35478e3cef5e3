"""One execution's context: its sources, memoised scans, rule state, trace, and budgets.

Every runner (``patterns.py``, ``execute.py``) takes a :class:`Ctx` first.  The
budgets of RELIABILITY V3 live here so that every long loop can check them
without importing the executor:

* **rows**: no intermediate relation, product or rule table may hold more than
  ``ctx.max_rows`` rows (:func:`check_product` refuses a product before building it;
  :func:`over_rows` builds the error);
* **time**: ``ctx.deadline`` (``time.monotonic()`` based) is checked between the
  steps of a block, between the iterations of a rule evaluation, and inside
  long scans (:func:`check_deadline`).

Past either, the query raises :class:`~fact_store.errors.QueryLimitExceeded`
naming the clause it was running.
"""

from __future__ import annotations

import random as _random
import time as _time
from typing import Any, Iterable, Iterator

from fact_store.errors import QueryLimitExceeded
from fact_store.query.parse import show

__all__ = ["Ctx", "is_db", "over_rows", "over_time", "check_product", "check_deadline", "paced",
           "note"]


def is_db(x: Any) -> bool:
    return hasattr(x, "search") and hasattr(x, "schema")


class Ctx:
    """Everything one execution needs: sources, memoised scans, rule state, trace."""

    __slots__ = ("sources", "memo", "rng", "trace", "stats", "rule_state", "counts", "access",
                 "satisfied", "params", "max_rows", "deadline", "timeout")

    def __init__(self, sources: dict[str, Any], rng: Any = None, trace: bool = False,
                 params: tuple[Any, ...] = (), max_rows: int = 10_000_000,
                 timeout: float | None = None) -> None:
        self.sources = sources
        self.params = params
        self.max_rows = max_rows
        self.timeout = timeout
        self.deadline = None if timeout is None else _time.monotonic() + timeout
        self.memo: dict[Any, Any] = {}
        self.counts: dict[Any, int] = {}
        self.rng = rng
        self.trace = trace
        self.stats: dict[int, list[Any]] = {}
        self.rule_state: dict[Any, Any] = {}
        self.access: dict[int, Any] = {}
        self.satisfied: set[Any] = set()   # filters an AVET range already applied

    def get_rng(self) -> Any:
        if self.rng is None:
            self.rng = _random.Random()
        return self.rng


def over_rows(ctx: Ctx, n: int, step: Any = None) -> QueryLimitExceeded:
    where = f" at {show(step.form)}" if getattr(step, "form", None) is not None else ""
    return QueryLimitExceeded(f"Query produced {n} rows{where}, more than the row budget of "
                              f"{ctx.max_rows} (pass max_rows= to q to change it)",
                              rows=n, limit=ctx.max_rows)


def over_time(ctx: Ctx, step: Any = None) -> QueryLimitExceeded:
    where = f" at {show(step.form)}" if getattr(step, "form", None) is not None else ""
    return QueryLimitExceeded(f"Query ran past its deadline of {ctx.timeout} s{where} "
                              "(pass timeout= to q, or :timeout in ms, to change it)",
                              timeout=ctx.timeout)


def check_product(ctx: Ctx, n: int, m: int, step: Any = None) -> None:
    """Refuse to build a product of ``n`` x ``m`` rows past the row budget."""
    if n * m > ctx.max_rows:
        raise over_rows(ctx, n * m, step)


def check_deadline(ctx: Ctx, step: Any = None) -> None:
    if ctx.deadline is not None and _time.monotonic() > ctx.deadline:
        raise over_time(ctx, step)


def note(ctx: Ctx, step: Any, text: str) -> None:
    if ctx.trace:
        st = ctx.stats.setdefault(id(step), [0, 0, 0, 0.0, ""])
        if text not in st[4]:
            st[4] = (st[4] + ", " + text) if st[4] else text


_PACE = 1024


def paced(ctx: Ctx, rows: list[Any], step: Any = None) -> Iterable[Any]:
    """``rows``, checking the deadline every 1,024 rows: a step that calls a function per
    row stops within one batch of its deadline, however many rows it has."""
    if ctx.deadline is None or len(rows) <= _PACE:
        return rows
    return _paced(ctx, rows, step)


def _paced(ctx: Ctx, rows: list[Any], step: Any) -> Iterator[Any]:
    for i in range(0, len(rows), _PACE):
        check_deadline(ctx, step)
        yield from rows[i:i + _PACE]
