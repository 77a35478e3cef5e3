"""Datom (e, a, v, tx, added) and the t <-> tx conversion.

A datom is a plain named tuple. Index entries are plain tuples in index order
(``(a, v, e, tx)`` for AVET) so comparisons run in C. Values of one attribute
all have one Python type after coercion (see :mod:`fact_store.schema`), and
every index orders by attribute before value, so values of different types are
never compared with each other: ``1``, ``1.0`` and ``True`` never meet in one
index position (RELIABILITY R10). The one mixed case, nil inside tuple values,
is handled by :class:`fact_store.schema.TupleValue`.

>>> d = Datom(1001, 10, "Ivan", t_to_tx(3), True)
>>> d.e, d.added, tx_to_t(d.tx)
(1001, True, 3)
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: Transaction entity ids live in their own partition: tx = TX0 + t.
TX0 = 1 << 40
#: User entity ids start here; ids below are reserved for the bootstrap schema.
USER0 = 1 << 20


class Datom(NamedTuple):
    """One fact: entity ``e`` has value ``v`` for attribute ``a`` as of ``tx``."""

    e: int
    a: int
    v: Any
    tx: int
    added: bool = True


def t_to_tx(t: int) -> int:
    """The transaction entity id of basis ``t`` (Datomic's ``t->tx``).

    >>> t_to_tx(0) == TX0
    True
    """
    return TX0 + t


def tx_to_t(tx: int) -> int:
    """The basis t of transaction entity ``tx`` (Datomic's ``tx->t``); ints below TX0 are t already.

    >>> tx_to_t(t_to_tx(42)), tx_to_t(42)
    (42, 42)
    """
    return tx - TX0 if tx >= TX0 else tx


INDEXES = ("eavt", "aevt", "avet", "vaet")
