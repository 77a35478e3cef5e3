"""The console's own pages (query, pull, schema, entity, tx log, events) and the app and server.

Each page is a GET with its parameters in the URL, so every view has a
shareable address, and answers HTML or, asked for JSON, its data. The pages
read through the façade only; web queries run under the server's deadline
and row budget (:class:`~fact_store.web.console.Settings`).
"""

from __future__ import annotations

import sys
import time
from urllib.parse import urlencode
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import fact_store as fs
from fact_store.web.console import (STATIC, BadRequest, Console, NotFound, Settings, Tab, edn,
                                    jsonable, load_tabs)
from fact_store.web.security import Security

#: most datoms an entity, history or tx page lists
MAX_LIST = 500


def _int(request: Request, name: str, default: int, lo: int = 1, hi: int = 10**12) -> int:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    try:
        return max(lo, min(hi, int(raw)))
    except ValueError:
        raise BadRequest(f"{name} takes a whole number, got {edn(raw, 40)}") from None


def find_columns(text: str) -> list[str]:
    """The :find elements of a query text, as column titles ('' when it cannot tell).

    >>> find_columns('[:find ?a (count ?b) :where [?a :x ?b]]')
    ['?a', '(count ?b)']
    >>> find_columns('{:find [?n ...] :where []}')
    ['?n']
    """
    try:
        form = fs.read_edn(text)
    except fs.FactStoreError:
        return []
    if isinstance(form, dict):
        found = form.get(fs.kw(":find"), [])
        keys = form.get(fs.kw(":keys"))
    else:
        found, keys, cur = [], None, None
        for x in form if isinstance(form, (list, tuple)) else []:
            if isinstance(x, fs.Keyword):
                cur = str(x)
                continue
            if cur == ":find":
                found.append(x)
            elif cur == ":keys":
                keys = (keys or []) + [x]
    if keys:
        return [str(k) for k in keys]
    out: list[str] = []
    for x in found:
        if isinstance(x, (list, tuple)) and len(x) in (1, 2) and (
                len(x) == 1 or x[-1] == fs.Symbol("...")):
            x = x[0]
        out.append(edn(x, 80) if not isinstance(x, fs.Symbol) else str(x))
    return [c for c in out if c not in (".", "...")]


def result_rows(result: Any) -> tuple[list[list[Any]], str]:
    """Any find shape as rows, and the shape's name."""
    if isinstance(result, (set, frozenset)):
        rows, shape = [list(r) for r in result], "relation"
    elif isinstance(result, list):
        if result and isinstance(result[0], dict):
            rows, shape = [list(r.values()) for r in result], "maps"
        else:
            rows, shape = [[v] for v in result], "collection"
    elif isinstance(result, tuple):
        rows, shape = [list(result)], "tuple"
    elif result is None:
        rows, shape = [], "scalar"
    else:
        rows, shape = [[result]], "scalar"
    try:
        rows.sort()
    except TypeError:
        rows.sort(key=lambda r: [(type(v).__name__, edn(v, 200)) for v in r])
    return rows, shape


def _query_error(text: str, exc: fs.FactStoreError) -> dict[str, Any]:
    """The message, and a caret under the form it names (its line and column)."""
    from fact_store.repl import error_text, format_error, locate_error
    message = error_text(exc)
    if isinstance(exc, fs.EdnSyntaxError):
        return {"code": exc.code, "message": message.split(":\n", 1)[0],
                "excerpt": getattr(exc, "context", None), "line": getattr(exc, "line", None),
                "column": getattr(exc, "column", None)}
    pos = locate_error(text, 0, len(text), exc)
    message, excerpt = format_error(message, text, pos)
    return {"code": exc.code, "message": message, "excerpt": excerpt}


def _with_param(request: Request, name: str, value: Any) -> str:
    """This page's URL with one query parameter changed."""
    params = dict(request.query_params)
    params[name] = str(value)
    return str(request.url.path) + "?" + urlencode(params)


def _json_url(request: Request) -> str:
    q = request.url.query
    return str(request.url.path) + ".json" + (f"?{q}" if q else "")


class DataPages:
    """The console's own pages."""

    def __init__(self, console: Console) -> None:
        self.c = console

    def routes(self) -> list[Any]:
        return [Route("/query", self.query), Route("/pull", self.pull), Route("/schema", self.schema),
                Route("/entity/{eid}", self.entity), Route("/entity", self.entity),
                Route("/tx", self.tx_log), Route("/events", self.events)]

    # -- query -------------------------------------------------------------------

    def query(self, request: Request) -> Response:
        """The query console: ``q``, ``in`` (EDN inputs after ``$``), time selectors, ``page``."""
        c, p = self.c, request.query_params
        text = p.get("q", "")
        inputs_text = p.get("in", "")
        page = _int(request, "page", 1)
        want_explain = p.get("explain") in ("1", "true", "on")
        db, tinfo = c.db_at(request)
        data: dict[str, Any] = {"q": text, "in": inputs_text, "page": page, "explain": want_explain,
                                "time": tinfo, "page_size": c.settings.page_size,
                                "limits": {"timeout_s": c.settings.query_timeout,
                                           "max_rows": c.settings.max_rows}}
        if not text.strip():
            data["q"] = "[:find ?e ?ident\n :where [?e :db/ident ?ident]]"
            return c.page(request, "query.html", data, title="Query", tab="query")
        status = 200
        try:
            inputs = fs.read_all_edn(inputs_text) if inputs_text.strip() else []
            t0 = time.perf_counter()
            opts = {"timeout": c.settings.query_timeout, "max_rows": c.settings.max_rows}
            if want_explain:
                ex = fs.explain(text, db, *inputs, **opts)
                result, data["plan"] = ex.result, ex.text
            else:
                result = fs.q(text, db, *inputs, **opts)
            data["ms"] = round((time.perf_counter() - t0) * 1000, 3)
            rows, shape = result_rows(result)
            size = c.settings.page_size
            data.update(columns=find_columns(text), shape=shape, count=len(rows),
                        pages=max(1, -(-len(rows) // size)),
                        rows=rows[(page - 1) * size: page * size])
        except fs.FactStoreError as exc:
            data["error"] = _query_error(text, exc)
            status = 400
        return c.page(request, "query.html", data, status=status, title="Query", tab="query",
                      extra={"page_url": lambda n: _with_param(request, "page", n),
                             "json_url": _json_url(request)})

    # -- pull --------------------------------------------------------------------

    def pull(self, request: Request) -> Response:
        c, p = self.c, request.query_params
        pattern = p.get("pattern", "") or "[*]"
        eid_text = p.get("eid", "")
        db, tinfo = c.db_at(request, history=False)
        data: dict[str, Any] = {"pattern": pattern, "eid": eid_text, "time": tinfo}
        status = 200
        if eid_text.strip():
            try:
                eid = fs.read_edn(eid_text)
                if isinstance(eid, (list, tuple)):
                    eid = tuple(eid)
                t0 = time.perf_counter()
                data["result"] = db.pull(pattern, eid)
                data["ms"] = round((time.perf_counter() - t0) * 1000, 3)
                data["text"] = edn(data["result"], 200_000)
            except fs.FactStoreError as exc:
                data["error"] = _query_error(pattern, exc)
                status = 400
        return c.page(request, "pull.html", data, status=status, title="Pull", tab="pull")

    # -- schema ------------------------------------------------------------------

    def schema(self, request: Request) -> Response:
        c = self.c
        db, tinfo = c.db_at(request, history=False)
        attrs = []
        for a in sorted(db.schema.attrs(), key=lambda a: str(a.ident)):
            if str(a.ident).startswith(":db") or str(a.ident).startswith(":fressian"):
                continue
            attrs.append({"id": a.id, "ident": str(a.ident), "type": str(a.value_type).split("/")[-1],
                          "cardinality": "many" if a.many else "one",
                          "unique": str(a.unique).split("/")[-1] if a.unique else None,
                          "indexed": a.indexed, "component": a.component, "no_history": a.no_history,
                          "doc": a.doc or "", "datoms": db.count(a=a.id)})
        return c.page(request, "schema.html", {"attributes": attrs, "time": tinfo},
                      title="Schema", tab="schema")

    # -- entity ------------------------------------------------------------------

    def _resolve(self, db: Any, request: Request) -> int:
        raw = request.path_params.get("eid") or request.query_params.get("eid", "")
        if not raw:
            raise BadRequest("name an entity: /entity/123, /entity/:job/id (an ident) or "
                             "/entity?eid=[:job/id \"x\"] (a lookup ref)")
        try:
            x = int(raw) if raw.isdigit() else fs.read_edn(raw)
            if isinstance(x, (list, tuple)):
                x = tuple(x)
            eid = db.entid(x)
        except fs.FactStoreError as exc:
            raise BadRequest(exc.message) from None
        if eid is None or (next(iter(db.datoms("eavt", eid)), None) is None
                           and next(iter(db.history().datoms("eavt", eid)), None) is None):
            raise NotFound(f"no entity {edn(raw, 100)} in this db")
        return eid

    def _attr_name(self, db: Any, a: int) -> str:
        at = db.schema.attr(a)
        return str(at.ident) if at is not None else str(a)

    def entity(self, request: Request) -> Response:
        c = self.c
        try:
            db, tinfo = c.db_at(request, history=False)
            eid = self._resolve(db, request)
        except fs.FactStoreError as exc:
            return c.error(request, exc)
        attrs = []
        for d in db.datoms("eavt", eid):
            at = db.schema.attr(d.a)
            attrs.append({"attr": self._attr_name(db, d.a), "value": d.v, "tx": d.tx,
                          "t": fs.tx_to_t(d.tx), "ref": bool(at and at.is_ref)})
            if len(attrs) >= MAX_LIST:
                break
        reverse = [{"attr": self._attr_name(db, d.a), "e": d.e}
                   for _, d in zip(range(MAX_LIST), db.datoms("vaet", eid))]
        history = []
        for d in db.history().datoms("eavt", eid):
            history.append({"attr": self._attr_name(db, d.a), "value": d.v, "t": fs.tx_to_t(d.tx),
                            "added": d.added})
        history.sort(key=lambda h: (h["t"], h["added"]))  # a retraction before its replacement
        data = {"eid": eid, "ident": db.ident(eid), "attributes": attrs, "reverse": reverse,
                "history": history[-MAX_LIST:], "history_count": len(history), "time": tinfo}
        return c.page(request, "entity.html", data, title=f"Entity {eid}", tab="entity")

    # -- tx log ------------------------------------------------------------------

    def tx_log(self, request: Request) -> Response:
        c = self.c
        latest = c.latest()
        count = _int(request, "count", 20, 1, 200)
        end = _int(request, "end", latest.basis_t, 1, max(latest.basis_t, 1))
        start = max(1, end - count + 1)
        txs = []
        for tx in c.conn.log().tx_range(start, end + 1):
            meta, datoms = [], []
            for d in tx.data:
                row = {"e": d.e, "attr": self._attr_name(latest, d.a), "value": d.v, "added": d.added}
                (meta if d.e == tx.tx else datoms).append(row)
            txs.append({"t": tx.t, "tx": tx.tx, "instant": tx.instant, "meta": meta,
                        "datoms": datoms[:50], "datom_count": len(datoms)})
        txs.reverse()
        data = {"txs": txs, "end": end, "count": count, "basis_t": latest.basis_t,
                "older": start - 1 if start > 1 else None,
                "newer": min(latest.basis_t, end + count) if end < latest.basis_t else None}
        return c.page(request, "tx.html", data, title="Transaction log", tab="tx")

    # -- events ------------------------------------------------------------------

    async def events(self, request: Request) -> Response:
        """Server-Sent Events: ``tx`` with the new basis t after each transaction."""
        sub = self.c.broker.subscribe()
        start = self.c.conn.db().basis_t
        return StreamingResponse(self.c.broker.stream(sub, start), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})


def create_app(conn: fs.Connection, settings: Settings | None = None,
               tabs: list[Tab] | None = None) -> Any:
    """The console as an ASGI app over ``conn`` (tabs from entry points unless given)."""
    settings = settings or Settings()
    tabs = load_tabs() if tabs is None else tabs
    console = Console(conn, settings, tabs)
    pages = DataPages(console)

    def home(request: Request) -> Response:
        return RedirectResponse(settings.home, status_code=302)

    routes: list[Any] = [Route("/", home), *pages.routes(),
                         Mount("/static", StaticFiles(directory=str(STATIC)), name="static")]
    for tab in tabs:
        routes.extend(tab.routes(console))

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, fs.FactStoreError):
            return console.error(request, exc)
        import logging
        logging.getLogger("fact_store.web").exception("error serving %s", request.url.path)
        return console.error(request, exc, status=500)

    async def not_found(request: Request, exc: Exception) -> Response:
        return console.error(request, NotFound(f"no page {edn(request.url.path, 200)}"), status=404)

    app = Starlette(routes=routes, exception_handlers={fs.FactStoreError: on_error, 404: not_found,
                                                       500: on_error})
    app.state.console = console
    return Security(app, settings.token)


def serve(uri: str, host: str = "127.0.0.1", port: int = 8765, *, token: str | None = None,
          allow_writes: bool = False, open_browser: bool = False, home: str | None = None,
          query_timeout: float = 5.0, max_rows: int = 100_000, echo: Any = None) -> None:
    """Run the console until interrupted (what ``fact-store web`` and ``overseer web`` call).

    Binding an address other than loopback needs a token: a generated one is
    printed when none is given. The first line printed is the URL to open.
    """
    import socket

    import uvicorn

    from fact_store.web.security import is_loopback, new_token

    echo = echo or (lambda s: print(s, flush=True))
    if not is_loopback(host) and not token:
        token = new_token()
    conn = fs.connect(uri)
    tabs = load_tabs()
    if home is None:
        home = f"/{tabs[0].name}" if tabs else "/query"
    settings = Settings(allow_writes=allow_writes, token=token, query_timeout=query_timeout,
                        max_rows=max_rows, home=home)
    app = create_app(conn, settings, tabs)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # before the URL is printed: a client that reads it may connect at once
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{real_port}{home}" + (f"?token={token}" if token else "")
    echo(url)
    echo(f"fact-store web: {uri} ({'writes allowed' if allow_writes else 'read-only'}); Ctrl-C stops")
    if open_browser:
        import webbrowser
        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        conn.close()
        sock.close()
    if server.started is False:  # pragma: no cover - uvicorn reported why
        sys.exit(1)
