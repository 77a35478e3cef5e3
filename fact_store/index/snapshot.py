"""Indexes <-> versioned snapshot bytes (msgpack).

A snapshot is a cache of the indexes at one basis t: the current datoms in
EAVT order and the history datoms, plus the counters a Db needs. It knows
nothing of files; the log stores write and read its bytes.

>>> idx = {"eavt": [(1, 2, "x", 9)], "aevt": [(2, 1, "x", 9)], "avet": [(2, "x", 1, 9)], "vaet": []}
>>> d = decode_snapshot(encode_snapshot(3, 100, 0, idx, [(1, 2, "x", 9, True)]))
>>> d["t"], d["avet"], d["history"]()
(3, [(2, 'x', 1, 9)], [(1, 2, 'x', 9, True)])
"""

from __future__ import annotations

import itertools
from typing import Any

from fact_store.errors import StorageError, UnsupportedFormat
from fact_store.log.record import pack_flat, unpack
from fact_store.schema import TupleValue

SNAPSHOT_VERSION = 3

_ORDERS = ("eavt", "aevt", "avet", "vaet")


def _flat(rows: Any) -> list[Any]:
    return list(itertools.chain.from_iterable(rows))


def _rows(flat: Any, width: int) -> list[tuple[Any, ...]]:
    it = iter(flat)
    return list(zip(*[it] * width))


def encode_snapshot(basis_t: int, next_eid: int, last_instant_us: int,
                    indexes: dict[str, Any], history: list[tuple[int, int, Any, int, bool]]) -> bytes:
    """Encode a snapshot: the four current indexes in their own orders, flattened, and the
    history that the current datoms do not imply (retractions and retracted assertions).

    Storing every order costs disk (about four times the datoms) and saves every sort
    when opening: rows come back as tuples built in msgpack's C code. O(n).
    """
    cur = set(indexes["eavt"])
    past = [h for h in history if not (h[4] and (h[0], h[1], h[2], h[3]) in cur)]
    doc: dict[str, Any] = {"v": SNAPSHOT_VERSION, "t": basis_t, "next_eid": next_eid,
                           "instant_us": last_instant_us, "past": _flat(past)}
    for name in _ORDERS:
        doc[name] = _flat(indexes[name])
    return pack_flat(doc)


def decode_snapshot(payload: bytes) -> dict[str, Any]:
    """Decode a snapshot into the four index row lists and a history callable.

    History is returned as a callable so it is only built when a read needs it.
    O(n), mostly in C. :raises StorageError: anything malformed.
    """
    try:
        d = unpack(payload, "index snapshot", use_list=False)
        if not isinstance(d, dict):
            raise StorageError("index snapshot is not a map")
        if d.get("v") != SNAPSHOT_VERSION:
            raise UnsupportedFormat(f"index snapshot format version {d.get('v')} is not "
                                    f"{SNAPSHOT_VERSION}", version=d.get("v"))
        out: dict[str, Any] = {"t": d["t"], "next_eid": d["next_eid"],
                               "instant_us": d["instant_us"]}
        for name in _ORDERS:
            flat = d[name]
            if len(flat) % 4:
                raise StorageError(f"index snapshot: {name} is not made of (4-value) rows")
            out[name] = _rows(flat, 4)
        n = len(out["eavt"])
        if len(out["aevt"]) != n or len(out["avet"]) != n:
            raise StorageError("index snapshot: the index orders hold different datoms")
        past = d["past"]
        if len(past) % 5:
            raise StorageError("index snapshot: history is not made of (5-value) rows")
        cur = out["eavt"]

        def history() -> list[tuple[int, int, Any, int, bool]]:
            h = [(e, a, v, tx, True) for e, a, v, tx in cur]
            h.extend((e, a, v, tx, bool(ad)) for e, a, v, tx, ad in _rows(past, 5))
            return h

        out["history"] = history
        return out
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"index snapshot cannot be decoded: {exc}") from exc
