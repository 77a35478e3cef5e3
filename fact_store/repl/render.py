"""Result renderers: query results, datoms, tx reports and the log, through an :class:`Output`."""

from __future__ import annotations

import csv
import json
from typing import Any, Sequence

import fact_store as fs
from fact_store import Symbol

from fact_store.repl.shared import KW
from fact_store.repl.output import Labeler, Output, EdnText, edn_text, raw_value, sort_key, edn_pretty, sort_rows
from fact_store.repl.introspect import FindSpec, entity_vars, find_spec

def show_result(out: Output, query: Any, result: Any, db: fs.Db, labeler: Labeler | None) -> None:
    """Print a query result by its find spec: a table, or EDN/JSON/CSV data."""
    spec = find_spec(query)
    if spec.shape == "scalar":
        if labeler is not None and _entity_column(query, db, spec, 0):
            out.value(labeler.ref(result))
        else:
            out.value(result)
        return
    # a table shows out.max_rows rows: sort (and label, below) only those
    limit = out.max_rows if out.format == "table" else None
    total = None
    data: Any = result
    if spec.shape == "rel":
        if spec.keys is not None and result and isinstance(next(iter(result)), dict):
            rows = [tuple(r.get(KW(":" + k), r.get(k)) for k in spec.keys) for r in result]
        else:
            rows = list(result)  # q's rows are tuples already: no copy per row (C loops)
            if set(map(type, rows)) != {tuple}:
                rows = [tuple(r) for r in rows]
        total = len(rows)
        rows = sort_rows(rows, limit)
        if out.format == "edn":
            if spec.keys is not None:
                data = EdnText(edn_pretty(tuple(sorted(result, key=sort_key))))
            else:
                data = EdnText("#{" + "\n  ".join(edn_text(r) for r in rows) + "}")
        elif out.format == "json":
            data = rows if spec.keys is None else list(result)
    elif spec.shape == "coll":
        rows = [(v,) for v in result]
        total = len(rows)
        rows = sort_rows(rows, limit)
        data = [r[0] for r in rows]
        if out.format == "edn":
            data = EdnText("[" + " ".join(edn_text(v) for v in data) + "]")
    else:
        rows = [tuple(result)] if result is not None else []
        data = result
        if out.format == "edn":
            data = EdnText(edn_text(result))
    if labeler is not None:
        ents = [_entity_column(query, db, spec, i) for i in range(len(spec.columns))]
        rows = [tuple(labeler.ref(v) if ents[i] == "e" else labeler.attr(v) if ents[i] == "a" else v
                      for i, v in enumerate(r)) for r in rows]
    out.rows(spec.columns, rows, data=data, total=total)


def _entity_column(query: Any, db: fs.Db, spec: FindSpec, i: int) -> str | None:
    el = spec.elements[i] if i < len(spec.elements) else None
    if not isinstance(el, Symbol):
        return None
    return entity_vars(query, db.schema).get(str(el))


def show_datoms(out: Output, db: fs.Db, datoms: Sequence[Any], labeler: Labeler | None,
                title: str | None = None) -> None:
    """A table of datoms: e, a (its ident), v (refs named), tx, added."""
    rows = []
    for d in datoms:
        attr = db.schema.attr(d.a)
        a = attr.ident if attr is not None else d.a
        if labeler is not None:
            e: Any = labeler.ref(d.e)
            v: Any = labeler.ref(d.v) if attr is not None and attr.is_ref else d.v
        else:
            e, v = d.e, d.v
        rows.append((e, a, v, d.tx, d.added))
    data = EdnText("[" + "\n ".join(edn_text((raw_value(r[0]), r[1], raw_value(r[2]), r[3], r[4]))
                                      for r in rows) + "]")
    if out.format == "json":
        data = [[raw_value(r[0]), r[1], raw_value(r[2]), r[3], r[4]] for r in rows]
    out.rows(["e", "a", "v", "tx", "added"], rows, title=title,
             data=data if out.format in ("edn", "json") else None)


def show_tx_report(out: Output, report: fs.TxReport, labeler: Labeler | None) -> None:
    """What a transaction made: its t, the tempids it resolved and its datoms."""
    db = report.db_after
    t = db.basis_t
    tempids = {k: v for k, v in report.tempids.items() if k != "datomic.tx"}
    if out.format == "table":
        out.note(f"transacted: t {t}, {len(report.tx_data)} datoms")
        if tempids:
            out.rows(["tempid", "eid"], sorted(tempids.items(), key=sort_key), title="tempids",
                     count=False)
        show_datoms(out, db, report.tx_data, labeler, title="datoms")
        return
    data = {KW(":t"): t, KW(":tempids"): tempids,
            KW(":tx-data"): tuple((d.e, db.schema.attr(d.a).ident if db.schema.attr(d.a) else d.a,
                                   d.v, d.tx, d.added) for d in report.tx_data)}
    if out.format == "csv":
        show_datoms(out, db, report.tx_data, None)
    else:
        out.value(data)


def show_log(out: Output, conn: fs.Connection, db: fs.Db, n: int) -> None:
    """The last ``n`` transactions of the log (t, instant, datoms, the attributes they touched)."""
    start = max(1, db.basis_t - n + 1)
    rows = []
    for tx in conn.log().tx_range(start, db.basis_t + 1):
        added: dict[str, int] = {}
        retracted: dict[str, int] = {}
        for d in tx.data:
            if d.e == tx.tx:
                continue
            a = db.schema.attr(d.a)
            name = str(a.ident) if a is not None else str(d.a)
            counts = added if d.added else retracted
            counts[name] = counts.get(name, 0) + 1
        parts = [k + (f" ×{v}" if v > 1 else "") for k, v in added.items()]
        parts += ["-" + k + (f" ×{v}" if v > 1 else "") for k, v in retracted.items()]
        rows.append((tx.t, tx.instant, len(tx.data), ", ".join(parts)))
    rows.reverse()
    out.rows(["t", "instant", "datoms", "attributes"], rows)
