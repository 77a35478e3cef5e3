"""Shared runner for the fuzz targets: atheris when installed, a mutation fallback otherwise.

Each ``fuzz_<target>.py`` defines ``test_one_input(data: bytes)`` that feeds
``data`` to one entry point and lets through only the project's own errors
(``fact_store.errors.FactStoreError``; the graph target also overseer's
``OverseerError``). Anything else escaping is a finding: atheris (libFuzzer)
stops, prints the traceback and writes the input to ``-artifact_prefix``.

Run one target by hand::

    .venv/bin/python fuzz/fuzz_edn.py -atheris_runs=100000 -max_len=4096 \\
        -timeout=5 -rss_limit_mb=2048 /tmp/new-corpus fuzz/corpus/edn

Without atheris (``pip install atheris``) the same command line runs a small
mutation fuzzer in pure Python: seeds from the corpus directories, random bit
flips, byte changes, insertions of dictionary tokens, deletions, duplications
and splices; ``-atheris_runs``, ``-max_total_time``, ``-max_len``, ``-seed`` and
``-artifact_prefix`` mean what they mean to libFuzzer, and it prints
libFuzzer's ``Done N runs in S second(s)`` line at the end.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    import atheris  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    atheris = None


def instrumented() -> "object":
    """A context manager: atheris.instrument_imports() when atheris is present."""
    if atheris is not None and os.environ.get("FUZZ_NO_INSTRUMENT") != "1":
        return atheris.instrument_imports(include=["fact_store", "overseer"])
    import contextlib
    return contextlib.nullcontext()


def main(test_one_input: Callable[[bytes], None], dictionary: list[bytes] | None = None) -> None:
    if atheris is not None and os.environ.get("FUZZ_FALLBACK") != "1":
        atheris.Setup(sys.argv, test_one_input)
        atheris.Fuzz()
        return
    _fallback(test_one_input, dictionary or [], sys.argv[1:])


def _fallback(fn: Callable[[bytes], None], dictionary: list[bytes], argv: list[str]) -> None:
    opts = {}
    dirs = []
    for a in argv:
        if a.startswith("-") and "=" in a:
            k, v = a[1:].split("=", 1)
            opts[k] = v
        else:
            dirs.append(Path(a))
    runs = int(opts.get("atheris_runs", opts.get("runs", "0")) or 0)
    max_time = float(opts.get("max_total_time", "0") or 0)
    max_len = int(opts.get("max_len", "4096"))
    prefix = opts.get("artifact_prefix", "./")
    rng = random.Random(int(opts.get("seed", "0")) or None)
    seeds: list[bytes] = []
    for d in dirs:
        if d.is_dir():
            seeds += [p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()]
    if not seeds:
        seeds = [b""]
    print(f"INFO: pure-Python fallback fuzzer (atheris not installed); {len(seeds)} seeds",
          flush=True)
    start = time.monotonic()
    n = 0
    for s in seeds:  # every seed as is first
        _one(fn, s, prefix)
        n += 1
    while (not runs or n < runs) and (not max_time or time.monotonic() - start < max_time):
        if not runs and not max_time:
            break
        data = _mutate(rng.choice(seeds), rng, seeds, dictionary, max_len)
        _one(fn, data, prefix)
        n += 1
    print(f"Done {n} runs in {int(time.monotonic() - start)} second(s)", flush=True)


def _one(fn: Callable[[bytes], None], data: bytes, prefix: str) -> None:
    try:
        fn(data)
    except BaseException:  # noqa: BLE001 - a finding
        path = f"{prefix}crash-{hashlib.sha1(data).hexdigest()}"
        try:
            Path(path).write_bytes(data)
        except OSError:
            pass
        traceback.print_exc()
        print(f"==ERROR: an uncaught exception; input written to {path}", flush=True)
        sys.exit(1)


def _mutate(data: bytes, rng: random.Random, seeds: list[bytes], dictionary: list[bytes],
            max_len: int) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:
            b[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and b:
            end = min(len(b), pos + rng.randint(1, 16))
            del b[pos:end]
        elif op == 4 and dictionary:
            b[pos:pos] = rng.choice(dictionary)
        elif op == 5 and b:
            i = rng.randrange(len(b))
            chunk = b[i:i + rng.randint(1, 32)]
            b[pos:pos] = chunk * rng.randint(1, 8)
        else:
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            b = b[:pos] + bytearray(other[cut:])
    return bytes(b[:max_len])
