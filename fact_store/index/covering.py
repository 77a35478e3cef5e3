"""One sorted covering index: an immutable, persistent sorted list of tuples; seek/slice, _check().

:class:`PSortedList` is the building block of every index: a three-level
B+-tree of plain Python lists searched with C ``bisect`` (the shape of
sortedcontainers' ``SortedList``, one level deeper). It is *persistent*: an
update returns a new list that shares every untouched node with the old one
and never mutates a node another version can see. So a ``Db`` holding one is
an immutable value, O(1) to take, safe to read while other threads transact.

Levels: the root holds branches and their maxima; a branch is a pair
``[leaves, leaf_maxes]``; a leaf is a sorted list of at most ``2 * LOAD``
items. An update of k items copies the root, and each touched branch and leaf
once: O(n / (LOAD * BRANCH) + k * (LOAD + BRANCH)). Reads are
O(log n + matches), the slicing in C. A bulk build (``from_sorted``, which
large updates rebuild through) copies its items in index order, so that a
range read walks memory in order instead of missing the cache on every item.

>>> s = PSortedList.from_sorted([(1, "a"), (2, "b"), (3, "c")])
>>> s2 = s.update(adds=[(2, "x")], removes=[(1, "a")])
>>> list(s), list(s2)
([(1, 'a'), (2, 'b'), (3, 'c')], [(2, 'b'), (2, 'x'), (3, 'c')])
>>> s2.prefix((2,))
[(2, 'b'), (2, 'x')]
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any, Iterable, Iterator, Sequence

#: Leaf size (items). Tests shrink it, as sortedcontainers' stress tests shrink
#: the load factor, so splits and merges really happen.
LOAD = 128
#: Branch size (leaves).
BRANCH = 64


class _Max:
    """Sorts after every value of every type (an upper bound for prefix scans)."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return other is self

    def __gt__(self, other: object) -> bool:
        return other is not self

    def __ge__(self, other: object) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return 0x3A7

    def __repr__(self) -> str:
        return "MAX"


class _Min:
    """Sorts before every value of every type (a lower bound for range scans)."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return other is not self

    def __le__(self, other: object) -> bool:
        return True

    def __gt__(self, other: object) -> bool:
        return False

    def __ge__(self, other: object) -> bool:
        return other is self

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return 0x3A8

    def __repr__(self) -> str:
        return "MIN"


MAX: Any = _Max()
MIN: Any = _Min()


def _branch_size(branch: list[Any]) -> int:
    """Items under a branch, cached in the branch's third slot on first use.

    A published branch never changes (updates copy it, and copies start without
    the slot), so the cache stays right; two threads racing store the same value.
    """
    if len(branch) > 2:
        return branch[2]  # type: ignore[no-any-return]
    n = sum(map(len, branch[0]))
    branch[2:] = [n]
    return n


class PSortedList:
    """An immutable sorted list of tuples with cheap persistent updates."""

    __slots__ = ("_branches", "_bmaxes", "_len", "_load", "_bload")

    def __init__(self, branches: list[list[Any]] | None = None, bmaxes: list[Any] | None = None,
                 length: int = 0, load: int | None = None, bload: int | None = None) -> None:
        self._branches: list[list[Any]] = branches if branches is not None else []
        self._bmaxes: list[Any] = bmaxes if bmaxes is not None else []
        self._len = length
        self._load = load or LOAD
        self._bload = bload or (BRANCH if load is None else max(4, load))

    @classmethod
    def from_sorted(cls, items: Sequence[Any], load: int | None = None) -> "PSortedList":
        """Build from items already sorted and free of duplicates. O(n).

        >>> len(PSortedList.from_sorted([(i,) for i in range(1000)], load=8))
        1000
        """
        load = load or LOAD
        bload = BRANCH if load == LOAD else max(4, load)
        if not isinstance(items, list):
            items = list(items)
        if items and type(items[0]) is tuple:
            # Fresh copies, made in index order, so that neighbours in the index are neighbours
            # in memory: items built by a transaction or sorted after they were made lie
            # scattered over the heap, and a range read of a large db then pays a cache and
            # TLB miss per item (q1 at 200,000 entities: 70x its time at 20,000 for 10x the
            # hits). ~0.15 us per item, once per bulk build.
            items = [(*x,) for x in items]
        leaves = [items[i:i + load] for i in range(0, len(items), load)]
        branches = []
        for i in range(0, len(leaves), bload):
            group = leaves[i:i + bload]
            branches.append([group, [leaf[-1] for leaf in group]])
        return cls(branches, [b[1][-1] for b in branches], len(items), load, bload)

    @classmethod
    def from_unsorted(cls, items: Iterable[Any], load: int | None = None) -> "PSortedList":
        """Build from any iterable of distinct items. O(n log n).

        >>> list(PSortedList.from_unsorted([(3,), (1,), (2,)]))
        [(1,), (2,), (3,)]
        """
        return cls.from_sorted(sorted(items), load)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        for branch in self._branches:
            for leaf in branch[0]:
                yield from leaf

    def __contains__(self, item: Any) -> bool:
        return bool(self.first(item if isinstance(item, tuple) else (item,)) == item)

    # -- reads ---------------------------------------------------------------

    def _range(self, lo: Any, hi: Any) -> list[Any]:
        """Every item with ``lo <= item < hi``. O(log n + matches).

        >>> PSortedList.from_sorted([(1,), (2,), (3,)]).range((2,), (9,))
        [(2,), (3,)]
        """
        bmaxes = self._bmaxes
        bi = bisect_left(bmaxes, lo)
        nb = len(bmaxes)
        if bi == nb:
            return []
        branches = self._branches
        leaves, lmaxes = branches[bi][0], branches[bi][1]
        li = bisect_left(lmaxes, lo)
        leaf: list[Any] = leaves[li]
        j = bisect_left(leaf, lo)
        if hi <= leaf[-1]:
            return leaf[j:bisect_left(leaf, hi)]
        out = leaf[j:]
        li += 1
        while True:
            nl = len(leaves)
            while li < nl:
                leaf = leaves[li]
                if hi <= leaf[-1]:
                    out.extend(leaf[:bisect_left(leaf, hi)])
                    return out
                out.extend(leaf)
                li += 1
            bi += 1
            if bi == nb:
                return out
            leaves = branches[bi][0]
            li = 0

    # In equality lookups (prefix, first, count), a key whose value has another type than
    # the values stored at that position can never match (each attribute stores one type):
    # the comparison's TypeError means "nothing here", e.g. a query binding an entity id
    # where strings are stored. Ordered ranges (range) let it through: comparing a string
    # with a number is the caller's error to report.

    def range(self, lo: Any, hi: Any) -> list[Any]:
        """Every item with ``lo <= item < hi``. O(log n + matches).

        >>> PSortedList.from_sorted([(1,), (2,), (3,)]).range((2,), (9,))
        [(2,), (3,)]

        :raises TypeError: ``lo`` or ``hi`` cannot be compared with the stored items.
        """
        return self._range(lo, hi)

    def count(self, lo: Any, hi: Any) -> int:
        """The number of items with ``lo <= item < hi``, O(log n + leaves spanned).

        >>> PSortedList.from_sorted([(i,) for i in range(100)], load=4).count((10,), (20,))
        10
        """
        try:
            return self._count(lo, hi)
        except TypeError:
            return 0

    def first(self, prefix: tuple[Any, ...]) -> Any | None:
        """The first item starting with ``prefix``, or None. O(log n).

        >>> PSortedList.from_sorted([(1, 2), (1, 3)]).first((1,))
        (1, 2)
        """
        try:
            return self._first(prefix)
        except TypeError:
            return None

    def prefix(self, prefix: tuple[Any, ...]) -> list[Any]:
        """Every item whose leading elements equal ``prefix``. O(log n + matches)."""
        if not prefix:
            return [x for b in self._branches for leaf in b[0] for x in leaf]
        last = prefix[-1]
        try:
            if type(last) is int:  # a C-compared bound instead of MAX's Python __gt__
                return self._range(prefix, prefix[:-1] + (last + 1,))
            return self._range(prefix, prefix + (MAX,))
        except TypeError:
            return []

    def _count(self, lo: Any, hi: Any) -> int:
        """The number of items with ``lo <= item < hi``, O(log n + leaves spanned).

        >>> PSortedList.from_sorted([(i,) for i in range(100)], load=4).count((10,), (20,))
        10
        """
        if not lo < hi:
            return 0
        bmaxes = self._bmaxes
        bi = bisect_left(bmaxes, lo)
        nb = len(bmaxes)
        if bi == nb:
            return 0
        branches = self._branches
        leaves, lmaxes = branches[bi][0], branches[bi][1]
        li = bisect_left(lmaxes, lo)
        leaf = leaves[li]
        j = bisect_left(leaf, lo)
        if hi <= leaf[-1]:
            return bisect_left(leaf, hi) - j
        n = len(leaf) - j
        li += 1
        while True:
            nl = len(leaves)
            while li < nl:
                leaf = leaves[li]
                if hi <= leaf[-1]:
                    return n + bisect_left(leaf, hi)
                n += len(leaf)
                li += 1
            bi += 1
            # whole branches before the one holding hi count by their cached size
            while bi < nb and bmaxes[bi] < hi:
                n += _branch_size(branches[bi])
                bi += 1
            if bi == nb:
                return n
            leaves = branches[bi][0]
            li = 0

    def _first(self, prefix: tuple[Any, ...]) -> Any | None:
        """The first item starting with ``prefix``, or None. O(log n).

        >>> PSortedList.from_sorted([(1, 2), (1, 3)]).first((1,))
        (1, 2)
        """
        bmaxes = self._bmaxes
        bi = bisect_left(bmaxes, prefix)
        if bi == len(bmaxes):
            return None
        leaves, lmaxes = self._branches[bi][0], self._branches[bi][1]
        leaf = leaves[bisect_left(lmaxes, prefix)]
        item = leaf[bisect_left(leaf, prefix)]
        return item if item[:len(prefix)] == prefix else None

    def irange(self, lo: Any, hi: Any, inclusive_hi: bool = True) -> Iterator[Any]:
        """Iterate items from ``lo`` up to ``hi`` lazily (for seek_datoms)."""
        bmaxes = self._bmaxes
        bi = bisect_left(bmaxes, lo)
        if bi == len(bmaxes):
            return
        branches = self._branches
        leaves, lmaxes = branches[bi][0], branches[bi][1]
        li = bisect_left(lmaxes, lo)
        j = bisect_left(leaves[li], lo)
        while bi < len(branches):
            leaves = branches[bi][0]
            while li < len(leaves):
                leaf = leaves[li]
                for k in range(j, len(leaf)):
                    item = leaf[k]
                    if item > hi or (item == hi and not inclusive_hi):
                        return
                    yield item
                li += 1
                j = 0
            bi += 1
            li = 0

    # -- writes --------------------------------------------------------------

    def update(self, adds: Iterable[Any] = (), removes: Iterable[Any] = ()) -> "PSortedList":
        """A new list with ``removes`` taken out and ``adds`` put in; self is unchanged.

        Items to remove must be present and items to add absent (the index
        layer guarantees it); lists passed in are sorted in place. Items are
        handled in sorted runs, one search per branch and leaf touched.
        O(n / (LOAD * BRANCH) + k * (LOAD + BRANCH)).

        :raises KeyError: when an item to remove is absent (a bug, never user input).
        """
        if type(adds) is not list:
            adds = list(adds)
        if type(removes) is not list:
            removes = list(removes)
        if not adds and not removes:
            return self
        if len(adds) + len(removes) > (self._len >> 3) + self._load:
            return self._rebuild(adds, removes)
        load, bload = self._load, self._bload
        load2, bload2 = 2 * load, 2 * bload
        branches = self._branches[:]
        bmaxes = self._bmaxes[:]
        mine: set[int] = set()  # ids of nodes created by this update (safe to mutate)
        # Items are handled in sorted runs: one root and branch search per branch
        # touched, one branch search per leaf touched, then bisects in the leaf.
        if removes:
            removes.sort()
            i, n = 0, len(removes)
            while i < n:
                x = removes[i]
                bi = bisect_left(bmaxes, x)
                if bi == len(bmaxes):
                    raise KeyError(x)
                bmax = bmaxes[bi]
                branch = branches[bi]
                if id(branch) not in mine:
                    branch = [branch[0][:], branch[1][:]]
                    branches[bi] = branch
                    mine.add(id(branch))
                leaves, lmaxes = branch[0], branch[1]
                while i < n and removes[i] <= bmax:
                    li = bisect_left(lmaxes, removes[i])
                    lmax = lmaxes[li]
                    leaf = leaves[li]
                    if id(leaf) not in mine:
                        leaf = leaf[:]
                        leaves[li] = leaf
                        mine.add(id(leaf))
                    while i < n and removes[i] <= lmax:
                        x = removes[i]
                        j = bisect_left(leaf, x)
                        if j == len(leaf) or leaf[j] != x:
                            raise KeyError(x)
                        del leaf[j]
                        i += 1
                    if leaf:
                        lmaxes[li] = leaf[-1]
                    else:
                        del leaves[li]
                        del lmaxes[li]
                if leaves:
                    bmaxes[bi] = lmaxes[-1]
                else:
                    del branches[bi]
                    del bmaxes[bi]
        if adds:
            adds.sort()
            i, n = 0, len(adds)
            if not branches:
                leaf = [adds[0]]
                branches.append([[leaf], [adds[0]]])
                bmaxes.append(adds[0])
                mine.add(id(leaf))
                mine.add(id(branches[0]))
                i = 1
            while i < n:
                x = adds[i]
                bi = bisect_left(bmaxes, x)
                last_branch = bi >= len(bmaxes) - 1
                if bi == len(bmaxes):
                    bi -= 1
                bmax = bmaxes[bi]
                branch = branches[bi]
                if id(branch) not in mine:
                    branch = [branch[0][:], branch[1][:]]
                    branches[bi] = branch
                    mine.add(id(branch))
                leaves, lmaxes = branch[0], branch[1]
                while i < n and (last_branch or adds[i] <= bmax):
                    li = bisect_left(lmaxes, adds[i])
                    if li == len(lmaxes):
                        li -= 1
                    tail = last_branch and li == len(lmaxes) - 1
                    lmax = lmaxes[li]
                    leaf = leaves[li]
                    if id(leaf) not in mine:
                        leaf = leaf[:]
                        leaves[li] = leaf
                        mine.add(id(leaf))
                    while i < n and (tail or adds[i] <= lmax):
                        insort(leaf, adds[i])
                        i += 1
                    lmaxes[li] = leaf[-1]
                    if len(leaf) > load2:
                        pieces = [leaf[k:k + load] for k in range(0, len(leaf), load)]
                        leaves[li:li + 1] = pieces
                        lmaxes[li:li + 1] = [p[-1] for p in pieces]
                        mine.update(id(p) for p in pieces)
                bmaxes[bi] = lmaxes[-1]
                if len(leaves) > bload2:
                    groups = [[leaves[k:k + bload], lmaxes[k:k + bload]]
                              for k in range(0, len(leaves), bload)]
                    branches[bi:bi + 1] = groups
                    bmaxes[bi:bi + 1] = [g[1][-1] for g in groups]
                    mine.update(id(g) for g in groups)
        return PSortedList(branches, bmaxes, self._len + len(adds) - len(removes),
                           self._load, self._bload)

    def _rebuild(self, adds: list[Any], removes: list[Any]) -> "PSortedList":
        if removes:
            dead = set(removes)
            items = [x for x in self if x not in dead]
            if len(items) != self._len - len(dead):
                raise KeyError("item to remove is absent")
        else:
            items = list(self)
        items.extend(adds)
        items.sort()
        out = PSortedList.from_sorted(items, self._load)
        out._bload = self._bload
        return out

    def _check(self) -> None:
        """Assert the invariants (for tests): sorted, no duplicates, maxima right, no empty node."""
        assert len(self._branches) == len(self._bmaxes)
        total = 0
        prev = None
        for branch, bmax in zip(self._branches, self._bmaxes):
            leaves, lmaxes = branch[0], branch[1]
            assert leaves and len(leaves) == len(lmaxes), "empty or inconsistent branch"
            assert lmaxes[-1] == bmax
            assert len(leaves) <= 2 * self._bload
            for leaf, mx in zip(leaves, lmaxes):
                assert leaf, "empty leaf"
                assert leaf[-1] == mx
                assert len(leaf) <= 2 * self._load
                for item in leaf:
                    assert prev is None or prev < item, (prev, item)
                    prev = item
                total += len(leaf)
        assert total == self._len, (total, self._len)
