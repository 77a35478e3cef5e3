"""The loops: a piped script, and the prompt_toolkit prompt with completion and history."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any, Iterator, TextIO

import fact_store as fs

from fact_store.repl.shared import FORMATS, QUERY_KEYS
from fact_store.repl.scanner import scan_tokens
from fact_store.repl.output import edn_text
from fact_store.repl.session import DOT_COMMANDS, Session, rich_text, entry_complete, rule_names

def run_script(session: Session, stream: TextIO, bail: bool = False) -> None:
    """Feed a session from a non-terminal stream: entries end where the brackets balance."""
    try:
        _run_script(session, stream, bail)
    finally:
        session.out.redirect(None)  # closes a file .output opened


def _run_script(session: Session, stream: TextIO, bail: bool) -> None:
    buf: list[str] = []
    first_line = 0
    lineno = 0
    for line in stream:
        lineno += 1
        if not buf:
            if not line.strip():
                continue
            first_line = lineno - 1
        buf.append(line)
        text = "".join(buf)
        if entry_complete(text):
            buf = []
            before = session.errors
            session.feed(text.rstrip("\n"), first_line)
            if session.done or (bail and session.errors > before):
                return
    if buf and "".join(buf).strip():
        session.feed("".join(buf).rstrip("\n"), first_line)
    if session.pending is not None and session.pending.missing and not session.done:
        missing = " ".join(edn_text(b) for b in session.pending.missing)
        session.pending = None
        session.errors += 1
        session.out.error(f"end of input: the last query still needs its inputs {missing}")


# -- completion -------------------------------------------------------------------------

_CLAUSE_HEADS = ("not", "not-join", "or", "or-join", "and", "pull", "count", "count-distinct",
                 "sum", "min", "max", "avg", "median", "distinct", "rand", "sample",
                 "get-else", "get-some", "missing?", "ground", "tuple", "untuple",
                 "str", "subs", "re-find", "re-matches", "identity")
_ARG_WORDS = {".format": FORMATS, ".timer": ("on", "off"), ".pager": ("on", "off"),
              ".limit": ("off", "100", "1000"),
              ".datoms": (":eavt", ":aevt", ":avet", ":vaet")}
_WORD = re.compile(r"[^\s()\[\]{}\",;]*$")


def completions(session: Session, text_before: str) -> list[tuple[str, str]]:
    """``(candidate, meta)`` pairs for the word before the cursor.

    Dot commands at the start of an entry, their arguments, attribute idents and
    query keywords after ``:``, variables after ``?``, rule and function names
    after ``(``. The schema is the live one.
    """
    word = _WORD.search(text_before).group(0)  # type: ignore[union-attr]
    before = text_before[: len(text_before) - len(word)]
    out: list[tuple[str, str]] = []
    stripped = text_before.lstrip()
    if stripped == word and word.startswith("."):
        return [(c, "command") for c in sorted(set(DOT_COMMANDS)) if c.startswith(word)]
    head = stripped.split(None, 1)[0] if stripped.startswith(".") else None
    if head in _ARG_WORDS and before.strip() == head:
        return [(w, head) for w in _ARG_WORDS[head] if w.startswith(word)]
    if word.startswith("?"):
        seen = sorted(set(re.findall(r"\?[^\s()\[\]{}\",;]+", before)))
        return [(v, "variable") for v in seen if v.startswith(word) and v != word]
    if word.startswith(":"):
        try:
            db = session.latest()
        except fs.FactStoreError:
            return []
        for k in QUERY_KEYS:
            if k.startswith(word):
                out.append((k, "query"))
        for a in db.schema.attrs():
            if str(a.ident).startswith(word):
                out.append((str(a.ident), str(a.value_type).replace(":db.type/", "")))
        if len(out) < 50:
            for k in (":db.type/string", ":db.type/long", ":db.type/ref", ":db.type/keyword",
                      ":db.type/boolean", ":db.type/instant", ":db.type/double", ":db.type/uuid",
                      ":db.cardinality/one", ":db.cardinality/many", ":db.unique/identity",
                      ":db.unique/value", ":eavt", ":aevt", ":avet", ":vaet"):
                if k.startswith(word) and all(k != c for c, _ in out):
                    out.append((k, "ident"))
        return out
    if before.endswith("("):
        names = sorted(rule_names(fs.read_edn(session.rules))) if session.rules else []
        out = [(n, "rule") for n in names if n.startswith(word)]
        out += [(n, "function") for n in _CLAUSE_HEADS if n.startswith(word) and word]
        return out
    return out


def _make_completer(session: Session) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class ReplCompleter(Completer):  # type: ignore[misc]
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            before = document.text_before_cursor
            word = _WORD.search(before).group(0)  # type: ignore[union-attr]
            for cand, meta in completions(session, before):
                yield Completion(cand, start_position=-len(word), display_meta=meta)

    return ReplCompleter()


def default_history_path() -> str:
    """``$FACT_STORE_HISTORY``, else ``~/.fact_store_history``."""
    return os.environ.get("FACT_STORE_HISTORY") or os.path.join(os.path.expanduser("~"),
                                                                ".fact_store_history")


def run_interactive(session: Session, history_path: str | None = None,
                    banner: str | None = None) -> None:
    """The terminal loop: prompt_toolkit with multi-line entry, history, completion, colour."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.jvm import ClojureLexer

    kb = KeyBindings()

    @kb.add("enter")
    @kb.add("c-j")  # a terminal in cooked mode turns the Enter typed ahead into a newline
    def _enter(event: Any) -> None:
        buf = event.current_buffer
        state = buf.complete_state
        if state is not None and state.current_completion is not None:
            buf.apply_completion(state.current_completion)
            return
        if not buf.text.strip() or entry_complete(buf.text):
            buf.validate_and_handle()
        else:
            depth = _depth(buf.text)
            buf.insert_text("\n" + " " * min(depth, 8))

    @kb.add("escape", "enter")
    def _force(event: Any) -> None:  # submit as is (the reader says what is missing)
        event.current_buffer.validate_and_handle()

    history: Any = InMemoryHistory()
    path = history_path or default_history_path()
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # private, as the store
        history = FileHistory(path)
    except OSError:
        pass

    def continuation(width: int, line_number: int, wrap_count: int) -> str:
        return "...> ".rjust(width)

    prompt = PromptSession(
        multiline=True, key_bindings=kb, history=history, lexer=PygmentsLexer(ClojureLexer),
        completer=_make_completer(session), complete_while_typing=False,
        prompt_continuation=continuation, enable_history_search=False)
    if banner:
        session.out.console.print(rich_text(banner))
    while not session.done:
        try:
            text = prompt.prompt(session.prompt())
        except KeyboardInterrupt:
            session.cancel()
            continue
        except EOFError:
            break
        with session.out.paged():
            session.feed(text)
    session.out.redirect(None)


def _depth(text: str) -> int:
    toks, _ = scan_tokens(text)
    d = 0
    for t in toks:
        d += 1 if t.kind == "open" else -1 if t.kind == "close" else 0
    return max(d, 0)
