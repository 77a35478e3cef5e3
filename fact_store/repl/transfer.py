"""Export and import: the EDN tx-data streams of ``.export`` / ``.import`` and the CLI."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TextIO

import fact_store as fs
from fact_store import Keyword

from fact_store.repl.shared import KW
from fact_store.repl.scanner import MAX_PROBLEMS_SHOWN, ReplError, line_col, error_text, read_form, split_forms
from fact_store.repl.output import edn_text

EXPORT_KEY = KW(":fact-store/export")
_TEMPID = "fs-import:"


def export_log(conn: fs.Connection, out: TextIO, until_t: int | None = None,
               progress: Callable[[int, int], Any] | None = None) -> int:
    """Write the log as an EDN tx-data stream; return the number of transactions written.

    The stream starts with a header map ``{:fact-store/export 1 ...}``, then
    one vector of ``[:db/add e a v]`` / ``[:db/retract e a v]`` per
    transaction in t order. Attributes and refs to entities with an ident are
    written as idents; other entity ids as numbers, which :func:`import_text`
    maps to fresh ids of the target store; the transaction's own entity is
    ``"datomic.tx"``, its ``:db/txInstant`` included. Values of composite
    tuple attributes are left out (the target computes them). O(log size).
    """
    db = conn.sync()
    last = db.basis_t if until_t is None else min(until_t, db.basis_t)
    db0 = fs.Db.empty()
    boot = {d.e: d.v for d in db0.datoms("aevt", ":db/ident")}
    ident_of = dict(boot)
    ident_a = db0.schema.attr(":db/ident").id  # type: ignore[union-attr]
    vt_a = db0.schema.attr(":db/valueType").id  # type: ignore[union-attr]
    ta_a = db0.schema.attr(":db/tupleAttrs").id  # type: ignore[union-attr]
    ref_type = db0.entid(":db.type/ref")
    refs = {a.id for a in db0.schema.attrs() if a.is_ref}
    composite: set[int] = set()
    header = {EXPORT_KEY: 1, KW(":basis-t"): last,
              KW(":exported"): _dt.datetime.now(_dt.timezone.utc)}
    out.write(";; fact-store export: one transaction per form; load it with `fact-store import`\n")
    out.write(edn_text(header) + "\n")
    n = 0
    for tx in conn.log().tx_range(1, last + 1):
        ops = []
        for d in tx.data:
            if d.a in composite:
                continue
            a = ident_of.get(d.a, d.a)
            e: Any = "datomic.tx" if d.e == tx.tx else boot.get(d.e, d.e)
            v = d.v
            if d.a in refs and type(v) is int:
                v = "datomic.tx" if v == tx.tx else ident_of.get(v, v)
            ops.append((KW(":db/add" if d.added else ":db/retract"), e, a, v))
        for d in tx.data:  # the schema as of after this transaction
            if d.a == ident_a:
                if d.added:
                    ident_of[d.e] = d.v
                elif ident_of.get(d.e) == d.v:
                    del ident_of[d.e]
            elif d.a == vt_a and d.added:
                (refs.add if d.v == ref_type else refs.discard)(d.e)
            elif d.a == ta_a and d.added:
                composite.add(d.e)
        out.write(f";; t {tx.t} {tx.instant.isoformat()}\n")
        out.write("[" + "\n ".join(edn_text(op) for op in ops) + "]\n")
        n += 1
        if progress is not None:
            progress(n, last)
    return n


@dataclass
class ImportReport:
    transactions: int = 0
    datoms: int = 0
    basis_t: int = 0
    #: transactions that added no fact (the store already held them): only their own timestamp
    empty: int = 0


def import_summary(rep: ImportReport) -> str:
    """``3 transactions (16 datoms)``, and how many of them added nothing.

    >>> import_summary(ImportReport(transactions=1, datoms=4, empty=1))
    '1 transaction (4 datoms; it added no fact: the store already held them)'
    """
    s = f"{rep.transactions:,} transaction{'s' if rep.transactions != 1 else ''} ({rep.datoms:,} datoms"
    if rep.empty == rep.transactions and rep.empty:
        return s + ("; it added no fact" if rep.empty == 1 else "; none of them added a fact") + \
            ": the store already held them)"
    if rep.empty:
        return s + f"; {rep.empty:,} of them added no fact: the store already held those)"
    return s + ")"


def _adds_facts(report: fs.TxReport) -> bool:
    """True when a transaction asserted or retracted more than its own ``:db/txInstant``."""
    tx = fs.t_to_tx(report.db_after.basis_t)
    return any(d.e != tx for d in report.tx_data)


def import_text(conn: fs.Connection, text: str, instants: str = "auto",
                progress: Callable[[int, int], Any] | None = None,
                force: bool = False) -> ImportReport:
    """Transact an EDN tx-data stream: each top-level form is one transaction, in order.

    A stream written by :func:`export_log` (it starts with the export header)
    has its entity ids mapped to new ids of this store. ``instants``:
    ``keep`` the exported ``:db/txInstant`` values, ``now`` to drop them, or
    ``auto``: keep them when the store is empty. Stops at the first refused
    transaction with a ReplError naming it and its line; those before it stay.

    Before writing anything it refuses (ReplError) an exported stream that
    uses attributes neither the store nor the stream installs, and a stream
    whose every transaction would add no fact to a non-empty store (it was
    imported before; ``force`` imports it anyway). ``ImportReport.empty``
    counts the transactions that added nothing.
    """
    spans = split_forms(text)
    forms: list[tuple[Any, int]] = [(read_form(text, s, e), s) for s, e in spans]
    rep = ImportReport(basis_t=conn.db().basis_t)
    exported = bool(forms) and isinstance(forms[0][0], dict) and EXPORT_KEY in forms[0][0]
    if exported:
        forms = forms[1:]
    keep = instants == "keep" or (instants == "auto" and conn.db().basis_t == 0)
    for i, (tx_data, pos) in enumerate(forms, 1):
        if not isinstance(tx_data, (tuple, list)):
            raise ReplError(f"form {i} (line {line_col(text, pos)[0]}) is not tx-data: "
                            f"{edn_text(tx_data)[:60]}; nothing was imported", pos)
    if exported:
        _check_attributes(conn.db(), text, forms)
    if not force and forms and conn.db().basis_t > 0 and _imported_before(conn.db(), forms, exported):
        raise ReplError(
            f"nothing imported: this store already holds every fact of the stream (each of its "
            f"{len(forms):,} transactions would add nothing but its own timestamp; it was probably "
            "imported before); `fact-store import --force` imports it anyway")
    remap: dict[int, int] = {}
    total = len(forms)
    for i, (tx_data, pos) in enumerate(forms, 1):
        line = line_col(text, pos)[0]
        if exported:
            tx_data = _remap(conn.db(), tx_data, remap, keep)
        try:
            report = conn.transact(tx_data)
        except fs.FactStoreError as exc:
            raise ReplError(f"transaction {i} (line {line}) was refused: {error_text(exc)}\n"
                            f"{rep.transactions} transactions before it were imported", pos) from None
        rep.transactions += 1
        rep.datoms += len(report.tx_data)
        rep.basis_t = report.db_after.basis_t
        rep.empty += not _adds_facts(report)
        if exported:
            for k, eid in report.tempids.items():
                if isinstance(k, str) and k.startswith(_TEMPID):
                    remap[int(k[len(_TEMPID):])] = eid
            remap[fs.t_to_tx(i)] = fs.t_to_tx(report.db_after.basis_t)
        if progress is not None:
            progress(i, total)
    return rep


def _imported_before(db: fs.Db, forms: list[tuple[Any, int]], exported: bool) -> bool:
    """True when every transaction of the stream, applied in turn to ``db`` without writing,
    adds no fact. Stops at the first one that adds a fact (or is refused: the real run says
    why), so a new stream costs one speculative transaction."""
    remap: dict[int, int] = {}
    for i, (tx_data, _pos) in enumerate(forms, 1):
        if exported:
            tx_data = _remap(db, tx_data, remap, keep_instants=False)
        try:
            report = db.with_(tx_data)
        except fs.FactStoreError:
            return False
        if _adds_facts(report):
            return False
        if exported:
            for k, eid in report.tempids.items():
                if isinstance(k, str) and k.startswith(_TEMPID):
                    remap[int(k[len(_TEMPID):])] = eid
            remap[fs.t_to_tx(i)] = fs.t_to_tx(report.db_after.basis_t)
        db = report.db_after
    return True


def _check_attributes(db: fs.Db, text: str, forms: list[tuple[Any, int]]) -> None:
    """Refuse an exported stream that uses attributes it does not install and ``db`` lacks.

    One message naming them (at most :data:`MAX_PROBLEMS_SHOWN`) and where the first is used,
    instead of one refused transaction listing every datom. O(datoms of the stream).
    """
    installed = {str(a.ident) for a in db.schema.attrs()}
    missing: dict[str, tuple[int, int]] = {}
    for i, (tx_data, pos) in enumerate(forms, 1):
        for op in tx_data:
            if isinstance(op, (tuple, list)) and len(op) == 4 and op[2] == ":db/ident" \
                    and isinstance(op[3], str):
                installed.add(str(op[3]))
        for op in tx_data:
            if isinstance(op, (tuple, list)) and len(op) == 4 and isinstance(op[2], Keyword):
                a = str(op[2])
                if a not in installed and a not in missing:
                    missing[a] = (i, line_col(text, pos)[0])
    if not missing:
        return
    names = list(missing)
    shown = " ".join(names[:MAX_PROBLEMS_SHOWN])
    more = f" ... and {len(names) - MAX_PROBLEMS_SHOWN:,} more" if len(names) > MAX_PROBLEMS_SHOWN else ""
    i, line = missing[names[0]]
    raise ReplError(f"nothing imported: the stream uses {len(names):,} attribute"
                    f"{'s' if len(names) != 1 else ''} that neither this store nor the stream "
                    f"installs: {shown}{more} (the first in transaction {i}, line {line}). "
                    "Install the schema first (fact-store transact schema.edn), or import the "
                    "whole export")


def _remap(db: fs.Db, tx_data: Sequence[Any], remap: dict[int, int], keep_instants: bool) -> list[Any]:
    def m(x: Any) -> Any:
        if type(x) is int:
            return remap.get(x, f"{_TEMPID}{x}")
        return x

    out = []
    for op in tx_data:
        if not (isinstance(op, (tuple, list)) and len(op) == 4):
            out.append(op)
            continue
        kind, e, a, v = op
        if not keep_instants and a == ":db/txInstant" and e == "datomic.tx":
            continue
        attr = db.schema.attr(a) if isinstance(a, str) else None
        out.append((kind, m(e), a, m(v) if attr is not None and attr.is_ref else v))
    return out
