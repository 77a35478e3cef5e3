"""Error reporters and a failing handler for the reporting tests (``--on-error module:function``)."""

from __future__ import annotations

import json
import os
from typing import Any

SEEN: list[tuple[Any, BaseException]] = []


def record(job: Any, exc: BaseException) -> None:
    """An ``on_error`` of two arguments: keeps what it was given in ``SEEN``."""
    SEEN.append((job, exc))


def to_file(job: Any, exc: BaseException, failure: Any) -> None:
    """An ``on_error`` of three arguments: appends one JSON line to ``$OVERSEER_TEST_REPORTS``."""
    line = json.dumps({"id": job[":job/id"], "type": job[":job/type"], "attempt": job[":job/attempt"],
                       "exc": type(exc).__name__, "message": str(exc), "failure_type": failure["type"]})
    with open(os.environ["OVERSEER_TEST_REPORTS"], "a", encoding="utf-8") as f:
        f.write(line + "\n")


def _boom(job: Any) -> None:
    raise ValueError(f"boom in {job[':job/id']}")


HANDLERS = {"boom": _boom, "fine": lambda job: None}
