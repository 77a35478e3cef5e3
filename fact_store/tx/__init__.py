"""Transactions: tx-data -> datoms, in three typed stages.

Why stages, and why in bulk (after Mentat's ``tx.rs``): a transaction is
checked as a whole against db-before, never datom by datom. ``expand`` turns
tx-data (list forms, entity maps, nested maps, reverse refs, transaction
functions) into :class:`~fact_store.tx.expand.Op` records whose entity may
still be a tempid or a lookup ref, and whose non-ref values are already
coerced to their attribute's type. ``resolve`` turns lookup refs, upserts and
tempids into entity ids, so its output holds ints only. ``apply`` sees no
tempid: it enforces cardinality, uniqueness, redundancy and conflict rules,
maintains composite tuples and the schema, and builds db-after. Every stage
collects every violation it finds; the transaction fails with all of them at
once and leaves nothing behind, because db-before is never changed.
"""

from fact_store.tx.apply import TxReport, transact
from fact_store.tx.functions import register_tx_fn, unregister_tx_fn

__all__ = ["TxReport", "transact", "register_tx_fn", "unregister_tx_fn"]
