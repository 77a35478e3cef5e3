"""Data patterns against a source: index choice, per-row lookups, scans and hash joins.

A pattern whose variables are already bound joins in one of two ways, chosen
per execution from the real number of rows:

* **lookup**: one index seek per distinct key (EAVT for a bound entity,
  AVET for a bound value, VAET for a bound ref), cheap when rows are few;
* **scan + hash join**: read the pattern's constant part once (for example
  a whole attribute from AEVT), index it in a dict by the bound positions,
  and probe it per row.  The dict is kept for the rest of the execution,
  so a recursive rule or an ``or`` reading the same attribute pays once.

Datoms are read through an :class:`Access`.  Db.search() returns
``(e, a, v, tx, added)`` tuples built for the caller; for an unfiltered Db
the access reads the covering indexes' own tuples instead (no copy), and
every position is mapped through the index's *layout* (AEVT tuples are
``(a, e, v, tx)``: e is at 1).  Filtered dbs (as_of, since, history) have no
such indexes and are read through ``search()``.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from fact_store.dbapi import Database
from fact_store.errors import FactStoreError, QueryError, SchemaError
from fact_store.index.covering import MAX
from fact_store.query.context import Ctx, check_product, note
from fact_store.query.parse import show
from fact_store.query.steps import PatternStep

__all__ = ["Access", "CollSource", "run_pattern", "estimate_count", "UNIT_ROWS"]

_MISS = object()
UNIT_ROWS: list[tuple[Any, ...]] = [()]

#: A per-row index seek costs about this many times one datom scanned and
#: hashed (measured on the covering indexes: ~2 us per seek, ~0.08 us per datom).
LOOKUP_COST = 25.0

# datom position (e a v tx added) -> index in the tuples of each layout
SEARCH = (0, 1, 2, 3, 4)
EAVT = (0, 1, 2, 3, None)
AEVT = (1, 0, 2, 3, None)
AVET = (2, 0, 1, 3, None)
VAET = (2, 1, 0, 3, None)
_NAMES = {SEARCH: "search", EAVT: "EAVT", AEVT: "AEVT", AVET: "AVET", VAET: "VAET"}


# ---------------------------------------------------------------- access

#: Read an unfiltered Db's covering indexes directly (``Database.index``) instead of
#: through ``search()``. Tests turn it off to run every query through ``search()``.
RAW_INDEXES = True


def _succ(x: Any) -> Any:
    """A bound just above every tuple continuing a prefix ending in ``x`` (or None)."""
    t = type(x)
    if t is int:
        return x + 1
    if isinstance(x, str):
        return x + "\x00"
    return None


class Access:
    """How one execution reads one Db: its covering indexes, or ``search()``."""

    __slots__ = ("db", "raw", "eavt", "aevt", "avet", "vaet", "search", "MAX")

    def __init__(self, db: Database, raw: bool | None = None) -> None:
        self.db = db
        self.search = db.search
        if raw is None:
            raw = RAW_INDEXES and not db.is_filtered
        self.raw = raw
        self.MAX = MAX
        if raw:
            self.eavt, self.aevt, self.avet, self.vaet = (db.index("eavt"), db.index("aevt"),
                                                          db.index("avet"), db.index("vaet"))

    def by_value(self, v: Any, tx: Any) -> list[Any]:
        """Datoms with value ``v`` in any attribute, as search() tuples: one AVET seek per
        attribute.  (``Db.search(v=...)`` without an attribute reads only VAET, the refs.)"""
        out: list[Any] = []
        for at in self.db.schema.attrs():
            try:
                if self.raw:
                    s = _succ(v)
                    a = at.id
                    out.extend((t[2], a, t[1], t[3], True) for t in self.avet.range(
                        (a, v), (a, s) if s is not None else (a, v, self.MAX)))
                else:
                    out.extend(self.search(None, at.id, v, None))
            except TypeError:       # values of another type: nothing equal to v there
                continue
        if tx is not None:
            out = [d for d in out if d[3] == tx]
        return out

    def fetch(self, e: Any, a: Any, v: Any, tx: Any) -> tuple[list[Any], tuple[Any, ...]]:
        """Datoms matching the bound components, and the layout of the returned tuples."""
        if e is None and a is None and v is not None:
            return self.by_value(v, tx), SEARCH
        if not self.raw:
            return self.search(e, a, v, tx), SEARCH
        if e is not None:
            lay = EAVT
            if a is not None:
                if v is not None:
                    try:
                        lst = self.eavt.range((e, a, v), (e, a, v, self.MAX))
                    except TypeError:  # v of another type than the attribute's: no match
                        lst = []
                else:
                    lst = self.eavt.range((e, a), (e, a + 1))
            else:
                lst = self.eavt.range((e,), (e + 1,))
                if v is not None:
                    lst = [d for d in lst if d[2] == v]
        elif a is not None:
            if v is not None:
                lay = AVET
                s = _succ(v)
                try:
                    lst = self.avet.range((a, v), (a, s) if s is not None else (a, v, self.MAX))
                except TypeError:  # v of another type than the attribute's: no match
                    lst = []
            else:
                lst = self.aevt.range((a,), (a + 1,))
                lay = AEVT
        else:
            return self.search(e, a, v, tx), SEARCH
        if tx is not None:
            lst = [d for d in lst if d[3] == tx]
        return lst, lay

    def avet_range(self, a: int, lo: Any, lo_incl: bool, hi: Any, hi_incl: bool) -> list[Any]:
        """AVET tuples of attribute ``a`` with ``lo <(=) v <(=) hi`` (None: open)."""
        MAX = self.MAX
        start = (a,) if lo is None else ((a, lo) if lo_incl else (a, lo, MAX))
        end = (a + 1,) if hi is None else ((a, hi, MAX) if hi_incl else (a, hi))
        return self.avet.range(start, end)

    def count(self, a: Any, v: Any) -> int:
        """Current datoms of attribute ``a`` (with value ``v``). O(log n + leaves spanned)."""
        counter = getattr(self.db, "count", None)
        if counter is not None:
            try:
                return int(counter(None, a, v))
            except TypeError:
                pass
        if self.raw:
            if v is None:
                return int(self.aevt.count((a,), (a + 1,)))
            s = _succ(v)
            return int(self.avet.count((a, v), (a, s) if s is not None else (a, v, self.MAX)))
        try:
            return len(self.db)
        except TypeError:
            return 1 << 30

    def keyed(self, args: list[Any], kp: int, ref_v: bool) -> tuple[Any, tuple[Any, ...]]:
        """A function key → tuples for lookups with position ``kp`` bound per row, and its layout."""
        e, a, v, tx = args
        if self.raw and tx is None:
            if kp == 0 and a is not None:
                rng = self.eavt.range
                if v is None:
                    a1 = a + 1
                    return (lambda k: rng((k, a), (k, a1))), EAVT
                first = self.eavt.first
                key_v = (a, v)
                return (lambda k: [x] if (x := first((k,) + key_v)) is not None else []), EAVT
            if kp == 0 and v is None:
                rng = self.eavt.range
                return (lambda k: rng((k,), (k + 1,))), EAVT
            if kp == 2 and a is not None and e is None:
                if ref_v:
                    rng = self.vaet.range
                    a1 = a + 1
                    return (lambda k: rng((k, a), (k, a1)) if type(k) is int else []), VAET
                rng = self.avet.range
                MAX = self.MAX

                def by_value(k: Any) -> list[Any]:
                    s = _succ(k)
                    return rng((a, k), (a, s) if s is not None else (a, k, MAX))
                return by_value, AVET
        fetch = self.fetch

        def generic(k: Any) -> list[Any]:
            x = list(args)
            x[kp] = k
            ds, lay = fetch(*x)
            if lay is not SEARCH:
                ds = [(d[lay[0]], d[lay[1]], d[lay[2]], d[lay[3]], True) for d in ds]
            return ds
        return generic, SEARCH


def estimate_count(ctx: Ctx, acc: Access, a: Any, v: Any) -> int:
    key = (id(acc.db), a, v)
    got = ctx.counts.get(key)
    if got is None:
        got = ctx.counts[key] = acc.count(a, v)
    return got


def _norm_key(db: Database, pos: int, ref_v: bool, k: Any) -> Any:
    """An entity or attribute given by ident / lookup ref → its id (None: matches nothing)."""
    if type(k) is int:
        return k
    if pos == 0 or pos == 3 or (pos == 2 and ref_v):
        try:
            return db.entid(k)
        except SchemaError as e:
            if "lookup_ref" in e.data:
                raise QueryError(f"Lookup ref {show(tuple(k))} given as an input: {e.message}",
                                 lookup_ref=list(k)) from None
            return None
        except FactStoreError:
            return None
    if pos == 1:
        a = db.schema.attr(k) if isinstance(k, (str, int)) and not isinstance(k, bool) else None
        return None if a is None else a.id
    return k


# ---------------------------------------------------------------- patterns on a Db

def _args(ctx: Ctx, st: PatternStep, db: Database) -> tuple[list[Any], Any] | None:
    args: list[Any] = [None, None, None, None]
    added = None
    for pos, c in st.consts:
        if pos < 4:
            args[pos] = c
        else:
            added = c
    for pos, i in st.params:
        val = ctx.params[i]
        if pos == 4:
            if not isinstance(val, bool):
                return None
            added = val
            continue
        val = _norm_key(db, pos, st.ref_v, val)
        if val is None:
            return None
        args[pos] = val
    for pos, raw in st.late:
        try:
            eid = db.entid(tuple(raw))
        except FactStoreError:
            eid = None
        if eid is None:
            return None
        args[pos] = eid
    return args, added


def _filter(ds: list[Any], lay: tuple[Any, ...], added: Any, eq_pos: Any) -> list[Any]:
    if added is not None:
        ai = lay[4]
        if ai is None:
            if added is False:
                return []
        else:
            ds = [d for d in ds if d[ai] is added]
    for p, q in eq_pos:
        i, j = lay[p], lay[q]
        ds = [d for d in ds if d[i] == d[j]]
    return ds


def _extract(ds: list[Any], lay: tuple[Any, ...], out_pos: tuple[int, ...]) -> list[Any]:
    if len(out_pos) == 1:
        p = lay[out_pos[0]]
        return [(d[p],) for d in ds]
    if not out_pos:
        return [()] if ds else []
    ig = itemgetter(*[lay[p] for p in out_pos])
    return [ig(d) for d in ds]


def access(ctx: Ctx, db: Database, st: PatternStep) -> Access:
    acc = ctx.access.get(id(db))
    if acc is None:
        acc = ctx.access[id(db)] = Access(db)
    if acc.raw and st.uses_added:
        return Access(db, raw=False)
    return acc


def run_pattern(ctx: Ctx, st: PatternStep, rows: list[tuple[Any, ...]]) -> list[Any]:
    """Join the rows with a data pattern (see the module docstring)."""
    if st.never:
        return []
    src = ctx.sources[st.src]
    if not st.is_db:
        return _run_coll(ctx, st, src, rows)
    got = _args(ctx, st, src)
    if got is None:
        return []
    args, added = got
    acc = access(ctx, src, st)
    if not st.key_cols:
        ds: list[Any] | None = None
        lay: tuple[Any, ...] = AVET
        if st.ranges and acc.raw and len(rows) == 1:
            ds = _ranged(ctx, acc, st, args, rows[0])
            if ds is not None:
                ctx.satisfied.update(st.range_filters)
                note(ctx, st, "AVET range")
        if ds is None:
            if st.range_filters:
                ctx.satisfied.difference_update(st.range_filters)
            ds, lay = acc.fetch(*args)
            note(ctx, st, "scan " + _NAMES[lay])
        ds = _filter(ds, lay, added, st.eq_pos)
        exts = _extract(ds, lay, st.out_pos)
        if len(rows) == 1 and not rows[0]:
            return exts
        check_product(ctx, len(rows), len(exts), st)
        return [r + x for r in rows for x in exts]
    memo_key = (st.src, tuple(args), added, st.key_pos, st.out_pos, st.eq_pos)
    idx = ctx.memo.get(memo_key)
    if idx is None:
        a = args[1]
        if a is not None and args[0] is None and args[3] is None and \
                not (args[2] is not None and 2 in st.key_pos):
            scan = estimate_count(ctx, acc, a, args[2])
            if scan <= len(rows) * LOOKUP_COST:
                idx = ctx.memo[memo_key] = _build_index(acc, args, added, st)
    if idx is not None:
        note(ctx, st, "hash join")
        return _probe(st, src, idx, rows)
    return _lookup(ctx, st, acc, args, added, rows)


def _ranged(ctx: Ctx, acc: Access, st: PatternStep, args: list[Any],
            row: tuple[Any, ...]) -> list[Any] | None:
    """An AVET range read for a pattern whose value is compared with constants right after."""
    lo = hi = None
    lo_incl = hi_incl = True
    for op, kind, x in st.ranges:
        val = row[x] if kind == 0 else (ctx.params[x] if kind == 3 else x)
        if val is None or isinstance(val, bool):
            return None
        if op in (">", ">="):
            if lo is None or val > lo or (val == lo and op == ">"):
                lo, lo_incl = val, op == ">="
        else:
            if hi is None or val < hi or (val == hi and op == "<"):
                hi, hi_incl = val, op == "<="
    try:
        ds = acc.avet_range(args[1], lo, lo_incl, hi, hi_incl)
    except TypeError:
        return None
    if args[2] is not None:
        ds = [d for d in ds if d[1] == args[2]]
    if args[3] is not None:
        ds = [d for d in ds if d[3] == args[3]]
    return ds


class _Index:
    """Datoms hashed by key: ``first[k]`` is one value (or tuple), ``rest[k]`` any others."""

    __slots__ = ("first", "rest", "single")

    def __init__(self) -> None:
        self.first: dict[Any, Any] = {}
        self.rest: dict[Any, list[Any]] = {}
        self.single = True


def _build_index(acc: Access, args: list[Any], added: Any, st: PatternStep) -> _Index:
    ds, lay = acc.fetch(*args)
    ds = _filter(ds, lay, added, st.eq_pos)
    idx = _Index()
    first, rest = idx.first, idx.rest
    key_pos = [lay[p] for p in st.key_pos]
    out_pos = [lay[p] for p in st.out_pos]
    if len(key_pos) == 1 and len(out_pos) == 1:
        kp, p = key_pos[0], out_pos[0]
        setd = first.setdefault
        for d in ds:
            v = d[p]
            if setd(d[kp], v) is not v:
                lst = rest.get(d[kp])
                if lst is None:
                    rest[d[kp]] = [v]
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


def _needs_norm(st: PatternStep, rows: list[Any]) -> list[tuple[int, int]]:
    """Key positions whose row values may be idents or lookup refs rather than ids."""
    if st.keys_ids:
        return []
    norm = [(i, p) for i, p in enumerate(st.key_pos) if p in (0, 1, 3) or (p == 2 and st.ref_v)]
    if norm:
        for i, _ in norm:
            if set(map(type, map(itemgetter(st.key_cols[i]), rows))) != {int}:
                return norm
        return []
    return norm


def _probe(st: PatternStep, db: Database, idx: _Index, rows: list[Any]) -> list[Any]:
    first, rest = idx.first, idx.rest
    get = first.get
    out: list[Any] = []
    app = out.append
    norm = _needs_norm(st, rows)
    single = idx.single
    if len(st.key_cols) == 1:
        kc, kp = st.key_cols[0], st.key_pos[0]
        if not st.out_pos:
            if not norm:
                return [r for r in rows if r[kc] in first]
            return [r for r in rows if r[kc] in first or (
                type(r[kc]) is not int and _norm_key(db, kp, st.ref_v, r[kc]) in first)]
        if not rest and not norm and single:
            miss = _MISS
            return [r + (x,) for r in rows if (x := get(r[kc], miss)) is not miss]
        for r in rows:
            k = r[kc]
            x = get(k, _MISS)
            if x is _MISS:
                if not norm or type(k) is int:
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
    for r in rows:
        k = kg(r)
        x = get(k, _MISS)
        if x is _MISS and norm:
            k2 = list(k)
            for i, p in norm:
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


def _added_flag(val: Any, st: PatternStep) -> bool:
    """The value a variable in a data pattern's added position holds: true or false."""
    if val is True or val is False:
        return val
    raise QueryError(f"{show(st.form)}: the fifth term of a data pattern is the datom's added "
                     f"flag, true or false; its variable is bound to {show(val)}",
                     form=st.form)


def _lookup(ctx: Ctx, st: PatternStep, acc: Access, args: list[Any], added: Any,
            rows: list[Any]) -> list[Any]:
    db = acc.db
    out: list[Any] = []
    app = out.append
    key_cols, key_pos, out_pos, eq_pos, ref_v = st.key_cols, st.key_pos, st.out_pos, st.eq_pos, \
        st.ref_v
    simple = added is None and not eq_pos
    if len(key_cols) == 1:
        kc, kp = key_cols[0], key_pos[0]
        fetch, lay = acc.keyed(args, kp, ref_v)
        note(ctx, st, "lookup per row " + _NAMES[lay])
        if not simple:
            raw_fetch = fetch

            def fetch(k: Any) -> list[Any]:
                return _filter(raw_fetch(k), lay, added, eq_pos)
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
                ok = nk is not None and bool(fetch(nk))
                if cache is not None:
                    cache[k] = ok
                if ok:
                    res.append(r)
            return res
        single = len(out_pos) == 1
        p = lay[out_pos[0]]
        xg = itemgetter(*[lay[q] for q in out_pos])
        if cache is None and single:
            for r in rows:
                k = r[kc]
                if type(k) is not int:
                    k = _norm_key(db, kp, ref_v, k)
                    if k is None:
                        continue
                for d in fetch(k):
                    app(r + (d[p],))
            return out
        for r in rows:
            k = r[kc]
            if cache is not None:
                hit = cache.get(k)
                if hit is not None:
                    for x in hit:
                        app(r + x)
                    continue
            nk = k if type(k) is int else _norm_key(db, kp, ref_v, k)
            ds = fetch(nk) if nk is not None else []
            exts: list[Any] = [(d[p],) for d in ds] if single else [xg(d) for d in ds]
            if cache is not None:
                cache[k] = exts
            for x in exts:
                app(r + x)
        return out
    note(ctx, st, "lookup per row")
    kg = itemgetter(*key_cols)
    cache2: dict[Any, list[Any]] = {}
    for r in rows:
        k = kg(r)
        exts2 = cache2.get(k)
        if exts2 is None:
            a = list(args)
            ok = True
            row_added = added
            for val, pos in zip(k, key_pos):
                if pos == 4:  # the added flag: not an index key, a filter
                    row_added = _added_flag(val, st)
                    if added is not None and row_added is not added:
                        ok = False
                        break
                    continue
                nv = val if type(val) is int else _norm_key(db, pos, ref_v, val)
                if nv is None:
                    ok = False
                    break
                a[pos] = nv
            if ok:
                ds, lay = acc.fetch(*a)
                exts2 = _extract(_filter(ds, lay, row_added, eq_pos), lay, out_pos)
            else:
                exts2 = []
            cache2[k] = exts2
        for x in exts2:
            app(r + x)
    return out


# ---------------------------------------------------------------- collections as sources

class CollSource:
    """A collection of tuples used as a source (:in $2, input relations, rule tables).

    Indexes by bound positions are built on first use and kept up to date as
    tuples are added (rule tables grow between semi-naive iterations).
    """

    __slots__ = ("rows", "_indexes", "_scans")

    def __init__(self, rows: Any = ()) -> None:
        self.rows: list[tuple[Any, ...]] = rows if isinstance(rows, list) else \
            [tuple(r) for r in rows]
        self._indexes: dict[Any, Any] = {}
        self._scans: dict[Any, list[Any]] = {}

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


def _coll_match(rows: list[tuple[Any, ...]], consts: Any, eq_pos: Any) -> list[Any]:
    out = rows
    for p, c in consts:
        out = [t for t in out if t[p] == c]
    for p, q in eq_pos:
        out = [t for t in out if t[p] == t[q]]
    return out


def _coll_extract(rows: list[tuple[Any, ...]], sig: Any) -> list[Any]:
    consts, eq_pos, out_pos = sig
    ts = _coll_match(rows, consts, eq_pos)
    if not out_pos:
        return [()] if ts else []
    if len(out_pos) == 1:
        p = out_pos[0]
        return [(t[p],) for t in ts]
    ig = itemgetter(*out_pos)
    return [ig(t) for t in ts]


def _index_into(idx: dict[Any, list[Any]], sig: Any, rows: list[tuple[Any, ...]]) -> None:
    consts, eq_pos, out_pos, key_pos = sig
    ts = _coll_match(rows, consts, eq_pos)
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


def _run_coll(ctx: Ctx, st: PatternStep, src: Any, rows: list[Any]) -> list[Any]:
    if not isinstance(src, CollSource):
        src = _as_coll(ctx, st.src, src)
    consts = st.consts
    if st.params:
        consts = consts + tuple((pos, ctx.params[i]) for pos, i in st.params)
    try:
        if not st.key_cols:
            exts = src.scan((consts, st.eq_pos, st.out_pos))
            if len(rows) == 1 and not rows[0]:
                return list(exts)
                check_product(ctx, len(rows), len(exts), st)
            return [r + x for r in rows for x in exts]
        idx = src.index((consts, st.eq_pos, st.out_pos, st.key_pos))
    except IndexError:
        raise QueryError(f"Source {st.src} has a tuple shorter than the pattern "
                         f"{show(st.form)}", form=st.form) from None
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
