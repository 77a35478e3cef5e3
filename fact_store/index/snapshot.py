"""Indexes <-> versioned snapshot bytes (msgpack).

A snapshot is a cache of the indexes at one basis t: the current datoms in
EAVT order and the history datoms, plus the counters a Db needs. It knows
nothing of files; the log stores write and read its bytes.

>>> payload = encode_snapshot(3, 100, 0, [(1, 2, "x", 9)], [(1, 2, "x", 9, True)])
>>> decode_snapshot(payload)["t"]
3
"""

from __future__ import annotations

from typing import Any

from fact_store.errors import StorageError, UnsupportedFormat
from fact_store.schema import TupleValue

SNAPSHOT_VERSION = 1


def encode_snapshot(basis_t: int, next_eid: int, last_instant_us: int,
                    current: list[tuple[int, int, Any, int]],
                    history: list[tuple[int, int, Any, int, bool]]) -> bytes:
    """Encode a snapshot. ``current`` and ``history`` in EAVT order. O(n)."""
    from fact_store.log.record import pack
    return pack({"v": SNAPSHOT_VERSION, "t": basis_t, "next_eid": next_eid,
                 "instant_us": last_instant_us, "current": [list(d) for d in current],
                 "history": [list(d) for d in history]})


def decode_snapshot(payload: bytes) -> dict[str, Any]:
    """Decode a snapshot; raise StorageError for anything malformed. O(n)."""
    from fact_store.log.record import unpack
    try:
        d = unpack(payload, "index snapshot")
        if not isinstance(d, dict):
            raise StorageError("index snapshot is not a map")
        if d.get("v") != SNAPSHOT_VERSION:
            raise UnsupportedFormat(f"index snapshot format version {d.get('v')} is not "
                                    f"{SNAPSHOT_VERSION}", version=d.get("v"))
        d["current"] = [(e, a, TupleValue(v) if type(v) is tuple else v, tx)
                        for e, a, v, tx in d["current"]]
        d["history"] = [(e, a, TupleValue(v) if type(v) is tuple else v, tx, added)
                        for e, a, v, tx, added in d["history"]]
        return d
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"index snapshot cannot be decoded: {exc}") from exc
