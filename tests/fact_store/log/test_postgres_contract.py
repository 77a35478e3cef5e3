"""The LogStore contract (test_log_contract.py) run on the postgresql store.

The contract module's tests are imported here and run against this module's
``store_uri`` fixture, which overrides the directory conftest's: a fresh
schema on the session's real PostgreSQL (tests/pg.py) per test, in each
durable mode (``fsync``, and ``group``: flush after the lock).
"""

from __future__ import annotations

import pytest

from test_log_contract import *  # noqa: F401,F403 - the contract tests, collected here too
from tests.pg import pg_server_uri


@pytest.fixture(params=["fsync", "group"])
def store_uri(request: pytest.FixtureRequest) -> str:
    return pg_server_uri(request) + "&durability=" + request.param
