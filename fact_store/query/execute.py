"""Plan + Db → relations: scans, hash joins, not/or, predicates, aggregates, find specs.

Rows are plain tuples whose columns the plan fixed; a step maps a list of
rows to a new list, and a block stops as soon as it has no rows left.  This
module runs blocks and the steps other than data patterns (predicates,
function bindings, ``not``, ``or``, rule calls); data patterns are in
patterns.py, rule evaluation in rules.py, the find spec in find.py.

Nothing is cached across executions except plans.
"""

from __future__ import annotations

import random as _random
from operator import itemgetter
from typing import Any, Iterable, Iterator

import time as _time

from fact_store.errors import FactStoreError, QueryError, QueryLimitExceeded
from fact_store.query.builtins import COMPARISONS, clj_eq, is_truthy
from fact_store.query.parse import (BindColl, BindIgnore, BindScalar, BindTuple, show)
from fact_store.query.parse import show as _show
from fact_store.query.patterns import UNIT_ROWS, CollSource, run_pattern
from fact_store.query.plan import (BindStep, Block, FilterStep, NotStep, OrStep, PatternStep,
                                   RuleStep)

__all__ = ["Ctx", "CollSource", "run_block", "UNIT_ROWS", "is_db"]


def is_db(x: Any) -> bool:
    return hasattr(x, "search") and hasattr(x, "schema")


# ---------------------------------------------------------------- context

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


def run_block(ctx: Ctx, block: Block, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Run ``block``'s steps over ``rows`` (columns ``block.seed_vars``)."""
    if ctx.trace:
        return _run_block_traced(ctx, block, rows)
    satisfied = ctx.satisfied
    for step in block.steps:
        if not rows:
            return rows
        if satisfied and step in satisfied:
            continue
        rows = _RUNNERS[type(step)](ctx, step, rows)
        if len(rows) > ctx.max_rows:
            raise over_rows(ctx, len(rows), step)
        if ctx.deadline is not None and _time.monotonic() > ctx.deadline:
            raise over_time(ctx, step)
    return rows


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


def _run_block_traced(ctx: Ctx, block: Block, rows: list[tuple[Any, ...]]) -> list[Any]:
    import time
    for step in block.steps:
        st = ctx.stats.setdefault(id(step), [0, 0, 0, 0.0, ""])
        st[0] += 1
        st[1] += len(rows)
        if not rows or (ctx.satisfied and step in ctx.satisfied):
            st[2] += len(rows)
            continue
        t0 = time.perf_counter()
        rows = _RUNNERS[type(step)](ctx, step, rows)
        st[3] += time.perf_counter() - t0
        st[2] += len(rows)
        if len(rows) > ctx.max_rows:
            raise over_rows(ctx, len(rows), step)
        check_deadline(ctx, step)
    return rows


def _note(ctx: Ctx, step: Any, text: str) -> None:
    if ctx.trace:
        st = ctx.stats.setdefault(id(step), [0, 0, 0, 0.0, ""])
        if text not in st[4]:
            st[4] = (st[4] + ", " + text) if st[4] else text


def _wrap(exc: Exception, form: Any) -> QueryError:
    if isinstance(exc, FactStoreError):
        return exc  # type: ignore[return-value]
    return QueryError(f"Error evaluating {show(form)}: {type(exc).__name__}: {exc}", form=form)


# ---------------------------------------------------------------- predicates and functions

def _arg_getter(ctx: Ctx, spec: tuple[int, Any]) -> Any:
    kind, x = spec
    if kind == 0:
        return itemgetter(x)
    val = ctx.sources[x] if kind == 2 else (ctx.params[x] if kind == 3 else x)
    return lambda r: val


def _consts(ctx: Ctx, args: tuple[tuple[int, Any], ...]) -> tuple[tuple[int, Any], ...]:
    """Arguments with parameters (kind 3) replaced by their values (kind 1)."""
    if not any(k == 3 for k, _ in args):
        return args
    p = ctx.params
    return tuple((1, p[x]) if k == 3 else (k, x) for k, x in args)


def _plain_eq_const(c: Any) -> bool:
    """Is Clojure ``=`` against ``c`` just Python ``==``?  (Not for numbers and booleans.)"""
    return isinstance(c, (str, tuple, frozenset)) or c is None


def _run_filter(ctx: Ctx, st: FilterStep, rows: list[Any]) -> list[Any]:
    args = _consts(ctx, st.args)
    try:
        if st.fn is not None and len(args) == 2:
            name = st.fn.name
            (k1, x1), (k2, x2) = args
            if k1 == 1 and k2 == 0 and name in _FLIP:
                name, (k1, x1), (k2, x2) = _FLIP[name], (k2, x2), (k1, x1)
            if k1 == 0 and k2 == 1:
                i, c = x1, x2
                if name == ">":
                    return [r for r in rows if r[i] > c]
                if name == "<":
                    return [r for r in rows if r[i] < c]
                if name == ">=":
                    return [r for r in rows if r[i] >= c]
                if name == "<=":
                    return [r for r in rows if r[i] <= c]
                if name == "=" and _plain_eq_const(c):
                    return [r for r in rows if r[i] == c]
                if name in ("not=", "!=") and _plain_eq_const(c):
                    return [r for r in rows if r[i] != c]
            op = COMPARISONS.get(name)
            if op is None and name in ("=", "not=", "!="):
                op = clj_eq if name == "=" else _clj_ne
            if op is not None:
                if k1 == 0 and k2 == 1:
                    return [r for r in rows if op(r[x1], x2)]
                if k1 == 0 and k2 == 0:
                    return [r for r in rows if op(r[x1], r[x2])]
        getters = [_arg_getter(ctx, a) for a in args]
        if st.fn is not None:
            f = st.fn.fn
            if len(getters) == 1:
                g = getters[0]
                return [r for r in paced(ctx, rows, st) if is_truthy(f(g(r)))]
            return [r for r in paced(ctx, rows, st) if is_truthy(f(*[g(r) for g in getters]))]
        fg = _arg_getter(ctx, st.fn_col)  # type: ignore[arg-type]
        return [r for r in paced(ctx, rows, st)
                if is_truthy(_call_input_fn(fg(r), [g(r) for g in getters], st.form))]
    except FactStoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user's function or a type mismatch
        raise _wrap(exc, st.form) from exc


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "not=": "not=", "!=": "!="}


def _clj_ne(a: Any, b: Any) -> bool:
    return not clj_eq(a, b)


def _call_input_fn(f: Any, args: list[Any], form: Any) -> Any:
    if not callable(f):
        raise QueryError(f"{show(form)}: the function variable holds {_show(f)}, not a function",
                         form=form)
    return f(*args)


def _expand(binding: Any, value: Any, form: Any) -> list[tuple[Any, ...]]:
    """The tuples of binding-variable values that ``value`` gives (nil gives none)."""
    if value is None:
        return []
    if isinstance(binding, BindScalar):
        return [(value,)]
    if isinstance(binding, BindIgnore):
        return [()]
    if isinstance(binding, BindTuple):
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise QueryError(f"{show(form)}: a tuple binding needs a sequence, got {_show(value)}",
                             form=form)
        vals = list(value)
        if len(vals) < len(binding.bindings):
            raise QueryError(f"{show(form)}: not enough elements ({len(vals)}) for the tuple "
                             f"binding of {len(binding.bindings)}", form=form)
        parts = [_expand(b, v, form) for b, v in zip(binding.bindings, vals)]
        out: list[tuple[Any, ...]] = [()]
        for p in parts:
            out = [a + b for a in out for b in p]
        return out
    if isinstance(binding, BindColl):
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise QueryError(f"{show(form)}: a collection binding needs a collection, got "
                             f"{_show(value)}", form=form)
        res = []
        for v in value:
            res.extend(_expand(binding.binding, v, form))
        return res
    raise QueryError(f"Unsupported binding in {show(form)}", form=form)


def _run_bind(ctx: Ctx, st: BindStep, rows: list[Any]) -> list[Any]:
    getters = [_arg_getter(ctx, a) for a in st.args]
    f = st.fn.fn if st.fn is not None else None
    fg = _arg_getter(ctx, st.fn_col) if st.fn_col is not None else None
    pchecks = [(i, ctx.params[x]) for i, x in st.param_checks]
    out: list[Any] = []
    app = out.append
    simple = (isinstance(st.binding, BindScalar) and len(st.new_idx) == 1 and not pchecks)
    try:
        rows = paced(ctx, rows, st)  # type: ignore[assignment]
        if simple and f is not None:
            if len(getters) == 1:
                g = getters[0]
                for r in rows:
                    v = f(g(r))
                    if v is not None:
                        app(r + (v,))
            else:
                for r in rows:
                    v = f(*[g(r) for g in getters])
                    if v is not None:
                        app(r + (v,))
            return out
        binding, form = st.binding, st.form
        eq_checks, dup_checks, new_idx = st.eq_checks, st.dup_checks, st.new_idx
        ng = itemgetter(*new_idx) if len(new_idx) > 1 else None
        for r in rows:
            args = [g(r) for g in getters]
            v = f(*args) if f is not None else _call_input_fn(fg(r), args, form)  # type: ignore
            for vals in _expand(binding, v, form):
                if any(not _same(vals[i], r[c]) for i, c in eq_checks):
                    continue
                if pchecks and any(not _same(vals[i], x) for i, x in pchecks):
                    continue
                if any(vals[i] != vals[j] for i, j in dup_checks):
                    continue
                if ng is not None:
                    app(r + ng(vals))
                elif new_idx:
                    app(r + (vals[new_idx[0]],))
                else:
                    app(r)
        return out
    except FactStoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _wrap(exc, st.form) from exc


def _same(a: Any, b: Any) -> bool:
    return a == b


# ---------------------------------------------------------------- not / or / rules

def _keys(rows: list[Any], cols: tuple[int, ...]) -> tuple[Any, list[tuple[Any, ...]]]:
    """(a function row → key, the distinct keys as seed rows)."""
    if len(cols) == 1:
        c = cols[0]
        return itemgetter(c), [(k,) for k in {r[c] for r in rows}]
    kg = itemgetter(*cols)
    return kg, list({kg(r) for r in rows})


def _run_not(ctx: Ctx, st: NotStep, rows: list[Any]) -> list[Any]:
    kg, seeds = _keys(rows, st.key_cols)
    res = run_block(ctx, st.block, seeds)
    if not res:
        return rows
    n = len(st.key_cols)
    if n == 1:
        found = {r[0] for r in res}
        c = st.key_cols[0]
        return [r for r in rows if r[c] not in found]
    found = {r[:n] for r in res}
    return [r for r in rows if kg(r) not in found]


def _run_or(ctx: Ctx, st: OrStep, rows: list[Any]) -> list[Any]:
    n = len(st.key_cols)
    if n:
        kg, seeds = _keys(rows, st.key_cols)
    else:
        kg, seeds = None, UNIT_ROWS
    acc: set[tuple[Any, ...]] = set()
    for blk, oc in zip(st.branches, st.out_cols):
        res = run_block(ctx, blk, seeds)
        if not res:
            continue
        cols = tuple(range(n)) + oc
        if not cols:
            acc.add(())
            break
        g = itemgetter(*cols)
        if len(cols) == 1:
            acc.update((g(r),) for r in res)
        else:
            acc.update(g(r) for r in res)
    if not acc:
        return []
    if not st.new_vars:
        if n == 0:
            return rows
        if n == 1:
            found = {t[0] for t in acc}
            c = st.key_cols[0]
            return [r for r in rows if r[c] in found]
        return [r for r in rows if kg(r) in acc]  # type: ignore[misc]
    if n == 0:
        check_product(ctx, len(rows), len(acc), st)
        return [r + t for r in rows for t in acc]
    joined: dict[Any, list[Any]] = {}
    for t in acc:
        k = t[0] if n == 1 else t[:n]
        joined.setdefault(k, []).append(t[n:])
    out: list[Any] = []
    app = out.append
    get = joined.get
    for r in rows:
        xs = get(kg(r))  # type: ignore[misc]
        if xs:
            for x in xs:
                app(r + x)
    return out


def _run_rule(ctx: Ctx, st: RuleStep, rows: list[Any]) -> list[Any]:
    from fact_store.query.rules import evaluate_call
    specs = _consts(ctx, st.args)
    cols = tuple(x for k, x in specs if k == 0)
    consts = [(i, x) for i, (k, x) in enumerate(specs) if k == 1]
    if cols:
        cg = itemgetter(*cols)
        if len(cols) == 1:
            raw = {(cg(r),) for r in rows}
        else:
            raw = {cg(r) for r in rows}
    else:
        raw = {()}

    def full_key(part: tuple[Any, ...]) -> tuple[Any, ...]:
        if not consts:
            return part
        out = list(part)
        for i, x in consts:
            out.insert(i, x)
        return tuple(out)

    seeds = [full_key(p) for p in raw]
    answers = evaluate_call(ctx, st.call, seeds)
    out: list[Any] = []
    app = out.append
    plain = all(k == 0 for k, _ in st.out) and not st.dup_checks
    keep = [i for i, (k, _) in enumerate(st.out) if k == 0]
    for r in rows:
        part = (cg(r),) if cols and len(cols) == 1 else (cg(r) if cols else ())
        xs = answers.get(full_key(part) if consts else part)
        if not xs:
            continue
        if plain:
            for x in xs:
                app(r + x)
        else:
            for x in xs:
                if any(x[i] != x[j] for i, j in st.dup_checks):
                    continue
                app(r + tuple(x[i] for i in keep))
    return out


_RUNNERS: dict[type, Any] = {
    PatternStep: run_pattern, FilterStep: _run_filter, BindStep: _run_bind,
    NotStep: _run_not, OrStep: _run_or, RuleStep: _run_rule,
}


def register_runner(step_type: type, fn: Any) -> None:
    """Used by rules.py to add the runner of its own step types."""
    _RUNNERS[step_type] = fn
