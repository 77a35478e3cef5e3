"""Fuzz target: opening a fuzzed log file (RELIABILITY B-06).

The input is written as a store's ``log`` (after a valid header half the time,
with right CRCs on its frames now and then); opening it, reading every record and
entering the writer (which may cut a torn tail) may raise only StorageError
subclasses (LogCorrupted, UnsupportedFormat, NotAFactStore) — and the file is
never changed except by cutting bytes after the last valid record.
"""

import os
import tempfile
import uuid

from _common import instrumented, main

with instrumented():
    from fact_store.errors import FactStoreError
    from fact_store.log import record as rec
    from fact_store.log.file import FileStore, encode_header

DIR = tempfile.mkdtemp(prefix="fuzz-log-")
STORE = os.path.join(DIR, "db")
UUID = uuid.UUID(int=7)
HEADER = encode_header(UUID, 0, 1 << 16)
SEED = rec.crc_seed(UUID)


def _frames(data: bytes) -> bytes:
    """Cut the input into chunks and frame each with a right CRC and t = 1, 2, ..."""
    out = []
    for t, i in enumerate(range(0, len(data), 97), start=1):
        out.append(rec.encode_frame(SEED, t, uuid.UUID(int=t), data[i:i + 97]))
    return b"".join(out)


def test_one_input(data: bytes) -> None:
    mode = data[0] % 3 if data else 0
    body = data[1:]
    log = body if mode == 0 else HEADER + (body if mode == 1 else _frames(body))
    os.makedirs(STORE, mode=0o700, exist_ok=True)
    for name in os.listdir(STORE):
        os.unlink(os.path.join(STORE, name))
    with open(os.path.join(STORE, "log"), "wb") as f:
        f.write(log)
    try:
        s = FileStore(STORE, durability="none")
    except FactStoreError:
        assert open(os.path.join(STORE, "log"), "rb").read() == log, "refused but modified"
        return
    try:
        try:
            list(s.read_after(0))
        except FactStoreError:
            pass
        try:
            with s.writer():
                pass
        except FactStoreError:
            pass
    finally:
        s.close()
    after = open(os.path.join(STORE, "log"), "rb").read()
    if log:  # an empty file is "no log yet": a fresh header replaces it (pinned in F-05)
        assert log.startswith(after), "the log was changed, not only cut"


if __name__ == "__main__":
    main(test_one_input, [rec.RECORD_MAGIC, b"\x11", b"\xff\xff\xff\xff", HEADER[:8]])
