"""AST + schema → plan: idents resolved, clauses ordered, index chosen, rules expanded.

The second stage of the line parse → plan → execute → find.  A plan is a tree
of the :class:`~fact_store.query.steps.Block` values ``steps.py`` defines: a
block starts from a *seed* relation (columns ``seed_vars``) and runs its steps
in order; every step appends the variables it binds as new columns, so each
step's column indices are fixed here, once, and execution never looks a
variable up by name.  Rule calls are handed to ``rules.py``'s
:class:`~fact_store.query.rules.RuleProgram`, which plans each rule for the
adornment of its call site with this planner.

**Join order.**  Clause order is chosen greedily: at each point the runnable clause with the
lowest estimated cost goes next.  Predicates, ``not`` and patterns that only
test bound variables run as soon as their variables are bound; patterns are
ranked by which positions are bound (a bound entity reads EAVT, a constant
value AVET, a bare attribute AEVT) and prefer joining on bound variables to
starting a cross product.  The estimate uses the schema only (unique and
cardinality-many attributes), so a plan depends on the query text, the schema
versions of its sources and the kinds of its inputs: that is its cache key.
Whether a pattern joins by per-row index lookups or by one scan and a hash
join is decided at run time, from the real row count (see execute.py).

**Components.**  Disconnected parts of a query (no shared variable) become
separate *components* (union-find over the clauses' variables, scalar inputs
excluded), run separately and combined only when the :find needs them, so a
product is built at most once, at the end, and only of what :find keeps.

**Budgets** are not the planner's: it refuses only what cannot run
(insufficient bindings, unknown attributes, functions or rules), and
execution enforces the row budget and the deadline (``context.py``).
"""

from __future__ import annotations

from typing import Any, cast

from fact_store.edn.values import Keyword, Symbol
from fact_store.errors import QueryError, QuerySyntaxError
from fact_store.query import builtins
from fact_store.query.parse import (
    Aggregate, And, Blank, BindColl, BindIgnore, BindScalar, BindTuple, Const, Function, Not, Or,
    Pattern, Predicate, PullExpr, Query, RuleExpr, RulesVar, SrcVar, Var, binding_vars,
    bound_by_clause, clause_vars, show, show_binding,
)
from fact_store.query.rules import RuleProgram
from fact_store.query.steps import (BindStep, Block, Component, Env, FilterStep, NotStep, OrStep,
                                    PatternStep, Prebuilt, QueryPlan, RuleStep, SourceInfo,
                                    Unplannable)
from fact_store.schema import coerce

__all__ = ["Planner", "plan_query", "input_sources"]


# ---------------------------------------------------------------- estimates

_COST_FILTER = 0.0
_COST_NOT = 0.5
_COST_FN = 1.0


def _db_estimate(bound: set[int], attr: Any, new_count: int) -> float:
    if 0 in bound:
        if 1 in bound:
            est = 1.0 if attr is None or not attr.many else 3.0
        else:
            est = 10.0
    elif 1 in bound and 2 in bound:
        est = 1.0 if attr is not None and attr.unique else 100.0
    elif 1 in bound:
        est = 10000.0
    elif 2 in bound:
        est = 1000.0
    elif 3 in bound:
        est = 100.0
    else:
        est = 1e6
    if new_count == 0:
        est *= 0.3
    return est


def check_lookup_ref(schema: Any, ref: Any, form: Any) -> None:
    """Refuse a lookup ref ``[attr value]`` whose attribute is unknown or not ``:db/unique``.

    Datomic resolves a lookup ref only through a unique attribute; anything else is
    the user's mistake, not a pattern that matches nothing.
    """
    a = ref[0]
    attr = schema.attr(a) if isinstance(a, (str, int)) and not isinstance(a, bool) else None
    if attr is None:
        raise QueryError(f"Lookup ref {show(tuple(ref))} in {show(form)} names an unknown attribute",
                         form=form, lookup_ref=list(ref))
    if attr.unique is None:
        raise QueryError(f"Lookup ref {show(tuple(ref))} in {show(form)}: {attr.ident} is not "
                         ":db/unique, so it cannot identify an entity", form=form,
                         lookup_ref=list(ref))


def _index_name(bound: set[int]) -> str:
    if 0 in bound:
        return "EAVT"
    if 1 in bound and 2 in bound:
        return "AVET"
    if 1 in bound:
        return "AEVT"
    if 2 in bound:
        return "VAET"
    return "EAVT (full scan)"


# ---------------------------------------------------------------- the planner

class Planner:
    """Plans blocks of clauses for one query against known sources and rules."""

    def __init__(self, sources: dict[str, SourceInfo], rules: dict[str, Any] | None,
                 query_form: Any = None) -> None:
        self.sources = sources
        self.rules = rules or {}
        self.query_form = query_form
        self.rule_program: RuleProgram | None = None   # made on the first rule call
        self._or_memo: dict[Any, Any] = {}
        self.extra_sources: dict[str, SourceInfo] = {}

    # -- helpers ---------------------------------------------------------------

    def source(self, src: SrcVar, form: Any) -> SourceInfo:
        info = self.sources.get(src.name) or self.extra_sources.get(src.name)
        if info is None:
            raise QuerySyntaxError(f"Unknown source {src.name} in {show(form)}: name it in :in",
                                   form=form, source=src.name)
        return info

    def resolve_fn(self, name: str, fn_var: Var | None, nargs: int, form: Any,
                   bound: Env) -> tuple[builtins.Fn | None, tuple[int, int] | None]:
        if fn_var is not None:
            if not bound.has(fn_var):
                raise Unplannable(f"Insufficient bindings: function variable {fn_var.name} "
                                  f"is not bound in {show(form)}", form)
            return None, bound.spec(fn_var)
        f = builtins.resolve_fn(name)
        if f is None:
            raise QueryError(f"Unknown function '{name}' in {show(form)}: use a built-in or "
                             "register it with register_query_fn", form=form, fn=name)
        if nargs < f.min_args or (f.max_args is not None and nargs > f.max_args):
            want = (str(f.min_args) if f.max_args == f.min_args else
                    f"{f.min_args}+" if f.max_args is None else f"{f.min_args}..{f.max_args}")
            raise QuerySyntaxError(f"Wrong number of arguments ({nargs}) to {name} in "
                                   f"{show(form)}, expected {want}", form=form, fn=name)
        return f, None

    def _fn_args(self, args: tuple[Any, ...], bound: Env, form: Any,
                 default_src: SrcVar) -> tuple[tuple[int, Any], ...]:
        out: list[tuple[int, Any]] = []
        missing = [a.name for a in args if isinstance(a, Var) and not bound.has(a)]
        if missing:
            raise Unplannable(f"Insufficient bindings: {missing} not bound in {show(form)}", form)
        for a in args:
            if isinstance(a, Var):
                out.append(bound.spec(a))
            elif isinstance(a, SrcVar):
                name = default_src.name if a.name == "$" else a.name
                self.source(SrcVar(name), form)
                out.append((2, name))
            else:
                out.append((1, a.value))
        return tuple(out)

    # -- pattern ---------------------------------------------------------------

    def plan_pattern(self, c: Pattern, bound: Env, default_src: SrcVar) -> PatternStep:
        src = c.source if c.source.name != "$" else default_src
        info = self.source(src, c.form)
        terms = c.terms
        if info.is_db and len(terms) > 5:
            raise QuerySyntaxError(f"A data pattern has at most 5 terms [e a v tx added], got "
                                   f"{show(c.form)}", form=c.form)
        consts: list[tuple[int, Any]] = []
        late: list[tuple[int, Any]] = []
        params: list[tuple[int, int]] = []
        key_cols: list[int] = []
        key_pos: list[int] = []
        out_pos: list[int] = []
        new_vars: list[Var] = []
        first_new: dict[Var, int] = {}
        eq_pos: list[tuple[int, int]] = []
        bound_pos: set[int] = set()
        never = False
        attr = None
        schema = info.schema
        if info.is_db and len(terms) > 1 and isinstance(terms[1], Const):
            a = terms[1].value
            if isinstance(a, bool) or not isinstance(a, (int, str)):
                raise QuerySyntaxError(f"Expected an attribute (a keyword or an id) in "
                                       f"{show(c.form)}", form=c.form)
            attr = schema.attr(a)
            if attr is None:
                raise QueryError(f"Unknown attribute {show(a)} in {show(c.form)}: it is not "
                                 "installed in the schema", form=c.form, attribute=a)
        ref_v = attr is not None and attr.is_ref
        for pos, t in enumerate(terms):
            if isinstance(t, Blank):
                continue
            if isinstance(t, Var):
                if t in bound:
                    key_cols.append(bound[t])
                    key_pos.append(pos)
                    bound_pos.add(pos)
                elif t in bound.params:
                    params.append((pos, bound.params[t]))
                    bound_pos.add(pos)
                elif t in first_new:
                    eq_pos.append((first_new[t], pos))
                else:
                    first_new[t] = pos
                    out_pos.append(pos)
                    new_vars.append(t)
                continue
            v = t.value
            bound_pos.add(pos)
            if not info.is_db:
                consts.append((pos, v))
                continue
            if pos == 0 or (pos == 2 and ref_v):
                if type(v) is int:
                    consts.append((pos, v))
                elif isinstance(v, str):
                    eid = schema.entid(v) if hasattr(schema, "entid") else None
                    if eid is None:
                        never = True
                    consts.append((pos, eid))
                elif isinstance(v, (tuple, list)) and len(v) == 2:
                    check_lookup_ref(schema, v, c.form)
                    late.append((pos, v))
                else:
                    never = True
                    consts.append((pos, v))
            elif pos == 1:
                consts.append((1, attr.id))  # type: ignore[union-attr]
            elif pos == 2 and attr is not None:
                try:
                    consts.append((2, coerce(attr, v)))
                except Exception:  # noqa: BLE001 - a value of the wrong type matches nothing
                    never = True
                    consts.append((2, v))
            elif pos == 4:
                if not isinstance(v, bool):
                    raise QuerySyntaxError(f"The added position takes true or false, got "
                                           f"{show(c.form)}", form=c.form)
                consts.append((4, v))
            else:
                consts.append((pos, v))
        if info.is_db:
            est = _db_estimate(bound_pos, attr, len(new_vars))
            note = _index_name(bound_pos)
        elif src.name.startswith("$ in"):
            # a relation from :in: the application's own (usually short) list of values,
            # the selective place to start, as a Datomic user would write it first
            est = 1.0 if key_pos else 10.0
            note = "input"
        else:
            est = (10.0 if bound_pos & set(key_pos) else 1000.0) * (0.3 if not new_vars else 1)
            note = "collection"
        uses_added = len(terms) == 5 and not isinstance(terms[4], Blank)
        keys_ids = all(terms[p] in bound.ids for p in key_pos
                       if p in (0, 1, 3) or (p == 2 and ref_v))
        id_vars = cast(tuple[Var, ...], tuple(terms[p] for p in out_pos if info.is_db and (
            p in (0, 1, 3) or (p == 2 and ref_v))))
        return PatternStep(src.name, info.is_db, tuple(consts), tuple(late), tuple(key_cols),
                           tuple(key_pos), tuple(out_pos), tuple(eq_pos), tuple(new_vars), ref_v,
                           never, est, c.form, len(terms), note, uses_added,
                           params=tuple(params), keys_ids=keys_ids, id_vars=id_vars)

    # -- predicates and functions ----------------------------------------------

    def plan_predicate(self, c: Predicate, bound: Env,
                       default_src: SrcVar) -> FilterStep:
        f, fcol = self.resolve_fn(c.fn, c.fn_var, len(c.args), c.form, bound)
        args = self._fn_args(c.args, bound, c.form, default_src)
        if f is not None and f.needs_source and (not args or args[0][0] != 2):
            raise QuerySyntaxError(f"{c.fn} takes a source ($) as its first argument in "
                                   f"{show(c.form)}", form=c.form)
        return FilterStep(f, fcol, args, c.form)

    def plan_function(self, c: Function, bound: Env,
                      default_src: SrcVar) -> BindStep:
        f, fcol = self.resolve_fn(c.fn, c.fn_var, len(c.args), c.form, bound)
        args = self._fn_args(c.args, bound, c.form, default_src)
        if f is not None and f.needs_source and (not args or args[0][0] != 2):
            raise QuerySyntaxError(f"{c.fn} takes a source ($) as its first argument in "
                                   f"{show(c.form)}", form=c.form)
        bvars = tuple(binding_vars(c.binding))
        new_idx, eq_checks, dup_checks, new_vars, param_checks = [], [], [], [], []
        first: dict[Var, int] = {}
        for i, v in enumerate(bvars):
            if v in bound:
                eq_checks.append((i, bound[v]))
            elif v in bound.params:
                param_checks.append((i, bound.params[v]))
            elif v in first:
                dup_checks.append((first[v], i))
            else:
                first[v] = i
                new_idx.append(i)
                new_vars.append(v)
        return BindStep(f, fcol, args, c.binding, bvars, tuple(new_idx), tuple(eq_checks),
                        tuple(dup_checks), tuple(new_vars), c.form, tuple(param_checks))

    # -- not / or --------------------------------------------------------------

    def plan_not(self, c: Not, bound: Env, visible: set[Var],
                 default_src: SrcVar) -> NotStep:
        src = c.source if c.source.name != "$" else default_src
        inner = set().union(*(clause_vars(x) for x in c.clauses))
        if c.join_vars is not None:
            join = list(c.join_vars)
            missing = [v.name for v in join if not bound.has(v)]
            if missing:
                raise Unplannable(f"Insufficient bindings: {missing} not bound in "
                                  f"{show(c.form)}", c.form)
        else:
            join = [v for v in _ordered_vars(c.clauses) if v in visible]
            if not join:
                raise QueryError(f"Insufficient bindings: none of "
                                 f"{sorted(v.name for v in inner)} is bound in {show(c.form)}",
                                 form=c.form)
            missing = [v.name for v in join if not bound.has(v)]
            if missing:
                raise Unplannable(f"Insufficient bindings: {missing} not bound in "
                                  f"{show(c.form)}", c.form)
        keys = tuple(v for v in join if v in bound)
        block = self.plan_block(c.clauses, keys, src, required=(), params=bound.params,
                                ids=bound.ids & set(keys))
        return NotStep(tuple(bound[v] for v in keys), block, c.form)

    def plan_or(self, c: Or, bound: Env, default_src: SrcVar) -> OrStep:
        src = c.source if c.source.name != "$" else default_src
        if c.join_vars is not None:
            vars_ = list(c.join_vars)
            missing = [v.name for v in c.required if not bound.has(v)]
            if missing:
                raise Unplannable(f"Insufficient bindings: {missing} not bound in "
                                  f"{show(c.form)}", c.form)
        else:
            vars_ = _ordered_vars(c.branches)
        key = [v for v in vars_ if v in bound]
        new = [v for v in vars_ if not bound.has(v)]
        memo_key = (id(c), tuple(key), src.name, id(bound.params))
        got = self._or_memo.get(memo_key)
        if got is None:
            branches = []
            outs = []
            try:
                for b in c.branches:
                    blk = self.plan_block(b.clauses, tuple(key), src, required=tuple(new),
                                          params=bound.params, ids=bound.ids & set(key))
                    branches.append(blk)
                    outs.append(blk.cols(tuple(new)))
                got = (tuple(branches), tuple(outs))
            except Unplannable as exc:
                got = exc
            self._or_memo[memo_key] = got
        if isinstance(got, Unplannable):
            raise got
        return OrStep(tuple(bound[v] for v in key), got[0], got[1], tuple(new), c.form)

    # -- rules -------------------------------------------------------------------

    def plan_rule_call(self, c: RuleExpr, bound: Env,
                       default_src: SrcVar) -> RuleStep:
        if c.name not in self.rules:
            if builtins.resolve_fn(c.name) is not None:
                raise QuerySyntaxError(f"{c.name} is a function: call it as [({c.name} ...)], "
                                       f"got {show(c.form)}", form=c.form)
            raise QueryError(f"Unknown rule '{c.name}' in {show(c.form)}: no rule of that name "
                             "is defined in the rules passed as %", form=c.form, rule=c.name)
        src = c.source if c.source.name != "$" else default_src
        if src.name != "$" or "$" in self.sources or "$" in self.extra_sources:
            self.source(src, c.form)
        # else: a query without $ may call a rule whose body reads no source (only functions
        # and predicates); a body pattern that does read $ is refused where it is planned.
        branches = self.rules[c.name]
        arity = len(branches[0].head)
        if len(c.args) != arity:
            raise QuerySyntaxError(f"Wrong number of arguments ({len(c.args)}) to rule "
                                   f"'{c.name}' in {show(c.form)}, expected {arity}", form=c.form)
        nreq = len(branches[0].required)
        adorn = []
        for i, a in enumerate(c.args):
            is_bound = isinstance(a, Const) or (isinstance(a, Var) and bound.has(a))
            if i < nreq and not is_bound:
                raise Unplannable(f"Insufficient bindings: rule '{c.name}' requires "
                                  f"{show(a)} bound in {show(c.form)}", c.form)
            adorn.append(is_bound)
        if self.rule_program is None:
            self.rule_program = RuleProgram(self)
        if self.rule_program.in_group(c.name):
            return self.rule_program.idb_step(c, bound, src.name)  # type: ignore[return-value]
        call = self.rule_program.call(c.name, tuple(adorn), src.name, c.form)
        args: list[tuple[int, Any]] = []
        out: list[tuple[int, Any]] = []
        new_vars: list[Var] = []
        dups: list[tuple[int, int]] = []
        first: dict[Var, int] = {}
        for arg, is_b in zip(c.args, adorn):
            if is_b:
                args.append(bound.spec(arg) if isinstance(arg, Var) else (1, cast(Const, arg).value))
                continue
            if isinstance(arg, Blank):
                out.append((3, None))
                continue
            a = cast(Var, arg)    # a constant is always bound
            if a in first:
                dups.append((first[a], len(out)))
                out.append((3, None))
            else:
                first[a] = len(out)
                out.append((0, len(new_vars)))
                new_vars.append(a)
        return RuleStep(call, tuple(args), tuple(out), tuple(dups), tuple(new_vars), c.form)

    # -- blocks ------------------------------------------------------------------

    def plan_block(self, clauses: tuple[Any, ...], seed_vars: tuple[Var, ...],
                   default_src: SrcVar, required: tuple[Var, ...] = (),
                   first: Any = None, extra_visible: set[Var] | None = None,
                   params: dict[Var, int] | None = None, ids: set[Var] | None = None) -> Block:
        """Order ``clauses`` greedily, starting from ``seed_vars`` (and ``first`` if given).

        :raises Unplannable: some clause can never run (or ``required`` stays unbound).
        """
        bound = Env({v: i for i, v in enumerate(seed_vars)}, params, set(ids or ()))
        cols = list(seed_vars)
        remaining = list(clauses)
        steps: list[Any] = []
        if first is not None:
            step = self._make(first, bound, default_src, set())
            steps.append(step)
            for v in getattr(step, "new_vars", ()):
                bound[v] = len(cols)
                cols.append(v)
            bound.ids.update(getattr(step, "id_vars", ()))
            remaining.remove(first)
        while remaining:
            best = None
            best_cost = None
            errors: list[Unplannable] = []
            for c in remaining:
                visible = set(bound) | set(bound.params) | (extra_visible or set())
                for o in remaining:
                    if o is not c:
                        visible |= o.vars if isinstance(o, Prebuilt) else bound_by_clause(o)
                try:
                    if isinstance(c, RuleExpr) and not (     # planned only if chosen
                            self.rule_program is not None and self.rule_program.in_group(c.name)):
                        step, cost = c, self._rule_cost(c, bound)
                    else:
                        step = self._make(c, bound, default_src, visible)
                        cost = self._cost(step, bound)
                except Unplannable as exc:
                    errors.append(exc)
                    continue
                if best_cost is None or cost < best_cost:
                    best, best_cost = (c, step), cost
                    if cost == _COST_FILTER:
                        break
            if best is None:
                raise Unplannable(errors[0].message, errors[0].form)
            c, step = best
            if step is c:
                step = self._make(c, bound, default_src, set())
            steps.append(step)
            for v in getattr(step, "new_vars", ()):
                bound[v] = len(cols)
                cols.append(v)
            bound.ids.update(getattr(step, "id_vars", ()))
            remaining.remove(c)
        missing = [v.name for v in required if not bound.has(v)]
        if missing:
            raise Unplannable(f"Insufficient bindings: {missing} are not bound by the clauses", None)
        _attach_ranges(steps, len(seed_vars))
        return Block(tuple(seed_vars), tuple(steps), tuple(cols))

    def _make(self, c: Any, bound: Env, default_src: SrcVar,
              visible: set[Var]) -> Any:
        if isinstance(c, Pattern):
            return self.plan_pattern(c, bound, default_src)
        if isinstance(c, Predicate):
            return self.plan_predicate(c, bound, default_src)
        if isinstance(c, Function):
            return self.plan_function(c, bound, default_src)
        if isinstance(c, Not):
            return self.plan_not(c, bound, visible, default_src)
        if isinstance(c, Or):
            return self.plan_or(c, bound, default_src)
        if isinstance(c, RuleExpr):
            return self.plan_rule_call(c, bound, default_src)
        if isinstance(c, And):
            raise QuerySyntaxError(f"(and ...) is only allowed inside (or ...), got "
                                   f"{show(c)}", form=c)
        if isinstance(c, Prebuilt):
            return c.make(bound)
        raise QuerySyntaxError(f"Unknown clause {show(c)}", form=c)

    def _rule_cost(self, c: RuleExpr, bound: Env) -> float:
        """The cost of calling a rule here, without planning it (that happens once, if chosen).

        :raises Unplannable: a required argument is not bound yet.
        """
        branches = self.rules.get(c.name)
        if branches:
            for a in c.args[:len(branches[0].required)]:
                if isinstance(a, Var) and not bound.has(a):
                    raise Unplannable(f"Insufficient bindings: rule '{c.name}' requires "
                                      f"{show(a)} bound in {show(c.form)}", c.form)
        some_bound = any(isinstance(a, Const) or (isinstance(a, Var) and bound.has(a))
                         for a in c.args)
        return 50.0 if some_bound else (5000.0 if not bound else 5e6)

    def _cost(self, step: Any, bound: Env) -> float:
        if isinstance(step, FilterStep):
            return _COST_FILTER
        if isinstance(step, NotStep):
            return _COST_NOT
        if isinstance(step, BindStep):
            return _COST_FN
        if isinstance(step, PatternStep):
            cost = step.est
            if bound and not step.key_cols:
                cost *= 1000.0    # a cross product with the rows so far
            return cost
        if isinstance(step, OrStep):
            return 50.0 if step.key_cols else (5000.0 if not bound else 5e6)
        if isinstance(step, RuleStep):
            return 50.0 if step.args else (5000.0 if not bound else 5e6)
        pat = getattr(step, "pattern", None)
        if pat is not None:
            return float(pat.est if (pat.key_cols or not bound) else pat.est * 1000.0)
        return float(getattr(step, "est", 100.0))


_RANGE_OPS = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}


def _attach_ranges(steps: list[Any], nseed: int) -> None:
    """Let a block's first pattern read an AVET range when comparisons on its value follow.

    ``[?e :person/salary ?s] [(> ?s 50000)]``: the pattern reads only salaries
    above 50000.  Bounds may be constants or seed columns (scalar inputs).  The
    predicate still runs afterwards, so a range the Db cannot serve is harmless.
    """
    if not steps or not isinstance(steps[0], PatternStep):
        return
    st = steps[0]
    if (not st.is_db or st.key_cols or st.late or st.never or st.uses_added
            or 2 not in st.out_pos or not any(p == 1 for p, _ in st.consts)
            or any(p == 0 for p, _ in st.consts)):
        return
    vcol = nseed + st.out_pos.index(2)
    ranges = []
    absorbed = []
    for f in steps[1:]:
        if not isinstance(f, FilterStep):
            break
        if f.fn is None or f.fn.name not in _RANGE_OPS or len(f.args) != 2:
            continue
        (k1, x1), (k2, x2) = f.args
        if k1 == 0 and x1 == vcol and (k2 in (1, 3) or (k2 == 0 and x2 < nseed)):
            ranges.append((f.fn.name, k2, x2))
            absorbed.append(f)
        elif k2 == 0 and x2 == vcol and (k1 in (1, 3) or (k1 == 0 and x1 < nseed)):
            ranges.append((_RANGE_OPS[f.fn.name], k1, x1))
            absorbed.append(f)
    st.ranges = tuple(ranges)
    st.range_filters = tuple(absorbed)


def _ordered_vars(clauses: Any) -> list[Var]:
    seen: dict[Var, None] = {}
    for c in clauses:
        for v in sorted(clause_vars(c), key=lambda v: v.name):
            seen.setdefault(v, None)
    return list(seen)


# ---------------------------------------------------------------- the query plan

def input_sources(query: Query) -> tuple[list[int], list[tuple[int, str, Any]]]:
    """Split :in bindings into scalar seeds and relations (pseudo-sources).

    A scalar or tuple binding whose variables no other binding uses is a
    constant for the whole query (one row, the *seed*); collections, relations
    and bindings sharing a variable with another binding are relations, joined
    like any clause.
    """
    counts: dict[Var, int] = {}
    for b in query.in_:
        if not isinstance(b, (SrcVar, RulesVar)):
            for v in set(binding_vars(b)):
                counts[v] = counts.get(v, 0) + 1
    scalars, rels = [], []
    for i, b in enumerate(query.in_):
        if isinstance(b, (SrcVar, RulesVar, BindIgnore)):
            continue
        if isinstance(b, BindTuple) and not all(
                isinstance(x, (BindScalar, BindIgnore)) for x in b.bindings):
            raise QuerySyntaxError(f"Nested bindings inside a tuple binding are not supported: "
                                   f"{show(query.form)}", form=query.form)
        vs = binding_vars(b)
        if isinstance(b, (BindScalar, BindTuple)) and all(counts[v] == 1 for v in vs) \
                and len(set(vs)) == len(vs):
            scalars.append(i)
        else:
            rels.append((i, f"$ in{i}", b))
    return scalars, rels


def plan_query(query: Query, sources: dict[str, SourceInfo],
               rules: dict[str, Any] | None) -> QueryPlan:
    """Plan ``query`` for the given sources and rules (see the module docstring).

    :raises QueryError: unknown attribute/function/rule, insufficient bindings...
    """
    scalar_idx, rel_inputs = input_sources(query)
    scalar_vars: list[Var] = []
    for i in scalar_idx:
        scalar_vars.extend(binding_vars(query.in_[i]))
    scalar_set = set(scalar_vars)
    params = {v: i for i, v in enumerate(scalar_vars)}
    all_sources = dict(sources)
    input_rels = []
    pseudo: list[Prebuilt] = []
    for i, name, b in rel_inputs:
        terms = tuple(v if isinstance(v, Var) else Blank() for v in _bind_terms(b))
        vars_ = tuple(v for v in terms if isinstance(v, Var))
        all_sources[name] = SourceInfo(name, False, None, len(terms))
        input_rels.append((i, name, vars_))
        pat = Pattern(SrcVar(name), terms, [Keyword(":in"), Symbol(show_binding(b))])
        pseudo.append(Prebuilt(make=None, vars=frozenset(vars_), form=pat))  # type: ignore[arg-type]
    planner = Planner(all_sources, rules, query.form)
    for p in pseudo:
        pat = p.form
        p.make = (lambda pat: lambda bound: planner.plan_pattern(pat, bound, SrcVar("$")))(pat)
    clauses: list[Any] = list(query.where) + pseudo
    # components: union-find over variables, scalar inputs excluded (they are constants)
    parent = list(range(len(clauses)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[Var, int] = {}
    for i, c in enumerate(clauses):
        vs = c.vars if isinstance(c, Prebuilt) else clause_vars(c)
        for v in vs:
            if v in scalar_set:
                continue
            if v in owner:
                parent[find(i)] = find(owner[v])
            else:
                owner[v] = i
    groups: dict[int, list[Any]] = {}
    for i, c in enumerate(clauses):
        groups.setdefault(find(i), []).append(c)
    needed = _needed_vars(query)
    comps = []
    try:
        for members in groups.values():
            block = planner.plan_block(tuple(members), (), SrcVar("$"), params=params)
            out_vars = tuple(v for v in needed if v in block.vars and v not in scalar_set)
            comps.append(Component(block, out_vars, block.cols(out_vars)))
    except Unplannable as exc:
        raise QueryError(exc.message, form=exc.form if exc.form is not None else query.form) \
            from None
    provided = set(scalar_vars).union(*(c.out_vars for c in comps)) if comps else set(scalar_vars)
    missing = [v.name for v in needed if v not in provided]
    if missing:
        raise QueryError(f"Insufficient bindings: {missing} in :find are never bound",
                         form=query.form)
    used_scalars = tuple(v for v in scalar_vars if v in needed)
    order = used_scalars + tuple(v for c in comps for v in c.out_vars)
    return QueryPlan(query, tuple(scalar_vars), tuple(input_rels), tuple(comps), order,
                     query.find, all_sources, planner.rule_program, tuple(scalar_idx),
                     tuple(params[v] for v in used_scalars))


def _bind_terms(b: Any) -> list[Any]:
    """The columns of an input relation: a Var, or None for '_'."""
    inner = b.binding if isinstance(b, BindColl) else b
    if isinstance(inner, BindScalar):
        return [inner.var]
    if isinstance(inner, BindIgnore):
        return [None]
    if isinstance(inner, BindTuple):
        out: list[Var | None] = []
        for x in inner.bindings:
            if isinstance(x, BindScalar):
                out.append(x.var)
            elif isinstance(x, BindIgnore):
                out.append(None)
            else:
                raise QuerySyntaxError(f"Nested collection bindings are not supported: {show(b)}",
                                       form=b)
        return out
    raise QuerySyntaxError(f"Unsupported binding {show(b)}", form=b)


def _needed_vars(query: Query) -> tuple[Var, ...]:
    out: dict[Var, None] = {}
    for el in query.find.elements:
        if isinstance(el, Var):
            out.setdefault(el, None)
        elif isinstance(el, Aggregate):
            for a in el.args:
                if isinstance(a, Var):
                    out.setdefault(a, None)
        elif isinstance(el, PullExpr):
            out.setdefault(el.var, None)
            if isinstance(el.pattern, Var):
                out.setdefault(el.pattern, None)
    for v in query.with_:
        out.setdefault(v, None)
    return tuple(out)
