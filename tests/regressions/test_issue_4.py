"""Regressions of the storage layer (issue 4) found after it landed."""

import pathlib

import pytest

from fact_store.errors import LogCorrupted
from fact_store.log.record import decode_tx

HERE = pathlib.Path(__file__).parent


def test_a_deeply_nested_payload_is_log_corrupted_not_recursion_error():
    """Found by fuzz_record: the error message repr'd a 1,000-deep array (RecursionError)."""
    data = (HERE / "record-deep-nesting.bin").read_bytes()
    with pytest.raises(LogCorrupted, match="tx payload is not valid"):
        decode_tx(data)
