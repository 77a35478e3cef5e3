"""Datalog queries: ``q(query, *inputs)``, ``explain``, and the registries queries may call.

The language is Datomic's.  A query is EDN text or the same data already
read; it is parsed once (cached by its text), planned once per schema
version and kind of inputs (cached too), and run against one Db value, so
its answer is consistent.  Query text never runs arbitrary Python: function
symbols resolve only in the built-in table or among the functions the
application registered with :func:`register_query_fn` / :func:`register_aggregate`.

The engine is a line; each module imports only those before it:

* ``parse.py`` - EDN data → Query AST, independent of any db (and its LRU caches);
* ``builtins.py`` - the predicates, functions and aggregates a query may call;
* ``steps.py`` - the plan's values (step types, blocks, rule calls, the plan);
* ``rules.py`` → ``plan.py`` - rule expansion per adornment; clause order, index choice;
* ``context.py`` - one execution's state and its budgets (rows, deadline);
* ``patterns.py`` → ``execute.py`` - data patterns; every other step, rule evaluation;
* ``find.py`` - inputs in, components combined, aggregates, pull, find specs;
* this module - the API: caches plans, pauses the GC, explains.

>>> import fact_store as fs
>>> conn = fs.connect("mem:query-doc")
>>> _ = conn.transact([{":db/ident": ":person/name", ":db/valueType": ":db.type/string",
...                     ":db/cardinality": ":db.cardinality/one"}])
>>> db = conn.transact([{":person/name": "Ivan"}, {":person/name": "Petr"}]).db_after
>>> sorted(q('[:find [?n ...] :where [_ :person/name ?n]]', db))
['Ivan', 'Petr']
>>> q('[:find ?n . :in $ ?n :where [_ :person/name ?n]]', db, "Ivan")
'Ivan'
>>> conn.close()
"""

from __future__ import annotations

import gc
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from fact_store.errors import QueryError
from fact_store.query import builtins
from fact_store.query.builtins import register_aggregate, register_query_fn
from fact_store.query.context import Ctx, is_db
from fact_store.query.find import bind_inputs, run_plan
from fact_store.query.parse import (LRU, RulesVar, SrcVar, clear_caches as clear_parse_caches,
                                    parse_query, parse_rules, show, show_binding)
from fact_store.query.plan import plan_query
from fact_store.query.steps import (BindStep, Block, FilterStep, NotStep, OrStep, PatternStep,
                                    QueryPlan, RuleStep, SourceInfo)

__all__ = ["q", "explain", "register_query_fn", "register_aggregate", "Explain",
           "clear_caches"]

_plan_cache = LRU(1024)

#: Default limits of one query execution (RELIABILITY V3), overridable per call with
#: ``q(..., timeout=, max_rows=)`` and per query with Datomic's ``:timeout`` (ms).  Past
#: either, the query raises :class:`~fact_store.errors.QueryLimitExceeded`.  The row
#: budget bounds every intermediate relation and product; the deadline is checked
#: between clauses and between rule iterations.
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_ROWS = 10_000_000

#: Pause Python's cyclic garbage collector while a query executes.  A query
#: allocates many tuples but never a reference cycle, so reference counting
#: frees all its garbage; the collector, though, is *triggered* by
#: allocations and would rescan every live object (a large Db included)
#: several times during a big query.  Mercurial's ``util.nogc`` does the same.
PAUSE_GC = True

_gc_lock = threading.Lock()
_gc_state = [0, False]      # queries running, whether the collector was enabled before


@contextmanager
def _paused_gc() -> Iterator[None]:
    if not PAUSE_GC:
        yield
        return
    with _gc_lock:
        if _gc_state[0] == 0:
            _gc_state[1] = gc.isenabled()
            if _gc_state[1]:
                gc.disable()
        _gc_state[0] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state[0] -= 1
            if _gc_state[0] == 0 and _gc_state[1]:
                gc.enable()


def clear_caches() -> None:
    """Forget every parsed query, rule set and plan (tests use it)."""
    clear_parse_caches()
    _plan_cache.clear()


def _prepare(query: Any, inputs: tuple[Any, ...]) -> tuple[QueryPlan, dict[int, Any]]:
    parsed = parse_query(query)
    in_ = parsed.in_
    if not inputs and parsed.in_default and not parsed.uses_source:
        parsed = parsed.without_inputs()
        in_ = parsed.in_
    if len(inputs) != len(in_):
        names = " ".join(_in_name(b) for b in in_)
        raise QueryError(f"Wrong number of inputs: the query takes {len(in_)} (:in {names}), "
                         f"got {len(inputs)}", expected=len(in_), got=len(inputs))
    values: dict[int, Any] = {}
    src_sig = []
    rules_key: Any = None
    rules: dict[str, Any] | None = None
    for i, (b, v) in enumerate(zip(in_, inputs)):
        values[i] = v
        if isinstance(b, SrcVar):
            if is_db(v):
                src_sig.append((b.name, v.schema.version))
            else:
                if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
                    raise QueryError(f"Input {b.name} must be a Db or a collection of tuples, "
                                     f"got {type(v).__name__}", source=b.name)
                src_sig.append((b.name, None))
        elif isinstance(b, RulesVar):
            if v is None:
                rules_key, rules = ("no-rules",), {}
            else:
                rules_key, rules = parse_rules(v)
    key = (parsed.key, tuple(src_sig), rules_key, builtins.registry_version())
    plan = _plan_cache.get(key)
    if plan is None:
        sources = {}
        for b, v in zip(in_, inputs):
            if isinstance(b, SrcVar):
                sources[b.name] = SourceInfo(b.name, is_db(v), v.schema if is_db(v) else None)
        plan = plan_query(parsed, sources, rules)
        _plan_cache.put(key, plan)
    return plan, values


def _in_name(b: Any) -> str:
    if isinstance(b, SrcVar):
        return b.name
    if isinstance(b, RulesVar):
        return "%"
    return show_binding(b)


def q(query: Any, *inputs: Any, explain: bool = False, rng: Any = None,
      timeout: float | None = None, max_rows: int | None = None) -> Any:
    """Run a Datalog query (Datomic's ``q``).

    ``query`` is EDN text (``"[:find ?e :where [?e :a/b 1]]"``) or the same
    data already read, in list or map form.  ``inputs`` match :in in order;
    without :in the query takes one input, the db (``$``).  ``rng`` (a
    ``random.Random``) makes ``rand``/``sample`` reproducible.  ``timeout``
    (seconds) and ``max_rows`` bound the execution (defaults :data:`DEFAULT_TIMEOUT`,
    :data:`DEFAULT_MAX_ROWS`; a query's own ``:timeout`` is in milliseconds).  With
    ``explain=True`` it returns an :class:`Explain` (result, plan and row
    counts) instead of the result.

    Returns a set of tuples for a relation find, a list for ``[?x ...]``, one
    value for ``?x .``, one tuple for ``[?a ?b]``, dicts for :keys/:strs/:syms.
    With ``:with`` and no aggregate, a relation find is a list: a bag that keeps
    one tuple per distinct combination of the :find and :with values, as in Datomic.

    Runtime complexity: parse and plan are cached (a hit costs a few
    microseconds); execution is proportional to the rows the plan touches.

    >>> q('[:find ?x ?y :in [[?x ?y]] [?y ...] ]', [(1, "a"), (2, "b")], ["b"])
    {(2, 'b')}
    >>> q('[:find (sum ?x) . :in [?x ...]]', [1, 2, 3])
    6

    :raises QuerySyntaxError: malformed query text or data (names the form).
    :raises QueryError: unknown attribute/function/rule, insufficient bindings,
        wrong inputs, or an error raised while evaluating a clause.
    :raises QueryLimitExceeded: past the row budget or the deadline.
    """
    plan, values = _prepare(query, inputs)
    if explain:
        return _explain(plan, values, rng, timeout, max_rows)
    sources, scalar_row = bind_inputs(plan, values)
    ctx = Ctx(sources, rng, max_rows=max_rows or DEFAULT_MAX_ROWS,
              timeout=_timeout(plan, timeout))
    with _paused_gc():
        return run_plan(plan, ctx, scalar_row)


# ---------------------------------------------------------------- explain

@dataclass
class Explain:
    """What :func:`explain` returns: the result, the chosen plan and its row counts."""

    result: Any
    steps: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""

    def __str__(self) -> str:
        return self.text


def _timeout(plan: QueryPlan, timeout: float | None) -> float:
    if timeout is not None:
        return float(timeout)
    if plan.query.timeout_ms is not None:
        return plan.query.timeout_ms / 1000.0
    return DEFAULT_TIMEOUT


def explain(query: Any, *inputs: Any, rng: Any = None, timeout: float | None = None,
            max_rows: int | None = None) -> Explain:
    """Run ``query`` and report, per clause in the order chosen, the index used and row counts.

    >>> e = explain('[:find ?x :in [?x ...] :where [(> ?x 1)]]', [1, 2, 3])
    >>> e.result, [s["clause"] for s in e.steps]
    ({(2,), (3,)}, ['(:in [?x ...])', '[(> ?x 1)]'])
    """
    plan, values = _prepare(query, inputs)
    return _explain(plan, values, rng, timeout, max_rows)


def _explain(plan: QueryPlan, values: dict[int, Any], rng: Any, timeout: float | None = None,
             max_rows: int | None = None) -> Explain:
    sources, scalar_row = bind_inputs(plan, values)
    ctx = Ctx(sources, rng, trace=True, max_rows=max_rows or DEFAULT_MAX_ROWS,
              timeout=_timeout(plan, timeout))
    t0 = time.perf_counter()
    result = run_plan(plan, ctx, scalar_row)
    elapsed = (time.perf_counter() - t0) * 1000
    steps: list[dict[str, Any]] = []
    lines: list[str] = []
    for n, comp in enumerate(plan.components):
        if len(plan.components) > 1:
            lines.append(f"component {n + 1} (joined to the others by a product)")
        _describe(comp.block, ctx, steps, lines, 0)
    for call in _used_calls(plan):
        _describe_rule(call, ctx, steps, lines)
    size = len(result) if hasattr(result, "__len__") and not isinstance(result, (str, tuple)) \
        else (0 if result is None else 1)
    lines.append(f"result: {size} in {elapsed:.3f} ms")
    return Explain(result, steps, "\n".join(lines))


def _step_info(step: Any) -> tuple[str, str]:
    if isinstance(step, PatternStep):
        return show(step.form), ("index " + step.note if step.is_db else
                                 f"source {step.src}")
    if isinstance(step, FilterStep):
        return show(step.form), "predicate"
    if isinstance(step, BindStep):
        return show(step.form), "function"
    if isinstance(step, NotStep):
        return show(step.form), "not (anti-join)"
    if isinstance(step, OrStep):
        return show(step.form), "or (union)"
    if isinstance(step, RuleStep):
        return show(step.form), f"rule ({step.call.mode})"
    pat = getattr(step, "pattern", None)
    if pat is not None:
        return show(step.form), "recursive call (rule table)"
    return repr(step), ""


def _describe(block: Block, ctx: Ctx, steps: list[dict[str, Any]], lines: list[str],
              depth: int) -> None:
    for step in block.steps:
        clause, how = _step_info(step)
        st = ctx.stats.get(id(step), [0, 0, 0, 0.0, ""])
        info = {"clause": clause, "how": how, "runs": st[0], "rows_in": st[1],
                "rows_out": st[2], "ms": round(st[3] * 1000, 3), "strategy": st[4],
                "depth": depth}
        steps.append(info)
        strat = f" [{st[4]}]" if st[4] else ""
        lines.append(f"{'  ' * depth}{clause}  -- {how}{strat}: {st[1]} -> {st[2]} rows"
                     f" ({st[0]} run{'s' if st[0] != 1 else ''}, {info['ms']} ms)")
        if isinstance(step, NotStep):
            _describe(step.block, ctx, steps, lines, depth + 1)
        elif isinstance(step, OrStep):
            for b in step.branches:
                lines.append(f"{'  ' * (depth + 1)}branch:")
                _describe(b, ctx, steps, lines, depth + 2)


def _blocks_of(call: Any) -> list[Block]:
    blocks: list[Block] = [b for b, _ in call.bodies] + [b for b, _ in call.rec_bodies] + \
        [b for b, _ in call.exit_bodies]
    for t in call.tables:
        for body in t.bodies:
            blocks.append(body.seed_block)
            blocks.extend(v for _, v, _ in body.variants)
    return blocks


def _used_calls(plan: QueryPlan) -> list[Any]:
    """The rule calls the plan can reach, in the order first met."""
    out: dict[int, Any] = {}
    todo: list[Block] = [c.block for c in plan.components]
    while todo:
        block = todo.pop(0)
        for step in block.steps:
            if isinstance(step, RuleStep) and id(step.call) not in out:
                out[id(step.call)] = step.call
                todo.extend(_blocks_of(step.call))
            elif isinstance(step, NotStep):
                todo.append(step.block)
            elif isinstance(step, OrStep):
                todo.extend(step.branches)
    return list(out.values())


def _describe_rule(call: Any, ctx: Ctx, steps: list[dict[str, Any]], lines: list[str]) -> None:
    adorn = "".join("b" if b else "f" for b in call.adorn)
    lines.append(f"rule {call.name} ({adorn}, {call.mode}):")
    for b in _blocks_of(call):
        lines.append("  branch:")
        _describe(b, ctx, steps, lines, 2)
