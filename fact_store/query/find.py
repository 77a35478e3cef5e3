"""Inputs in, results out: binding :in, running the components, aggregates, pull, find specs.

The last stage of the line parse → plan → execute → find.  Three steps:

1. **Inputs** (:func:`bind_inputs`): each :in value is checked against its
   binding and turned into a source - a Db stays a Db, a collection or
   relation becomes a :class:`~fact_store.query.patterns.CollSource` (the
   planner joins it like a pattern), scalars become the *parameter row*
   that every step reads as constants.
2. **Components** (:func:`run_plan`): the planner split the :where into
   components that share no variable; each runs once from the unit relation
   and is projected to the :find/:with variables it provides, as a set.  An
   empty component ends the query (the result is empty).  The components'
   sets are then combined by a cross product - the only place a product is
   built deliberately, checked against the row budget before it is.
3. **Shaping**: the result of the :where clauses is the *set* of tuples over
   the :find and :with variables (Datomic's semantics: duplicates collapse
   before aggregation, so use :with to keep them).  Aggregates group those
   tuples by the non-aggregate :find elements (one pass, a dict of groups)
   and call each aggregate on its column; pull expressions call
   :func:`fact_store.pull.pull_many` once per column.  Then, by find spec:

* relation ``:find ?a ?b`` → a ``set`` of tuples (a ``list`` when a pull
  expression puts dicts in the tuples, as dicts are not hashable, and a ``list``
  - a bag, duplicates kept - when :with names variables and no aggregate consumes them);
* collection ``:find [?a ...]`` → a ``list`` of the distinct values (with :with, one per
  distinct find+with tuple);
* scalar ``:find ?a .`` → one value, or None;
* tuple ``:find [?a ?b]`` → one tuple, or None;
* ``:keys``/``:strs``/``:syms`` → a list of dicts (one dict for a tuple find),
  keyed by :class:`Keyword`, ``str`` or :class:`Symbol`.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable

from fact_store.edn.values import Symbol
from fact_store.errors import FactStoreError, QueryError
from fact_store.pull import pull_many
from fact_store.query import builtins
from fact_store.query.context import Ctx, check_product, is_db
from fact_store.query.execute import run_block
from fact_store.query.parse import (
    Aggregate, BindScalar, BindTuple, FindColl, FindRel, FindScalar, FindTuple, PullExpr, SrcVar,
    Var, show, show_binding,
)
from fact_store.query.patterns import UNIT_ROWS, CollSource
from fact_store.query.steps import QueryPlan
from fact_store.query.parse import show as _show

__all__ = ["bind_inputs", "run_plan"]


def _is_seq(x: Any) -> bool:
    return isinstance(x, (list, tuple)) or (hasattr(x, "__iter__") and not isinstance(
        x, (str, bytes, dict)) and not is_db(x))


def bind_inputs(plan: QueryPlan, values: dict[int, Any]) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """Runtime sources (dbs, collections, input relations) and the row of scalar inputs."""
    query = plan.query
    sources: dict[str, Any] = {}
    scalar: list[Any] = []
    for i, b in enumerate(query.in_):
        if isinstance(b, SrcVar):
            sources[b.name] = values[i]
    for i in plan.scalar_idx:
        b, v = query.in_[i], values[i]
        if isinstance(b, BindScalar):
            scalar.append(v)
        else:
            scalar.extend(_tuple_input(b, v))
    for i, name, _ in plan.input_rels:
        b, v = query.in_[i], values[i]
        if isinstance(b, BindScalar):
            rows = [(v,)]
        elif isinstance(b, BindTuple):
            rows = [tuple(_tuple_input(b, v))]
        else:
            if not _is_seq(v):
                raise QueryError(f"Input for collection binding {show_binding(b)} must be a "
                                 f"collection, got {_show(v)}", binding=b)
            inner = b.binding
            if isinstance(inner, BindTuple):
                n = len(inner.bindings)
                rows = []
                for t in v:
                    if not _is_seq(t):
                        raise QueryError(f"Input for relation binding {show_binding(b)} must hold "
                                         f"tuples, got {_show(t)}", binding=b)
                    t = tuple(t)
                    if len(t) < n:
                        raise QueryError(f"Input for relation binding {show_binding(b)} has a tuple of "
                                         f"{len(t)} elements, expected {n}", binding=b)
                    rows.append(t[:n])
            else:
                rows = [(x,) for x in v]
        sources[name] = CollSource(rows)
    return sources, tuple(scalar)


def _tuple_input(b: Any, v: Any) -> list[Any]:
    """The values of a tuple binding's variables ('_' positions dropped)."""
    if not _is_seq(v):
        raise QueryError(f"Input for tuple binding {show_binding(b)} must be a sequence, got {_show(v)}",
                         binding=b)
    vals = list(v)
    if len(vals) != len(b.bindings):
        raise QueryError(f"Input for tuple binding {show_binding(b)} must have {len(b.bindings)} "
                         f"elements, got {len(vals)}", binding=b)
    return [x for x, bb in zip(vals, b.bindings) if isinstance(bb, BindScalar)]


def run_plan(plan: QueryPlan, ctx: Ctx, scalar_row: tuple[Any, ...]) -> Any:
    """Run every component, combine what :find needs, and shape the result."""
    parts: list[Any] = []
    ctx.params = scalar_row
    scalar_row = tuple(scalar_row[i] for i in plan.find_params)
    for comp in plan.components:
        rows = run_block(ctx, comp.block, UNIT_ROWS)
        if not rows:
            return _empty(plan)
        cols = comp.out_cols
        if not cols:
            continue
        if cols == tuple(range(len(comp.block.vars))):
            parts.append(set(rows))
        elif len(cols) == 1:
            c = cols[0]
            parts.append({(r[c],) for r in rows})
        else:
            g = itemgetter(*cols)
            parts.append({g(r) for r in rows})
    if not parts:
        tuples: Any = [scalar_row]
    elif len(parts) == 1:
        tuples = parts[0] if not scalar_row else [scalar_row + t for t in parts[0]]
    else:
        tuples = [scalar_row]
        for p in parts:
            check_product(ctx, len(tuples), len(p))
            tuples = [a + b for a in tuples for b in p]
    return _shape(plan, ctx, tuples)


def _empty(plan: QueryPlan) -> Any:
    find = plan.find
    if isinstance(find, (FindScalar, FindTuple)):
        return None
    if isinstance(find, FindColl) or plan.query.return_kind:
        return []
    if any(isinstance(el, PullExpr) for el in find.elements):
        return []
    return set()


def _shape(plan: QueryPlan, ctx: Ctx, tuples: list[tuple[Any, ...]]) -> Any:
    query = plan.query
    pos = {v: i for i, v in enumerate(plan.needed)}
    elements = query.find.elements
    aggs = [el for el in elements if isinstance(el, Aggregate)]
    if aggs:
        rows = _aggregate(plan, ctx, tuples, pos)
    else:
        idx = [pos[el] if isinstance(el, Var) else pos[el.var] for el in elements]
        if query.with_:
            # Datomic: the :with variables are removed after the basis set is formed,
            # "leaving a bag (not a set!)": one row per distinct find+with tuple.
            g = itemgetter(*idx)
            rows = [g(t) for t in tuples] if len(idx) > 1 else [(t[idx[0]],) for t in tuples]
        elif idx == list(range(len(plan.needed))):
            rows = tuples if isinstance(tuples, set) else set(tuples)
        elif len(idx) == 1:
            i = idx[0]
            rows = {(t[i],) for t in tuples}
        else:
            g = itemgetter(*idx)
            rows = {g(t) for t in tuples}
    pulls = [i for i, el in enumerate(elements) if isinstance(el, PullExpr)]
    if pulls:
        rows = _pull(plan, ctx, list(rows), pulls, pos, tuples)
    find = query.find
    if query.return_kind:
        names = query.return_names
        maps = [dict(zip(names, r)) for r in rows]
        if isinstance(find, FindTuple):
            return maps[0] if maps else None
        return maps
    if isinstance(find, FindRel):
        return rows
    if isinstance(find, FindColl):
        return [r[0] for r in rows]
    if isinstance(find, FindScalar):
        for r in rows:
            return r[0]
        return None
    for r in rows:
        return r
    return None


def _aggregate(plan: QueryPlan, ctx: Ctx, tuples: Any,
               pos: dict[Var, int]) -> Any:
    elements = plan.query.find.elements
    group_idx = [pos[el] if isinstance(el, Var) else pos[el.var] for el in elements
                 if not isinstance(el, Aggregate)]
    aggs = [(j, el) for j, el in enumerate(elements) if isinstance(el, Aggregate)]
    resolved = []
    for j, el in aggs:
        agg = builtins.resolve_aggregate(el.fn)
        if agg is None:
            raise QueryError(f"Unknown aggregate '{el.fn}' in {show(_agg_form(el))}: use a "
                             "built-in or register it with register_aggregate", form=el,
                             aggregate=el.fn)
        consts: list[Any] = []
        for a in el.args[:-1]:   # (max ?n ?x): ?n is an input, the same in every tuple
            consts.append((pos[a],) if isinstance(a, Var) else a.value)
        resolved.append((j, el, agg, consts, pos[el.var]))
    groups: dict[Any, list[tuple[Any, ...]]] = {}
    get = groups.get
    gk: Callable[[tuple[Any, ...]], Any]
    if len(group_idx) > 1:
        gk = itemgetter(*group_idx)
    elif group_idx:
        g0 = group_idx[0]

        def gk(t: tuple[Any, ...]) -> Any:
            return t[g0]
    else:
        def gk(t: tuple[Any, ...]) -> Any:
            return ()
    for t in tuples:
        k = gk(t)
        lst = get(k)
        if lst is None:
            groups[k] = [t]
        else:
            lst.append(t)
    out = []
    for k, ts in groups.items():
        vals = []
        for j, el, agg, consts, c in resolved:
            lst = [t[c] for t in ts]
            args = [ts[0][a[0]] if type(a) is tuple else a for a in consts]
            try:
                if agg.needs_rng:
                    v = agg.fn(*args, lst, ctx.get_rng())
                else:
                    v = agg.fn(*args, lst)
            except FactStoreError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise QueryError(f"Error evaluating aggregate {show(_agg_form(el))}: "
                                 f"{type(exc).__name__}: {exc}", form=el) from exc
            vals.append(v)
        row = []
        gi = 0
        ai = 0
        key = k if len(group_idx) > 1 else ((k,) if group_idx else ())
        for el in elements:
            if isinstance(el, Aggregate):
                row.append(vals[ai])
                ai += 1
            else:
                row.append(key[gi])
                gi += 1
        out.append(tuple(row))
    try:
        return set(out)
    except TypeError:
        return out


def _agg_form(el: Aggregate) -> list[Any]:
    return [Symbol(el.fn), *el.args]


def _pull(plan: QueryPlan, ctx: Ctx, rows: list[tuple[Any, ...]], pulls: list[int],
          pos: dict[Var, int], tuples: Any) -> list[tuple[Any, ...]]:
    elements = plan.query.find.elements
    out = [list(r) for r in rows]
    for j in pulls:
        el: PullExpr = elements[j]
        db = ctx.sources.get(el.source.name)
        if db is None or not is_db(db):
            raise QueryError(f"pull in :find needs a Db as source {el.source.name}", form=el)
        if isinstance(el.pattern, Var):
            pattern = tuples[0][pos[el.pattern]] if tuples else None
        else:
            pattern = el.pattern.value
        eids = [r[j] for r in out]
        try:
            pulled = pull_many(db, pattern, eids)
        except FactStoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise QueryError(f"Error pulling {show(pattern)}: {type(exc).__name__}: {exc}",
                             form=el) from exc
        for r, p in zip(out, pulled):
            r[j] = p
    return [tuple(r) for r in out]
