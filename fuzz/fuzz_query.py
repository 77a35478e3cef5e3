"""Fuzz target: the query parser and planner (RELIABILITY B-03, S-01).

Only QueryError (QuerySyntaxError), EdnSyntaxError and LimitExceeded may escape,
and an audit hook fails the run on any process start, file opened for writing or
new import while a query runs (0 audit events, S-01).
"""

import sys

from _common import instrumented, main

with instrumented():
    import importlib
    import pkgutil

    import fact_store as fs
    from fact_store.errors import FactStoreError

    # every module of the package is loaded first, so a new import during a query is
    # an import of something else (S-01 counts those)
    for _m in pkgutil.walk_packages(fs.__path__, "fact_store."):
        if _m.name not in ("fact_store.cli", "fact_store.repl"):
            importlib.import_module(_m.name)

_conn = fs.connect("mem:fuzz-query")
_conn.transact([{":db/ident": ":f/name", ":db/valueType": ":db.type/string",
                 ":db/cardinality": ":db.cardinality/one"},
                {":db/ident": ":f/n", ":db/valueType": ":db.type/long",
                 ":db/cardinality": ":db.cardinality/many"},
                {":db/ident": ":f/ref", ":db/valueType": ":db.type/ref",
                 ":db/cardinality": ":db.cardinality/many"}])
DB = _conn.transact([{":db/id": "a", ":f/name": "a", ":f/n": [1, 2], ":f/ref": "b"},
                     {":db/id": "b", ":f/name": "b", ":f/n": [3], ":f/ref": "a"}]).db_after
for warm in ("[:find ?n :where [?e :f/name ?n] [(str ?n) ?s] [(re-find \"a\" ?s)]]",
             "[:find (count ?e) . :where [?e :f/n]]"):
    fs.q(warm, DB)

ARMED = [False]
DANGEROUS = ("os.system", "subprocess.Popen", "os.exec", "os.spawn", "os.posix_spawn",
             "os.fork", "ctypes.dlopen")


def _audit(event: str, args: tuple) -> None:
    if not ARMED[0]:
        return
    if event.startswith(DANGEROUS) or (event == "open" and len(args) > 1 and
                                       isinstance(args[1], str) and
                                       any(c in args[1] for c in "wax+")) or \
            (event == "import" and args and args[0] not in sys.modules):
        ARMED[0] = False
        raise AssertionError(f"audit event during a query: {event} {args[:2]}")


sys.addaudithook(_audit)

DICTIONARY = [b"[:find ", b":where ", b":in ", b"$ ", b"% ", b"?e ", b"?x ", b"[?e :f/name ?x]",
              b"(not ", b"(or ", b"(and ", b"(pull ?e [*])", b"(count ?x)", b"[(str ?x) ?y]",
              b"[(re-find \"a+\" ?x)]", b"...", b"(rule ?x)", b"_ ", b":with ", b"(get-else $ ?e :f/n 0)",
              # overlong and odd data patterns: a bound variable or a keyword in the tx and
              # added positions, more than five terms, a lone entity
              b"[?e :f/n ?e :f/name ?x]", b"[?e :f/name ?x ?t ?x]", b"[?e :f/n ?x ?t true]",
              b"[?e ?a ?v ?t false ?z]", b"[?e]", b"[_ _ _ _ _]", b"[?e :f/ref ?e ?e ?e]"]


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    ARMED[0] = True
    try:
        fs.q(text, DB)
    except FactStoreError:
        pass
    finally:
        ARMED[0] = False


if __name__ == "__main__":
    main(test_one_input, DICTIONARY)
