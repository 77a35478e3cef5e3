"""Rule expansion: each rule call planned for its call site's adornment (evaluated in execute.py).

Part of the plan stage: ``plan.py``'s planner makes one :class:`RuleProgram`
per query and calls it for each rule call; the program plans rule bodies back
through the planner (:class:`BlockPlanner`) and returns the
:class:`~fact_store.query.steps.RuleCall` or
:class:`~fact_store.query.steps.IdbStep` that ``execute.py`` evaluates.

A rule call such as ``(reach ?r ?y)`` with ``?r`` bound is planned for the
*adornment* ``bf`` (first argument bound, second free) and evaluated only
for the distinct values of ``?r`` the query has: the magic-set idea, done
without rewriting the program.  Three evaluation modes, chosen here at plan
time (``execute.py`` explains how each runs):

* **non-recursive** rules: every branch runs once, seeded with the bound
  arguments, and the answers are joined back.
* **right-linear recursion** (``reach(x, y) :- follows(x, t), reach(t, y)``,
  where the free head variables are passed unchanged to the one recursive
  call and used nowhere else): answers for ``reach(r, ?y)`` are the exit
  branches' answers for every ``b`` reachable from ``r`` through the
  recursive branches' other clauses.  So evaluation computes the set of
  (seed, b) pairs by a semi-naive loop and runs the exit branches once over
  it: linear in what one root reaches, not the whole closure of every node.
* **general recursion** (mutual, non-linear, ...): semi-naive bottom-up
  evaluation over *tables* (rule, adornment), each with a demand set (the
  bound argument tuples asked for, seeded by the caller and grown by the
  recursive calls) and an answer set.  Each iteration runs every branch
  once per new demand and once per recursive call whose table gained new
  answers, with that call reading only the new answers (the delta), so no
  derivation is repeated from one iteration to the next.

Everything is iterative: deep recursion never touches Python's stack.
Rules are stratified: a rule may not call itself (even through others)
inside ``not``.  Inside a rule, an ``or`` that calls the rule's own
recursive group is split into one branch per alternative.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Protocol, cast

from fact_store.errors import QueryError
from fact_store.query.parse import (
    And, BindColl, BindScalar, BindTuple, Blank, Const, Not, Or, Pattern, RuleBranch, RuleExpr,
    SrcVar, Var, clause_vars, iter_clauses, show,
)
from fact_store.query.steps import (Block, Env, IdbStep, PatternStep, Prebuilt, RuleCall,
                                    SourceInfo, Table, TableBody, Unplannable)

__all__ = ["RuleProgram", "BlockPlanner"]


class BlockPlanner(Protocol):
    """What rule planning needs of the query planner (``plan.Planner``), which makes one
    :class:`RuleProgram` per query and is passed to it: rule bodies are planned as blocks."""

    rules: dict[str, Any]
    extra_sources: dict[str, SourceInfo]

    def plan_block(self, clauses: tuple[Any, ...], seed_vars: tuple[Var, ...],
                   default_src: SrcVar, required: tuple[Var, ...] = (),
                   first: Any = None, extra_visible: set[Var] | None = None,
                   params: dict[Var, int] | None = None, ids: set[Var] | None = None) -> Block: ...

    def plan_pattern(self, c: Pattern, bound: Env, default_src: SrcVar) -> PatternStep: ...

_SEED = Var("? seed")
_ids = itertools.count(1)


# ---------------------------------------------------------------- planning

def _calls(clauses: Any) -> set[str]:
    return {c.name for c in iter_clauses(clauses) if isinstance(c, RuleExpr)}


def _sccs(rules: dict[str, tuple[RuleBranch, ...]]) -> dict[str, frozenset[str]]:
    """Strongly connected components of the rule call graph (iterative Tarjan)."""
    graph = {n: sorted(_calls([c for b in bs for c in b.clauses]) & rules.keys())
             for n, bs in rules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: dict[str, frozenset[str]] = {}
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on.add(node)
            nbrs = graph[node]
            if i < len(nbrs):
                work.append((node, i + 1))
                m = nbrs[i]
                if m not in index:
                    work.append((m, 0))
                elif m in on:
                    low[node] = min(low[node], index[m])
                continue
            for m in nbrs:
                if m in on:
                    low[node] = min(low[node], low[m])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                fc = frozenset(comp)
                for m in comp:
                    out[m] = fc
    return out


class RuleProgram:
    """The rules of one query, planned per (rule, adornment, source) on demand."""

    def __init__(self, planner: BlockPlanner) -> None:
        self.planner = planner
        self.rules: dict[str, tuple[RuleBranch, ...]] = planner.rules
        self.scc = _sccs(self.rules)
        self.calls: dict[Any, RuleCall] = {}
        self._group: dict[Any, Table] | None = None     # tables of the group being planned
        self._group_scc: frozenset[str] = frozenset()
        self._current: list[Table] = []
        self._atom_tables: dict[tuple[int, int], Table] = {}
        self._expanded: dict[str, tuple[RuleBranch, ...]] = {}

    def is_recursive(self, name: str) -> bool:
        comp = self.scc[name]
        return len(comp) > 1 or name in _calls([c for b in self.rules[name] for c in b.clauses])

    def in_group(self, name: str) -> bool:
        return self._group is not None and name in self._group_scc

    # -- branches ---------------------------------------------------------------

    def branches(self, name: str) -> tuple[RuleBranch, ...]:
        got = self._expanded.get(name)
        if got is None:
            got = self._expanded[name] = self._expand(name)
        return got

    def _expand(self, name: str) -> tuple[RuleBranch, ...]:
        """Split ``or`` clauses that call the rule's own recursive group; refuse them in ``not``."""
        comp = self.scc[name]
        if not self.is_recursive(name):
            return self.rules[name]
        out: list[RuleBranch] = []
        todo = list(self.rules[name])
        n = 0
        while todo:
            b = todo.pop(0)
            for c in b.clauses:
                for x in iter_clauses([c]):
                    if isinstance(x, Not) and _calls(x.clauses) & comp:
                        raise QueryError(f"Rule '{name}' calls its own recursive group inside "
                                         f"{show(x.form)}: rules must be stratified (no "
                                         "recursion through not)", form=x.form, rule=name)
            split = next((i for i, c in enumerate(b.clauses)
                          if isinstance(c, Or) and _calls(c.branches) & comp), None)
            if split is None:
                out.append(b)
                continue
            orc = b.clauses[split]
            for alt in orc.branches:
                n += 1
                clauses = alt.clauses
                if orc.join_vars is not None:
                    keep = set(orc.join_vars)
                    ren = {v: Var(f"{v.name}__or{n}") for v in clause_vars(alt) if v not in keep}
                    clauses = tuple(_rename(c, ren) for c in clauses)
                new = b.clauses[:split] + tuple(clauses) + b.clauses[split + 1:]
                todo.append(RuleBranch(b.name, b.required, b.free, new, b.form))
        return tuple(out)

    # -- calls --------------------------------------------------------------------

    def call(self, name: str, adorn: tuple[bool, ...], src: str, form: Any) -> RuleCall:
        key = (name, adorn, src)
        got = self.calls.get(key)
        if got is not None:
            return got
        if self.in_group(name):
            raise QueryError(f"Rule '{name}' is called recursively in a position that cannot be "
                             f"evaluated bottom-up: {show(form)}", form=form, rule=name)
        branches = self.branches(name)
        if not self.is_recursive(name):
            call = RuleCall(name, adorn, src, "nonrec", form)
            self.calls[key] = call
            bpos = call.bound_pos
            for b in branches:
                seed = tuple(b.head[i] for i in bpos)
                blk = self._plan(b, b.clauses, seed, src, b.head)
                call.bodies.append((blk, blk.cols(b.head)))
            return call
        factored = self._try_factored(name, adorn, src, branches, form)
        planned = factored if factored is not None else self._plan_general(name, adorn, src, form)
        self.calls[key] = planned
        return planned

    def _plan(self, b: RuleBranch, clauses: tuple[Any, ...], seed: tuple[Var, ...], src: str,
              required: tuple[Any, ...], first: Any = None) -> Block:
        try:
            return self.planner.plan_block(tuple(clauses), seed, SrcVar(src), required=required,
                                           first=first)
        except Unplannable as exc:
            where = show(exc.form) if exc.form is not None else "its head"
            raise QueryError(f"In rule '{b.name}' {show(b.form)}: {exc.message}"
                             + ("" if exc.form is None else f" (at {where})"),
                             form=b.form, rule=b.name) from None

    # -- right-linear recursion -------------------------------------------------------

    def _try_factored(self, name: str, adorn: tuple[bool, ...], src: str,
                      branches: tuple[RuleBranch, ...], form: Any) -> RuleCall | None:
        if len(self.scc[name]) != 1:
            return None
        bpos = [i for i, b in enumerate(adorn) if b]
        fpos = [i for i, b in enumerate(adorn) if not b]
        if not bpos or not fpos:
            return None
        rec, exits = [], []
        for b in branches:
            top = [c for c in b.clauses if isinstance(c, RuleExpr) and c.name == name]
            nested = [c for c in iter_clauses(b.clauses) if isinstance(c, RuleExpr)
                      and c.name == name]
            if len(nested) != len(top) or len(top) > 1:
                return None
            if not top:
                exits.append(b)
                continue
            atom = top[0]
            if atom.source.name not in ("$", src):
                return None
            free_vars = {b.head[i] for i in fpos}
            if any(atom.args[i] != b.head[i] for i in fpos):
                return None
            if any(isinstance(atom.args[i], Blank) or atom.args[i] in free_vars for i in bpos):
                return None
            others = tuple(c for c in b.clauses if c is not atom)
            if any(clause_vars(c) & free_vars for c in others):
                return None
            rec.append((b, atom, others))
        if not rec:
            return None
        call = RuleCall(name, adorn, src, "factored", form)
        self.calls[(name, adorn, src)] = call
        try:
            for b, atom, others in rec:
                seed = (_SEED,) + tuple(b.head[i] for i in bpos)
                bound_args = [atom.args[i] for i in bpos]
                need = tuple(a for a in bound_args if isinstance(a, Var))
                blk = self.planner.plan_block(others, seed, SrcVar(src), required=need)
                spec = tuple((0, blk.cols((a,))[0]) if isinstance(a, Var)
                             else (1, cast(Const, a).value) for a in bound_args)
                call.rec_bodies.append((blk, spec))
        except Unplannable:
            del self.calls[(name, adorn, src)]
            return None
        for b in exits:
            seed = (_SEED,) + tuple(b.head[i] for i in bpos)
            blk = self._plan(b, b.clauses, seed, src, b.head)
            call.exit_bodies.append((blk, blk.cols(tuple(b.head[i] for i in fpos))))
        return call

    # -- general recursion -------------------------------------------------------------

    def _plan_general(self, name: str, adorn: tuple[bool, ...], src: str, form: Any) -> RuleCall:
        call = RuleCall(name, adorn, src, "general", form)
        outer = (self._group, self._group_scc, self._current)
        self._group, self._group_scc, self._current = {}, self.scc[name], []
        try:
            call.root = self._table(name, adorn, src)
            call.tables = list(self._group.values())
        finally:
            self._group, self._group_scc, self._current = outer
        return call

    def _table(self, name: str, adorn: tuple[bool, ...], src: str) -> Table:
        assert self._group is not None
        key = (name, adorn, src)
        t = self._group.get(key)
        if t is not None:
            return t
        t = Table(next(_ids), name, adorn, src)
        self._group[key] = t
        self._current.append(t)
        try:
            bpos = t.bound_pos
            for b in self.branches(name):
                seed = tuple(b.head[i] for i in bpos)
                blk = self._plan(b, b.clauses, seed, src, b.head)
                body = TableBody(blk, blk.cols(b.head))
                t.bodies.append(body)
                for st in blk.steps:
                    if isinstance(st, IdbStep):
                        self._atom_tables[(t.id, id(st.clause))] = st.table
                atoms = [c for c in b.clauses if isinstance(c, RuleExpr) and self.in_group(c.name)]
                for atom in atoms:
                    at = self._atom_tables[(t.id, id(atom))]
                    delta = Prebuilt(make=None, vars=frozenset(clause_vars(atom)),  # type: ignore
                                      form=atom.form)
                    dpat = Pattern(SrcVar(f"$ delta {at.id}"), atom.args, atom.form)
                    delta.make = (lambda p: lambda bound: self.planner.plan_pattern(
                        p, bound, SrcVar("$")))(dpat)
                    self.planner.extra_sources[f"$ delta {at.id}"] = _coll_info(f"$ delta {at.id}")
                    clauses = [c if c is not atom else delta for c in b.clauses]
                    if seed:
                        mpat = Pattern(SrcVar(f"$ magic {t.id}"), seed,
                                       [Var("magic"), *(v.name for v in seed)])
                        self.planner.extra_sources[f"$ magic {t.id}"] = \
                            _coll_info(f"$ magic {t.id}")
                        clauses.append(Prebuilt(
                            make=(lambda p: lambda bound: self.planner.plan_pattern(
                                p, bound, SrcVar("$")))(mpat),
                            vars=frozenset(seed), form=mpat.form))
                    vblk = self._plan(b, tuple(clauses), (), src, b.head, first=delta)
                    body.variants.append((at, vblk, vblk.cols(b.head)))
        finally:
            self._current.pop()
        return t

    def idb_step(self, c: RuleExpr, bound: Env, src: str) -> IdbStep:
        """Plan a call to a rule of the group being planned (a read of its answer table)."""
        me = self._current[-1]
        at = self._atom_tables.get((me.id, id(c)))
        if at is None:
            adorn = tuple(isinstance(a, Const) or (isinstance(a, Var) and a in bound)
                          for a in c.args)
            nreq = len(self.rules[c.name][0].required)
            if not all(adorn[:nreq]):
                raise Unplannable(f"Insufficient bindings: rule '{c.name}' requires its first "
                                  f"{nreq} argument(s) bound in {show(c.form)}", c.form)
            at = self._table(c.name, adorn, src)
        demand = []
        for i in at.bound_pos:
            a = c.args[i]
            if isinstance(a, Const):
                demand.append((1, a.value))
            elif a in bound:
                demand.append((0, bound[a]))
            else:
                raise Unplannable(f"Insufficient bindings: {show(a)} not bound in {show(c.form)}",
                                  c.form)
        name = f"$ idb {at.id}"
        self.planner.extra_sources[name] = _coll_info(name)
        pat = self.planner.plan_pattern(Pattern(SrcVar(name), c.args, c.form), bound,
                                        SrcVar("$"))
        pat.est = 50.0 if demand else 5000.0
        return IdbStep(at, pat, tuple(demand), pat.new_vars, c.form, c)


def _coll_info(name: str) -> SourceInfo:
    return SourceInfo(name, False, None)


def _rename(c: Any, ren: dict[Var, Var]) -> Any:
    """``c`` with variables renamed (for splitting an or-join inside a rule)."""

    def term(t: Any) -> Any:
        return ren.get(t, t) if isinstance(t, Var) else t

    if isinstance(c, Pattern):
        return dataclasses.replace(c, terms=tuple(term(t) for t in c.terms))
    if isinstance(c, RuleExpr):
        return dataclasses.replace(c, args=tuple(term(t) for t in c.args))
    if isinstance(c, (Not,)):
        jv = None if c.join_vars is None else tuple(term(v) for v in c.join_vars)
        return dataclasses.replace(c, join_vars=jv, clauses=tuple(_rename(x, ren)
                                                                  for x in c.clauses))
    if isinstance(c, And):
        return And(tuple(_rename(x, ren) for x in c.clauses))
    if isinstance(c, Or):
        jv = None if c.join_vars is None else tuple(term(v) for v in c.join_vars)
        return dataclasses.replace(c, join_vars=jv, required=tuple(term(v) for v in c.required),
                                   branches=tuple(_rename(b, ren) for b in c.branches))
    if hasattr(c, "args") and hasattr(c, "fn"):
        kw: dict[str, Any] = {"args": tuple(term(a) for a in c.args)}
        if getattr(c, "fn_var", None) is not None:
            kw["fn_var"] = term(c.fn_var)
        if hasattr(c, "binding"):
            kw["binding"] = _rename_binding(c.binding, ren)
        return dataclasses.replace(c, **kw)
    return c


def _rename_binding(b: Any, ren: dict[Var, Var]) -> Any:
    if isinstance(b, BindScalar):
        return BindScalar(ren.get(b.var, b.var))
    if isinstance(b, BindTuple):
        return BindTuple(tuple(_rename_binding(x, ren) for x in b.bindings))
    if isinstance(b, BindColl):
        return BindColl(_rename_binding(b.binding, ren))
    return dataclasses.replace(b) if dataclasses.is_dataclass(b) and not isinstance(b, type) else b

