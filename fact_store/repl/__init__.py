"""The Datalog REPL: prompt_toolkit input, dot commands, results as tables (rich).

A :class:`Session` is fed *entries*: text typed at the prompt (or lines of a
piped script) up to the point where the EDN brackets balance. An entry holds
one or more EDN forms, run by what they are:

- a query, ``[:find ...]`` or ``{:find ...}``, runs against the session's
  current db; the forms after it are its ``:in`` inputs (``$`` is the db and
  ``%`` the rules set with ``.rules``, both supplied by the session). Inputs
  not typed yet are asked for with a prompt that names the binding;
- a line starting with a dot is a command (``.help`` lists them): ``.tx``
  transacts, ``.as-of`` / ``.since`` / ``.history`` / ``.now`` choose the db
  that later queries read, and so on.

Results are rich tables on a terminal (columns named after the find
variables, entity ids shown as their ident or identity lookup ref) and EDN,
JSON or CSV otherwise. Every error a user can cause is shown as one message,
with the line and column when the text tells them, and the session goes on.

The package uses the public façade only (layer 8). Its modules, each below the
ones that import it::

    shared       names every part shares (FORMATS, QUERY_KEYS)
    scanner      the form scanner (is_complete, split_forms) and errors with positions
    output       values for display, Output (tables, EDN, JSON, CSV), the pager
    introspect   queries as data: the find spec, entity columns
    render       result renderers (query results, datoms, tx reports, the log)
    transfer     export_log / import_text, the EDN tx-data streams of .export / .import
    session      Session: entries, dot commands
    interactive  run_script, run_interactive (prompt_toolkit), completion

Note: the scanner tokenizes EDN by itself (it must find where an unfinished
entry's forms end, which the reader, parsing only complete text, cannot tell);
the forms themselves are read with the real reader (:func:`read_form`), and
queries are read as data (``introspect``), not with the query parser, as the
REPL needs only their find spec and clauses before the engine sees them.

>>> is_complete('[:find ?e'), is_complete('[:find ?e :where [?e :a/b "]"]]')
(False, True)
>>> split_forms('[:find ?a :in $ ?x] 42 #_ignored "s"')
[(0, 19), (20, 22), (33, 36)]
"""

from __future__ import annotations

# re-exported: the public names, and the others that cli.py and the tests have always read here
from fact_store.repl.shared import FORMATS, QUERY_KEYS
from fact_store.repl.interactive import completions, default_history_path, run_interactive, run_script
from fact_store.repl.introspect import FindSpec, find_spec, is_query
from fact_store.repl.output import Labeler, Output, sort_key, edn_pretty, page, sort_rows
from fact_store.repl.render import show_datoms, show_log, show_result, show_tx_report
from fact_store.repl.scanner import (ReplError, error_text, format_error, is_complete, locate_error,
                                     read_form, split_forms)
from fact_store.repl.session import (DOT_COMMANDS, LINE_COMMANDS, Session, is_builtin, entry_complete,
                                     rule_names)
from fact_store.repl.transfer import EXPORT_KEY, ImportReport, export_log, import_summary, import_text

__all__ = ["Session", "Output", "ReplError", "is_complete", "split_forms", "read_form",
           "locate_error", "format_error", "error_text", "export_log", "import_text",
           "run_interactive", "run_script", "FORMATS"]

