"""A hypothesis state machine drives random transactions (failing ones included) against a tiny
reference model, and checks every index, as_of(t) for every past t, since, history and with_."""

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fact_store import errors as E
from fact_store.db import Db
from fact_store.index import covering
from fact_store.tx.apply import transact

SCHEMA = [
    {":db/ident": ":m/one", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":m/many", ":db/valueType": ":db.type/string", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":m/ref", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":m/uniq", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one",
     ":db/unique": ":db.unique/value"},
]

ATTRS = [":m/one", ":m/many", ":m/ref", ":m/uniq"]
op_st = st.tuples(st.sampled_from(["add", "retract"]), st.integers(0, 5), st.sampled_from(ATTRS),
                  st.integers(0, 4))


class Model:
    """Current datoms as a set of (e, attr, v) and every transaction's (adds, retracts)."""

    def __init__(self):
        self.current: set = set()
        self.history: list = []  # per t: the current set after it


class DbMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.old_load = covering.LOAD
        covering.LOAD = 4
        db = transact(Db.empty(), SCHEMA).db_after
        self.base_t = db.basis_t
        self.ents = [db.next_eid + i for i in range(6)]
        # create the entities so ints can be used
        db = transact(db, [{":db/id": f"e{i}", ":m/one": 0} for i in range(6)]).db_after
        self.ents = [db.entid(r) for r in []] or sorted({r[0] for r in db.search(a=db.schema.attr(":m/one").id)})
        self.db = db
        self.model = {(e, ":m/one", 0) for e in self.ents}
        self.snapshots = {db.basis_t: set(self.model)}

    def teardown(self):
        covering.LOAD = self.old_load

    def value(self, attr, x):
        if attr == ":m/many":
            return str(x)
        if attr == ":m/ref":
            return self.ents[x]
        return x

    def expected(self, ops):
        """Apply ops to the model with Datomic's rules; None if the tx must fail."""
        cur = set(self.model)
        adds, rms = set(), set()
        one = {}
        for kind, ei, attr, x in ops:
            d = (self.ents[ei], attr, self.value(attr, x))
            (adds if kind == "add" else rms).add(d)
            if kind == "add" and attr in (":m/one", ":m/uniq"):
                if one.setdefault((d[0], attr), d[2]) != d[2]:
                    return None
        if adds & rms:
            return None
        new = set(cur)
        new -= rms
        for e, attr, v in adds:
            if attr in (":m/one", ":m/uniq"):
                new = {d for d in new if not (d[0] == e and d[1] == attr)}
            new.add((e, attr, v))
        holders = {}
        for e, attr, v in new:
            if attr == ":m/uniq":
                if (v in holders) and holders[v] != e:
                    return None
                holders[v] = e
        return new

    @rule(ops=st.lists(op_st, min_size=1, max_size=6))
    def transact(self, ops):
        tx = [[":db/" + k, self.ents[ei], attr, self.value(attr, x)] for k, ei, attr, x in ops]
        want = self.expected(ops)
        if want is None:
            try:
                transact(self.db, tx)
            except E.TransactionError:
                return
            raise AssertionError(f"expected {tx} to fail")
        rep = transact(self.db, tx)
        self.db = rep.db_after
        self.model = want
        self.snapshots[self.db.basis_t] = set(want)

    def as_model(self, db):
        idents = {db.schema.attr(a).id: a for a in ATTRS}
        return {(e, idents[a], v) for e, a, v, _tx, _ in db.search() if a in idents}

    @invariant()
    def indexes_match_model(self):
        db = self.db
        assert self.as_model(db) == self.model
        for idx in (db._eavt, db._aevt, db._avet, db._vaet, db.history_index(), db._hist.indexes()[1]):
            idx._check()
        eavt = {(r[0], r[1], r[2]) for r in db._eavt}
        assert eavt == {(r[1], r[0], r[2]) for r in db._aevt}
        assert eavt == {(r[2], r[0], r[1]) for r in db._avet}
        refs = db.schema.ref_ids
        assert {d for d in eavt if d[1] in refs} == {(r[2], r[1], r[0]) for r in db._vaet}
        for attr in ATTRS:
            a = db.schema.attr(attr).id
            for v in range(5):
                vv = self.value(attr, v)
                assert {r[0] for r in db.search(a=a, v=vv)} == {
                    e for e, at, x in self.model if at == attr and x == vv}

    @invariant()
    def as_of_every_past_t(self):
        for t, snap in self.snapshots.items():
            assert self.as_model(self.db.as_of(t)) == snap

    @invariant()
    def history_and_since(self):
        db = self.db
        t0 = min(self.snapshots)
        hist = db.history().search()
        # replaying the history in tx order gives the current state
        state = set()
        for e, a, v, tx, added in sorted(hist, key=lambda r: (r[3], not r[4])):
            (state.add if added else state.discard)((e, a, v))
        assert {d for d in state if d[1] in {db.schema.attr(x).id for x in ATTRS}} == {
            (e, db.schema.attr(at).id, v) for e, at, v in self.model}
        since = db.since(t0).search()
        assert all(r[3] > db.t_to_tx(t0) for r in since)


TestDbMachine = DbMachine.TestCase
TestDbMachine.settings = settings(max_examples=40, stateful_step_count=15, deadline=None,
                                  suppress_health_check=[HealthCheck.too_slow])
