"""Indexes <-> versioned snapshot bytes (msgpack).

A snapshot is a cache of the indexes at one basis t: the current datoms in
EAVT order and the history datoms, plus the counters a Db needs. It knows
nothing of files; the log stores write and read its bytes.

>>> payload = encode_snapshot(3, 100, 0, [(1, 2, "x", 9)], [(1, 2, "x", 9, True)])
>>> d = decode_snapshot(payload)
>>> d["t"], d["current"], d["history"]()
(3, [(1, 2, 'x', 9)], [(1, 2, 'x', 9, True)])
"""

from __future__ import annotations

from typing import Any

from fact_store.errors import StorageError, UnsupportedFormat
from fact_store.schema import TupleValue

SNAPSHOT_VERSION = 2


def encode_snapshot(basis_t: int, next_eid: int, last_instant_us: int,
                    current: list[tuple[int, int, Any, int]],
                    history: list[tuple[int, int, Any, int, bool]]) -> bytes:
    """Encode a snapshot. ``current`` in EAVT order; ``history`` in any order. O(n).

    Only the history a current datom does not already imply is stored (its
    retractions and retracted assertions): most stores are mostly current.
    """
    from fact_store.log.record import pack
    cur = set(current)
    past = [list(h) for h in history if not (h[4] and (h[0], h[1], h[2], h[3]) in cur)]
    return pack({"v": SNAPSHOT_VERSION, "t": basis_t, "next_eid": next_eid,
                 "instant_us": last_instant_us, "eavt": [list(d) for d in current],
                 "past": past})


def decode_snapshot(payload: bytes) -> dict[str, Any]:
    """Decode a snapshot into ``current`` (EAVT order) and ``history``; StorageError if malformed.

    O(n); history is returned as a callable so it is only built when a read needs it.
    """
    from fact_store.log.record import unpack
    try:
        d = unpack(payload, "index snapshot", use_list=False)
        if not isinstance(d, dict):
            raise StorageError("index snapshot is not a map")
        if d.get("v") != SNAPSHOT_VERSION:
            raise UnsupportedFormat(f"index snapshot format version {d.get('v')} is not "
                                    f"{SNAPSHOT_VERSION}", version=d.get("v"))
        cur = list(d["eavt"])
        if any(len(r) != 4 for r in cur[:1]):
            raise StorageError("index snapshot rows are not (e, a, v, tx)")
        if any(type(r[2]) is tuple for r in cur):
            cur = [(e, a, TupleValue(v) if type(v) is tuple else v, tx) for e, a, v, tx in cur]
        past = d["past"]

        def history() -> list[tuple[int, int, Any, int, bool]]:
            h = [(e, a, v, tx, True) for e, a, v, tx in cur]
            h.extend((e, a, TupleValue(v) if type(v) is tuple else v, tx, bool(ad))
                     for e, a, v, tx, ad in past)
            return h

        return {"t": d["t"], "next_eid": d["next_eid"], "instant_us": d["instant_us"],
                "current": cur, "history": history}
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"index snapshot cannot be decoded: {exc}") from exc
