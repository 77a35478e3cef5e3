"""Fuzz target: the snapshot loader (RELIABILITY B-06, A5).

Snapshot payload bytes go to ``decode_snapshot`` and ``db_from_snapshot``
(a fuzzed payload with a right framing reaches them); only StorageError may escape.
"""

from _common import instrumented, main

with instrumented():
    from fact_store.errors import FactStoreError
    from fact_store.index.snapshot import decode_snapshot
    from fact_store.log.record import pack
    from fact_store.peer import db_from_snapshot


def test_one_input(data: bytes) -> None:
    try:
        decode_snapshot(data)
    except FactStoreError:
        pass
    try:
        db = db_from_snapshot(data)
        db.history()  # the lazily built history too
        list(db.history().datoms(":eavt"))
    except FactStoreError:
        pass


if __name__ == "__main__":
    main(test_one_input, [pack({"v": 2, "t": 1, "next_eid": 1, "instant_us": 0,
                                "eavt": [], "past": []}), b"\x86", b"\xa4eavt", b"\xa4past"])
