"""Fuzz target: the job-graph validator (RELIABILITY B-08, J6).

The input is EDN for a graph ``{node [deps ...]}`` (or any value); only
overseer's own errors (GraphError) and FactStoreError may escape, and a graph
that validates is acyclic with every dependency present.
"""

from _common import instrumented, main

with instrumented():
    import fact_store as fs
    from fact_store.errors import FactStoreError
    from overseer.errors import OverseerError
    from overseer.graph import find_cycle, validate_graph


def test_one_input(data: bytes) -> None:
    try:
        g = fs.read_edn(data.decode("utf-8", errors="replace"))
    except FactStoreError:
        return
    try:
        out = validate_graph(g)
    except (OverseerError, FactStoreError):
        return
    assert find_cycle({n: [d for d in ds if d in out] for n, ds in out.items()}) is None


if __name__ == "__main__":
    main(test_one_input, [b"{", b"}", b"[", b"]", b"\"a\" ", b"[:job/id \"x\"]", b":a "])
