"""Plan + Db → relations: scans, hash joins, not/or, predicates, aggregates, find specs.

Rows are plain tuples whose columns the plan fixed; a step maps a list of
rows to a new list.  A data pattern whose variables are already bound joins
in one of two ways, chosen per execution from the real number of rows:

* **lookup**: one index seek per distinct key (EAVT for a bound entity,
  AVET for a bound value, VAET for a bound ref), cheap when the rows are few;
* **scan + hash join**: read the pattern's constant part once (for example
  the whole attribute, AEVT), index it by the bound positions in a dict, and
  probe it per row.  The dict is kept for the rest of this execution, so a
  recursive rule or an ``or`` that reads the same attribute again pays once.

Nothing is cached across executions except plans.
"""

from __future__ import annotations

import random as _random
from bisect import bisect_left
from operator import itemgetter
from typing import Any

from fact_store.errors import FactStoreError, QueryError
from fact_store.query.builtins import COMPARISONS, clj_eq, is_truthy
from fact_store.query.parse import (BindColl, BindIgnore, BindScalar, BindTuple, show)
from fact_store.query.plan import (BindStep, Block, FilterStep, NotStep, OrStep, PatternStep,
                                   RuleStep)

__all__ = ["Ctx", "CollSource", "run_block", "estimate_count"]

_MISS = object()
UNIT_ROWS: list[tuple[Any, ...]] = [()]

#: Per-row lookups cost about this many times a scanned datom (measured: one
#: EAVT seek ~3 us, one scanned + hashed datom ~0.4 us).
LOOKUP_COST = 6.0


# ---------------------------------------------------------------- sources

class CollSource:
    """A collection of tuples used as a source (:in $2, input relations, rule tables).

    Indexes by bound positions are built on first use and kept up to date as
    tuples are added (rule tables grow between semi-naive iterations).
    """

    __slots__ = ("rows", "_indexes", "_scans", "_set")

    def __init__(self, rows: Any = ()) -> None:
        self.rows: list[tuple[Any, ...]] = [tuple(r) for r in rows] if not isinstance(rows, list) \
            else rows
        self._indexes: dict[Any, Any] = {}
        self._scans: dict[Any, list[Any]] = {}
        self._set: set[Any] | None = None

    def add(self, new: list[tuple[Any, ...]]) -> None:
        self.rows.extend(new)
        for sig, idx in self._indexes.items():
            _index_into(idx, sig, new)
        for sig, ext in self._scans.items():
            ext.extend(_coll_extract(new, sig))

    def scan(self, sig: Any) -> list[Any]:
        got = self._scans.get(sig)
        if got is None:
            got = self._scans[sig] = _coll_extract(self.rows, sig)
        return got

    def index(self, sig: Any) -> dict[Any, list[Any]]:
        got = self._indexes.get(sig)
        if got is None:
            got = self._indexes[sig] = {}
            _index_into(got, sig, self.rows)
        return got


def _coll_match(rows: list[tuple[Any, ...]], consts: Any, eq_pos: Any, width: int) -> list[Any]:
    out = []
    for t in rows:
        if len(t) < width:
            continue
        ok = True
        for p, c in consts:
            if t[p] != c:
                ok = False
                break
        if ok:
            for p, q in eq_pos:
                if t[p] != t[q]:
                    ok = False
                    break
        if ok:
            out.append(t)
    return out


def _coll_extract(rows: list[tuple[Any, ...]], sig: Any) -> list[Any]:
    consts, eq_pos, out_pos, width = sig
    ts = _coll_match(rows, consts, eq_pos, width) if (consts or eq_pos or width) else rows
    if not out_pos:
        return [()] if ts else []
    if len(out_pos) == 1:
        p = out_pos[0]
        return [(t[p],) for t in ts]
    ig = itemgetter(*out_pos)
    return [ig(t) for t in ts]


def _index_into(idx: dict[Any, list[Any]], sig: Any, rows: list[tuple[Any, ...]]) -> None:
    consts, eq_pos, out_pos, width, key_pos = sig
    ts = _coll_match(rows, consts, eq_pos, width) if (consts or eq_pos or width) else rows
    kg = itemgetter(*key_pos)
    if not out_pos:
        for t in ts:
            idx[kg(t)] = UNIT_ROWS
        return
    xg = itemgetter(*out_pos)
    single = len(out_pos) == 1
    for t in ts:
        k = kg(t)
        x = (xg(t),) if single else xg(t)
        lst = idx.get(k)
        if lst is None:
            idx[k] = [x]
        elif lst is not UNIT_ROWS:
            lst.append(x)


def is_db(x: Any) -> bool:
    return hasattr(x, "search") and hasattr(x, "schema")


# ---------------------------------------------------------------- context

class Ctx:
    """Everything one execution needs: sources, memoised scans, rule state, trace."""

    __slots__ = ("sources", "memo", "rng", "trace", "stats", "rule_state", "counts")

    def __init__(self, sources: dict[str, Any], rng: Any = None, trace: bool = False) -> None:
        self.sources = sources
        self.memo: dict[Any, Any] = {}
        self.counts: dict[Any, int] = {}
        self.rng = rng
        self.trace = trace
        self.stats: dict[int, list[Any]] = {}
        self.rule_state: dict[Any, Any] = {}

    def get_rng(self) -> Any:
        if self.rng is None:
            self.rng = _random.Random()
        return self.rng


def run_block(ctx: Ctx, block: Block, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Run ``block``'s steps over ``rows`` (columns ``block.seed_vars``)."""
    if ctx.trace:
        return _run_block_traced(ctx, block, rows)
    for step in block.steps:
        if not rows:
            return rows
        rows = _RUNNERS[type(step)](ctx, step, rows)
    return rows


def _run_block_traced(ctx: Ctx, block: Block, rows: list[tuple[Any, ...]]) -> list[Any]:
    import time
    for step in block.steps:
        st = ctx.stats.setdefault(id(step), [0, 0, 0, 0.0, ""])
        st[0] += 1
        st[1] += len(rows)
        if not rows:
            continue
        t0 = time.perf_counter()
        rows = _RUNNERS[type(step)](ctx, step, rows)
        st[3] += time.perf_counter() - t0
        st[2] += len(rows)
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


# ---------------------------------------------------------------- counting

def estimate_count(ctx: Ctx, db: Any, a: Any, v: Any) -> int:
    """How many current datoms have attribute ``a`` (and value ``v`` when given).

    Uses ``db.count`` when the Db offers it; otherwise seeks the covering
    index.  O(log n + chunks spanned).
    """
    key = (id(db), a, v)
    got = ctx.counts.get(key)
    if got is not None:
        return got
    n = _count(db, a, v)
    ctx.counts[key] = n
    return n


def _count(db: Any, a: Any, v: Any) -> int:
    counter = getattr(db, "count", None)
    if counter is not None:
        try:
            return int(counter(None, a, v))
        except TypeError:
            pass
    if getattr(db, "is_filtered", True) is False:
        try:
            from fact_store.index.covering import MAX
            if v is None:
                return _plist_count(db._aevt, (a,), (a, MAX))
            return _plist_count(db._avet, (a, v), (a, v, MAX))
        except (AttributeError, TypeError, ImportError):
            pass
    try:
        return len(db)
    except TypeError:
        return 1 << 30


def _plist_count(pl: Any, lo: Any, hi: Any) -> int:
    maxes, lists = pl._maxes, pl._lists
    n = len(maxes)
    i = bisect_left(maxes, lo)
    if i == n:
        return 0
    j = bisect_left(lists[i], lo)
    k = bisect_left(maxes, hi)
    if k == n:
        return len(lists[i]) - j + sum(map(len, lists[i + 1:]))
    m = bisect_left(lists[k], hi)
    if i == k:
        return m - j
    return len(lists[i]) - j + sum(map(len, lists[i + 1:k])) + m


# ---------------------------------------------------------------- patterns on a Db

def _norm_key(db: Any, pos: int, ref_v: bool, k: Any) -> Any:
    """An entity or attribute given by ident / lookup ref → its id (None: matches nothing)."""
    if type(k) is int:
        return k
    if pos == 0 or pos == 3 or (pos == 2 and ref_v):
        try:
            return db.entid(k)
        except FactStoreError:
            return None
    if pos == 1:
        a = db.schema.attr(k) if isinstance(k, (str, int)) and not isinstance(k, bool) else None
        return None if a is None else a.id
    return k


def _db_args(ctx: Ctx, st: PatternStep, db: Any) -> tuple[list[Any], Any] | None:
    args: list[Any] = [None, None, None, None]
    added = None
    for pos, c in st.consts:
        if pos < 4:
            args[pos] = c
        else:
            added = c
    for pos, raw in st.late:
        try:
            eid = db.entid(tuple(raw))
        except FactStoreError:
            eid = None
        if eid is None:
            return None
        args[pos] = eid
    return args, added


def _filter_datoms(ds: list[Any], added: Any, eq_pos: Any) -> list[Any]:
    if added is not None:
        ds = [d for d in ds if d[4] is added]
    for p, q in eq_pos:
        ds = [d for d in ds if d[p] == d[q]]
    return ds


def _run_pattern(ctx: Ctx, st: PatternStep, rows: list[tuple[Any, ...]]) -> list[Any]:
    if st.never:
        return []
    src = ctx.sources[st.src]
    if not st.is_db:
        return _run_coll_pattern(ctx, st, src, rows)
    got = _db_args(ctx, st, src)
    if got is None:
        return []
    args, added = got
    if not st.key_cols:
        _note(ctx, st, "scan " + st.note)
        ds = _filter_datoms(src.search(*args), added, st.eq_pos)
        exts = _extract(ds, st.out_pos)
        if len(rows) == 1 and not rows[0]:
            return exts
        return [r + x for r in rows for x in exts]
    memo_key = (st.src, tuple(args), added, st.key_pos, st.out_pos, st.eq_pos)
    idx = ctx.memo.get(memo_key)
    if idx is None:
        a = args[1]
        if a is not None and args[0] is None and args[3] is None:
            scan = estimate_count(ctx, src, a, args[2])
            if scan <= len(rows) * LOOKUP_COST:
                idx = ctx.memo[memo_key] = _build_db_index(src, args, added, st)
    if idx is not None:
        _note(ctx, st, "hash join on " + _index_name_for(args))
        return _probe(ctx, st, src, idx, rows)
    _note(ctx, st, "lookup per row " + _index_name_for(args, st.key_pos))
    return _lookup(ctx, st, src, args, added, rows)


def _index_name_for(args: list[Any], key_pos: tuple[int, ...] = ()) -> str:
    bound = {i for i, x in enumerate(args) if x is not None} | set(key_pos)
    from fact_store.query.plan import _index_name
    return _index_name(bound)


def _extract(ds: list[Any], out_pos: tuple[int, ...]) -> list[Any]:
    if len(out_pos) == 1:
        p = out_pos[0]
        return [(d[p],) for d in ds]
    if not out_pos:
        return [()] if ds else []
    ig = itemgetter(*out_pos)
    return [ig(d) for d in ds]


class _DbIndex:
    """A hash index of datoms by key: ``first[k]`` is one value (or tuple), ``rest[k]`` more."""

    __slots__ = ("first", "rest", "single")

    def __init__(self) -> None:
        self.first: dict[Any, Any] = {}
        self.rest: dict[Any, list[Any]] = {}
        self.single = True


def _build_db_index(db: Any, args: list[Any], added: Any, st: PatternStep) -> _DbIndex:
    ds = _filter_datoms(db.search(*args), added, st.eq_pos)
    idx = _DbIndex()
    first = idx.first
    rest = idx.rest
    key_pos, out_pos = st.key_pos, st.out_pos
    if len(key_pos) == 1 and len(out_pos) == 1:
        kp, p = key_pos[0], out_pos[0]
        setd = first.setdefault
        for d in ds:
            v = d[p]
            if setd(d[kp], v) is not v:
                k = d[kp]
                if first[k] is not v:
                    lst = rest.get(k)
                    if lst is None:
                        rest[k] = [v]
                    else:
                        lst.append(v)
        return idx
    kg = itemgetter(*key_pos)
    if not out_pos:
        idx.single = False
        for d in ds:
            first[kg(d)] = ()
        return idx
    idx.single = len(out_pos) == 1
    xg = itemgetter(*out_pos)
    for d in ds:
        k = kg(d)
        x = xg(d)
        if k in first:
            rest.setdefault(k, []).append(x)
        else:
            first[k] = x
    return idx


def _probe(ctx: Ctx, st: PatternStep, db: Any, idx: _DbIndex, rows: list[Any]) -> list[Any]:
    first, rest = idx.first, idx.rest
    get = first.get
    out: list[Any] = []
    app = out.append
    norm_pos = [(i, p) for i, p in enumerate(st.key_pos) if p in (0, 1, 3) or
                (p == 2 and st.ref_v)]
    if len(st.key_cols) == 1:
        kc = st.key_cols[0]
        kp = st.key_pos[0]
        if not st.out_pos:
            res = [r for r in rows if r[kc] in first]
            if norm_pos and len(res) < len(rows):
                res = [r for r in rows if r[kc] in first or (
                    type(r[kc]) is not int and _norm_key(db, kp, st.ref_v, r[kc]) in first)]
            return res
        single = idx.single
        for r in rows:
            k = r[kc]
            x = get(k, _MISS)
            if x is _MISS:
                if not norm_pos or type(k) is int:
                    continue
                k = _norm_key(db, kp, st.ref_v, k)
                x = get(k, _MISS)
                if x is _MISS:
                    continue
            if single:
                app(r + (x,))
                if rest:
                    more = rest.get(k)
                    if more:
                        for y in more:
                            app(r + (y,))
            else:
                app(r + x)
                if rest:
                    more = rest.get(k)
                    if more:
                        for y in more:
                            app(r + y)
        return out
    kg = itemgetter(*st.key_cols)
    single = idx.single
    for r in rows:
        k = kg(r)
        x = get(k, _MISS)
        if x is _MISS and norm_pos:
            k2 = list(k)
            for i, p in norm_pos:
                k2[i] = _norm_key(db, p, st.ref_v, k2[i])
            k = tuple(k2)
            x = get(k, _MISS)
        if x is _MISS:
            continue
        if not st.out_pos:
            app(r)
            continue
        app(r + (x,) if single else r + x)
        if rest:
            for y in rest.get(k, ()):
                app(r + (y,) if single else r + y)
    return out


def _lookup(ctx: Ctx, st: PatternStep, db: Any, args: list[Any], added: Any,
            rows: list[Any]) -> list[Any]:
    search = db.search
    out: list[Any] = []
    app = out.append
    key_cols, key_pos, out_pos, eq_pos = st.key_cols, st.key_pos, st.out_pos, st.eq_pos
    ref_v = st.ref_v
    simple = added is None and not eq_pos
    if len(key_cols) == 1:
        kc, kp = key_cols[0], key_pos[0]
        a0, a1, a2, a3 = args
        distinct = len({r[kc] for r in rows}) if len(rows) > 1 else 1
        cache: dict[Any, Any] | None = {} if distinct < len(rows) else None
        if not out_pos:
            res = []
            for r in rows:
                k = r[kc]
                if cache is not None:
                    hit = cache.get(k)
                    if hit is not None:
                        if hit:
                            res.append(r)
                        continue
                nk = k if type(k) is int else _norm_key(db, kp, ref_v, k)
                if nk is None:
                    ok = False
                else:
                    if kp == 0:
                        ds = search(nk, a1, a2, a3)
                    elif kp == 2:
                        ds = search(a0, a1, nk, a3)
                    elif kp == 1:
                        ds = search(a0, nk, a2, a3)
                    else:
                        ds = search(a0, a1, a2, nk)
                    if not simple:
                        ds = _filter_datoms(ds, added, eq_pos)
                    ok = bool(ds)
                if cache is not None:
                    cache[k] = ok
                if ok:
                    res.append(r)
            return res
        single = len(out_pos) == 1
        p = out_pos[0]
        xg = itemgetter(*out_pos)
        for r in rows:
            k = r[kc]
            if cache is not None:
                hit = cache.get(k)
                if hit is not None:
                    for x in hit:
                        app(r + x)
                    continue
            nk = k if type(k) is int else _norm_key(db, kp, ref_v, k)
            if nk is None:
                ds = []
            elif kp == 0:
                ds = search(nk, a1, a2, a3)
            elif kp == 2:
                ds = search(a0, a1, nk, a3)
            elif kp == 1:
                ds = search(a0, nk, a2, a3)
            else:
                ds = search(a0, a1, a2, nk)
            if not simple:
                ds = _filter_datoms(ds, added, eq_pos)
            if cache is not None:
                exts = [(d[p],) for d in ds] if single else [xg(d) for d in ds]
                cache[k] = exts
                for x in exts:
                    app(r + x)
            elif single:
                for d in ds:
                    app(r + (d[p],))
            else:
                for d in ds:
                    app(r + xg(d))
        return out
    kg = itemgetter(*key_cols)
    cache2: dict[Any, list[Any]] = {}
    for r in rows:
        k = kg(r)
        exts = cache2.get(k)
        if exts is None:
            a = list(args)
            ok = True
            for val, pos in zip(k, key_pos):
                nv = val if type(val) is int else _norm_key(db, pos, ref_v, val)
                if nv is None:
                    ok = False
                    break
                a[pos] = nv
            ds = _filter_datoms(search(*a), added, eq_pos) if ok else []
            # a bound position search() cannot take (v without a) is re-checked here
            for val, pos in zip(k, key_pos):
                if pos == 2 and a[1] is None:
                    ds = [d for d in ds if d[2] == a[2]]
            exts = cache2[k] = _extract(ds, out_pos)
        for x in exts:
            app(r + x)
    return out


# ---------------------------------------------------------------- patterns on collections

def _run_coll_pattern(ctx: Ctx, st: PatternStep, src: Any, rows: list[Any]) -> list[Any]:
    if not isinstance(src, CollSource):
        src = _as_coll(ctx, st.src, src)
    width = st.width
    if not st.key_cols:
        exts = src.scan((st.consts, st.eq_pos, st.out_pos, width))
        if len(rows) == 1 and not rows[0]:
            return list(exts)
        return [r + x for r in rows for x in exts]
    idx = src.index((st.consts, st.eq_pos, st.out_pos, width, st.key_pos))
    out: list[Any] = []
    app = out.append
    get = idx.get
    if len(st.key_cols) == 1:
        kc = st.key_cols[0]
        if not st.out_pos:
            return [r for r in rows if r[kc] in idx]
        for r in rows:
            xs = get(r[kc])
            if xs:
                for x in xs:
                    app(r + x)
        return out
    kg = itemgetter(*st.key_cols)
    if not st.out_pos:
        return [r for r in rows if kg(r) in idx]
    for r in rows:
        xs = get(kg(r))
        if xs:
            for x in xs:
                app(r + x)
    return out


def _as_coll(ctx: Ctx, name: str, value: Any) -> CollSource:
    src = ctx.memo.get(("coll", name))
    if src is None:
        try:
            rows = [tuple(t) for t in value]
        except TypeError:
            raise QueryError(f"Source {name} must be a Db or a collection of tuples, got "
                             f"{type(value).__name__}", source=name) from None
        src = ctx.memo[("coll", name)] = CollSource(rows)
    return src


# ---------------------------------------------------------------- predicates and functions

def _arg_getter(ctx: Ctx, spec: tuple[int, Any]) -> Any:
    kind, x = spec
    if kind == 0:
        return itemgetter(x)
    val = ctx.sources[x] if kind == 2 else x
    return lambda r: val


def _run_filter(ctx: Ctx, st: FilterStep, rows: list[Any]) -> list[Any]:
    args = st.args
    try:
        if st.fn is not None and len(args) == 2:
            op = COMPARISONS.get(st.fn.name)
            (k1, x1), (k2, x2) = args
            if op is not None or st.fn.name in ("=", "not=", "!="):
                if op is None:
                    eq = clj_eq
                    if st.fn.name == "=":
                        op = eq
                    else:
                        def op(a: Any, b: Any) -> bool:
                            return not clj_eq(a, b)
                if k1 == 0 and k2 == 1:
                    return [r for r in rows if op(r[x1], x2)]
                if k1 == 1 and k2 == 0:
                    return [r for r in rows if op(x1, r[x2])]
                if k1 == 0 and k2 == 0:
                    return [r for r in rows if op(r[x1], r[x2])]
        getters = [_arg_getter(ctx, a) for a in args]
        if st.fn is not None:
            f = st.fn.fn
            if len(getters) == 1:
                g = getters[0]
                return [r for r in rows if is_truthy(f(g(r)))]
            return [r for r in rows if is_truthy(f(*[g(r) for g in getters]))]
        fc = st.fn_col
        return [r for r in rows if is_truthy(_call_input_fn(r[fc], [g(r) for g in getters],
                                                            st.form))]
    except FactStoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user's function or a type mismatch
        raise _wrap(exc, st.form) from exc


def _call_input_fn(f: Any, args: list[Any], form: Any) -> Any:
    if not callable(f):
        raise QueryError(f"{show(form)}: the function variable holds {f!r}, not a function",
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
            raise QueryError(f"{show(form)}: a tuple binding needs a sequence, got {value!r}",
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
                             f"{value!r}", form=form)
        res = []
        for v in value:
            res.extend(_expand(binding.binding, v, form))
        return res
    raise QueryError(f"Unsupported binding in {show(form)}", form=form)


def _run_bind(ctx: Ctx, st: BindStep, rows: list[Any]) -> list[Any]:
    getters = [_arg_getter(ctx, a) for a in st.args]
    f = st.fn.fn if st.fn is not None else None
    fc = st.fn_col
    out: list[Any] = []
    app = out.append
    simple = (isinstance(st.binding, BindScalar) and len(st.new_idx) == 1)
    try:
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
            v = f(*args) if f is not None else _call_input_fn(r[fc], args, form)
            for vals in _expand(binding, v, form):
                if any(not _same(vals[i], r[c]) for i, c in eq_checks):
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
    specs = st.args
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
    PatternStep: _run_pattern, FilterStep: _run_filter, BindStep: _run_bind,
    NotStep: _run_not, OrStep: _run_or, RuleStep: _run_rule,
}


def register_runner(step_type: type, fn: Any) -> None:
    """Used by rules.py to add the runner of its own step types."""
    _RUNNERS[step_type] = fn
