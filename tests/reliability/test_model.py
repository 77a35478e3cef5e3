"""T-05: a model-based test (RELIABILITY.md T1) of transactions, reopening, snapshots and
power loss, against a plain-Python reference model.

The model keeps, per entity key, its ``:m/n`` (cardinality one), its ``:m/tags``
(cardinality many) and its ``:m/ref`` (a key). Rules transact valid and
invalid tx-data, cas, retract, retractEntity, close and reopen from the log,
checkpoint then reopen, and (file backend) lose power between or in the middle
of transactions through FaultyFS. After every step the database must equal the
model, ``as_of`` every earlier t must equal the model then, a refused tx must
have changed nothing (V1), and a tx whose outcome is unknown must be there
entirely or not at all.
"""

from __future__ import annotations

import copy
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import fact_store as fs
from fact_store.connection import Connection
from fact_store.log.file import FileStore

from tests.reliability.conftest import Scenario, scale

SCHEMA = [
    {":db/ident": ":m/key", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"},
    {":db/ident": ":m/n", ":db/valueType": ":db.type/long", ":db/cardinality": ":db.cardinality/one"},
    {":db/ident": ":m/tags", ":db/valueType": ":db.type/string",
     ":db/cardinality": ":db.cardinality/many"},
    {":db/ident": ":m/ref", ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/one"},
]
KEYS = [f"k{i}" for i in range(6)]
TAGS = ["a", "b", "é", "e\u0301", ""]
Model = dict[str, dict[str, Any]]  # key -> {"n": int|None, "tags": set, "ref": key|None}

BASE: dict[str, Any] = {"dir": None, "backend": "file"}
STEPS = {"n": 0, "commits": 0, "refused": 0, "power_losses": 0, "unknown_committed": 0,
         "unknown_absent": 0, "reopens": 0}


def _view(db: Any) -> Model:
    """The database as the model sees it."""
    out: Model = {}
    for k in KEYS:
        e = db.entid([":m/key", k])
        if e is None:
            continue
        ent = db.entity(e)
        ref = ent.get(":m/ref")
        out[k] = {"n": ent.get(":m/n"), "tags": set(ent.get(":m/tags") or ()),
                  "ref": ref[":m/key"] if ref is not None else None}
    return out


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(dir=BASE["dir"]))
        self.rng = random.Random(0)
        self.model: Model = {}
        self.history: list[Model] = [{}]  # model after t = 1 (the schema), 2, ...
        self.ops: Any = None
        self.conn = self._open()
        self.conn.transact(SCHEMA)

    # -- the store -------------------------------------------------------------------------
    def _open(self) -> Connection:
        if BASE["backend"] == "mem":
            if getattr(self, "conn", None) is not None:
                return self.conn
            return fs.connect("mem:")
        from tests.reliability.powerloss import PowerLossFS
        self.ops = PowerLossFS()
        store = FileStore(str(self.tmp / "db"), fileops=self.ops)
        return Connection(f"file:{self.tmp}/db", store)

    def teardown(self) -> None:
        try:
            self.conn.close()
        except BaseException:  # noqa: BLE001 - after a simulated power loss
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _commit(self, tx: list[Any], after: Model) -> None:
        try:
            self.conn.transact(tx)
        except fs.TransactionError:
            STEPS["refused"] += 1
            return  # refused: the model stays (the invariant checks the db did too)
        STEPS["commits"] += 1
        self.model = after
        self.history.append(copy.deepcopy(after))

    # -- rules -----------------------------------------------------------------------------
    @rule(key=st.sampled_from(KEYS), n=st.one_of(st.none(), st.integers(-5, 5)),
          tags=st.sets(st.sampled_from(TAGS), max_size=2), ref=st.one_of(st.none(), st.sampled_from(KEYS)))
    def upsert(self, key: str, n: int | None, tags: set[str], ref: str | None) -> None:
        ent: dict[str, Any] = {":m/key": key}
        after = copy.deepcopy(self.model)
        m = after.setdefault(key, {"n": None, "tags": set(), "ref": None})
        if n is not None:
            ent[":m/n"] = n
            m["n"] = n
        if tags:
            ent[":m/tags"] = sorted(tags)
            m["tags"] |= tags
        tx: list[Any] = [ent]
        if ref is not None and ref in self.model and ref != key:
            tx = [ent, {":db/id": [":m/key", key], ":m/ref": [":m/key", ref]}] if key in self.model \
                else [dict(ent, **{":m/ref": [":m/key", ref]})]
            m["ref"] = ref
        self._commit(tx, after)

    @rule(key=st.sampled_from(KEYS), bad=st.sampled_from(["type", "attr", "card", "cas", "ref"]))
    def invalid(self, key: str, bad: str) -> None:
        before = self.conn.store.head()
        tx = {"type": [{":m/key": key, ":m/n": "not a long"}],
              "attr": [{":m/key": key, ":m/nope": 1}],
              "card": [{":m/key": key, ":m/n": 1}, {":m/key": key, ":m/n": 2}],
              "cas": [[":db/cas", [":m/key", key], ":m/n", 999, 1]],
              "ref": [{":m/key": key, ":m/ref": [":m/key", "nobody"]}]}[bad]
        with pytest.raises(fs.FactStoreError):
            self.conn.transact(tx)
        STEPS["refused"] += 1
        assert self.conn.store.head() == before, f"refused {bad} tx wrote a record"

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def cas(self, data: Any) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        old = self.model[key]["n"]
        new = data.draw(st.integers(-5, 5))
        after = copy.deepcopy(self.model)
        after[key]["n"] = new
        self._commit([[":db/cas", [":m/key", key], ":m/n", old, new]], after)

    @precondition(lambda self: any(m["tags"] for m in self.model.values()))
    @rule(data=st.data())
    def retract_tag(self, data: Any) -> None:
        key = data.draw(st.sampled_from(sorted(k for k, m in self.model.items() if m["tags"])))
        tag = data.draw(st.sampled_from(sorted(self.model[key]["tags"])))
        after = copy.deepcopy(self.model)
        after[key]["tags"].discard(tag)
        self._commit([[":db/retract", [":m/key", key], ":m/tags", tag]], after)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def retract_entity(self, data: Any) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        after = copy.deepcopy(self.model)
        del after[key]
        for m in after.values():
            if m["ref"] == key:
                m["ref"] = None
        self._commit([[":db/retractEntity", [":m/key", key]]], after)

    @rule()
    def reopen(self) -> None:
        if BASE["backend"] == "mem":
            return
        self.conn.close()
        self.conn = self._open()
        STEPS["reopens"] += 1

    @rule()
    def checkpoint_and_reopen(self) -> None:
        if BASE["backend"] == "mem":
            return
        self.conn.checkpoint()
        self.conn.close()
        self.conn = self._open()

    @precondition(lambda self: BASE["backend"] == "file")
    @rule(mid_tx=st.booleans(), at=st.integers(1, 6), key=st.sampled_from(KEYS),
          n=st.integers(-5, 5), seed=st.integers(0, 2**16))
    def power_loss(self, mid_tx: bool, at: int, key: str, n: int, seed: int) -> None:
        """Power fails between transactions, or at the at-th I/O of one (outcome unknown)."""
        from tests.reliability.powerloss import PowerLoss
        maybe = None
        if mid_tx:
            self.ops.crash_op, self.ops.crash_at = "any", self.ops.calls["any"] + at
            after = copy.deepcopy(self.model)
            after.setdefault(key, {"n": None, "tags": set(), "ref": None})["n"] = n
            try:
                self.conn.transact([{":m/key": key, ":m/n": n}])
                self.model = after  # it completed before the power failed
                self.history.append(copy.deepcopy(after))
            except (PowerLoss, fs.StorageError):
                maybe = after
        STEPS["power_losses"] += 1
        self.ops.crash(random.Random(seed), device="random")
        try:
            self.conn.store.close()
        except BaseException:  # noqa: BLE001
            pass
        self.conn = self._open()
        basis = self.conn.db().basis_t
        if maybe is not None and basis == len(self.history) + 1:
            self.model = maybe  # the unknown-outcome tx committed (the invariant checks: whole)
            self.history.append(copy.deepcopy(maybe))
            STEPS["unknown_committed"] += 1
        elif maybe is not None:
            STEPS["unknown_absent"] += 1

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def db_equals_model(self) -> None:
        STEPS["n"] += 1
        db = self.conn.db()
        assert _view(db) == self.model
        assert db.basis_t == len(self.history)
        # one entity per key (unique identity), at most one :m/n per entity
        a_key, a_n = db.schema.attr(":m/key").id, db.schema.attr(":m/n").id
        keys = [r[2] for r in db.search(a=a_key)]
        assert len(keys) == len(set(keys))
        ns = [r[0] for r in db.search(a=a_n)]
        assert len(ns) == len(set(ns))

    @invariant()
    def as_of_equals_the_model_then(self) -> None:
        db = self.conn.db()
        for t in {1, len(self.history) // 2, len(self.history) - 1} - {0}:
            if 1 <= t <= len(self.history):
                assert _view(db.as_of(t)) == self.history[t - 1], f"as_of({t})"


@pytest.mark.parametrize("backend", ["mem", "file"])
def test_t05_model_based_transactions_reopen_snapshots_and_power_loss(
        scenario: Scenario, backend: str) -> None:
    from hypothesis.stateful import run_state_machine_as_test
    BASE["dir"], BASE["backend"] = str(scenario.dir), backend
    for k in STEPS:
        STEPS[k] = 0
    examples = scale(100 if backend == "file" else 200, 20_000)
    run_state_machine_as_test(StoreMachine, settings=settings(
        max_examples=examples, stateful_step_count=30, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
    scenario.report("T-05", examples, 0, backend=backend, steps_checked=STEPS["n"],
                    **{k: v for k, v in STEPS.items() if k != "n"})
    scenario.require(STEPS["commits"] >= examples and STEPS["refused"] >= examples // 2,
                     f"too few commits or refusals: {STEPS}")
    if backend == "file":
        scenario.require(STEPS["power_losses"] >= examples // 2 and
                         STEPS["unknown_committed"] + STEPS["unknown_absent"] >= 5,
                         f"power loss rarely exercised: {STEPS}")
