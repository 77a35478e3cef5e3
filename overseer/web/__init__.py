"""The Jobs tab of the web console: overview, graph view, job detail, time travel and actions.

fact_store's console finds this tab through the ``fact_store.web.tabs`` entry
point (``jobs = "overseer.web:tab"`` in pyproject.toml); ``overseer web`` opens
the console on it. Pages: ``/jobs`` (overview), ``/jobs/graph/T`` (the graph
inserted at t T, live, with a time slider and what changed), ``/jobs/job/ID``,
and with ``--allow-writes`` ``/jobs/retry/ID``, ``/jobs/abort/ID`` and
``/jobs/submit``. Every page has a JSON twin (``.json``).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import fact_store as fs
from fact_store.web import BadRequest, Console, NotFound

from overseer.errors import GraphError, OverseerError
from overseer.graph import graph_txns
from overseer.schema import install_schema
from overseer.status_cli import abort_txn, retry_txn
from overseer.web import layout, views

__all__ = ["tab", "JobsTab"]


class JobsTab:
    """The Jobs tab (a :class:`fact_store.web.Tab`)."""

    name = "jobs"
    title = "Jobs"
    template_dir = Path(__file__).resolve().parent / "templates"

    def routes(self, console: Console) -> list[BaseRoute]:
        return _Pages(console).routes()


tab = JobsTab()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _time_suffix(info: dict[str, Any]) -> str:
    return f"?as_of={info['as_of']}" if info.get("as_of") is not None else ""


class _Pages:
    def __init__(self, console: Console) -> None:
        self.c = console
        self.throughput = views.Throughput(console.conn)
        self.status_cache: dict[tuple[int, int], bytes] = {}
        self.status_lock = threading.Lock()
        self.layers: dict[int, dict[str, int]] = {}

    def routes(self) -> list[BaseRoute]:
        return [Route("/jobs", self.overview), Route("/jobs/graph", self.newest_graph),
                Route("/jobs/graph/{t:int}", self.graph),
                Route("/jobs/graph/{t:int}/status", self.graph_status),
                Route("/jobs/job/{job_id:path}", self.job),
                Route("/jobs/retry/{job_id:path}", self.retry, methods=["POST"]),
                Route("/jobs/abort/{job_id:path}", self.abort, methods=["GET", "POST"]),
                Route("/jobs/submit", self.submit, methods=["GET", "POST"])]

    # -- overview ----------------------------------------------------------------

    def overview(self, request: Request) -> Response:
        c = self.c
        db = c.latest()
        chart = self.throughput.update(db, time.time())
        data = views.overview(db, _now_ms(), chart)
        data["graphs"] = views.graph_list(db, 20)
        return c.page(request, "jobs_overview.html", data, title="Jobs", tab="jobs",
                      extra={"chart_svg": _markup(layout.bar_chart(chart))})

    def newest_graph(self, request: Request) -> Response:
        graphs = views.graph_list(self.c.latest(), 1)
        if not graphs:
            raise NotFound("no job graph in this store yet")
        return RedirectResponse(f"/jobs/graph/{graphs[0]['t']}", status_code=302)

    # -- graph -------------------------------------------------------------------

    def graph(self, request: Request) -> Response:
        c = self.c
        t = request.path_params["t"]
        db, info = c.db_at(request, history=False)
        g = views.graph_jobs(c.conn, db, t)
        if g is None:
            latest_g = views.graph_jobs(c.conn, c.latest(), t)
            if latest_g is None:
                raise NotFound(f"no job graph was inserted at t {t}")
            raise BadRequest(f"the graph of t {t} did not exist yet as of t {info['as_of']}: "
                             f"choose a moment at or after t {t}")
        to_t = info["as_of"] if info["as_of"] is not None else info["basis_t"]
        from_t = _opt_int(request, "from", t)  # by default: everything since the graph went in
        changed = views.changes(c.latest(), g["eids"], from_t, to_t, limit=300)
        big = len(g["ids"]) > layout.MAX_NODES
        data = {"t": t, "jobs": len(g["ids"]), "collapsed": big, "time": info,
                "counts": views.counts_text(g["status"]),
                "nodes": [{"id": i, "type": g["types"].get(i, ""), "status": g["status"].get(i, ""),
                           "deps": g["deps"][i]} for i in g["ids"]],
                "slider": {"min": t, "max": info["basis_t"], "value": to_t},
                "changes": {"from": from_t, "to": to_t, "list": changed}}
        if c.wants_json(request):
            return c.page(request, "jobs_graph.html", data)
        if big:
            svg, _groups = layout.collapsed(g["deps"], g["status"], g["types"])
        else:
            svg = layout.svg(g["deps"], g["status"], g["types"], _time_suffix(info))
        live = None if info["as_of"] is not None else f"/jobs/graph/{t}/status"
        return c.page(request, "jobs_graph.html", data, title=f"Graph t {t}", tab="jobs",
                      extra={"svg": _markup(svg), "live_status": live})

    def graph_status(self, request: Request) -> Response:
        """Each job's status (and each collapsed box's counts): what a live graph page fetches after
        each event. Every open page asks at once, so the answer is cached per (graph, basis t)."""
        c = self.c
        t = request.path_params["t"]
        db = c.latest()
        key = (t, db.basis_t)
        with self.status_lock:
            body = self.status_cache.get(key)
        if body is None:
            body = json.dumps(self._graph_status(t, db), separators=(",", ":")).encode()
            with self.status_lock:
                self.status_cache[key] = body
                while len(self.status_cache) > 16:
                    self.status_cache.pop(next(iter(self.status_cache)))
        return Response(body, media_type="application/json")

    def _graph_status(self, t: int, db: Any) -> dict[str, Any]:
        c = self.c
        g = views.graph_jobs(c.conn, db, t)
        if g is None:
            raise NotFound(f"no job graph was inserted at t {t}")
        out: dict[str, Any] = {"t": db.basis_t, "counts_text": views.counts_text(g["status"])}
        if len(g["ids"]) > layout.MAX_NODES:
            with self.status_lock:
                layer = self.layers.get(t)
            if layer is None:  # a graph's shape never changes: lay it out once
                layer = layout.layers(g["deps"])
                with self.status_lock:
                    self.layers[t] = layer
                    while len(self.layers) > 16:
                        self.layers.pop(next(iter(self.layers)))
            groups = layout.group_counts(layer, g["status"], g["types"])
            out["groups"] = {k: layout.group_text(k, v) for k, v in groups.items()}
        else:
            out["statuses"] = g["status"]
        return out

    # -- one job -----------------------------------------------------------------

    def job(self, request: Request) -> Response:
        c = self.c
        job_id = request.path_params["job_id"]
        db, info = c.db_at(request, history=False)
        data = views.job(db, job_id)
        if data is None:
            if views.job(c.latest(), job_id) is not None:
                raise BadRequest(f"job {fs.write_edn(job_id)[:200]} did not exist yet as of t {info['as_of']}")
            raise NotFound(f"no job with id {fs.write_edn(job_id)[:200]}")
        graph_t = views.graph_of(c.latest(), data["eid"])
        data["graph_t"] = graph_t
        data["time"] = info
        data["slider"] = {"min": graph_t or 1, "max": info["basis_t"],
                          "value": info["as_of"] if info["as_of"] is not None else info["basis_t"]}
        suffix = _time_suffix(info)
        return c.page(request, "jobs_detail.html", data, title=f"Job {job_id}", tab="jobs",
                      extra={"href": lambda jid: layout.job_href(jid) + suffix,
                             "live": info["as_of"] is None})

    # -- actions -----------------------------------------------------------------

    async def retry(self, request: Request) -> Response:
        c = self.c
        form = await c.write_form(request)
        job_id = request.path_params["job_id"]
        try:
            db = c.latest()
            tx = retry_txn(db, job_id)
            tx.append(c.audit(request, form, f"retry {job_id}"))
            c.conn.transact(tx)
        except (OverseerError, fs.TransactionError) as exc:
            return self._refused(request, exc)
        return RedirectResponse(layout.job_href(job_id), status_code=303)

    async def abort(self, request: Request) -> Response:
        c = self.c
        job_id = request.path_params["job_id"]
        if request.method == "GET":
            db = c.latest()
            try:
                tx = abort_txn(db, job_id)
            except OverseerError as exc:
                return self._refused(request, exc)
            dependents = self._cas_ids(db, tx)[1:]
            data = {"id": job_id, "dependents": dependents, "count": len(dependents)}
            return c.page(request, "jobs_abort.html", data, title=f"Abort {job_id}", tab="jobs")
        form = await c.write_form(request)
        reason = (form.get("why") or "").strip()[:2000] or "aborted in the web console"
        try:
            tx = abort_txn(c.latest(), job_id, reason)
            tx.append(c.audit(request, form, f"abort {job_id}"))
            c.conn.transact(tx)
        except (OverseerError, fs.TransactionError) as exc:
            return self._refused(request, exc)
        return RedirectResponse(layout.job_href(job_id), status_code=303)

    def _cas_ids(self, db: Any, tx: list[Any]) -> list[str]:
        out = []
        for op in tx:
            if op[0] == ":db/cas":
                d = next(iter(db.datoms("eavt", op[1], ":job/id")), None)
                if d is not None:
                    out.append(d.v)
        return out

    async def submit(self, request: Request) -> Response:
        c = self.c
        if request.method == "GET":
            return c.page(request, "jobs_submit.html", {"graph": "", "args": "", "prefix": ""},
                          title="Submit a graph", tab="jobs")
        form = await c.write_form(request)
        data = {"graph": form.get("graph", ""), "args": form.get("args", ""),
                "prefix": form.get("prefix", "")}
        try:
            graph = fs.read_edn(data["graph"])
            if not isinstance(graph, dict) or not graph:
                raise BadRequest("a job graph is a non-empty EDN map {node [deps ...]}, e.g. "
                                 "{:start [] :finish [:start]}")
            args = fs.read_edn(data["args"]) if data["args"].strip() else None
            if args is not None and not isinstance(args, dict):
                raise BadRequest("args must be an EDN map of attributes every job gets")
            prefix = data["prefix"].strip()
            ids = (lambda n: f"{prefix}{str(n).lstrip(':')}") if prefix else None
            tx = graph_txns(graph, args, ids=ids)
            install_schema(c.conn)
            tx.append(c.audit(request, form, "submit a job graph"))
            report = c.conn.transact(tx)
        except (OverseerError, fs.FactStoreError) as exc:
            return self._refused(request, exc, data)
        return RedirectResponse(f"/jobs/graph/{report.db_after.basis_t}", status_code=303)

    def _refused(self, request: Request, exc: Exception, data: dict[str, Any] | None = None) -> Response:
        """400 for bad input (EDN, a graph with a cycle), 409 for a job in the wrong state."""
        bad_input = isinstance(exc, (BadRequest, ValueError, GraphError))
        if isinstance(exc, fs.FactStoreError):
            return self.c.error(request, exc, status=400 if bad_input else 409)
        code = "overseer/graph" if isinstance(exc, GraphError) else "overseer/refused"
        err = {"code": code, "message": str(exc)[:4000]}
        return self.c.page(request, "error.html", {"error": err}, status=400 if bad_input else 409,
                           title="Refused")


def _opt_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    if not raw.isdigit():
        raise BadRequest(f"{name} takes a t (a whole number), got {fs.write_edn(raw)[:60]}")
    return int(raw)


def _markup(s: str) -> Any:
    from markupsafe import Markup  # the SVG is built escaped (layout._e); mark it safe for Jinja
    return Markup(s)
