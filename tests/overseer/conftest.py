"""Fixtures for overseer's tests: a fresh store with overseer's schema, a fake clock."""

from __future__ import annotations

import itertools
import os

import pytest

import fact_store as fs
import overseer

_n = itertools.count()


@pytest.fixture()
def mem_conn():
    """A fresh in-memory store with overseer's schema installed."""
    c = fs.connect(f"mem:overseer-test-{os.getpid()}-{next(_n)}")
    overseer.install_schema(c)
    yield c
    c.close()


@pytest.fixture()
def oconn(conn):
    """The shared ``conn`` fixture (every store kind) with overseer's schema installed."""
    overseer.install_schema(conn)
    return conn


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> float:
        self.t += dt
        return self.t


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


NO_PULSE = {"heartbeat": {"enabled": False}}


def run_all(worker, now=None, limit=100_000) -> int:
    """Step ``worker`` until it is idle; return how many jobs it ran."""
    n = 0
    while n < limit and worker.step(now=now) == "ran":
        n += 1
    return n
