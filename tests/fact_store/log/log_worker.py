"""A writer process for the crash and concurrency tests (see log_harness.py).

Appends ``--count`` records (0: until killed) to the store at URI, each inside
its own ``writer()`` block, and acknowledges each in the ack journal only after
the block exited. Prints ``done <n>`` at the end.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from log_harness import run_worker  # noqa: E402


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
    print("ready", flush=True)
    n = run_worker(a.uri, a.journal, worker=a.worker, count=a.count, sizes=a.sizes,
                   seed=a.seed, snapshot_every=a.snapshot_every, hold=a.hold)
    print(f"done {n}", flush=True)


if __name__ == "__main__":
    main()
