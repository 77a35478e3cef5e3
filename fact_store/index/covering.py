"""One sorted covering index: an immutable, persistent sorted list of tuples; seek/slice, _check().

:class:`PSortedList` is the building block of every index. It has the shape of
sortedcontainers' ``SortedList`` (a list of sorted chunks plus a list of each
chunk's maximum, searched with C ``bisect``) but is *persistent*: an update
returns a new list that shares every untouched chunk with the old one, and
never mutates a chunk another version can see. So a ``Db`` holding one is an
immutable value, O(1) to take, safe to read while other threads transact.

Cost of :meth:`PSortedList.update` with k changes: O(n / LOAD + k * LOAD)
(one copy of the chunk directory, one copy of each touched chunk); reads are
O(log n + matches), all in C except the loop over touched chunks.

>>> s = PSortedList.from_sorted([(1, "a"), (2, "b"), (3, "c")])
>>> s2 = s.update(adds=[(2, "x")], removes=[(1, "a")])
>>> list(s), list(s2)
([(1, 'a'), (2, 'b'), (3, 'c')], [(2, 'b'), (2, 'x'), (3, 'c')])
>>> s2.prefix((2,))
[(2, 'b'), (2, 'x')]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Any, Iterable, Iterator, Sequence

#: Chunk size. Tests shrink it (as sortedcontainers' stress tests shrink the
#: load factor) so splits and merges really happen.
LOAD = 512


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


class PSortedList:
    """An immutable sorted list of tuples with cheap persistent updates."""

    __slots__ = ("_lists", "_maxes", "_len", "_load")

    def __init__(self, lists: list[list[Any]] | None = None, maxes: list[Any] | None = None,
                 length: int = 0, load: int | None = None) -> None:
        self._lists: list[list[Any]] = lists if lists is not None else []
        self._maxes: list[Any] = maxes if maxes is not None else []
        self._len = length
        self._load = load or LOAD

    @classmethod
    def from_sorted(cls, items: Sequence[Any], load: int | None = None) -> "PSortedList":
        """Build from items already sorted and free of duplicates. O(n).

        >>> len(PSortedList.from_sorted([(i,) for i in range(1000)], load=64)._lists)
        16
        """
        load = load or LOAD
        if not isinstance(items, list):
            items = list(items)
        lists = [items[i:i + load] for i in range(0, len(items), load)]
        return cls(lists, [c[-1] for c in lists], len(items), load)

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
        for chunk in self._lists:
            yield from chunk

    def __contains__(self, item: Any) -> bool:
        maxes = self._maxes
        i = bisect_left(maxes, item)
        if i == len(maxes):
            return False
        chunk = self._lists[i]
        j = bisect_left(chunk, item)
        return chunk[j] == item

    # -- reads ---------------------------------------------------------------

    def range(self, lo: Any, hi: Any) -> list[Any]:
        """Every item with ``lo <= item < hi``. O(log n + matches).

        >>> PSortedList.from_sorted([(1,), (2,), (3,)]).range((2,), (9,))
        [(2,), (3,)]
        """
        maxes = self._maxes
        i = bisect_left(maxes, lo)
        n = len(maxes)
        if i == n:
            return []
        lists = self._lists
        chunk = lists[i]
        j = bisect_left(chunk, lo)
        if hi <= chunk[-1]:
            return chunk[j:bisect_left(chunk, hi)]
        out = chunk[j:]
        i += 1
        while i < n:
            chunk = lists[i]
            if hi <= chunk[-1]:
                out.extend(chunk[:bisect_left(chunk, hi)])
                break
            out.extend(chunk)
            i += 1
        return out

    def prefix(self, prefix: tuple[Any, ...]) -> list[Any]:
        """Every item whose leading elements equal ``prefix``. O(log n + matches)."""
        return self.range(prefix, prefix + (MAX,))

    def first(self, prefix: tuple[Any, ...]) -> Any | None:
        """The first item starting with ``prefix``, or None. O(log n).

        >>> PSortedList.from_sorted([(1, 2), (1, 3)]).first((1,))
        (1, 2)
        """
        maxes = self._maxes
        i = bisect_left(maxes, prefix)
        if i == len(maxes):
            return None
        chunk = self._lists[i]
        item = chunk[bisect_left(chunk, prefix)]
        return item if item[:len(prefix)] == prefix else None

    def irange(self, lo: Any, hi: Any, inclusive_hi: bool = True) -> Iterator[Any]:
        """Iterate items from ``lo`` up to ``hi`` lazily (for seek_datoms)."""
        maxes = self._maxes
        lists = self._lists
        i = bisect_left(maxes, lo)
        if i == len(maxes):
            return
        j = bisect_left(lists[i], lo)
        while i < len(lists):
            chunk = lists[i]
            for k in range(j, len(chunk)):
                item = chunk[k]
                if item > hi or (item == hi and not inclusive_hi):
                    return
                yield item
            i += 1
            j = 0

    # -- writes --------------------------------------------------------------

    def update(self, adds: Iterable[Any] = (), removes: Iterable[Any] = ()) -> "PSortedList":
        """A new list with ``removes`` taken out and ``adds`` put in; self is unchanged.

        Items to remove must be present and items to add absent (the index
        layer guarantees it). O(n / LOAD + k * LOAD) for k changes.

        :raises KeyError: when an item to remove is absent (a bug, never user input).
        """
        adds = adds if isinstance(adds, list) else list(adds)
        removes = removes if isinstance(removes, list) else list(removes)
        if not adds and not removes:
            return self
        if len(adds) + len(removes) > self._len // 8 + self._load:
            return self._rebuild(adds, removes)
        load = self._load
        lists = self._lists[:]
        maxes = self._maxes[:]
        mine: set[int] = set()  # ids of chunks created by this update (safe to mutate)
        for x in removes:
            i = bisect_left(maxes, x)
            if i == len(maxes):
                raise KeyError(x)
            chunk = lists[i]
            if id(chunk) not in mine:
                chunk = chunk[:]
                lists[i] = chunk
                mine.add(id(chunk))
            j = bisect_left(chunk, x)
            if j == len(chunk) or chunk[j] != x:
                raise KeyError(x)
            del chunk[j]
            if not chunk:
                del lists[i]
                del maxes[i]
            else:
                maxes[i] = chunk[-1]
        for x in adds:
            if not lists:
                chunk = [x]
                lists.append(chunk)
                maxes.append(x)
                mine.add(id(chunk))
                continue
            i = bisect_left(maxes, x)
            if i == len(maxes):
                i -= 1
            chunk = lists[i]
            if id(chunk) not in mine:
                chunk = chunk[:]
                lists[i] = chunk
                mine.add(id(chunk))
            insort(chunk, x)
            maxes[i] = chunk[-1]
            if len(chunk) > 2 * load:
                left, right = chunk[:load], chunk[load:]
                lists[i:i + 1] = [left, right]
                maxes[i:i + 1] = [left[-1], right[-1]]
                mine.add(id(left))
                mine.add(id(right))
        return PSortedList(lists, maxes, self._len + len(adds) - len(removes), load)

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
        return PSortedList.from_sorted(items, self._load)

    def _check(self) -> None:
        """Assert the invariants (for tests): sorted, no duplicates, maxes right, no empty chunk."""
        assert len(self._lists) == len(self._maxes)
        total = 0
        prev = None
        for chunk, mx in zip(self._lists, self._maxes):
            assert chunk, "empty chunk"
            assert chunk[-1] == mx
            assert len(chunk) <= 2 * self._load
            for item in chunk:
                assert prev is None or prev < item, (prev, item)
                prev = item
            total += len(chunk)
        assert total == self._len, (total, self._len)
