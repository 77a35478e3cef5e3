"""PSortedList against a plain sorted set: every read equals the sorted filter, _check() holds."""

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fact_store.index.covering import MAX, MIN, PSortedList

items = st.tuples(st.integers(0, 30), st.integers(0, 5))


class PSortedListMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model: set = set()
        self.s = PSortedList(load=4)
        self.versions: list = []

    @rule(adds=st.lists(items, max_size=12), rms=st.lists(st.integers(0, 100), max_size=6))
    def update(self, adds, rms):
        present = sorted(self.model)
        removes = sorted({present[i % len(present)] for i in rms}) if present else []
        new_adds = sorted(set(adds) - self.model)
        self.versions.append((self.s, sorted(self.model)))
        self.s = self.s.update(new_adds, removes)
        self.model = (self.model - set(removes)) | set(new_adds)

    @rule(e=st.integers(0, 31))
    def prefix(self, e):
        assert self.s.prefix((e,)) == sorted(x for x in self.model if x[0] == e)
        assert self.s.first((e,)) == next((x for x in sorted(self.model) if x[0] == e), None)

    @rule(lo=items, hi=items)
    def range(self, lo, hi):
        assert self.s.range(lo, hi) == sorted(x for x in self.model if lo <= x < hi)
        assert self.s.count(lo, hi) == sum(1 for x in self.model if lo <= x < hi)
        assert list(self.s.irange(lo, hi)) == sorted(x for x in self.model if lo <= x <= hi)

    @invariant()
    def check(self):
        self.s._check()
        assert list(self.s) == sorted(self.model)
        assert self.s.range((MIN,), (MAX,)) == sorted(self.model)
        # old versions never change
        for version, snapshot in self.versions[-3:]:
            assert list(version) == snapshot


TestPSortedList = PSortedListMachine.TestCase
TestPSortedList.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_update_does_not_mutate_the_old_version():
    s = PSortedList.from_sorted([(i,) for i in range(100)], load=8)
    s2 = s.update([(1000,)], [(5,)])
    assert (5,) in s and (5,) not in s2 and (1000,) in s2 and (1000,) not in s
    s._check()
    s2._check()


def test_bulk_update_rebuilds():
    s = PSortedList(load=8).update([(i,) for i in range(500)])
    s._check()
    assert len(s) == 500
