"""The parametrized store fixture: every contract test runs on each backend (TD, HU).

``store_uri`` is a URI naming a fresh store; ``store`` is an open handle on
it; ``open_again()`` opens another handle on the same store, as a second
connection in this process would. A new backend adds its URI to ``BACKENDS``
and inherits the whole suite.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fact_store.log import open_store  # noqa: E402
from fact_store.log.base import LogStore  # noqa: E402

BACKENDS = ["mem", "file", "file-group", "file-none"]
_names = itertools.count()


@pytest.fixture(params=BACKENDS)
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = request.param
    if kind == "mem":
        return f"mem:test-{next(_names)}"
    durability = {"file": "fsync", "file-group": "group", "file-none": "none"}[kind]
    return f"file:{tmp_path / 'db'}?durability={durability}"


@pytest.fixture
def open_again(store_uri: str) -> Iterator[Callable[[], LogStore]]:
    opened: list[LogStore] = []

    def _open() -> LogStore:
        s = open_store(store_uri)
        opened.append(s)
        return s

    yield _open
    for s in opened:
        s.close()


@pytest.fixture
def store(open_again: Callable[[], LogStore]) -> LogStore:
    return open_again()
