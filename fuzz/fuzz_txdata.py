"""Fuzz target: tx-data parsing and validation (RELIABILITY B-04, V1/V2).

The input is EDN tx-data run with ``db.with_`` against a db with a schema of
every value type. Only FactStoreError subclasses may escape, and a rejected
transaction leaves the db value unchanged.
"""

from _common import instrumented, main

with instrumented():
    import fact_store as fs
    from fact_store.errors import FactStoreError

_TYPES = ["string", "long", "double", "keyword", "boolean", "instant", "uuid", "bigdec",
          "bigint", "bytes", "ref", "symbol", "uri", "float"]
_conn = fs.connect("mem:fuzz-tx")
_conn.transact([{":db/ident": ":t/id", ":db/valueType": ":db.type/string",
                 ":db/cardinality": ":db.cardinality/one", ":db/unique": ":db.unique/identity"}] +
               [{":db/ident": f":t/{t}", ":db/valueType": f":db.type/{t}",
                 ":db/cardinality": ":db.cardinality/one"} for t in _TYPES] +
               [{":db/ident": ":t/many", ":db/valueType": ":db.type/long",
                 ":db/cardinality": ":db.cardinality/many"},
                {":db/ident": ":t/comp", ":db/valueType": ":db.type/ref",
                 ":db/cardinality": ":db.cardinality/many", ":db/isComponent": True}])
DB = _conn.transact([{":t/id": "a", ":t/long": 1}, {":t/id": "b", ":t/comp": [{":t/id": "c"}]}]).db_after
N = len(DB)

DICTIONARY = [b"[:db/add ", b"[:db/retract ", b"[:db/cas ", b"[:db/retractEntity ", b"{:db/id ",
              b":t/id ", b":t/long ", b":t/ref ", b"[:t/id \"a\"]", b"\"tmp\"", b"#inst ",
              b"#uuid ", b"1.5M ", b"1N ", b"##NaN", b":db/ident ", b":db.type/long",
              b":db/valueType ", b":db/cardinality ", b":db.cardinality/many"]


def test_one_input(data: bytes) -> None:
    try:
        tx = fs.read_edn(data.decode("utf-8", errors="replace"))
    except FactStoreError:
        return
    try:
        DB.with_(tx)
    except FactStoreError:
        assert len(DB) == N  # db values are immutable: nothing leaked
    except (RecursionError, MemoryError):
        raise


if __name__ == "__main__":
    main(test_one_input, DICTIONARY)
