"""The console's core: settings, the tab seam, page rendering (HTML or its JSON twin), time travel.

A page handler builds one JSON-able ``data`` dict and names a template;
:meth:`Console.page` renders the template (Jinja2, autoescape on) or, when the
request asks for JSON (``Accept: application/json`` or a ``.json`` suffix on the
path), the dict itself. So every page is also an HTTP API.

Tabs are how packages above fact_store add pages without fact_store knowing
them: an object with ``name``, ``title``, ``template_dir`` and
``routes(console)``, found in the ``fact_store.web.tabs`` entry point group.
overseer's Jobs tab is one (``overseer.web:tab``).

>>> jsonable({fs.kw(":a/b"): [1, _dt.datetime(2024, 5, 1, tzinfo=_dt.timezone.utc)]})
{':a/b': [1, '2024-05-01T00:00:00+00:00']}
>>> parse_point("12", "as_of"), parse_point("", "as_of")
(12, None)
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute

import fact_store as fs

log = logging.getLogger("fact_store.web")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
TAB_GROUP = "fact_store.web.tabs"


@dataclass(frozen=True, slots=True)
class Settings:
    """What the server was started with (``fact-store web --help`` names each option)."""

    allow_writes: bool = False
    token: str | None = None
    #: seconds one web query may run (a query's own ``:timeout`` cannot raise it)
    query_timeout: float = 5.0
    #: rows one web query may produce, intermediate relations included
    max_rows: int = 100_000
    page_size: int = 50
    home: str = "/query"


@runtime_checkable
class Tab(Protocol):
    """A group of pages a package above fact_store adds to the console (the declared seam)."""

    name: str           # the nav id and the URL prefix of its routes ("jobs": /jobs, /jobs/...)
    title: str          # shown in the navigation bar
    template_dir: Path  # searched before the console's own templates

    def routes(self, console: "Console") -> list[BaseRoute]:
        """The Starlette routes of the tab, with full paths under ``/<name>``; ``/<name>`` is its home."""
        ...


def load_tabs() -> list[Tab]:
    """The tabs installed packages declare in the ``fact_store.web.tabs`` entry point group."""
    tabs = []
    for ep in sorted(metadata.entry_points(group=TAB_GROUP), key=lambda e: e.name):
        try:
            tab = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not stop the console
            log.warning("web tab %s (%s) failed to load: %s", ep.name, ep.value, exc)
            continue
        if isinstance(tab, Tab):
            tabs.append(tab)
        else:
            log.warning("web tab %s (%s) is not a Tab", ep.name, ep.value)
    return tabs


# ------------------------------------------------------------------ values

def jsonable(v: Any) -> Any:
    """A value of the store as JSON: keywords and symbols as text, instants as ISO 8601."""
    if isinstance(v, (fs.Keyword, fs.Symbol)):
        return str(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {k if type(k) is str else str(jsonable(k)): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        items = [jsonable(x) for x in v]
        return sorted(items, key=repr) if isinstance(v, (set, frozenset)) else items
    if isinstance(v, (decimal.Decimal, uuid.UUID)):
        return str(v)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    return fs.write_edn(v)


def edn(v: Any, limit: int = 2000) -> str:
    """EDN text of a value, cut at ``limit`` characters (a page never echoes megabytes)."""
    try:
        text = fs.write_edn(v)
    except (fs.FactStoreError, TypeError, ValueError):
        text = str(v)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def parse_point(value: str | None, name: str) -> Any:
    """A time point from a query parameter: a t, a tx id or an ISO 8601 date-time; '' is none.

    :raises fs.ConfigurationError: anything else (shown to the user as a 400).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        point = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} takes a t (a number), a tx id or a date-time "
                         f"(2024-05-01T12:00:00Z), got {edn(text, 60)}") from None
    return point if point.tzinfo else point.replace(tzinfo=_dt.timezone.utc)


class BadRequest(fs.FactStoreError, ValueError):
    """A request the console cannot serve: a bad parameter (400)."""

    code = "web/bad-request"


class Forbidden(fs.FactStoreError):
    """A write on a read-only console, or a POST without a valid CSRF token (403)."""

    code = "web/forbidden"


class NotFound(fs.FactStoreError):
    """No such entity, job or page (404)."""

    code = "web/not-found"


STATUS_OF = {BadRequest: 400, Forbidden: 403, NotFound: 404}


# ------------------------------------------------------------------ the console

class Console:
    """One console over one connection: what every page handler uses."""

    def __init__(self, conn: fs.Connection, settings: Settings, tabs: list[Tab]) -> None:
        from fact_store.web.events import Broker

        self.conn = conn
        self.settings = settings
        self.tabs = tabs
        self.secret = secrets.token_bytes(32)
        loaders = [jinja2.FileSystemLoader(str(t.template_dir)) for t in tabs]
        loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True)
        self.env.filters["edn"] = edn
        self.env.filters["thousands"] = lambda n: f"{n:,}"
        self.broker = Broker(conn)
        # the first query of a process pays a one-time setup (a few hundred ms); pay it here, so
        # the first query a person runs shows its own time
        fs.q("[:find ?a (count ?e) :where [?e :db/ident ?a] [?e :db/valueType _]]", conn.db())

    # -- reading -------------------------------------------------------------

    def latest(self) -> fs.Db:
        """The newest db (catching up with other processes first)."""
        return self.conn.sync()

    def time_params(self, request: Request) -> dict[str, Any]:
        """``as_of``, ``since`` and ``history`` from the query string (validated)."""
        p = request.query_params
        return {"as_of": parse_point(p.get("as_of"), "as_of"),
                "since": parse_point(p.get("since"), "since"),
                "history": p.get("history") in ("1", "true", "on")}

    def db_at(self, request: Request, history: bool = True) -> tuple[fs.Db, dict[str, Any]]:
        """The db the request asks for (``as_of``/``since``/``history``) and a summary of it."""
        latest = self.latest()
        tp = self.time_params(request)
        db = latest
        try:
            if tp["as_of"] is not None:
                db = db.as_of(tp["as_of"])
            if tp["since"] is not None:
                db = db.since(tp["since"])
        except fs.FactStoreError as exc:
            raise BadRequest(exc.message) from None
        if history and tp["history"]:
            db = db.history()
        as_of_t = db.as_of_t if db.as_of_t is not None else None
        info = {"basis_t": latest.basis_t, "as_of": as_of_t, "since": db.since_t,
                "history": bool(history and tp["history"]),
                "as_of_param": request.query_params.get("as_of", ""),
                "since_param": request.query_params.get("since", "")}
        return db, info

    # -- writing -------------------------------------------------------------

    async def write_form(self, request: Request) -> dict[str, str]:
        """The POSTed form, once the console allows writes and its CSRF token checks out.

        :raises Forbidden: read-only console, or a missing or wrong token.
        """
        if not self.settings.allow_writes:
            raise Forbidden("this console is read-only: start it with --allow-writes to change data")
        form = await request.form()
        sent = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
        if not (request.scope.get("fs_bearer") or hmac.compare_digest(sent, self.csrf_token(request))):
            raise Forbidden("missing or stale CSRF token: reload the page and try again")
        return {k: str(v) for k, v in form.items()}

    def csrf_token(self, request: Request) -> str:
        """The token forms carry: an HMAC of the browser's ``fs_csrf`` cookie."""
        cookie = request.scope.get("fs_csrf", "")
        return hmac.new(self.secret, cookie.encode(), hashlib.sha256).hexdigest()

    def audit(self, request: Request, form: dict[str, str], what: str) -> dict[str, Any]:
        """The tx entity's who/why metadata for an action taken in the console."""
        from fact_store.web.audit import install_audit_schema
        install_audit_schema(self.conn)
        who = (form.get("who") or "").strip()[:200] or "web console"
        client = request.client.host if request.client else "?"
        return {":db/id": "datomic.tx", ":audit/who": f"{who} ({client})",
                ":audit/why": (form.get("why") or "").strip()[:2000] or what,
                ":audit/via": "fact-store web"}

    # -- rendering -----------------------------------------------------------

    def wants_json(self, request: Request) -> bool:
        if request.scope.get("fs_json"):
            return True
        accept = request.headers.get("accept", "")
        return "application/json" in accept and "text/html" not in accept

    def page(self, request: Request, template: str, data: dict[str, Any], *, status: int = 200,
             title: str = "", tab: str = "", extra: dict[str, Any] | None = None) -> Response:
        """The page: ``template`` rendered with ``data``, or ``data`` as JSON."""
        if self.wants_json(request):
            return JSONResponse(jsonable(data), status_code=status)
        html = self.render(request, template, data, title=title, tab=tab, extra=extra)
        return HTMLResponse(html, status_code=status)

    def render(self, request: Request, template: str, data: dict[str, Any], *, title: str = "",
               tab: str = "", extra: dict[str, Any] | None = None) -> str:
        ctx = {"d": data, "title": title, "tab": tab, "tabs": self.tabs,
               "settings": self.settings, "csrf": self.csrf_token(request),
               "request": request, "url": str(request.url.path), **(extra or {})}
        return self.env.get_template(template).render(ctx)

    def error(self, request: Request, exc: BaseException, status: int | None = None,
              detail: dict[str, Any] | None = None) -> Response:
        """An error page (or JSON ``{"error": …}``): the project's message and code, never a repr."""
        if status is None:
            status = next((s for t, s in STATUS_OF.items() if isinstance(exc, t)), 400)
        if isinstance(exc, fs.FactStoreError):
            from fact_store.repl import error_text
            err = {"code": exc.code, "message": edn_safe(error_text(exc))}
        else:
            err = {"code": "web/internal", "message": "internal error; the server log has the details"}
        err.update(detail or {})
        return self.page(request, "error.html", {"error": err}, status=status, title="Error")


def edn_safe(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def dumps(data: Any) -> str:
    return json.dumps(jsonable(data), separators=(",", ":"))
