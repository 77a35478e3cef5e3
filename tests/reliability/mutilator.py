"""The log mutilator (RELIABILITY.md T4): damaged copies of a valid ``file:`` log.

Works on the bytes of a log (``log_bytes(path)``) and returns new bytes; the
caller writes them into a store directory. The frame layout is the one
``fact_store/log/file.py`` documents: a 64-byte file header, then per record
a 37-byte frame header (magic, kind, length at byte 5, t at byte 9, uuid, CRC)
and the payload.

``enumerate_*`` give deterministic lists for the PR tier; the ``random_*``
functions draw one mutation from a ``random.Random`` for soak runs.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Iterator, NamedTuple

HEADER_SIZE = 64
FRAME_SIZE = 37
_FRAME = struct.Struct("<4sBIQ16sI")


class Span(NamedTuple):
    t: int
    start: int
    end: int  # exclusive


def log_bytes(store_dir: str | Path) -> bytes:
    return (Path(store_dir) / "log").read_bytes()


def write_log(store_dir: str | Path, data: bytes) -> None:
    (Path(store_dir) / "log").write_bytes(data)


def spans(data: bytes) -> list[Span]:
    """The records of a *valid* log, by walking frame lengths (no CRC check)."""
    out = []
    pos = HEADER_SIZE
    while pos + FRAME_SIZE <= len(data):
        _magic, _kind, length, t, _u, _crc = _FRAME.unpack_from(data, pos)
        end = pos + FRAME_SIZE + length
        if end > len(data):
            break
        out.append(Span(t, pos, end))
        pos = end
    return out


# --- single mutations ------------------------------------------------------------------

def truncate(data: bytes, size: int) -> bytes:
    return data[:size]


def flip_bit(data: bytes, offset: int, bit: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 1 << bit
    return bytes(b)


def overwrite_byte(data: bytes, offset: int, value: int) -> bytes:
    b = bytearray(data)
    if b[offset] == value:
        value ^= 0xFF
    b[offset] = value
    return bytes(b)


def zero_block(data: bytes, offset: int, size: int = 4096) -> bytes:
    b = bytearray(data)
    end = min(offset + size, len(b))
    b[offset:end] = bytes(end - offset)
    return bytes(b)


def append(data: bytes, extra: bytes) -> bytes:
    return data + extra


def swap_records(data: bytes, i: int, j: int) -> bytes:
    """Swap records i < j (indexes into :func:`spans`)."""
    sp = spans(data)
    a, b = sp[i], sp[j]
    return (data[:a.start] + data[b.start:b.end] + data[a.end:b.start] + data[a.start:a.end]
            + data[b.end:])


def duplicate_record(data: bytes, i: int) -> bytes:
    """Append a byte-identical copy of record i (a stale replay)."""
    s = spans(data)[i]
    return data + data[s.start:s.end]


def foreign_header(data: bytes, other: bytes) -> bytes:
    """This log's records under another database's header."""
    return other[:HEADER_SIZE] + data[HEADER_SIZE:]


def header_field(data: bytes, offset: int, value: bytes, fix_crc: bool = True) -> bytes:
    """Overwrite header bytes at ``offset`` (version at 8, max record at 16), re-CRC'd."""
    import zlib
    b = bytearray(data)
    b[offset:offset + len(value)] = value
    if fix_crc:
        b[60:64] = zlib.crc32(bytes(b[:60])).to_bytes(4, "little")
    return bytes(b)


def bump_version(data: bytes, by: int = 1) -> bytes:
    version = int.from_bytes(data[8:10], "little")
    return header_field(data, 8, (version + by).to_bytes(2, "little"))


# --- enumerations ------------------------------------------------------------------------

class Mutation(NamedTuple):
    name: str
    data: bytes
    target_t: int  # the record damaged (0: header or none)


def mid_log_corruptions(data: bytes, rng: random.Random, n: int, min_after: int = 1
                        ) -> Iterator[Mutation]:
    """``n`` single-bit flips or single-byte overwrites inside records that have at
    least ``min_after`` valid records after them, plus zeroed 4 KiB blocks and swaps."""
    sp = spans(data)
    victims = sp[:-min_after] if min_after else sp
    for _ in range(n):
        s = rng.choice(victims)
        off = rng.randrange(s.start, s.end)
        kind = rng.random()
        if kind < 0.45:
            yield Mutation(f"flip@{off}", flip_bit(data, off, rng.randrange(8)), s.t)
        elif kind < 0.9:
            yield Mutation(f"byte@{off}", overwrite_byte(data, off, rng.randrange(256)), s.t)
        elif kind < 0.97:
            # a zeroed block must not reach the last record, or it is a torn tail
            last = sp[-1].start
            size = min(4096, last - off)
            yield Mutation(f"zero4k@{off}", zero_block(data, off, size), s.t)
        else:
            i = sp.index(s)
            j = rng.randrange(i + 1, len(sp))
            yield Mutation(f"swap{i}-{j}", swap_records(data, i, j), s.t)


def tail_garbage(data: bytes, rng: random.Random, other_db_record: bytes | None = None
                 ) -> Mutation:
    """One tail-garbage variant (F-06): zeros, random bytes, a frame claiming 2^32-1
    bytes, a stale copy of an earlier record, a record of another database, or a
    valid-looking frame whose t is not next."""
    sp = spans(data)
    kind = rng.randrange(6)
    if kind == 0:
        return Mutation("zeros", append(data, bytes(rng.choice((1, 37, 512, 4096, 65536)))), 0)
    if kind == 1:
        return Mutation("random", append(data, rng.randbytes(rng.randrange(1, 5000))), 0)
    if kind == 2:
        frame = _FRAME.pack(b"\xd1TX\x1e", 0x11, 0xFFFFFFFF, sp[-1].t + 1 if sp else 1,
                            rng.randbytes(16), rng.getrandbits(32))
        return Mutation("len2^32-1", append(data, frame + rng.randbytes(rng.randrange(0, 100))), 0)
    if kind == 3 and sp:
        s = rng.choice(sp)
        return Mutation(f"stale-copy-t{s.t}", append(data, data[s.start:s.end]), 0)
    if kind == 4 and other_db_record is not None:
        return Mutation("other-db-record", append(data, other_db_record), 0)
    # a record whose t is not next: take the last record and renumber it (CRC breaks too)
    if sp:
        s = sp[-1]
        rec = bytearray(data[s.start:s.end])
        rec[9:17] = (s.t + rng.choice((2, 5, 1000))).to_bytes(8, "little")
        return Mutation("t-not-next", append(data, bytes(rec)), 0)
    return Mutation("random", append(data, rng.randbytes(100)), 0)
