"""A writer process for the crash and concurrency tests (see log_harness.py).

Appends ``--count`` records (0: until killed) to the store at URI, each inside
its own ``writer()`` block, and acknowledges each in the ack journal only after
the block exited. Prints ``done <n>`` at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from log_harness import AckJournal, make_payload  # noqa: E402

from fact_store.log import open_store  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("uri")
    p.add_argument("journal")
    p.add_argument("--worker", type=int, default=0)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--sizes", default="64")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-every", type=int, default=0)
    p.add_argument("--hold", type=float, default=0.0)
    a = p.parse_args()
    rng = random.Random(a.seed * 7919 + a.worker)
    sizes = [int(s) for s in a.sizes.split(",")]
    store = open_store(a.uri)
    journal = AckJournal(a.journal)
    print("ready", flush=True)
    n = 0
    while a.count == 0 or n < a.count:
        payload = make_payload(a.worker, n, rng.choice(sizes), rng)
        tx_uuid = uuid.UUID(int=rng.getrandbits(128))
        with store.writer() as head:
            t = head + 1
            store.append(t, tx_uuid, payload)
            if a.hold:
                time.sleep(a.hold)
        journal.ack(t, tx_uuid, payload)
        n += 1
        if a.snapshot_every and n % a.snapshot_every == 0:
            store.save_snapshot(t, b"snapshot at %d" % t)
    journal.close()
    store.close()
    print(f"done {n}", flush=True)


if __name__ == "__main__":
    main()
