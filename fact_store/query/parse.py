"""EDN data → Query AST (frozen dataclasses), independent of any db, cached by text.

A Datalog query is EDN *data*: this module works on values (what
:func:`fact_store.edn.read` returns: vectors as tuples, lists as lists, maps as
dicts, :class:`Keyword`, :class:`Symbol`) and never on text, except that
:func:`parse_query` and :func:`parse_rules` read text first and keep the result
in an LRU keyed by the text.  Vectors and lists are told apart by *shape*, not
by Python type, so a query written as Python data may use lists throughout.

Each production of Datomic's grammar is written as a comment above the
dataclass that represents it, as DataScript's ``parser.cljc`` does.

>>> from fact_store.edn.values import Keyword as K, Symbol as S
>>> q = parse_query((K(":find"), S("?e"), K(":where"), (S("?e"), K(":a/b"), 1)))
>>> q.find
FindRel(elements=(Var(name='?e'),))
>>> q.where[0].terms
(Var(name='?e'), Const(value=Keyword(':a/b')), Const(value=1))
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable, Union, cast

from fact_store.edn.reader import read as read_edn
from fact_store.edn.values import Keyword, Symbol
from fact_store.errors import QuerySyntaxError

__all__ = [
    "Var", "Const", "Blank", "BLANK", "SrcVar", "RulesVar", "DEFAULT_SRC",
    "FindRel", "FindColl", "FindScalar", "FindTuple", "Aggregate", "PullExpr",
    "BindIgnore", "BindScalar", "BindTuple", "BindColl",
    "Pattern", "Predicate", "Function", "RuleExpr", "Not", "Or", "And",
    "RuleBranch", "Query", "parse_query", "parse_rules", "show", "freeze",
    "clause_vars",
]


# ---------------------------------------------------------------- printing

def show(form: Any, limit: int = 200) -> str:
    """EDN-ish text of ``form`` for error messages (vectors ``[]``, lists ``()``).

    >>> show([Symbol("not"), (Symbol("?e"), Keyword(":a/b"), "x")])
    '(not [?e :a/b "x"])'
    """
    text = _show(form)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(x: Any) -> str:
    if isinstance(x, (Keyword, Symbol)):
        return str.__str__(x)
    if isinstance(x, (Var, SrcVar)):
        return x.name
    if isinstance(x, Const):
        return _show(x.value)
    if isinstance(x, Blank):
        return "_"
    if isinstance(x, RulesVar):
        return "%"
    if isinstance(x, str):
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(x, bool):
        return "true" if x else "false"
    if x is None:
        return "nil"
    if isinstance(x, tuple):
        return "[" + " ".join(_show(y) for y in x) + "]"
    if isinstance(x, list):
        return "(" + " ".join(_show(y) for y in x) + ")"
    if isinstance(x, (set, frozenset)):
        return "#{" + " ".join(_show(y) for y in x) + "}"
    if isinstance(x, dict):
        return "{" + ", ".join(_show(k) + " " + _show(v) for k, v in x.items()) + "}"
    return repr(x)


def _err(message: str, form: Any, **data: Any) -> QuerySyntaxError:
    return QuerySyntaxError(f"{message}, got: {show(form)}", form=form, **data)


# ---------------------------------------------------------------- terms

# variable    = symbol starting with "?"
@dataclass(frozen=True, slots=True)
class Var:
    name: str


# constant    = any non-variable data literal
@dataclass(frozen=True, slots=True)
class Const:
    value: Any


# placeholder = '_'
@dataclass(frozen=True, slots=True)
class Blank:
    pass


BLANK = Blank()


# src-var     = symbol starting with "$"
@dataclass(frozen=True, slots=True)
class SrcVar:
    name: str


DEFAULT_SRC = SrcVar("$")


# rules-var   = '%'
@dataclass(frozen=True, slots=True)
class RulesVar:
    pass


Term = Union[Var, Const, Blank]


def _sym(x: Any) -> str | None:
    """The text of a symbol, or None.  Only :class:`Symbol` counts: a str is a constant."""
    return str.__str__(x) if type(x) is Symbol else None


def _is_var(x: Any) -> bool:
    s = _sym(x)
    return s is not None and s.startswith("?")


def _is_src(x: Any) -> bool:
    s = _sym(x)
    return s is not None and s.startswith("$")


def _is_plain_symbol(x: Any) -> bool:
    s = _sym(x)
    return s is not None and s[:1] not in ("?", "$", "%") and s != "_"


def _is_seq(x: Any) -> bool:
    return isinstance(x, (list, tuple))


def _parse_term(x: Any, ctx: Any) -> Term:
    s = _sym(x)
    if s is not None:
        if s.startswith("?"):
            return Var(s)
        if s == "_":
            return BLANK
        raise _err("Expected a variable, a constant or '_' (a plain symbol is not a constant)", ctx)
    return Const(x)


def _parse_var(x: Any, ctx: Any) -> Var:
    if _is_var(x):
        return Var(_sym(x))  # type: ignore[arg-type]
    raise _err(f"Expected a variable, got {show(x)} in", ctx)


def freeze(x: Any) -> Any:
    """A hashable stand-in for query or rule data (lists and tuples kept apart).

    >>> freeze([1, (2, [3])]) == freeze([1, (2, [3])]), freeze([1]) == freeze((1,))
    (True, False)
    """
    t = type(x)
    if t is tuple:
        return ("[",) + tuple(freeze(y) for y in x)
    if t is list:
        return ("(",) + tuple(freeze(y) for y in x)
    if t is dict:
        return ("{",) + tuple(sorted(((freeze(k), freeze(v)) for k, v in x.items()), key=repr))
    if t is set:
        return frozenset(freeze(y) for y in x)
    if t in (Keyword, Symbol):
        return (t.__name__, str.__str__(x))
    try:
        hash(x)
    except TypeError:
        raise QuerySyntaxError(f"Unhashable value in query: {show(x)}", form=x) from None
    return x


# ---------------------------------------------------------------- find

# find-elem  = (variable | pull-expr | aggregate)
# aggregate  = [aggregate-fn-name fn-arg+]
@dataclass(frozen=True, slots=True)
class Aggregate:
    fn: str
    args: tuple[Any, ...]       # Const ... then the Var it aggregates

    @property
    def var(self) -> Var:
        return cast(Var, self.args[-1])


# pull-expr  = ['pull' src-var? variable pattern]
@dataclass(frozen=True, slots=True)
class PullExpr:
    source: SrcVar
    var: Var
    pattern: Any                # Const(pattern data) or Var (a pattern bound from :in)


# find-rel    = find-elem+
@dataclass(frozen=True, slots=True)
class FindRel:
    elements: tuple[Any, ...]


# find-coll   = [find-elem '...']
@dataclass(frozen=True, slots=True)
class FindColl:
    elements: tuple[Any, ...]


# find-scalar = find-elem '.'
@dataclass(frozen=True, slots=True)
class FindScalar:
    elements: tuple[Any, ...]


# find-tuple  = [find-elem+]
@dataclass(frozen=True, slots=True)
class FindTuple:
    elements: tuple[Any, ...]


def _parse_find_elem(x: Any, ctx: Any) -> Any:
    if _is_var(x):
        return Var(_sym(x))  # type: ignore[arg-type]
    if _is_seq(x) and x:
        head = _sym(x[0])
        if head == "pull":
            rest = list(x[1:])
            src = DEFAULT_SRC
            if rest and _is_src(rest[0]):
                src = SrcVar(_sym(rest.pop(0)))  # type: ignore[arg-type]
            if len(rest) != 2 or not _is_var(rest[0]):
                raise _err("Expected (pull ?var pattern) or (pull $src ?var pattern)", x)
            pat = rest[1]
            pattern = Var(_sym(pat)) if _is_var(pat) else Const(pat)  # type: ignore[arg-type]
            if isinstance(pattern, Const) and not (_is_seq(pat) or _sym(pat) is None):
                raise _err("Expected a pull pattern (a vector) or a variable", x)
            return PullExpr(src, Var(_sym(rest[0])), pattern)  # type: ignore[arg-type]
        if head is not None and len(x) >= 2 and _is_plain_symbol(x[0]):
            args: list[Any] = []
            for a in x[1:]:
                if _is_var(a):
                    args.append(Var(_sym(a)))  # type: ignore[arg-type]
                elif _sym(a) is not None:
                    raise _err("Aggregate arguments must be constants then a variable", x)
                else:
                    args.append(Const(a))
            if not isinstance(args[-1], Var):
                raise _err("The last argument of an aggregate must be a variable", x)
            return Aggregate(head, tuple(args))
    raise _err("Expected a find element: a variable, (pull ?e pattern) or an aggregate", ctx
               if ctx is not None else x)


def _parse_find(elems: list[Any]) -> Any:
    form = [Keyword(":find"), *elems]
    if not elems:
        raise _err(":find needs at least one element", form)
    if len(elems) == 2 and _sym(elems[1]) == ".":
        return FindScalar((_parse_find_elem(elems[0], form),))
    if len(elems) == 1 and _is_seq(elems[0]) and not _is_find_call(elems[0]):
        inner = list(elems[0])
        if len(inner) == 2 and _sym(inner[1]) == "...":
            return FindColl((_parse_find_elem(inner[0], form),))
        if inner and all(_sym(y) not in (".", "...") for y in inner):
            return FindTuple(tuple(_parse_find_elem(y, form) for y in inner))
        raise _err("Expected a find spec: ?a ?b, [?x ...], ?x . or [?a ?b]", form)
    if any(_sym(y) in (".", "...") for y in elems):
        raise _err("Expected a find spec: ?a ?b, [?x ...], ?x . or [?a ?b]", form)
    return FindRel(tuple(_parse_find_elem(y, form) for y in elems))


def _is_find_call(x: Any) -> bool:
    """(pull ...) or (aggregate ...): a list headed by a plain symbol."""
    return type(x) is list and bool(x) and _is_plain_symbol(x[0])


# ---------------------------------------------------------------- bindings

# bind-scalar = variable ; '_' ignores
@dataclass(frozen=True, slots=True)
class BindIgnore:
    pass


@dataclass(frozen=True, slots=True)
class BindScalar:
    var: Var


# bind-tuple  = [ (binding | '_')+ ]
@dataclass(frozen=True, slots=True)
class BindTuple:
    bindings: tuple[Any, ...]


# bind-coll   = [ binding '...' ]      bind-rel = [ [ (variable | '_')+ ] ]  (a coll of tuples)
@dataclass(frozen=True, slots=True)
class BindColl:
    binding: Any


def _parse_binding(x: Any, ctx: Any) -> Any:
    s = _sym(x)
    if s is not None:
        if s == "_":
            return BindIgnore()
        if s.startswith("?"):
            return BindScalar(Var(s))
        raise _err("Expected a binding: ?x, _, [?x ...], [?a ?b] or [[?a ?b]]", ctx)
    if _is_seq(x) and x:
        if len(x) == 2 and _sym(x[1]) == "...":
            return BindColl(_parse_binding(x[0], ctx))
        if len(x) == 1 and _is_seq(x[0]):
            return BindColl(_parse_binding(x[0], ctx))
        if all(_sym(y) is not None or _is_seq(y) for y in x):
            return BindTuple(tuple(_parse_binding(y, ctx) for y in x))
    raise _err("Expected a binding: ?x, _, [?x ...], [?a ?b] or [[?a ?b]]", ctx)


def binding_vars(b: Any) -> list[Var]:
    """Variables a binding form binds, in order."""
    if isinstance(b, BindScalar):
        return [b.var]
    if isinstance(b, BindTuple):
        return [v for y in b.bindings for v in binding_vars(y)]
    if isinstance(b, BindColl):
        return binding_vars(b.binding)
    return []


# ---------------------------------------------------------------- clauses

# data-pattern = [ src-var? (variable | constant | '_')+ ]
@dataclass(frozen=True, slots=True)
class Pattern:
    source: SrcVar
    terms: tuple[Term, ...]
    form: Any = field(compare=False, repr=False, default=None)


# pred-expr    = [ [ pred fn-arg+ ] ]
@dataclass(frozen=True, slots=True)
class Predicate:
    fn: str
    args: tuple[Any, ...]          # Var | Const | SrcVar
    form: Any = field(compare=False, repr=False, default=None)
    fn_var: Var | None = None      # [(?f ?x)]: the function bound from :in


# fn-expr      = [ [ fn fn-arg+ ] binding ]
@dataclass(frozen=True, slots=True)
class Function:
    fn: str
    args: tuple[Any, ...]
    binding: Any
    form: Any = field(compare=False, repr=False, default=None)
    fn_var: Var | None = None


# rule-expr    = [ src-var? rule-name (variable | constant | '_')+ ]
@dataclass(frozen=True, slots=True)
class RuleExpr:
    source: SrcVar
    name: str
    args: tuple[Term, ...]
    form: Any = field(compare=False, repr=False, default=None)


# not-clause      = [ src-var? 'not' clause+ ]
# not-join-clause = [ src-var? 'not-join' [variable+] clause+ ]
@dataclass(frozen=True, slots=True)
class Not:
    source: SrcVar
    join_vars: tuple[Var, ...] | None   # None for `not`: the clause's vars that are bound outside
    clauses: tuple[Any, ...]
    form: Any = field(compare=False, repr=False, default=None)


# and-clause      = [ 'and' clause+ ]
@dataclass(frozen=True, slots=True)
class And:
    clauses: tuple[Any, ...]


# or-clause       = [ src-var? 'or' (clause | and-clause)+ ]
# or-join-clause  = [ src-var? 'or-join' rule-vars (clause | and-clause)+ ]
# rule-vars       = [ variable+ | ([variable+] variable*) ]
@dataclass(frozen=True, slots=True)
class Or:
    source: SrcVar
    required: tuple[Var, ...]
    join_vars: tuple[Var, ...] | None   # None for `or`: every branch uses the same vars
    branches: tuple[And, ...]
    form: Any = field(compare=False, repr=False, default=None)


_LIST_HEADS = {"not", "not-join", "or", "or-join", "and"}


def _parse_clause(x: Any, allow_and: bool = False) -> Any:
    if not _is_seq(x) or not x:
        raise _err("Expected a clause: a pattern, [(pred ...)], [(fn ...) binding], "
                   "(rule ...), (not ...), (or ...)", x)
    items = list(x)
    src = DEFAULT_SRC
    if _is_src(items[0]) and len(items) > 1 and _sym(items[1]) in _LIST_HEADS:
        src = SrcVar(_sym(items[0]))  # type: ignore[arg-type]
        items = items[1:]
    head = _sym(items[0])
    if head in ("not", "not-join"):
        return _parse_not(x, items, src)
    if head in ("or", "or-join"):
        return _parse_or(x, items, src)
    if head == "and":
        if not allow_and:
            raise _err("(and ...) is only allowed directly inside (or ...)", x)
        if len(items) < 2:
            raise _err("(and ...) needs at least one clause", x)
        return And(tuple(_parse_clause(c) for c in items[1:]))
    if _is_seq(items[0]) and items[0] and type(items[0][0]) is Symbol:
        return _parse_fn_clause(x)     # [(fn ...)]; a lookup ref [:attr value] is a constant
    # rule-expr: (src? name args...) where name is a plain symbol
    if _is_src(items[0]) and len(items) > 1 and _is_plain_symbol(items[1]):
        return _parse_rule_expr(x, SrcVar(_sym(items[0])), items[1:])  # type: ignore[arg-type]
    if _is_plain_symbol(items[0]):
        return _parse_rule_expr(x, DEFAULT_SRC, items)
    # data pattern
    psrc = DEFAULT_SRC
    if _is_src(items[0]):
        psrc = SrcVar(_sym(items[0]))  # type: ignore[arg-type]
        items = items[1:]
    if not items:
        raise _err("A data pattern needs at least one term", x)
    if len(items) > 5:
        raise _err("A data pattern has at most 5 terms [e a v tx added]", x)
    terms = tuple(_parse_term(t, x) for t in items)
    for t in terms:  # a constant is a scalar or a lookup ref [attr value]; never a collection
        if isinstance(t, Const):
            try:
                hash(t.value)
            except TypeError:
                raise _err(f"A data pattern's constant must be a scalar value or a lookup ref, "
                           f"not {show(t.value)}", x) from None
    if all(isinstance(t, Blank) for t in terms):
        raise _err("A data pattern needs a variable or a constant", x)
    while terms and isinstance(terms[-1], Blank):
        terms = terms[:-1]
    return Pattern(psrc, terms, x)


def _parse_rule_expr(x: Any, src: SrcVar, items: list[Any]) -> RuleExpr:
    if len(items) < 2:
        raise _err("A rule call needs at least one argument", x)
    args = tuple(_parse_term(a, x) for a in items[1:])
    return RuleExpr(src, _sym(items[0]), args, x)  # type: ignore[arg-type]


def _parse_fn_args(call: Any, ctx: Any) -> tuple[str, Var | None, tuple[Any, ...]]:
    call = list(call)
    if not call:
        raise _err("Expected a function call (fn arg ...)", ctx)
    head = call[0]
    fn_var = None
    if _is_var(head):
        fn_var, name = Var(_sym(head)), ""  # type: ignore[arg-type]
    elif _is_plain_symbol(head):
        name = _sym(head)  # type: ignore[assignment]
    else:
        raise _err("Expected a function name (a symbol) at the head of", ctx)
    args: list[Any] = []
    for a in call[1:]:
        s = _sym(a)
        if s is not None:
            if s.startswith("?"):
                args.append(Var(s))
            elif s.startswith("$"):
                args.append(SrcVar(s))
            elif s == "_":
                raise _err("'_' is not allowed as a function argument", ctx)
            else:
                raise _err(f"Unknown symbol {s} as a function argument (quote constants)", ctx)
        else:
            args.append(Const(a))
    return name, fn_var, tuple(args)


def _parse_fn_clause(x: Any) -> Any:
    items = list(x)
    name, fn_var, args = _parse_fn_args(items[0], x)
    if len(items) == 1:
        return Predicate(name, args, x, fn_var)
    if len(items) == 2:
        binding = _parse_binding(items[1], x)
        return Function(name, args, binding, x, fn_var)
    raise _err("Expected [(pred ...)] or [(fn ...) binding]", x)


def _parse_not(x: Any, items: list[Any], src: SrcVar) -> Not:
    head = _sym(items[0])
    if head == "not-join":
        if len(items) < 3 or not _is_seq(items[1]):
            raise _err("Expected (not-join [?vars ...] clause ...)", x)
        join = tuple(_parse_var(v, x) for v in items[1])
        if not join:
            raise _err("not-join needs at least one variable", x)
        body = items[2:]
    else:
        join = None
        body = items[1:]
        if not body:
            raise _err("(not ...) needs at least one clause", x)
    clauses = tuple(_parse_clause(c) for c in body)
    if join is not None:
        inner = set().union(*(clause_vars(c) for c in clauses))
        missing = [v.name for v in join if v not in inner]
        if missing:
            raise _err(f"not-join variables {missing} are not used in its clauses", x)
    return Not(src, join, clauses, x)


def _parse_or(x: Any, items: list[Any], src: SrcVar) -> Or:
    head = _sym(items[0])
    required: tuple[Var, ...] = ()
    join: tuple[Var, ...] | None = None
    body = items[1:]
    if head == "or-join":
        if len(items) < 3 or not _is_seq(items[1]):
            raise _err("Expected (or-join [?vars ...] clause ...)", x)
        rv = list(items[1])
        if rv and _is_seq(rv[0]):
            required = tuple(_parse_var(v, x) for v in rv[0])
            rv = rv[1:]
        join = required + tuple(_parse_var(v, x) for v in rv)
        if not join:
            raise _err("or-join needs at least one variable", x)
        body = items[2:]
    if not body:
        raise _err(f"({head} ...) needs at least one clause", x)
    branches = []
    for c in body:
        parsed = _parse_clause(c, allow_and=True)
        branches.append(parsed if isinstance(parsed, And) else And((parsed,)))
    if join is None:
        sets = [frozenset(clause_vars(b)) for b in branches]
        if any(s != sets[0] for s in sets):
            shown = ", ".join("#{" + " ".join(sorted(v.name for v in s)) + "}" for s in sets)
            raise _err(f"All clauses in 'or' must use the same set of variables, had [{shown}] in",
                       x)
    else:
        for b in branches:
            bv = clause_vars(b)
            missing = [v.name for v in join if v not in bv]
            if missing:
                raise _err(f"or-join variables {missing} are missing from branch {show(_form(b))} "
                           "in", x)
    return Or(src, required, join, tuple(branches), x)


def _form(c: Any) -> Any:
    if isinstance(c, And):
        return [Symbol("and"), *(_form(y) for y in c.clauses)]
    return getattr(c, "form", c)


def clause_vars(c: Any) -> set[Var]:
    """Every variable a clause mentions (for not/or: the ones visible to the outside)."""
    if isinstance(c, Pattern):
        return {t for t in c.terms if isinstance(t, Var)}
    if isinstance(c, RuleExpr):
        return {t for t in c.args if isinstance(t, Var)}
    if isinstance(c, Predicate):
        out = {a for a in c.args if isinstance(a, Var)}
        if c.fn_var is not None:
            out.add(c.fn_var)
        return out
    if isinstance(c, Function):
        out = {a for a in c.args if isinstance(a, Var)} | set(binding_vars(c.binding))
        if c.fn_var is not None:
            out.add(c.fn_var)
        return out
    if isinstance(c, And):
        return set().union(*(clause_vars(y) for y in c.clauses))
    if isinstance(c, Not):
        if c.join_vars is not None:
            return set(c.join_vars)
        return set().union(*(clause_vars(y) for y in c.clauses))
    if isinstance(c, Or):
        if c.join_vars is not None:
            return set(c.join_vars)
        return set().union(*(clause_vars(b) for b in c.branches))
    raise TypeError(c)


def bound_by_clause(c: Any) -> set[Var]:
    """Variables a clause can bind (predicates and `not` bind nothing)."""
    if isinstance(c, (Pattern, RuleExpr, Or)):
        return clause_vars(c)
    if isinstance(c, Function):
        return set(binding_vars(c.binding))
    if isinstance(c, And):
        return set().union(*(bound_by_clause(y) for y in c.clauses))
    return set()


# ---------------------------------------------------------------- rules

# rule        = [ [rule-head clause+]+ ]
# rule-head   = [rule-name rule-vars]
@dataclass(frozen=True, slots=True)
class RuleBranch:
    name: str
    required: tuple[Var, ...]
    free: tuple[Var, ...]
    clauses: tuple[Any, ...]
    form: Any = field(compare=False, repr=False, default=None)

    @property
    def head(self) -> tuple[Var, ...]:
        return self.required + self.free


def _parse_rule(x: Any) -> RuleBranch:
    if not _is_seq(x) or len(x) < 2 or not _is_seq(x[0]) or not x[0]:
        raise _err("Expected a rule [(name ?arg ...) clause ...]", x)
    head = list(x[0])
    if not _is_plain_symbol(head[0]):
        raise _err("Expected a rule name (a plain symbol) at the head of", x)
    name = _sym(head[0])
    rest = head[1:]
    required: tuple[Var, ...] = ()
    if rest and _is_seq(rest[0]):
        required = tuple(_parse_var(v, x) for v in rest[0])
        rest = rest[1:]
    free = tuple(_parse_var(v, x) for v in rest)
    vars_ = required + free
    if not vars_:
        raise _err("A rule needs at least one variable in its head", x)
    if len(set(vars_)) != len(vars_):
        raise _err("A rule head repeats a variable", x)
    clauses = tuple(_parse_clause(c) for c in x[1:])
    body_vars = set().union(*(clause_vars(c) for c in clauses))
    missing = [v.name for v in vars_ if v not in body_vars]
    if missing:
        raise _err(f"Rule head variables {missing} are not used in its body", x)
    return RuleBranch(name, required, free, clauses, x)  # type: ignore[arg-type]


def _parse_rules_data(data: Any) -> dict[str, tuple[RuleBranch, ...]]:
    if not _is_seq(data):
        raise _err("Expected rules: a vector of [(name ?arg ...) clause ...]", data)
    out: dict[str, list[RuleBranch]] = {}
    for r in data:
        b = _parse_rule(r)
        out.setdefault(b.name, []).append(b)
    for name, branches in out.items():
        shapes = {(len(b.required), len(b.free)) for b in branches}
        if len({r + f for r, f in shapes}) > 1:
            raise _err(f"Arity mismatch: rule '{name}' is defined with different numbers of "
                       "arguments", [b.form for b in branches])
        if len(shapes) > 1:
            raise _err(f"Rule '{name}' declares different required variables in its branches",
                       [b.form for b in branches])
    return {k: tuple(v) for k, v in out.items()}


# ---------------------------------------------------------------- query

# query = [find-spec return-map-spec? with-clause? inputs? where-clauses?]
@dataclass(frozen=True, slots=True)
class Query:
    find: Any
    with_: tuple[Var, ...]
    in_: tuple[Any, ...]                    # SrcVar | RulesVar | binding
    where: tuple[Any, ...]
    return_kind: str | None = None          # "keys" | "strs" | "syms"
    return_names: tuple[Any, ...] = ()      # Keyword / str / Symbol per find element
    form: Any = field(compare=False, repr=False, default=None)
    key: Any = field(compare=False, repr=False, default=None)   # text or frozen data
    in_default: bool = False                # no :in was written (it defaults to $)
    timeout_ms: int | None = None           # Datomic's :timeout, in milliseconds
    uses_source: bool = True                # some clause reads a source

    def without_inputs(self) -> "Query":
        """This query with an empty :in (run with no inputs when it reads no source)."""
        q = dataclasses.replace(self, in_=())
        object.__setattr__(q, "key", ("no-inputs", self.key))
        return q


_QUERY_KEYS = (":find", ":with", ":in", ":where", ":keys", ":strs", ":syms", ":timeout")


def _sections(form: Any) -> dict[str, list[Any]]:
    if isinstance(form, dict):
        out = {}
        for k, v in form.items():
            if not isinstance(k, str) or (k if k.startswith(":") else ":" + k) not in _QUERY_KEYS:
                raise _err(f"Unknown query key {show(k)}, expected one of "
                           f"{' '.join(_QUERY_KEYS)}", form)
            key = k if k.startswith(":") else ":" + k
            out[key] = list(v) if _is_seq(v) else [v]
        return out
    if not _is_seq(form):
        raise _err("A query is a vector [:find ... :where ...] or a map {:find ...}", form)
    out = {}
    current = None
    for x in form:
        if isinstance(x, str) and type(x) is not Symbol and str.__str__(x) in _QUERY_KEYS:
            current = str.__str__(x)
            if current in out:
                raise _err(f"Query has {current} twice", form)
            out[current] = []
        elif current is None:
            raise _err("A query starts with :find", form)
        else:
            out[current].append(x)
    return out


def _parse_query_data(form: Any) -> Query:
    sec = _sections(form)
    if ":find" not in sec:
        raise _err("A query needs :find", form)
    find = _parse_find(sec[":find"])
    with_ = tuple(_parse_var(v, [Keyword(":with"), *sec[":with"]]) for v in sec.get(":with", []))
    in_: list[Any] = []
    in_form = [Keyword(":in"), *sec.get(":in", [])]
    for x in sec.get(":in", [Symbol("$")]):
        s = _sym(x)
        if s is not None and s.startswith("$"):
            in_.append(SrcVar(s))
        elif s == "%":
            in_.append(RulesVar())
        else:
            in_.append(_parse_binding(x, in_form))
    where = tuple(_parse_clause(c) for c in sec.get(":where", []))
    kinds = [k for k in (":keys", ":strs", ":syms") if k in sec]
    return_kind = None
    names: tuple[Any, ...] = ()
    if len(kinds) > 1:
        raise _err("Only one of :keys, :strs, :syms is allowed", form)
    if kinds:
        return_kind = kinds[0][1:]
        raw = sec[kinds[0]]
        if not all(isinstance(n, str) for n in raw):
            raise _err(f":{return_kind} takes symbols", [Keyword(kinds[0]), *raw])
        if return_kind == "keys":
            names = tuple(Keyword(_plain(n)) for n in raw)
        elif return_kind == "strs":
            names = tuple(_plain(n) for n in raw)
        else:
            names = tuple(Symbol(_plain(n)) for n in raw)
        if isinstance(find, (FindScalar, FindColl)):
            raise _err(f":{return_kind} needs a relation or tuple find spec", form)
        if len(names) != len(find.elements):
            raise _err(f"Count of :{return_kind} ({len(names)}) must match count of :find "
                       f"({len(find.elements)})", form)
    timeout_ms = None
    if ":timeout" in sec:
        t = sec[":timeout"]
        if len(t) != 1 or isinstance(t[0], bool) or not isinstance(t[0], int) or t[0] <= 0:
            raise _err(":timeout takes a positive number of milliseconds", form)
        timeout_ms = t[0]
    q = Query(find, with_, tuple(in_), where, return_kind, names, form,
              in_default=":in" not in sec, uses_source=_uses_source(where, find),
              timeout_ms=timeout_ms)
    _validate(q)
    return q


def _uses_source(where: tuple[Any, ...], find: Any) -> bool:
    if any(isinstance(el, PullExpr) for el in find.elements):
        return True
    for c in iter_clauses(where):
        if isinstance(c, (Pattern, RuleExpr)):
            return True
        if isinstance(c, (Predicate, Function)) and any(isinstance(a, SrcVar) for a in c.args):
            return True
    return False


def _plain(n: str) -> str:
    s = str.__str__(n)
    return s[1:] if s.startswith(":") else s


def _validate(q: Query) -> None:
    in_vars: set[Var] = set()
    seen: list[str] = []
    for b in q.in_:
        if isinstance(b, SrcVar):
            seen.append(b.name)
        elif isinstance(b, RulesVar):
            seen.append("%")
        else:
            in_vars.update(binding_vars(b))   # a var in two bindings joins them (Datomic)
    dups = sorted({n for n in seen if seen.count(n) > 1})
    if dups:
        raise _err(f":in names {' '.join(str(d) for d in dups)} more than once", q.form)
    where_vars = set().union(*(bound_by_clause(c) for c in q.where)) if q.where else set()
    known = in_vars | where_vars
    find_vars: list[Var] = []
    for el in q.find.elements:
        if isinstance(el, Var):
            find_vars.append(el)
        elif isinstance(el, Aggregate):
            find_vars.append(el.var)
            find_vars.extend(a for a in el.args[:-1] if isinstance(a, Var))
        elif isinstance(el, PullExpr):
            find_vars.append(el.var)
    unknown = [v.name for v in list(find_vars) + list(q.with_) if v not in known]
    if unknown:
        raise _err(f"Query for unknown vars: [{' '.join(unknown)}]", q.form)
    for el in q.find.elements:
        if isinstance(el, PullExpr) and isinstance(el.pattern, Var) and el.pattern not in in_vars:
            raise _err(f"Pull pattern variable {el.pattern.name} must be bound in :in", q.form)
    uses_rules = any(_uses_rules(c) for c in q.where)
    if uses_rules and not any(isinstance(b, RulesVar) for b in q.in_):
        raise _err("Query calls rules but has no % in :in", q.form)


def _uses_rules(c: Any) -> bool:
    if isinstance(c, RuleExpr):
        return True
    if isinstance(c, (Not, And)):
        return any(_uses_rules(y) for y in c.clauses)
    if isinstance(c, Or):
        return any(_uses_rules(b) for b in c.branches)
    return False


# ---------------------------------------------------------------- caches

class LRU:
    """A small thread-safe LRU (DataScript keeps parsed queries in one too)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        try:
            v = self.data[key]
        except KeyError:
            return None
        with self.lock:
            try:
                self.data.move_to_end(key)
            except KeyError:
                pass
        return v

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            if len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


_query_cache = LRU(512)
_rules_cache = LRU(256)


def clear_caches() -> None:
    """Forget every parsed query and rule set."""
    _query_cache.clear()
    _rules_cache.clear()


def parse_query(query: Any) -> Query:
    """Parse query text or data into a :class:`Query` (cached by text / frozen data).

    Runtime complexity: O(1) on a cache hit for text; O(size of the query) otherwise.

    >>> parse_query("[:find ?e . :where [?e :a/b 1]]").find
    FindScalar(elements=(Var(name='?e'),))

    :raises QuerySyntaxError: the query is malformed; the message names the form.
    """
    if isinstance(query, Query):
        return query
    if isinstance(query, str):
        key: Any = query
    else:
        key = freeze(query)
    q: Query | None = _query_cache.get(key)
    if q is not None:
        return q
    form = read_edn(query) if isinstance(query, str) else query
    q = _parse_query_data(form)
    object.__setattr__(q, "key", key)
    _query_cache.put(key, q)
    return q


def parse_rules(rules: Any) -> tuple[Any, dict[str, tuple[RuleBranch, ...]]]:
    """Parse a rule set (text or data): returns (cache key, {name: branches}).

    >>> key, rs = parse_rules("[[(r ?a ?b) [?a :x ?b]] [(r ?a ?b) [?b :x ?a]]]")
    >>> [len(v) for v in rs.values()]
    [2]

    :raises QuerySyntaxError: a malformed rule, or branches of different arity.
    """
    if isinstance(rules, str):
        key: Any = ("rules-text", rules)
    else:
        key = ("rules-data", freeze(rules))
    got = _rules_cache.get(key)
    if got is not None:
        return key, got
    data = read_edn(rules) if isinstance(rules, str) else rules
    parsed = _parse_rules_data(data)
    _rules_cache.put(key, parsed)
    return key, parsed


def iter_clauses(clauses: Iterable[Any]) -> Iterable[Any]:
    """Every clause, nested ones included (depth first)."""
    for c in clauses:
        yield c
        if isinstance(c, (Not, And)):
            yield from iter_clauses(c.clauses)
        elif isinstance(c, Or):
            yield from iter_clauses(c.branches)


def show_binding(b: Any) -> str:
    """A binding form as EDN text, for messages and explain: ``[?x ...]``, ``[[?a ?b]]``."""
    if isinstance(b, BindScalar):
        return b.var.name
    if isinstance(b, BindIgnore):
        return "_"
    if isinstance(b, BindTuple):
        return "[" + " ".join(show_binding(x) for x in b.bindings) + "]"
    if isinstance(b, BindColl):
        inner = b.binding
        if isinstance(inner, BindTuple):
            return "[" + show_binding(inner) + "]"
        return "[" + show_binding(inner) + " ...]"
    return show(b)
