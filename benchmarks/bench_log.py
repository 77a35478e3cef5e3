"""Log appends per second in each durability mode, beside the raw write+fsync rate.

Each append is one small record: a one-datom transaction encoded with
``record.encode_tx`` (about 40 bytes of payload, 80 with its frame), in its own
``writer()`` block, exactly as the connection layer commits. Scenarios:

- ``raw-fsync``: ``os.write`` + ``os.fsync`` of a frame-sized buffer to a file
  in the same directory — the device's limit, measured in the same run; also
  ``raw-fdatasync`` and ``raw-write`` (no sync) for reference;
- ``append``: a ``file:`` store with ``durability`` fsync, group or none, in
  1 process × 1 thread, 1 process × 4 threads, and 4 processes × 1 thread
  (forked, all appending to one store for the same wall-clock window);
- ``append`` on ``mem:`` for the in-process ceiling.

Each figure is the median of 5 samples of ``--seconds`` (1 sample with
``--quick``), after one warm-up sample; ``ratio_to_raw`` divides by the raw
``os.write``+``os.fsync`` rate of the same number of processes. One JSON line
per scenario:

    .venv/bin/python -m benchmarks.bench_log [--seconds 0.5] [--quick] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from fact_store.edn.values import Keyword
from fact_store.log import open_store
from fact_store.log.record import FRAME, encode_tx

PAYLOAD = encode_tx(datetime(2024, 1, 1, tzinfo=timezone.utc),
                    [(1 << 20, 72, Keyword(":job/status"), 1 << 40, True)])
RECORD_BYTES = len(PAYLOAD) + FRAME.size
_FORK = multiprocessing.get_context("fork")


# --- one process, one sample ----------------------------------------------------------------

def _raw(seconds: float, path: str, sync: Callable[[int], None] | None) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    buf = os.urandom(RECORD_BYTES)
    n = 0
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            os.write(fd, buf)
            if sync is not None:
                sync(fd)
            n += 1
    finally:
        os.close(fd)
    return n


def _appends(seconds: float, uri: str, threads: int) -> int:
    store = open_store(uri)
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def loop(i: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            with store.writer() as head:
                store.append(head + 1, uuid.uuid4(), PAYLOAD)
            n += 1
        counts[i] = n

    if threads == 1:
        loop(0)
    else:
        ths = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
    store.close()
    return sum(counts)


def _child(fn: Callable[..., int], args: tuple[Any, ...], start: Any, q: Any) -> None:
    start.wait()
    q.put(fn(*args))
    q.close()
    q.join_thread()  # flush the queue before _exit skips the feeder thread
    os._exit(0)


def _sample(fn: Callable[..., int], args_for: Callable[[int], tuple[Any, ...]], procs: int,
            seconds: float) -> float:
    """Total operations per second of ``procs`` processes running ``fn`` at once."""
    if procs == 1:
        t0 = time.perf_counter()
        n = fn(seconds, *args_for(0))
        return n / (time.perf_counter() - t0)
    start = _FORK.Event()
    q = _FORK.Queue()
    ps = [_FORK.Process(target=_child, args=(fn, (seconds, *args_for(i)), start, q))
          for i in range(procs)]
    for p in ps:
        p.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    start.set()
    total = sum(q.get(timeout=seconds + 60) for _ in ps)
    elapsed = time.perf_counter() - t0
    for p in ps:
        p.join()
    return total / max(elapsed, seconds)


def _median_rate(fn: Callable[..., int], args_for: Callable[[int], tuple[Any, ...]],
                 procs: int, seconds: float, samples: int) -> tuple[float, list[float]]:
    _sample(fn, args_for, procs, seconds / 2)  # warm-up
    rates = [_sample(fn, args_for, procs, seconds) for _ in range(samples)]
    return statistics.median(rates), rates


def _emit(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one sample")
    ap.add_argument("--quick", action="store_true", help="1 sample, 0.2 s: does it run?")
    ap.add_argument("--dir", default=None, help="directory on the disk to measure "
                                                 "(default: a temporary directory)")
    a = ap.parse_args(argv)
    seconds = 0.2 if a.quick else a.seconds
    samples = 1 if a.quick else 5
    base = tempfile.mkdtemp(prefix="bench_log-", dir=a.dir)
    common = {"bench": "log", "record_bytes": RECORD_BYTES, "payload_bytes": len(PAYLOAD),
              "seconds_per_sample": seconds, "samples": samples}

    raw: dict[int, float] = {}
    for name, sync in (("raw-fsync", os.fsync), ("raw-fdatasync", os.fdatasync),
                       ("raw-write", None)):
        for procs in (1, 4):
            rate, rates = _median_rate(
                _raw, lambda i, name=name, sync=sync: (f"{base}/{name}-{i}", sync),
                procs, seconds, samples)
            if name == "raw-fsync":
                raw[procs] = rate
            _emit({**common, "system": "os", "op": name, "processes": procs, "threads": 1,
                   "per_s": round(rate), "sample_rates": [round(r) for r in rates]})

    run = 0
    for durability in ("fsync", "group", "none"):
        for procs, threads in ((1, 1), (1, 4), (4, 1)):
            run += 1
            uri = f"file:{base}/store-{run}?durability={durability}"
            rate, rates = _median_rate(_appends, lambda i, uri=uri, threads=threads:
                                       (uri, threads), procs, seconds, samples)
            _emit({**common, "system": "fact-store-file", "op": "append",
                   "durability": durability, "processes": procs, "threads": threads,
                   "per_s": round(rate), "sample_rates": [round(r) for r in rates],
                   "raw_fsync_per_s": round(raw[procs]),
                   "ratio_to_raw": round(rate / raw[procs], 3)})
    rate, rates = _median_rate(_appends, lambda i: ("mem:", 1), 1, seconds, samples)
    _emit({**common, "system": "fact-store-mem", "op": "append", "processes": 1, "threads": 1,
           "per_s": round(rate), "sample_rates": [round(r) for r in rates]})


if __name__ == "__main__":
    main()
