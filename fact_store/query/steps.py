"""The plan's values: the step types a planned query is made of, and the plan itself.

A plan is a tree of :class:`Block` values.  A block starts from a *seed*
relation (columns ``seed_vars``) and runs its steps in order; every step
appends the variables it binds as new columns, so each step's column indices
are fixed by the planner, once, and execution never looks a variable up by
name.  The step types:

* :class:`PatternStep` - match a data pattern against a Db or a collection and join it;
* :class:`FilterStep` - a predicate; :class:`BindStep` - a function binding;
* :class:`NotStep` - an anti-join; :class:`OrStep` - a union joined back;
* :class:`RuleStep` - a rule call (its :class:`RuleCall` holds the planned bodies);
  :class:`IdbStep` - inside a recursive group, a read of the answer :class:`Table` of a
  rule of the same group.

These are plain values: ``plan.py`` and ``rules.py`` make them, ``execute.py``,
``patterns.py`` and ``find.py`` read them, and nothing here imports either side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from fact_store.query import builtins
from fact_store.query.parse import Query, Var

__all__ = ["SourceInfo", "PatternStep", "FilterStep", "BindStep", "Block", "NotStep", "OrStep",
           "RuleStep", "Env", "Unplannable", "Prebuilt", "Component", "QueryPlan", "IdbStep",
           "TableBody", "Table", "RuleCall"]


# ---------------------------------------------------------------- steps

@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the planner knows of one source: a Db (with its schema) or a collection."""

    name: str
    is_db: bool
    schema: Any = None                # the source's Schema; None for a collection
    width: int | None = None      # tuple width of a collection, when known


@dataclass(eq=False, slots=True)
class PatternStep:
    """Match a data pattern against a source and join it to the rows.

    Positions are datom positions (e a v tx added) for a Db, tuple indices
    for a collection.  ``key_cols[i]`` (a row column) feeds position
    ``key_pos[i]``; ``out_pos`` are the positions whose values become new columns.
    """

    src: str
    is_db: bool
    consts: tuple[tuple[int, Any], ...]
    late: tuple[tuple[int, Any], ...]       # lookup refs resolved against the source at run time
    key_cols: tuple[int, ...]
    key_pos: tuple[int, ...]
    out_pos: tuple[int, ...]
    eq_pos: tuple[tuple[int, int], ...]
    new_vars: tuple[Var, ...]
    ref_v: bool                             # position 2 holds entity ids (a ref attribute)
    never: bool                             # a constant cannot match anything
    est: float
    form: Any
    width: int = 5
    note: str = ""
    uses_added: bool = False                # reads the added position (needs search())
    ranges: tuple[tuple[str, int, Any], ...] = ()   # (op, 0 col | 1 const, x): AVET range on v
    range_filters: tuple[Any, ...] = ()     # the FilterSteps those ranges make redundant
    params: tuple[tuple[int, int], ...] = ()  # (position, parameter slot): run-time constants
    keys_ids: bool = False                  # every key needing ident resolution holds ids
    id_vars: tuple[Var, ...] = ()           # new variables that will hold ids


@dataclass(eq=False, slots=True)
class FilterStep:
    """Keep rows for which a predicate is truthy."""

    fn: builtins.Fn | None
    fn_col: tuple[int, int] | None          # [(?f ?x)]: the function's (0, col) | (3, param)
    args: tuple[tuple[int, Any], ...]       # (0, col) | (1, constant) | (2, source) | (3, param)
    form: Any


@dataclass(eq=False, slots=True)
class BindStep:
    """Call a function per row and bind its result (scalar, tuple, collection, relation)."""

    fn: builtins.Fn | None
    fn_col: tuple[int, int] | None
    args: tuple[tuple[int, Any], ...]
    binding: Any
    bind_vars: tuple[Var, ...]              # the binding's variables, in order ('_' dropped)
    new_idx: tuple[int, ...]                # indices into bind_vars that become new columns
    eq_checks: tuple[tuple[int, int], ...]  # (index into bind_vars, row column) must be equal
    dup_checks: tuple[tuple[int, int], ...]  # two places of one new var in the binding
    new_vars: tuple[Var, ...]
    form: Any
    param_checks: tuple[tuple[int, int], ...] = ()  # (index into bind_vars, parameter slot)


@dataclass(eq=False, slots=True)
class Block:
    """Steps run in order from a seed relation with columns ``seed_vars``."""

    seed_vars: tuple[Var, ...]
    steps: tuple[Any, ...]
    vars: tuple[Var, ...]                   # columns after the last step

    def cols(self, wanted: tuple[Var, ...]) -> tuple[int, ...]:
        idx = {v: i for i, v in enumerate(self.vars)}
        return tuple(idx[v] for v in wanted)


@dataclass(eq=False, slots=True)
class NotStep:
    """Drop rows for which the sub-block, seeded with their ``key_cols``, finds anything."""

    key_cols: tuple[int, ...]
    block: Block
    form: Any


@dataclass(eq=False, slots=True)
class OrStep:
    """Union of branches seeded with the bound join variables; joined back to the rows."""

    key_cols: tuple[int, ...]
    branches: tuple[Block, ...]
    out_cols: tuple[tuple[int, ...], ...]   # per branch: columns of new_vars in its result
    new_vars: tuple[Var, ...]
    form: Any


@dataclass(eq=False, slots=True)
class RuleStep:
    """Call a rule: evaluate it for the distinct bound arguments, join the answers back."""

    call: "RuleCall"
    args: tuple[tuple[int, Any], ...]       # per bound position: (0, col) | (1, constant)
    out: tuple[tuple[int, Any], ...]        # per free position: (0, new var index) | (1, const)
                                            # | (2, row col: must equal) | (3, '_')
    dup_checks: tuple[tuple[int, int], ...]  # free positions holding one new var twice
    new_vars: tuple[Var, ...]
    form: Any


class Env(dict):  # type: ignore[type-arg]
    """Variables bound in a block: ``env[var]`` is a row column; ``env.params[var]`` is the
    slot of a scalar input (a parameter: a constant for the whole execution, never a column)."""

    def __init__(self, cols: Any = (), params: dict[Var, int] | None = None,
                 ids: set[Var] | None = None) -> None:
        super().__init__(cols)
        self.params: dict[Var, int] = params if params is not None else {}
        #: variables known to hold entity (or attribute) ids: bound by a Db pattern at
        #: e, a or tx, or at v of a ref attribute.  Joins on them skip ident resolution.
        self.ids: set[Var] = ids if ids is not None else set()

    def has(self, v: Any) -> bool:
        return v in self or v in self.params

    def spec(self, v: Var) -> tuple[int, int]:
        """(0, column) or (3, parameter slot)."""
        return (0, self[v]) if v in self else (3, self.params[v])


class Unplannable(Exception):
    """Internal: a clause (or branch) cannot run with the variables bound so far."""

    def __init__(self, message: str, form: Any) -> None:
        super().__init__(message)
        self.message = message
        self.form = form


@dataclass(eq=False)
class Prebuilt:
    """A pseudo-clause (an input relation, a rule's delta or demand) planned by a callback."""

    make: Callable[[dict[Var, int]], Any]
    vars: frozenset[Var] = field(default_factory=frozenset)
    form: Any = None


# ---------------------------------------------------------------- the query plan

@dataclass(eq=False, slots=True)
class Component:
    block: Block
    out_vars: tuple[Var, ...]               # the find/with vars this component provides
    out_cols: tuple[int, ...]


@dataclass(eq=False, slots=True)
class QueryPlan:
    query: Query
    scalar_vars: tuple[Var, ...]
    input_rels: tuple[tuple[int, str, tuple[Var, ...]], ...]   # (:in index, source name, vars)
    components: tuple[Component, ...]
    needed: tuple[Var, ...]                 # find + with vars, in the order of the joined tuple
    find: Any                               # the FindSpec
    sources: dict[str, SourceInfo]
    rule_program: Any = None
    scalar_idx: tuple[int, ...] = ()        # :in bindings that are scalars (parameters)
    find_params: tuple[int, ...] = ()       # parameter slots :find needs, first in each tuple


# ---------------------------------------------------------------- rules

@dataclass(eq=False, slots=True)
class IdbStep:
    """A call, inside a recursive group, to a rule of the same group: read its answer table."""

    table: Any
    pattern: PatternStep
    demand: tuple[tuple[int, Any], ...]     # bound arguments: (0, col) | (1, constant)
    new_vars: tuple[Var, ...]
    form: Any
    clause: Any = None


@dataclass(eq=False, slots=True)
class TableBody:
    seed_block: Block                       # seeded with the bound head variables
    head_cols: tuple[int, ...]
    variants: list[tuple[Any, Block, tuple[int, ...]]] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Table:
    id: int
    name: str
    adorn: tuple[bool, ...]
    src: str
    bodies: list[TableBody] = field(default_factory=list)

    @property
    def bound_pos(self) -> tuple[int, ...]:
        return tuple(i for i, b in enumerate(self.adorn) if b)


@dataclass(eq=False, slots=True)
class RuleCall:
    """A rule planned for one adornment (which arguments the caller binds)."""

    name: str
    adorn: tuple[bool, ...]
    src: str
    mode: str                               # "nonrec" | "factored" | "general"
    form: Any
    bodies: list[tuple[Block, tuple[int, ...]]] = field(default_factory=list)
    rec_bodies: list[tuple[Block, tuple[tuple[int, Any], ...]]] = field(default_factory=list)
    exit_bodies: list[tuple[Block, tuple[int, ...]]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    root: Table | None = None

    @property
    def bound_pos(self) -> tuple[int, ...]:
        return tuple(i for i, b in enumerate(self.adorn) if b)

    @property
    def free_pos(self) -> tuple[int, ...]:
        return tuple(i for i, b in enumerate(self.adorn) if not b)
