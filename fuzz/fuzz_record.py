"""Fuzz target: the record decoders (RELIABILITY B-06, S-07).

``decode_frame`` on whole frames (half the inputs get a right CRC so the payload
decoder is reached) and ``decode_tx``/``decode_value``/``unpack`` on payloads.
Only LogCorrupted/UnsupportedFormat (StorageError) may escape.
"""

import uuid

from _common import instrumented, main

with instrumented():
    from fact_store.errors import FactStoreError
    from fact_store.log import record as rec

SEED = rec.crc_seed(uuid.UUID(int=1))


def test_one_input(data: bytes) -> None:
    for fn in (rec.decode_tx, rec.decode_value, rec.unpack):
        try:
            fn(data)
        except FactStoreError:
            pass
    frame = data
    if data[:1] and data[0] & 1:  # give it a valid frame around the payload
        frame = rec.encode_frame(SEED, 1, uuid.UUID(int=2), data[1:])
    try:
        t, _u, payload = rec.decode_frame(SEED, frame, max_payload=1 << 16)
        rec.decode_tx(payload)
    except FactStoreError:
        pass


if __name__ == "__main__":
    main(test_one_input, [rec.RECORD_MAGIC, b"\x11", b"\xdd\xff\xff\xff\xff", b"\xc7",
                          b"\xd4\x05", b"\xd8\x06", b"\x93\x01"])
