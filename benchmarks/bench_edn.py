"""The EDN reader's memory and time on large inputs: 1, 10 and 100 MB.

    python -m benchmarks.bench_edn [--sizes 1,10,100] [--kinds string,strings,escapes,forms]

Each (kind, size) reads one text in a fresh interpreter and reports, as a JSON
line, the read's time, its peak of traced allocations (``tracemalloc``: what
the read allocated on top of the text, which the caller already holds; up to
10 MB, as tracemalloc slows reads of many small objects tenfold) and the growth
of the process's peak RSS (``ru_maxrss``; zero when building the text peaked
higher), each also divided by the text's size. The kinds:

- ``string``: one string literal (the probe that once took 400x the input);
- ``strings``: a vector of 64 KiB string literals;
- ``escapes``: one string literal of ``a\\n`` repeated (every third character
  an escape);
- ``forms``: a vector of small maps ``{:k 12345 :s "abc"}`` (many small values:
  the worst realistic case for the factor, Python objects being larger than
  their text);
- ``sets``: a vector of ``#{1}`` (the worst case measured: about 47x). Lark parses about 10^5 tokens a second here, so 100 MB of small
  forms takes minutes: only with ``--sizes`` naming it.

Reads of 100 MB pass ``max_token``/``max_chars`` above the defaults (16 Mi and
256 Mi characters), as a caller reading such a file would.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc

KINDS = ("string", "strings", "escapes", "forms", "sets")
DEFAULT_SIZES = (1, 10, 100)


def make_text(kind: str, size: int) -> str:
    """An EDN text of about ``size`` bytes (ASCII, so characters = bytes)."""
    if kind == "string":
        return '"' + "a" * (size - 2) + '"'
    if kind == "strings":
        item = '"' + "b" * (64 * 1024 - 2) + '"'
        return "[" + " ".join([item] * max(1, size // (len(item) + 1))) + "]"
    if kind == "escapes":
        return '"' + "a\\n" * ((size - 2) // 3) + '"'
    if kind == "forms":
        return "[" + " ".join(['{:k 12345 :s "abc"}'] * (size // 20)) + "]"
    if kind == "sets":  # the worst case measured: a 216-byte frozenset per 5 characters
        return "[" + " ".join(["#{1}"] * (size // 5)) + "]"
    raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


def measure(kind: str, size: int, traced: bool = True) -> dict[str, object]:
    """Read one text in this process: time and RSS growth of the read, then (``traced``)
    the peak of what a second read allocates, under tracemalloc."""
    from fact_store.edn import reader

    text = make_text(kind, size)
    n = len(text)
    out: dict[str, object] = {"bench": "edn-read", "kind": kind, "bytes": n}
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    value = reader.read(text, max_token=1 << 30, max_chars=1 << 30)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    out.update(rss_growth=rss, rss_factor=round(rss / n, 2))
    del value
    if traced:  # a second read under tracemalloc (which slows reads of many objects 10x)
        tracemalloc.start()
        value = reader.read(text, max_token=1 << 30, max_chars=1 << 30)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del value
        out.update(traced_peak=peak, traced_factor=round(peak / n, 2))
    return out


def run_child(kind: str, size: int) -> dict[str, object]:
    """:func:`measure` in a fresh interpreter (a clean peak RSS)."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_edn", "--child", kind,
                          str(size)], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                    help="sizes in MB, comma-separated")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--child", nargs=2, metavar=("KIND", "BYTES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        size = int(args.child[1])
        print(json.dumps(measure(args.child[0], size, traced=size <= 10_000_000)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    explicit = argv is not None and "--sizes" in argv or "--sizes" in sys.argv
    for kind in args.kinds.split(","):
        for mb in sizes:
            if kind in ("forms", "sets") and mb >= 100 and not explicit:
                continue  # minutes of parsing: only when asked for
            print(json.dumps(run_child(kind, mb * 1_000_000)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
