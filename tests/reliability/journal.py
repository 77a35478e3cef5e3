"""Ack journals (RELIABILITY.md T2): the ground truth of what was acknowledged.

A process appends one line per acknowledged transaction, with ``O_APPEND``,
and fsyncs it *after* ``transact()`` returned. After a crash, every line
found names a transaction the store promised to keep. A torn last line (the
process died while writing it) is ignored.

The raw-log journal (``t tx_uuid digest``) is the storage suite's
:class:`log_harness.AckJournal`, re-exported here; :class:`JsonJournal` holds
one JSON object per line for connection-level scenarios (t, key, datom digest,
history operations, side effects).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from log_harness import AckJournal  # noqa: F401 - re-exported (the storage suite's journal)

__all__ = ["AckJournal", "JsonJournal", "datom_digest"]


class JsonJournal:
    """Append-only, fsynced JSON lines; ``read`` skips a torn last line."""

    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path = str(path)
        self.fsync = fsync
        self.fd: int | None = None

    def append(self, **entry: Any) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self.fd, (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode())
        if self.fsync:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    @staticmethod
    def read(path: str | Path) -> list[dict[str, Any]]:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.split("\n")[:-1]:  # after the last newline: torn
            out.append(json.loads(line))
        return out

    @staticmethod
    def read_all(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
        return [e for p in paths for e in JsonJournal.read(p)]


def datom_digest(datoms: Iterable[Any]) -> str:
    """A digest of datoms ``(e, a, v, tx, added)`` that ignores their order."""
    rows = sorted(f"{d[0]}|{d[1]}|{type(d[2]).__name__}:{d[2]!r}|{d[3]}|{d[4]}" for d in datoms)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:20]
