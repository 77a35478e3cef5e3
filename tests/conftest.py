"""Shared fixtures: the ``store_uri`` fixture runs a test against every store (mem, file, postgresql)."""

from __future__ import annotations

import itertools
import os

import pytest

_counter = itertools.count()

STORES = ["mem", "file"]
if os.environ.get("FACT_STORE_TEST_PG", "1") != "0":
    STORES.append("postgresql")


def _pg_uri(request: pytest.FixtureRequest) -> str:
    try:
        from tests.pg import pg_server_uri  # started once per session, see tests/pg.py
    except ImportError:
        pg_server_uri = None
    if pg_server_uri is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL tests must run under CI=true, but tests/pg.py is missing")
        pytest.skip("PostgreSQL store not available yet")
    return pg_server_uri(request)


@pytest.fixture(params=STORES)
def store_uri(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, empty store URI of each kind."""
    kind = request.param
    if kind == "mem":
        return f"mem:test-{os.getpid()}-{next(_counter)}"
    if kind == "file":
        return f"file:{tmp_path}/store"
    return _pg_uri(request)


@pytest.fixture()
def conn(store_uri):
    """A connection to a fresh store of each kind, closed afterwards."""
    import fact_store

    c = fact_store.connect(store_uri)
    yield c
    c.close()
