"""Plan + Db → relations: runs blocks and every step type, rule calls included.

**Blocks.**  Rows are plain tuples whose columns the plan fixed; a step maps
a list of rows to a new list (appending the columns it binds), and a block
stops as soon as it has no rows left.  :func:`run_block` dispatches each step
to its runner through one table (``_RUNNERS``, built at the bottom of this
module): data patterns (``patterns.py``: per-row index lookups or one scan and
a hash join, chosen from the real row count), predicates and function
bindings, ``not`` (an anti-join: the sub-block runs once, seeded with the
distinct join keys), ``or`` (a union of branches seeded the same way, joined
back), and rule calls.

**Rules.**  A rule call runs for the distinct tuples of its bound arguments
(the *seeds*) and joins the answers back: the magic-set idea without
rewriting the program (``rules.py`` planned each call for its adornment and
chose one of three modes):

* ``nonrec``: every body runs once over the seeds;
* ``factored`` (right-linear recursion, ``reach(x, y) :- edge(x, t), reach(t, y)``):
  a semi-naive loop grows the set of (seed, b) pairs reachable through the
  recursive bodies, each iteration running them only over the pairs found by
  the previous one (the delta); then the exit bodies run once over all pairs.
  The work is what one root reaches, not the whole closure of every node;
* ``general``: semi-naive bottom-up evaluation over *tables* (rule,
  adornment), each with a demand set (the bound tuples asked for: seeded by
  the caller, grown by :class:`~fact_store.query.steps.IdbStep` reads inside
  the bodies) and an answer set.  Each iteration runs every body once per new
  demand and once per recursive call whose table gained answers, that call
  reading only the new answers (its ``$ delta`` source), so no derivation is
  repeated; it stops when an iteration adds no answer and no demand.

Everything is iterative: deep recursion never touches Python's stack.

**Budgets.**  After every step the row count is checked against
``ctx.max_rows`` and the clock against ``ctx.deadline``; rule loops check both
once per iteration (the sizes of their tables included); products are refused
before they are built (``context.py``).

Nothing is cached across executions except plans.
"""

from __future__ import annotations

import time as _time
from operator import itemgetter
from typing import Any, Callable

from fact_store.errors import FactStoreError, QueryError
from fact_store.query.builtins import COMPARISONS, clj_eq, is_truthy
from fact_store.query.context import (Ctx, check_deadline, check_product, over_rows, over_time,
                                      paced)
from fact_store.query.parse import BindColl, BindIgnore, BindScalar, BindTuple, show
from fact_store.query.parse import show as _show
from fact_store.query.patterns import UNIT_ROWS, CollSource, run_pattern
from fact_store.query.steps import (BindStep, Block, FilterStep, IdbStep, NotStep, OrStep,
                                    PatternStep, RuleCall, RuleStep)

__all__ = ["run_block", "evaluate_call"]

Rows = list[tuple[Any, ...]]


# ---------------------------------------------------------------- blocks

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


def _run_block_traced(ctx: Ctx, block: Block, rows: list[tuple[Any, ...]]) -> list[Any]:
    for step in block.steps:
        st = ctx.stats.setdefault(id(step), [0, 0, 0, 0.0, ""])
        st[0] += 1
        st[1] += len(rows)
        if not rows or (ctx.satisfied and step in ctx.satisfied):
            st[2] += len(rows)
            continue
        t0 = _time.perf_counter()
        rows = _RUNNERS[type(step)](ctx, step, rows)
        st[3] += _time.perf_counter() - t0
        st[2] += len(rows)
        if len(rows) > ctx.max_rows:
            raise over_rows(ctx, len(rows), step)
        check_deadline(ctx, step)
    return rows


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
    return bool(a == b)


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
        return [r for r in rows if kg(r) in acc]
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
        xs = get(kg(r))
        if xs:
            for x in xs:
                app(r + x)
    return out


def _run_rule(ctx: Ctx, st: RuleStep, rows: list[Any]) -> list[Any]:
    specs = _consts(ctx, st.args)
    cols = tuple(x for k, x in specs if k == 0)
    consts = [(i, x) for i, (k, x) in enumerate(specs) if k == 1]
    raw: set[tuple[Any, ...]]
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


# ---------------------------------------------------------------- rule evaluation

def evaluate_call(ctx: Ctx, call: RuleCall, seeds: list[tuple[Any, ...]]) -> dict[Any, Any]:
    """Answers of ``call`` for the bound-argument tuples ``seeds``: {seed: {free tuple}}."""
    if call.mode == "nonrec":
        return _eval_nonrec(ctx, call, seeds)
    if call.mode == "factored":
        return _eval_factored(ctx, call, seeds)
    return _eval_general(ctx, call, seeds)


def _getter(cols: tuple[int, ...]) -> Any:
    if len(cols) == 1:
        c = cols[0]
        return lambda r: (r[c],)
    if not cols:
        return lambda r: ()
    return itemgetter(*cols)


def _eval_nonrec(ctx: Ctx, call: RuleCall, seeds: list[tuple[Any, ...]]) -> dict[Any, Any]:
    bpos, fpos = call.bound_pos, call.free_pos
    answers: dict[Any, set[Any]] = {}
    for blk, head_cols in call.bodies:
        res = run_block(ctx, blk, seeds)
        kg = _getter(tuple(head_cols[i] for i in bpos))
        fg = _getter(tuple(head_cols[i] for i in fpos))
        for r in res:
            k = kg(r)
            s = answers.get(k)
            if s is None:
                s = answers[k] = set()
            s.add(fg(r))
    return answers


def _eval_factored(ctx: Ctx, call: RuleCall, seeds: list[tuple[Any, ...]]) -> dict[Any, Any]:
    reached: set[tuple[Any, ...]] = set()
    delta = []
    for seed in seeds:
        row = (seed,) + seed
        if row not in reached:
            reached.add(row)
            delta.append(row)
    while delta:
        check_deadline(ctx, call)
        if len(reached) > ctx.max_rows:
            raise over_rows(ctx, len(reached), call)
        new: list[tuple[Any, ...]] = []
        for blk, spec in call.rec_bodies:
            res = run_block(ctx, blk, delta)
            if not res:
                continue
            if all(k == 0 for k, _ in spec):
                g = itemgetter(0, *[x for _, x in spec])
                for r in res:
                    t = g(r)
                    if t not in reached:
                        reached.add(t)
                        new.append(t)
            else:
                for r in res:
                    t = (r[0],) + tuple(r[x] if k == 0 else x for k, x in spec)
                    if t not in reached:
                        reached.add(t)
                        new.append(t)
        delta = new
    rows = list(reached)
    answers: dict[Any, set[Any]] = {}
    one_seed = len(seeds) == 1
    for blk, free_cols in call.exit_bodies:
        res = run_block(ctx, blk, rows)
        if not res:
            continue
        if one_seed:       # every row belongs to the one seed: no grouping needed
            s = answers.setdefault(seeds[0], set())
            if len(free_cols) == 1:
                c = free_cols[0]
                s.update([(r[c],) for r in res])
            else:
                g = itemgetter(*free_cols)
                s.update([g(r) for r in res])
            continue
        fg = _getter(free_cols)
        for r in res:
            got = answers.get(r[0])
            if got is None:
                got = answers[r[0]] = set()
            got.add(fg(r))
    return answers


def _eval_general(ctx: Ctx, call: RuleCall, seeds: list[tuple[Any, ...]]) -> dict[Any, Any]:
    tables = call.tables
    names = []
    for t in tables:
        names += [f"$ idb {t.id}", f"$ magic {t.id}", f"$ delta {t.id}"]
    saved = {n: ctx.sources.get(n) for n in names}
    saved_state = {t.id: ctx.rule_state.get(("demands", t.id)) for t in tables}
    ans = {t.id: CollSource([]) for t in tables}
    ans_set: dict[int, set[Any]] = {t.id: set() for t in tables}
    magic = {t.id: CollSource([]) for t in tables}
    magic_set: dict[int, set[Any]] = {t.id: set() for t in tables}
    dmagic: dict[int, list[Any]] = {t.id: [] for t in tables}
    dans: dict[int, list[Any]] = {t.id: [] for t in tables}
    try:
        for t in tables:
            ctx.sources[f"$ idb {t.id}"] = ans[t.id]
            ctx.sources[f"$ magic {t.id}"] = magic[t.id]
            ctx.rule_state[("demands", t.id)] = set()
        root = call.root
        assert root is not None
        fresh = [s for s in dict.fromkeys(seeds)]
        magic_set[root.id].update(fresh)
        magic[root.id].add(list(fresh))
        dmagic[root.id] = fresh
        while True:
            check_deadline(ctx, call)
            total = sum(len(ans[t.id].rows) for t in tables)
            if total > ctx.max_rows:
                raise over_rows(ctx, total, call)
            new_ans: dict[int, set[Any]] = {t.id: set() for t in tables}
            for t in tables:
                for body in t.bodies:
                    if dmagic[t.id]:
                        res = run_block(ctx, body.seed_block, dmagic[t.id])
                        if res:
                            hg = itemgetter(*body.head_cols)
                            new_ans[t.id].update(_tuples(hg, res, len(body.head_cols)))
                    for at, vblk, hcols in body.variants:
                        if not dans[at.id]:
                            continue
                        ctx.sources[f"$ delta {at.id}"] = CollSource(dans[at.id])
                        res = run_block(ctx, vblk, UNIT_ROWS)
                        if res:
                            hg = itemgetter(*hcols)
                            new_ans[t.id].update(_tuples(hg, res, len(hcols)))
            progress = False
            for t in tables:
                seen = ans_set[t.id]
                na = [x for x in new_ans[t.id] if x not in seen]
                seen.update(na)
                if na:
                    ans[t.id].add(na)
                dans[t.id] = na
                dem = ctx.rule_state[("demands", t.id)]
                ms = magic_set[t.id]
                dm = [x for x in dem if x not in ms]
                dem.clear()
                ms.update(dm)
                if dm:
                    magic[t.id].add(dm)
                dmagic[t.id] = dm
                progress = progress or bool(na) or bool(dm)
            if not progress:
                break
        bpos = root.bound_pos
        fpos = tuple(i for i, b in enumerate(root.adorn) if not b)
        kg = _getter(bpos)
        fg = _getter(fpos)
        answers: dict[Any, set[Any]] = {}
        for x in ans[root.id].rows:
            k = kg(x)
            s = answers.get(k)
            if s is None:
                s = answers[k] = set()
            s.add(fg(x))
        return answers
    finally:
        for n, v in saved.items():
            if v is None:
                ctx.sources.pop(n, None)
            else:
                ctx.sources[n] = v
        for tid, v in saved_state.items():
            if v is None:
                ctx.rule_state.pop(("demands", tid), None)
            else:
                ctx.rule_state[("demands", tid)] = v


def _tuples(g: Any, rows: list[Any], n: int) -> Any:
    if n == 1:
        return ((g(r),) for r in rows)
    return (g(r) for r in rows)


def _run_idb(ctx: Ctx, st: IdbStep, rows: list[Any]) -> list[Any]:
    dem = ctx.rule_state[("demands", st.table.id)]
    spec = st.demand
    if spec:
        if all(k == 0 for k, _ in spec):
            cols = [x for _, x in spec]
            if len(cols) == 1:
                c = cols[0]
                dem.update((r[c],) for r in rows)
            else:
                g = itemgetter(*cols)
                dem.update(g(r) for r in rows)
        else:
            dem.update(tuple(r[x] if k == 0 else x for k, x in spec) for r in rows)
    else:
        dem.add(())
    return run_pattern(ctx, st.pattern, rows)


_RUNNERS: dict[type, Callable[[Ctx, Any, Rows], Rows]] = {
    PatternStep: run_pattern, FilterStep: _run_filter, BindStep: _run_bind,
    NotStep: _run_not, OrStep: _run_or, RuleStep: _run_rule, IdbStep: _run_idb,
}
