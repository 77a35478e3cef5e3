"""overseer/schema.py: the packaged schema is the one source of truth."""

from importlib import resources
from pathlib import Path

import fact_store as fs
from overseer import schema

ROOT = Path(__file__).resolve().parents[2]


def test_readable_copy_matches_the_packaged_schema() -> None:
    packaged = resources.files("overseer").joinpath("schema.edn").read_bytes()
    copy = (ROOT / "schema" / "overseer.edn").read_bytes()
    assert copy == packaged, "schema/overseer.edn differs from overseer/schema.edn: copy the package's file"


def test_every_attribute_is_documented_and_installs() -> None:
    maps = schema.schema_tx()
    assert maps and all(fs.Keyword(":db/doc") in m for m in maps)
    conn = fs.connect("mem:test-overseer-schema")
    try:
        assert schema.install_schema(conn) == len(maps)
        assert schema.install_schema(conn) == 0
    finally:
        conn.close()
