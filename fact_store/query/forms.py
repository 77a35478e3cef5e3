"""The pieces of a Datalog query as frozen dataclasses (terms, find elements, bindings,
clauses, rules), each parsed from EDN data beside the production it represents.

A Datalog query is EDN *data*: this module works on values (what
:func:`fact_store.edn.read` returns: vectors as tuples, lists as lists, maps as
dicts, :class:`Keyword`, :class:`Symbol`) and never on text.  Vectors and lists
are told apart by *shape*, not by Python type, so a query written as Python
data may use lists throughout.  ``parse.py`` assembles the pieces into a
:class:`~fact_store.query.parse.Query` and caches it.

Each production of Datomic's grammar is written as a comment above the
dataclass that represents it, as DataScript's ``parser.cljc`` does.

>>> from fact_store.edn.values import Keyword as K, Symbol as S
>>> parse_clause((S("?e"), K(":a/b"), 1)).terms
(Var(name='?e'), Const(value=Keyword(':a/b')), Const(value=1))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Union, cast

from fact_store.edn.values import Keyword, Symbol
from fact_store.errors import QuerySyntaxError

__all__ = [
    "Var", "Const", "Blank", "BLANK", "SrcVar", "RulesVar", "DEFAULT_SRC",
    "FindRel", "FindColl", "FindScalar", "FindTuple", "Aggregate", "PullExpr",
    "BindIgnore", "BindScalar", "BindTuple", "BindColl",
    "Pattern", "Predicate", "Function", "RuleExpr", "Not", "Or", "And", "RuleBranch",
    "show", "show_binding", "freeze", "clause_vars", "bound_by_clause", "binding_vars",
    "iter_clauses", "parse_clause", "parse_find", "parse_binding", "parse_var", "parse_rules_data",
    "syntax_error", "symbol_name", "is_seq",
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


def syntax_error(message: str, form: Any, **data: Any) -> QuerySyntaxError:
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


def symbol_name(x: Any) -> str | None:
    """The text of a symbol, or None.  Only :class:`Symbol` counts: a str is a constant."""
    return str.__str__(x) if type(x) is Symbol else None


def _is_var(x: Any) -> bool:
    s = symbol_name(x)
    return s is not None and s.startswith("?")


def _is_src(x: Any) -> bool:
    s = symbol_name(x)
    return s is not None and s.startswith("$")


def _is_plain_symbol(x: Any) -> bool:
    s = symbol_name(x)
    return s is not None and s[:1] not in ("?", "$", "%") and s != "_"


def is_seq(x: Any) -> bool:
    return isinstance(x, (list, tuple))


def _parse_term(x: Any, ctx: Any) -> Term:
    s = symbol_name(x)
    if s is not None:
        if s.startswith("?"):
            return Var(s)
        if s == "_":
            return BLANK
        raise syntax_error("Expected a variable, a constant or '_' (a plain symbol is not a constant)", ctx)
    return Const(x)


def parse_var(x: Any, ctx: Any) -> Var:
    if _is_var(x):
        return Var(symbol_name(x))  # type: ignore[arg-type]
    raise syntax_error(f"Expected a variable, got {show(x)} in", ctx)


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
        return Var(symbol_name(x))  # type: ignore[arg-type]
    if is_seq(x) and x:
        head = symbol_name(x[0])
        if head == "pull":
            rest = list(x[1:])
            src = DEFAULT_SRC
            if rest and _is_src(rest[0]):
                src = SrcVar(symbol_name(rest.pop(0)))  # type: ignore[arg-type]
            if len(rest) != 2 or not _is_var(rest[0]):
                raise syntax_error("Expected (pull ?var pattern) or (pull $src ?var pattern)", x)
            pat = rest[1]
            pattern = Var(symbol_name(pat)) if _is_var(pat) else Const(pat)  # type: ignore[arg-type]
            if isinstance(pattern, Const) and not (is_seq(pat) or symbol_name(pat) is None):
                raise syntax_error("Expected a pull pattern (a vector) or a variable", x)
            return PullExpr(src, Var(symbol_name(rest[0])), pattern)  # type: ignore[arg-type]
        if head is not None and len(x) >= 2 and _is_plain_symbol(x[0]):
            args: list[Any] = []
            for a in x[1:]:
                if _is_var(a):
                    args.append(Var(symbol_name(a)))  # type: ignore[arg-type]
                elif symbol_name(a) is not None:
                    raise syntax_error("Aggregate arguments must be constants then a variable", x)
                else:
                    args.append(Const(a))
            if not isinstance(args[-1], Var):
                raise syntax_error("The last argument of an aggregate must be a variable", x)
            return Aggregate(head, tuple(args))
    raise syntax_error("Expected a find element: a variable, (pull ?e pattern) or an aggregate", ctx
                       if ctx is not None else x)


def parse_find(elems: list[Any]) -> Any:
    form = [Keyword(":find"), *elems]
    if not elems:
        raise syntax_error(":find needs at least one element", form)
    if len(elems) == 2 and symbol_name(elems[1]) == ".":
        return FindScalar((_parse_find_elem(elems[0], form),))
    if len(elems) == 1 and is_seq(elems[0]) and not _is_find_call(elems[0]):
        inner = list(elems[0])
        if len(inner) == 2 and symbol_name(inner[1]) == "...":
            return FindColl((_parse_find_elem(inner[0], form),))
        if inner and all(symbol_name(y) not in (".", "...") for y in inner):
            return FindTuple(tuple(_parse_find_elem(y, form) for y in inner))
        raise syntax_error("Expected a find spec: ?a ?b, [?x ...], ?x . or [?a ?b]", form)
    if any(symbol_name(y) in (".", "...") for y in elems):
        raise syntax_error("Expected a find spec: ?a ?b, [?x ...], ?x . or [?a ?b]", form)
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


def parse_binding(x: Any, ctx: Any) -> Any:
    s = symbol_name(x)
    if s is not None:
        if s == "_":
            return BindIgnore()
        if s.startswith("?"):
            return BindScalar(Var(s))
        raise syntax_error("Expected a binding: ?x, _, [?x ...], [?a ?b] or [[?a ?b]]", ctx)
    if is_seq(x) and x:
        if len(x) == 2 and symbol_name(x[1]) == "...":
            return BindColl(parse_binding(x[0], ctx))
        if len(x) == 1 and is_seq(x[0]):
            return BindColl(parse_binding(x[0], ctx))
        if all(symbol_name(y) is not None or is_seq(y) for y in x):
            return BindTuple(tuple(parse_binding(y, ctx) for y in x))
    raise syntax_error("Expected a binding: ?x, _, [?x ...], [?a ?b] or [[?a ?b]]", ctx)


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


def parse_clause(x: Any, allow_and: bool = False) -> Any:
    if not is_seq(x) or not x:
        raise syntax_error("Expected a clause: a pattern, [(pred ...)], [(fn ...) binding], "
                           "(rule ...), (not ...), (or ...)", x)
    items = list(x)
    src = DEFAULT_SRC
    if _is_src(items[0]) and len(items) > 1 and symbol_name(items[1]) in _LIST_HEADS:
        src = SrcVar(symbol_name(items[0]))  # type: ignore[arg-type]
        items = items[1:]
    head = symbol_name(items[0])
    if head in ("not", "not-join"):
        return _parse_not(x, items, src)
    if head in ("or", "or-join"):
        return _parse_or(x, items, src)
    if head == "and":
        if not allow_and:
            raise syntax_error("(and ...) is only allowed directly inside (or ...)", x)
        if len(items) < 2:
            raise syntax_error("(and ...) needs at least one clause", x)
        return And(tuple(parse_clause(c) for c in items[1:]))
    if is_seq(items[0]) and items[0] and type(items[0][0]) is Symbol:
        return _parse_fn_clause(x)     # [(fn ...)]; a lookup ref [:attr value] is a constant
    # rule-expr: (src? name args...) where name is a plain symbol
    if _is_src(items[0]) and len(items) > 1 and _is_plain_symbol(items[1]):
        return _parse_rule_expr(x, SrcVar(symbol_name(items[0])), items[1:])  # type: ignore[arg-type]
    if _is_plain_symbol(items[0]):
        return _parse_rule_expr(x, DEFAULT_SRC, items)
    # data pattern
    psrc = DEFAULT_SRC
    if _is_src(items[0]):
        psrc = SrcVar(symbol_name(items[0]))  # type: ignore[arg-type]
        items = items[1:]
    if not items:
        raise syntax_error("A data pattern needs at least one term", x)
    if len(items) > 5:
        raise syntax_error("A data pattern has at most 5 terms [e a v tx added]", x)
    terms = tuple(_parse_term(t, x) for t in items)
    for t in terms:  # a constant is a scalar or a lookup ref [attr value]; never a collection
        if isinstance(t, Const):
            try:
                hash(t.value)
            except TypeError:
                raise syntax_error(f"A data pattern's constant must be a scalar value or a lookup ref, "
                                   f"not {show(t.value)}", x) from None
    if all(isinstance(t, Blank) for t in terms):
        raise syntax_error("A data pattern needs a variable or a constant", x)
    while terms and isinstance(terms[-1], Blank):
        terms = terms[:-1]
    return Pattern(psrc, terms, x)


def _parse_rule_expr(x: Any, src: SrcVar, items: list[Any]) -> RuleExpr:
    if len(items) < 2:
        raise syntax_error("A rule call needs at least one argument", x)
    args = tuple(_parse_term(a, x) for a in items[1:])
    return RuleExpr(src, symbol_name(items[0]), args, x)  # type: ignore[arg-type]


def _parse_fn_args(call: Any, ctx: Any) -> tuple[str, Var | None, tuple[Any, ...]]:
    call = list(call)
    if not call:
        raise syntax_error("Expected a function call (fn arg ...)", ctx)
    head = call[0]
    fn_var = None
    if _is_var(head):
        fn_var, name = Var(symbol_name(head)), ""  # type: ignore[arg-type]
    elif _is_plain_symbol(head):
        name = symbol_name(head)  # type: ignore[assignment]
    else:
        raise syntax_error("Expected a function name (a symbol) at the head of", ctx)
    args: list[Any] = []
    for a in call[1:]:
        s = symbol_name(a)
        if s is not None:
            if s.startswith("?"):
                args.append(Var(s))
            elif s.startswith("$"):
                args.append(SrcVar(s))
            elif s == "_":
                raise syntax_error("'_' is not allowed as a function argument", ctx)
            else:
                raise syntax_error(f"Unknown symbol {s} as a function argument (quote constants)", ctx)
        else:
            args.append(Const(a))
    return name, fn_var, tuple(args)


def _parse_fn_clause(x: Any) -> Any:
    items = list(x)
    name, fn_var, args = _parse_fn_args(items[0], x)
    if len(items) == 1:
        return Predicate(name, args, x, fn_var)
    if len(items) == 2:
        binding = parse_binding(items[1], x)
        return Function(name, args, binding, x, fn_var)
    raise syntax_error("Expected [(pred ...)] or [(fn ...) binding]", x)


def _parse_not(x: Any, items: list[Any], src: SrcVar) -> Not:
    head = symbol_name(items[0])
    if head == "not-join":
        if len(items) < 3 or not is_seq(items[1]):
            raise syntax_error("Expected (not-join [?vars ...] clause ...)", x)
        join = tuple(parse_var(v, x) for v in items[1])
        if not join:
            raise syntax_error("not-join needs at least one variable", x)
        body = items[2:]
    else:
        join = None
        body = items[1:]
        if not body:
            raise syntax_error("(not ...) needs at least one clause", x)
    clauses = tuple(parse_clause(c) for c in body)
    if join is not None:
        inner = set().union(*(clause_vars(c) for c in clauses))
        missing = [v.name for v in join if v not in inner]
        if missing:
            raise syntax_error(f"not-join variables {missing} are not used in its clauses", x)
    return Not(src, join, clauses, x)


def _parse_or(x: Any, items: list[Any], src: SrcVar) -> Or:
    head = symbol_name(items[0])
    required: tuple[Var, ...] = ()
    join: tuple[Var, ...] | None = None
    body = items[1:]
    if head == "or-join":
        if len(items) < 3 or not is_seq(items[1]):
            raise syntax_error("Expected (or-join [?vars ...] clause ...)", x)
        rv = list(items[1])
        if rv and is_seq(rv[0]):
            required = tuple(parse_var(v, x) for v in rv[0])
            rv = rv[1:]
        join = required + tuple(parse_var(v, x) for v in rv)
        if not join:
            raise syntax_error("or-join needs at least one variable", x)
        body = items[2:]
    if not body:
        raise syntax_error(f"({head} ...) needs at least one clause", x)
    branches = []
    for c in body:
        parsed = parse_clause(c, allow_and=True)
        branches.append(parsed if isinstance(parsed, And) else And((parsed,)))
    if join is None:
        sets = [frozenset(clause_vars(b)) for b in branches]
        if any(s != sets[0] for s in sets):
            shown = ", ".join("#{" + " ".join(sorted(v.name for v in s)) + "}" for s in sets)
            raise syntax_error(f"All clauses in 'or' must use the same set of variables, had [{shown}] in",
                               x)
    else:
        for b in branches:
            bv = clause_vars(b)
            missing = [v.name for v in join if v not in bv]
            if missing:
                raise syntax_error(f"or-join variables {missing} are missing from branch {show(_form(b))} "
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
    if not is_seq(x) or len(x) < 2 or not is_seq(x[0]) or not x[0]:
        raise syntax_error("Expected a rule [(name ?arg ...) clause ...]", x)
    head = list(x[0])
    if not _is_plain_symbol(head[0]):
        raise syntax_error("Expected a rule name (a plain symbol) at the head of", x)
    name = symbol_name(head[0])
    rest = head[1:]
    required: tuple[Var, ...] = ()
    if rest and is_seq(rest[0]):
        required = tuple(parse_var(v, x) for v in rest[0])
        rest = rest[1:]
    free = tuple(parse_var(v, x) for v in rest)
    vars_ = required + free
    if not vars_:
        raise syntax_error("A rule needs at least one variable in its head", x)
    if len(set(vars_)) != len(vars_):
        raise syntax_error("A rule head repeats a variable", x)
    clauses = tuple(parse_clause(c) for c in x[1:])
    body_vars = set().union(*(clause_vars(c) for c in clauses))
    missing = [v.name for v in vars_ if v not in body_vars]
    if missing:
        raise syntax_error(f"Rule head variables {missing} are not used in its body", x)
    return RuleBranch(name, required, free, clauses, x)  # type: ignore[arg-type]


def parse_rules_data(data: Any) -> dict[str, tuple[RuleBranch, ...]]:
    if not is_seq(data):
        raise syntax_error("Expected rules: a vector of [(name ?arg ...) clause ...]", data)
    out: dict[str, list[RuleBranch]] = {}
    for r in data:
        b = _parse_rule(r)
        out.setdefault(b.name, []).append(b)
    for name, branches in out.items():
        shapes = {(len(b.required), len(b.free)) for b in branches}
        if len({r + f for r, f in shapes}) > 1:
            raise syntax_error(f"Arity mismatch: rule '{name}' is defined with different numbers of "
                               "arguments", [b.form for b in branches])
        if len(shapes) > 1:
            raise syntax_error(f"Rule '{name}' declares different required variables in its branches",
                               [b.form for b in branches])
    return {k: tuple(v) for k, v in out.items()}


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
