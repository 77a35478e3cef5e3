"""PullSpec + Db + eid → nested dicts.

How a pull runs:

1. **Bind.** A :class:`~fact_store.pull.parse.PullSpec` is bound to a schema
   once: attribute idents become ids, each selection learns its cardinality,
   whether it is a ref or a component, and what to do with its values. Bound
   patterns are cached per (spec, ``schema.version``); a pull with pattern
   text finds its bound pattern with one ``(text, schema.version)`` lookup.
2. **Read one entity with one search.** ``db.search(eid)`` returns every
   current datom of the entity in EAVT order (attribute, then value); the
   datoms are grouped by attribute in one pass. Measured on pull-many's 2,000
   entities (7-11 datoms each): one ``search(e)`` per entity 10.8 ms, one
   ``search(e, a)`` per selected attribute 44 ms (7 attributes) or 12.5 ms
   (2 attributes). So a pattern reading exactly one forward attribute uses
   ``search(e, a)`` and every other pattern one ``search(e)``. Reverse refs
   read VAET with ``db.search(None, attr, eid)``.
3. **Three executors, one semantics.** A pattern without recursion, component
   expansion, wildcard, reverse refs, defaults or xforms runs in
   :func:`_simple`, a tight loop. Other patterns whose nesting is finite run
   the general entity generator (:func:`_entity`) driven directly. Patterns
   that can go arbitrarily deep (``...``, a recursion depth, components, or
   very deep nesting) run the same generator under an explicit stack
   (:func:`_run`), so no depth of data can exhaust Python's stack.

Semantics (Datomic's, see tests/fact_store/pull for each case):

- missing attributes are omitted; an entity with nothing pulled is ``None``;
  ``[:db/id]`` of any int eid gives ``{:db/id eid}`` (Datomic; DataScript gives nil);
- cardinality-many values come as a list in index (value) order, at most
  ``:limit`` of them (default 1000, ``:limit nil`` for all);
- a ref without a sub-pattern is ``{:db/id eid}``; a component ref without
  one is pulled with ``[*]``, recursively;
- a reverse ref (``:a/_b``) is a list, except the reverse of a component
  attribute, which is a single value;
- ``:xform`` is applied to the value of a present attribute (the whole list
  for cardinality-many), never to a ``:default``;
- recursion (``{:a/b ...}`` or ``{:a/b 3}``) re-applies the enclosing
  pattern; an entity already on the current path comes back as ``{:db/id eid}``,
  and a nested entity that pulls nothing is dropped from its parent (a
  ``:limit`` counts the nested maps kept);
- an attribute the schema does not know raises QueryError (as Datomic
  does; DataScript returns nothing), and so does a history db.
"""

from __future__ import annotations

import sys
from typing import Any, Generator, Iterable

from fact_store.dbapi import Database
from fact_store.errors import QueryError
from fact_store.pull.parse import DB_ID, XFORMS, PullSpec, parse_pattern
from fact_store.schema import Schema

#: Nesting depth up to which a finite pattern runs with direct Python calls
#: (3 frames per level); deeper patterns use the explicit-stack executor.
MAX_STATIC_HEIGHT = 24

#: Tests set this False to run every pattern through the explicit-stack
#: executor, which must agree with the fast paths.
_FAST = True

_NO_LIMIT = sys.maxsize
_EMPTY: dict[Any, int] = {}

# Codes of the simple executor's selections.
_ONE, _MANY, _REF_ONE, _REF_MANY, _SUB_ONE, _SUB_MANY = range(6)


class _Sel:
    """One bound selection: what to do with the values of one attribute."""

    __slots__ = ("key", "aid", "many", "ref", "reverse", "limit", "default", "xform",
                 "sub", "dynamic", "depth", "recursive")

    def __init__(self, key: Any, aid: int, many: bool, ref: bool, reverse: bool = False,
                 limit: int | None = None, default: Any = None, xform: str | None = None
                 ) -> None:
        self.key = key
        self.aid = aid
        self.many = many
        self.ref = ref
        self.reverse = reverse
        self.limit = _NO_LIMIT if limit is None else limit
        self.default = default
        self.xform = xform
        self.sub: _Bound | None = None
        #: True when following this selection can revisit entities (recursion,
        #: component expansion): children are checked against the current path.
        self.dynamic = False
        self.recursive = False
        self.depth: int | None = None


class _Bound:
    """A PullSpec bound to one schema."""

    __slots__ = ("fwd", "rev", "dbid", "wildcard", "defaults", "static", "simple", "height",
                 "fmap", "dbid_key", "reads_forward", "only_aid")

    def __init__(self) -> None:
        self.fwd: dict[int, tuple[_Sel, ...]] = {}
        self.rev: list[_Sel] = []
        self.dbid: list[_Sel] = []
        self.wildcard = False
        self.defaults: list[_Sel] = []
        self.static = True
        self.simple = False
        self.height = 0
        self.fmap: dict[int, tuple[int, Any, int, Any]] = {}
        self.dbid_key: Any = None
        self.reads_forward = True
        #: the one attribute id a pattern reads forward (then search(e, a) is cheaper)
        self.only_aid: int | None = None


class _SchemaBinding:
    """Everything pull derives from one schema: bound specs, wildcard selections."""

    __slots__ = ("schema", "specs", "wild", "wildcard")

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.specs: dict[int, tuple[PullSpec, _Bound]] = {}
        self.wild: dict[int, tuple[_Sel, ...]] = {}
        self.wildcard = _Bound()
        self.wildcard.wildcard = True
        _finish(self.wildcard, self)

    def wild_sels(self, aid: int) -> tuple[_Sel, ...]:
        sels = self.wild.get(aid)
        if sels is None:
            attr = self.schema.require(aid)
            s = _Sel(attr.ident, aid, attr.many, attr.is_ref, limit=1000)
            if attr.component:
                s.sub, s.dynamic = self.wildcard, True
            sels = self.wild[aid] = (s,)
        return sels


_BINDINGS: dict[int, _SchemaBinding] = {}
_MAX_BINDINGS = 64
_MAX_SPECS = 2048


def _binding(schema: Schema) -> _SchemaBinding:
    sb = _BINDINGS.get(schema.version)
    if sb is None:
        if len(_BINDINGS) >= _MAX_BINDINGS:
            for old in list(_BINDINGS)[: _MAX_BINDINGS // 2]:
                _BINDINGS.pop(old, None)  # another thread may have dropped it already
        sb = _BINDINGS[schema.version] = _SchemaBinding(schema)
    return sb


def bind(spec: PullSpec, schema: Schema) -> _Bound:
    """The bound form of ``spec`` for ``schema`` (cached per spec and schema version).

    :raises QueryError: an unknown attribute, a reverse ref or sub-pattern on a
        non-ref attribute.
    """
    sb = _binding(schema)
    hit = sb.specs.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    bound = _bind(spec, sb)
    if len(sb.specs) >= _MAX_SPECS:
        sb.specs.clear()
    sb.specs[id(spec)] = (spec, bound)
    return bound


def _bind(spec: PullSpec, sb: _SchemaBinding) -> _Bound:
    bp = _Bound()
    bp.wildcard = spec.wildcard
    fwd: dict[int, list[_Sel]] = {}
    schema = sb.schema
    for pa in spec.attrs:
        if pa.attr == DB_ID:
            if pa.reverse:
                raise QueryError(f"pull pattern: {pa.name} is not an attribute", form=pa.name)
            bp.dbid.append(_Sel(pa.key, 0, False, False, xform=pa.xform))
            continue
        attr = schema.attr(pa.attr)
        if attr is None:
            raise QueryError(f"pull pattern: unknown attribute {pa.attr} "
                             "(install it with a schema map before pulling it)",
                             form=pa.name, attribute=pa.attr)
        if not attr.is_ref and (pa.reverse or pa.pattern is not None
                                or pa.recursion is not None):
            what = (f"{pa.name} is the reverse of {attr.ident}" if pa.reverse
                    else f"{pa.name} has a sub-pattern but")
            raise QueryError(f"pull pattern: {what}, which is not a ref attribute "
                             f"(its type is {attr.value_type})", form=pa.name,
                             attribute=attr.ident)
        many = (not attr.component) if pa.reverse else attr.many
        s = _Sel(pa.key, attr.id, many, True if pa.reverse else attr.is_ref, pa.reverse,
                 pa.limit, pa.default, pa.xform)
        if pa.pattern is not None:
            s.sub = _bind(pa.pattern, sb)
        elif pa.recursion is not None:
            s.sub, s.dynamic, s.recursive = bp, True, True
            s.depth = pa.recursion.depth
        elif attr.component and not pa.reverse:
            s.sub, s.dynamic = sb.wildcard, True
        if pa.reverse:
            bp.rev.append(s)
        else:
            fwd.setdefault(attr.id, []).append(s)
            if s.default is not None:
                bp.defaults.append(s)
    bp.fwd = {aid: tuple(sels) for aid, sels in fwd.items()}
    _finish(bp, sb)
    return bp


def _finish(bp: _Bound, sb: _SchemaBinding) -> None:
    """Decide which executor ``bp`` can use (its subs are finished already)."""
    sels = [s for sels in bp.fwd.values() for s in sels] + bp.rev
    height = 0
    static = not (bp.wildcard and sb.schema.component_ids)
    for s in sels:
        if s.dynamic:
            static = False
        elif s.sub is not None:
            static = static and s.sub.static
            height = max(height, s.sub.height + 1)
    bp.height = height
    bp.static = static and height <= MAX_STATIC_HEIGHT and _FAST
    bp.reads_forward = bool(bp.fwd) or bp.wildcard
    if len(bp.fwd) == 1 and not bp.wildcard:
        (bp.only_aid,) = bp.fwd
    bp.simple = (bp.static and not bp.wildcard and not bp.rev and not bp.defaults
                 and len(bp.dbid) <= 1 and all(s.xform is None for s in bp.dbid)
                 and all(len(v) == 1 and v[0].xform is None
                         and (v[0].sub is None or v[0].sub.simple) for v in bp.fwd.values()))
    if bp.simple:
        bp.dbid_key = bp.dbid[0].key if bp.dbid else None
        for aid, (s,) in bp.fwd.items():
            if s.sub is not None:
                code = _SUB_MANY if s.many else _SUB_ONE
            elif s.ref:
                code = _REF_MANY if s.many else _REF_ONE
            else:
                code = _MANY if s.many else _ONE
            bp.fmap[aid] = (code, s.key, s.limit, s.sub)


# --- executors ----------------------------------------------------------------------

def _simple(search: Any, eid: int, bp: _Bound) -> dict[Any, Any] | None:
    """Pull one entity with a simple pattern (see _finish); recursion depth = pattern height."""
    res: dict[Any, Any] = {}
    if bp.dbid_key is not None:
        res[bp.dbid_key] = eid
    fmap = bp.fmap
    rows = search(eid) if bp.only_aid is None else search(eid, bp.only_aid)
    # Indexing d[1], d[2] is measurably faster than unpacking the 5-tuple.
    for d in rows:
        s = fmap.get(d[1])
        if s is None:
            continue
        code = s[0]
        if code == _ONE:
            res[s[1]] = d[2]
        elif code == _MANY:
            lst = res.get(s[1])
            if lst is None:
                res[s[1]] = [d[2]]
            elif len(lst) < s[2]:
                lst.append(d[2])
        elif code == _SUB_MANY:
            lst = res.get(s[1])
            if lst is None or len(lst) < s[2]:
                child = _simple(search, d[2], s[3])
                if child is not None:
                    if lst is None:
                        res[s[1]] = [child]
                    else:
                        lst.append(child)
        elif code == _SUB_ONE:
            child = _simple(search, d[2], s[3])
            if child is not None:
                res[s[1]] = child
        elif code == _REF_MANY:
            lst = res.get(s[1])
            if lst is None:
                res[s[1]] = [{DB_ID: d[2]}]
            elif len(lst) < s[2]:
                lst.append({DB_ID: d[2]})
        else:
            res[s[1]] = {DB_ID: d[2]}
    return res or None


class _Context:
    """Per-call state of the general executor."""

    __slots__ = ("search", "sb", "on_path")

    def __init__(self, search: Any, sb: _SchemaBinding) -> None:
        self.search = search
        self.sb = sb
        #: eid -> how many times it is on the current path (root to this entity)
        self.on_path: dict[int, int] = {}


_Request = tuple[int, _Bound, dict[Any, int]]


def _entity(ctx: _Context, eid: int, bp: _Bound, rec: dict[Any, int]
            ) -> Generator[_Request, Any, dict[Any, Any] | None]:
    """Generator pulling one entity: yields child requests, returns the result dict or None.

    ``rec`` maps each recursive selection entered on the current path to the
    depth it has left.
    """
    on_path = ctx.on_path
    on_path[eid] = on_path.get(eid, 0) + 1
    search = ctx.search
    res: dict[Any, Any] = {}
    if bp.wildcard and not bp.dbid:
        res[DB_ID] = eid
    for s in bp.dbid:
        res[s.key] = XFORMS[s.xform](eid) if s.xform is not None else eid
    if bp.reads_forward:
        found: dict[_Sel, list[Any]] = {}
        fwd = bp.fwd
        wild_sels = ctx.sb.wild_sels if bp.wildcard else None
        rows = search(eid) if bp.only_aid is None else search(eid, bp.only_aid)
        for d in rows:
            sels = fwd.get(d[1])
            if sels is None:
                if wild_sels is None:
                    continue
                sels = wild_sels(d[1])
            for s in sels:
                lst = found.get(s)
                if lst is None:
                    found[s] = [d[2]]
                else:
                    lst.append(d[2])
        for s, values in found.items():
            if s.sub is None:
                if s.many:
                    if len(values) > s.limit:
                        del values[s.limit:]
                    value: Any = [{DB_ID: x} for x in values] if s.ref else values
                else:
                    value = {DB_ID: values[0]} if s.ref else values[0]
            else:
                children = yield from _children(ctx, s, values, rec)
                if not children:
                    continue
                value = children if s.many else children[0]
            if s.xform is not None:
                value = XFORMS[s.xform](value)
                if value is None:
                    continue
            res[s.key] = value
        for s in bp.defaults:
            if s not in found:
                res[s.key] = s.default
    for s in bp.rev:
        es = [d[0] for d in search(None, s.aid, eid)]
        if not es:
            if s.default is not None:
                res[s.key] = s.default
            continue
        if s.sub is None:
            if s.many:
                value = [{DB_ID: x} for x in es[: s.limit]]
            else:
                value = {DB_ID: es[0]}
        else:
            children = yield from _children(ctx, s, es, rec)
            if not children:
                continue
            value = children if s.many else children[0]
        if s.xform is not None:
            value = XFORMS[s.xform](value)
            if value is None:
                continue
        res[s.key] = value
    n = on_path[eid]
    if n == 1:
        del on_path[eid]
    else:
        on_path[eid] = n - 1
    return res or None


def _children(ctx: _Context, s: _Sel, eids: list[int], rec: dict[Any, int]
              ) -> Generator[_Request, Any, list[Any]]:
    """Pull the entities ``eids`` that selection ``s`` leads to; at most s.limit (or 1) results."""
    out: list[Any] = []
    want = s.limit if s.many else 1
    sub = s.sub
    assert sub is not None
    if s.dynamic:
        on_path = ctx.on_path
        crec = rec
        exhausted = False
        if s.recursive and s.depth is not None:
            left = rec.get(s, s.depth)
            exhausted = left <= 0
            if not exhausted:
                crec = dict(rec)
                crec[s] = left - 1
        for c in eids:
            if c in on_path:
                out.append({DB_ID: c})
            elif exhausted:
                continue
            else:
                child = yield (c, sub, crec)
                if child is not None:
                    out.append(child)
            if len(out) >= want:
                break
    elif sub.static:
        for c in eids:
            child = _static(ctx, c, sub)
            if child is not None:
                out.append(child)
                if len(out) >= want:
                    break
    else:
        for c in eids:
            child = yield (c, sub, rec)
            if child is not None:
                out.append(child)
                if len(out) >= want:
                    break
    return out


def _static(ctx: _Context, eid: int, bp: _Bound) -> dict[Any, Any] | None:
    """Pull with a static pattern: direct calls, depth bounded by MAX_STATIC_HEIGHT."""
    if bp.simple:
        return _simple(ctx.search, eid, bp)
    gen = _entity(ctx, eid, bp, _EMPTY)
    try:
        gen.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise AssertionError("a static pull pattern asked for a dynamic child")  # pragma: no cover


def _run(ctx: _Context, eid: int, bp: _Bound) -> dict[Any, Any] | None:
    """Pull with any pattern, depth-first on an explicit stack (no Python recursion)."""
    stack = [_entity(ctx, eid, bp, _EMPTY)]
    sent: Any = None
    while True:
        try:
            req = stack[-1].send(sent)
        except StopIteration as stop:
            stack.pop()
            if not stack:
                return stop.value  # type: ignore[no-any-return]
            sent = stop.value
            continue
        stack.append(_entity(ctx, req[0], req[1], req[2]))
        sent = None


# --- entry points ---------------------------------------------------------------------

#: (pattern text, schema version) -> bound pattern: the hot path of a pull call
#: is this one lookup. Bound patterns hold no db, only schema-derived data.
_HOT: dict[tuple[str, int], _Bound] = {}


def clear_caches() -> None:
    """Forget every bound pattern (tests use it after switching executors)."""
    _HOT.clear()
    _BINDINGS.clear()


def _prepare(db: Database, pattern: Any) -> _Bound:
    if db.is_history:
        raise QueryError("pull reads current values: use a current, as_of or since db, "
                         "not a history db", pattern=pattern)
    if type(pattern) is str:
        key = (pattern, db.schema.version)
        bp = _HOT.get(key)
        if bp is None:
            bp = bind(parse_pattern(pattern), db.schema)
            if len(_HOT) >= _MAX_SPECS:
                _HOT.clear()
            _HOT[key] = bp
        return bp
    return bind(parse_pattern(pattern), db.schema)


def _pull_one(db: Database, bp: _Bound, eid: Any) -> dict[Any, Any] | None:
    if type(eid) is not int:
        eid = db.entid(eid)
        if eid is None:
            return None
    if bp.simple:
        return _simple(db.search, eid, bp)
    ctx = _Context(db.search, _binding(db.schema))
    if bp.static:
        return _static(ctx, eid, bp)
    return _run(ctx, eid, bp)


def pull(db: Database, pattern: Any, eid: Any) -> dict[Any, Any] | None:
    """Pull ``pattern`` (EDN text, read data or a PullSpec) for one entity of ``db``.

    ``eid`` is an entity id, an ident keyword or a lookup ref ``[attr, value]``.
    Returns a dict keyed by attribute keywords (or ``:as`` aliases), or None
    when nothing was pulled (as Datomic's peer API returns nil; an eid that
    resolves to no entity also gives None). Runtime complexity: O(log n) per
    pulled entity plus the size of the result.

    >>> import fact_store as fs
    >>> db = fs.Db.empty().with_([{":db/ident": ":a/name", ":db/valueType": ":db.type/string",
    ...                           ":db/cardinality": ":db.cardinality/one"}]).db_after
    >>> report = db.with_([{":db/id": "x", ":a/name": "X"}])
    >>> pull(report.db_after, "[:a/name]", report.tempids["x"])
    {Keyword(':a/name'): 'X'}
    >>> pull(report.db_after, "[:a/name]", 12345) is None
    True

    :raises QuerySyntaxError: a malformed pattern.
    :raises QueryError: an unknown attribute, an unregistered ``:xform``, a history db.
    """
    return _pull_one(db, _prepare(db, pattern), eid)


def pull_many(db: Database, pattern: Any, eids: Iterable[Any]) -> list[dict[Any, Any] | None]:
    """Pull ``pattern`` for each of ``eids``; the list is aligned with ``eids`` (None where
    nothing was pulled, as in Datomic). The pattern is parsed and bound once.
    Runtime complexity: O(len(eids) * log n) plus the size of the results.

    >>> import fact_store as fs
    >>> db = fs.Db.empty().with_([{":db/ident": ":a/n", ":db/valueType": ":db.type/long",
    ...                           ":db/cardinality": ":db.cardinality/many"}]).db_after
    >>> report = db.with_([{":db/id": "x", ":a/n": [2, 1]}])
    >>> pull_many(report.db_after, "[:a/n]", [report.tempids["x"], 12345])
    [{Keyword(':a/n'): [1, 2]}, None]

    :raises QuerySyntaxError: a malformed pattern.
    :raises QueryError: an unknown attribute, an unregistered ``:xform``, a history db.
    """
    bp = _prepare(db, pattern)
    if bp.simple:
        search = db.search
        entid = db.entid
        out: list[dict[Any, Any] | None] = []
        append = out.append
        for eid in eids:
            if type(eid) is not int:
                eid = entid(eid)
                if eid is None:
                    append(None)
                    continue
            append(_simple(search, eid, bp))
        return out
    return [_pull_one(db, bp, eid) for eid in eids]

