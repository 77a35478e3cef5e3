"""click commands that watch and steer jobs: status, jobs list, job show, retry, abort, submit.

They live in the click group :data:`status_commands`; ``overseer/cli.py``
attaches them to its own group with one line::

    attach(main)          # or: main.commands.update(status_commands.commands)

after which ``overseer status``, ``overseer jobs list``, ``overseer job show ID``,
``overseer retry ID``, ``overseer abort ID`` and ``overseer submit GRAPH.edn``
exist. Every command takes ``--store URI`` (``OVERSEER_STORE``); read-only ones
never create a store.

``overseer status`` is a health check: exit code 0 when no started job has a
stale heartbeat and no job has failed, 1 otherwise (and when the store cannot
be read), 2 for usage errors. ``--watch`` redraws the view until Ctrl-C.

The read-only views are pure functions of one Db value and ``now`` (epoch
milliseconds, the unit of ``:job/heartbeat``), so the tests pass a fixed clock:
:func:`status_report`, :func:`job_rows`, :func:`job_detail`. Their queries are in
:mod:`overseer.queries`; ``retry`` and ``abort`` submit the tx-data of
:func:`overseer.transitions.retry_txn` and :func:`~overseer.transitions.abort_txn`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, TypeVar

import click

import fact_store as fs
from fact_store.edn import show

from overseer import queries
from overseer.errors import OverseerError
from overseer.graph import graph_txns
from overseer.queries import FAILURES, RUNNING  # noqa: F401  (overseer/web reads them here)
from overseer.schema import STATUSES, install_schema
from overseer.transitions import abort_txn, retry_txn

__all__ = ["status_commands", "attach", "status_report", "job_rows", "job_detail",
           "retry_txn", "abort_txn", "StatusReport"]

DEFAULT_STORE = "file:./overseer.db"  # the same default as overseer worker
#: a started job whose heartbeat is older than this is stale (10 s interval x 3, RELIABILITY J5)
DEFAULT_STALE_AFTER = 30.0
K = fs.Keyword
F = TypeVar("F", bound=Callable[..., Any])

def _name(status: Any) -> str:
    """``:failed`` and ``:job.status/failed`` both read ``failed``."""
    return str(status).rsplit("/", 1)[-1].lstrip(":")


def _reason(failure: str) -> str:
    if not failure:
        return ""
    try:
        info = json.loads(failure)
    except ValueError:
        return failure
    if isinstance(info, dict):
        kind, msg = info.get("type", ""), info.get("message", "")
        return f"{kind}: {msg}" if kind and msg else str(msg or kind)
    return failure


# -- the views --------------------------------------------------------------------------

@dataclass
class StatusReport:
    """What ``overseer status`` shows; ``healthy`` is its exit code's source."""

    t: int
    now_ms: int
    stale_after_ms: int
    counts: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    ready: list[str] = field(default_factory=list)
    running: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    unhandled: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.stale and not self.counts.get("failed") and not self.unhandled

    def problems(self) -> list[str]:
        out = []
        if self.stale:
            out.append(f"{len(self.stale)} stale")
        if self.counts.get("failed"):
            out.append(f"{self.counts['failed']} failed")
        if self.unhandled:
            out.append(f"{sum(self.unhandled.values())} unhandled")
        return out

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["healthy"] = self.healthy
        for f in d["failures"]:
            f["when"] = f["when"].isoformat() if f.get("when") else None
        return d


def status_report(db: fs.Db, now_ms: int, stale_after_ms: int = int(DEFAULT_STALE_AFTER * 1000),
                  failures: int = 10) -> StatusReport:
    """Counts by status and type, ready jobs, running and stale jobs, the latest failures.

    A started job is stale when its heartbeat is older than ``stale_after_ms``
    (or it has none). One consistent Db value, so the numbers add up. O(jobs).
    """
    rep = StatusReport(db.basis_t, now_ms, stale_after_ms)
    rep.counts = {_name(s): 0 for s in STATUSES}
    if not queries.has_jobs(db):
        return rep
    for s, n in queries.status_counts(db).items():
        rep.counts[_name(s)] = rep.counts.get(_name(s), 0) + n
    for typ, s, n in fs.q(queries.TYPE_STATUS_COUNTS, db):
        row = rep.by_type.setdefault(str(typ), {_name(x): 0 for x in STATUSES})
        row[_name(s)] = row.get(_name(s), 0) + n
    rep.by_type = dict(sorted(rep.by_type.items()))
    rep.ready = sorted(queries.jobs_ready(db))
    # ready jobs of a type that no live worker handles will not run: a problem while workers
    # run (a store with no live worker at all is waiting for workers, not unhealthy)
    live = queries.live_workers(db, now_ms)
    rep.workers = sorted(live)
    if live and rep.ready:
        rep.unhandled = {str(t): n for t, n in sorted(queries.unhandled_ready(db, now_ms).items())}
    for jid, typ, owner, attempt, hb, run in sorted(fs.q(queries.RUNNING, db)):
        age = now_ms - hb if hb else None
        job = {"id": jid, "type": str(typ), "owner": owner, "attempt": attempt,
               "state": "running" if run == attempt else "claimed",
               "heartbeat": hb or None, "heartbeat_age_ms": age}
        rep.running.append(job)
        if age is None or age > stale_after_ms:
            rep.stale.append(job)
    rows = sorted(fs.q(queries.FAILURES, db), key=lambda r: (r[3], r[0]), reverse=True)
    rep.failures = [{"id": jid, "type": str(typ), "when": when, "reason": _reason(failure)}
                    for jid, typ, failure, when in rows[:failures]]
    return rep


def job_rows(db: fs.Db, status: str | None = None, job_type: str | None = None
             ) -> list[tuple[str, str, str, str, int]]:
    """``(id, type, status, owner, attempt)`` of every job, by status (lifecycle order) then id."""
    if not queries.has_jobs(db):
        return []
    order = {_name(s): i for i, s in enumerate(STATUSES)}
    rows = []
    for jid, typ, st, owner, attempt in fs.q(queries.ALL_JOBS, db):
        if status is not None and _name(st) != _name(status):
            continue
        if job_type is not None and str(typ).lstrip(":") != job_type.lstrip(":"):
            continue
        rows.append((jid, str(typ), _name(st), owner, attempt))
    rows.sort(key=lambda r: (order.get(r[2], 99), r[0]))
    return rows


def job_detail(db: fs.Db, job_id: str) -> dict[str, Any] | None:
    """One job: its attributes, deps, dependents, failure, and status changes from history."""
    if not queries.has_jobs(db):
        return None
    eid = db.entid((":job/id", job_id))
    if eid is None:
        return None
    attrs: dict[str, Any] = {}
    for d in db.datoms("eavt", eid):
        a = db.schema.attr(d.a)
        name = str(a.ident) if a is not None else str(d.a)
        if name == ":job/dep":
            continue
        attrs[name] = d.v
    deps = sorted(fs.q(queries.DEPS, db, eid))
    dep_status = {i: _name(fs.q(queries.STATUS_OF, db, i)) for i in deps}
    history = []
    for st, tx in sorted(fs.q(queries.STATUS_HISTORY, db.history(), eid), key=lambda r: r[1]):
        inst = next(iter(db.datoms("eavt", tx, ":db/txInstant")), None)
        history.append({"t": fs.tx_to_t(tx), "when": inst.v if inst else None,
                        "status": _name(st)})
    failure = attrs.get(":job/failure")
    info: Any = None
    if failure:
        try:
            info = json.loads(failure)
        except ValueError:
            info = {"message": failure}
    return {"id": job_id, "eid": eid, "type": str(attrs.get(":job/type", "")),
            "status": _name(attrs.get(":job/status", "")), "attributes": attrs,
            "deps": [{"id": i, "status": dep_status[i]} for i in deps],
            "dependents": sorted(fs.q(queries.DEPENDENTS, db, eid)), "failure": info,
            "history": history}


# -- the steering transactions ----------------------------------------------------------

# -- click ------------------------------------------------------------------------------

class _Failure(click.ClickException):
    exit_code = 1

    def show(self, file: Any = None) -> None:
        from rich.console import Console
        from rich.text import Text

        Console(file=file or sys.stderr, soft_wrap=True, highlight=False).print(
            Text("error: ", style="bold red") + Text(self.message))


class _JsonFailure(_Failure):
    """A failure under ``--json``: ``{"error": message}`` on stdout, exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(json.dumps({"error": self.message}))


def _guard(f: F) -> F:
    """Errors a user can cause become one message and exit code 1 (a JSON object under --json)."""
    import functools

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        failure = _JsonFailure if kwargs.get("as_json") else _Failure
        try:
            return f(*args, **kwargs)
        except _Failure as exc:
            if failure is _JsonFailure and not isinstance(exc, _JsonFailure):
                raise _JsonFailure(exc.message) from None
            raise
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (OverseerError, fs.FactStoreError, OSError) as exc:
            raise failure(getattr(exc, "message", None) or str(exc)) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _store_option(f: F) -> F:
    return click.option("--store", envvar="OVERSEER_STORE", default=DEFAULT_STORE,
                        show_default=True, show_envvar=True, metavar="URI",
                        help="Store URI: file:PATH, mem:NAME, postgresql://...")(f)


def _json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")(f)


def _connect(uri: str, create: bool = False) -> fs.Connection:
    if uri.startswith("file:") and not create:
        path = uri[len("file:"):].partition("?")[0]
        if path.startswith("//"):
            path = "/" + path[2:].partition("/")[2]
        if not os.path.exists(os.path.join(path, "log")):
            raise _Failure(f"no store at {path}: name one with --store or OVERSEER_STORE")
    return fs.connect(uri)


def _count(n: int, noun: str) -> str:
    """``1 job``, ``2 jobs``.

    >>> _count(1, "job"), _count(2, "aborted dependent")
    ('1 job', '2 aborted dependents')
    """
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _now_ms(now: float | None) -> int:
    return int(now) if now is not None else int(time.time() * 1000)


#: the width of output that is not a terminal: every row on one line, no id ever cut
_PIPE_WIDTH = 100_000


def _console() -> Any:
    """A terminal gets tables that fit its width (cells wrap, never cut: see ``overflow``);
    a pipe or file gets one line per row."""
    from rich.console import Console
    return Console(highlight=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)


def _age(ms: int | None) -> str:
    if ms is None:
        return "never"
    s = ms / 1000
    if s < 120:
        return f"{s:.1f}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    return f"{s / 3600:.1f}h"


def _when(v: Any) -> str:
    return v.strftime("%Y-%m-%d %H:%M:%S") if v is not None else ""


def render_status(rep: StatusReport, uri: str) -> Any:
    """The rich renderable of a status report (tables in a group)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    state = Text("healthy", style="bold green") if rep.healthy else \
        Text("UNHEALTHY: " + ", ".join(rep.problems()), style="bold red")
    parts.append(Text(f"overseer status  {uri}  t {rep.t}  ") + state)

    def table(title: str, cols: Iterable[str]) -> Any:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAVY, show_edge=False,
                  header_style="bold")
        for c in cols:
            t.add_column(c, justify="right" if c in ("jobs", "attempt", "age") or
                         c in [_name(s) for s in STATUSES] else "left", overflow="fold")
        return t

    statuses = [_name(s) for s in STATUSES]
    t = table("jobs by status", ["status", "jobs"])
    for s in statuses:
        n = rep.counts.get(s, 0)
        label = f"{n}" + (f" ({len(rep.ready)} ready)" if s == "unstarted" and n else "")
        t.add_row(Text(s), Text(label))
    parts.append(t)
    if rep.by_type:
        t = table("by type", ["type"] + statuses)
        for typ, row in rep.by_type.items():
            t.add_row(Text(typ), *[Text(str(row.get(s, 0))) for s in statuses])
        parts.append(t)
    if rep.unhandled:
        parts.append(Text("unhandled (ready, but no live worker handles the type): " + ", ".join(
            f"{n} {t}" for t, n in rep.unhandled.items()), style="red"))
    if rep.ready:
        shown = ", ".join(rep.ready[:10]) + (f" … ({len(rep.ready)} in all)" if len(rep.ready) > 10
                                             else "")
        parts.append(Text(f"ready: {shown}"))
    if rep.running:
        stale_ids = {j["id"] for j in rep.stale}
        t = table("started (running, or claimed and waiting in a worker's batch)",
                  ["id", "type", "state", "worker", "attempt", "heartbeat age"])
        for j in rep.running:
            style = "red" if j["id"] in stale_ids else ""
            t.add_row(Text(j["id"]), Text(j["type"]), Text(j["state"]), Text(j["owner"]), Text(str(j["attempt"])),
                      Text(_age(j["heartbeat_age_ms"]) + (" STALE" if style else ""), style=style))
        parts.append(t)
    if rep.failures:
        t = table("recent failures", ["id", "type", "when", "reason"])
        for f in rep.failures:
            t.add_row(Text(f["id"]), Text(f["type"]), Text(_when(f["when"])), Text(f["reason"]))
        parts.append(t)
    return Group(*parts)


@click.group("status-commands")
def status_commands() -> None:
    """Watch and steer jobs: status, jobs list, job show, retry, abort, submit."""


def attach(group: click.Group) -> None:
    """Add every command of :data:`status_commands` to ``group`` (overseer's main group)."""
    for name, cmd in status_commands.commands.items():
        group.add_command(cmd, name)


@status_commands.command("status")
@_store_option
@click.option("--watch", is_flag=True, help="Redraw the view until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds between redraws with --watch.")
@click.option("--count", "count", type=click.IntRange(min=1), default=None,
              help="With --watch: stop after this many redraws.")
@click.option("--stale-after", type=click.FloatRange(min=0), default=DEFAULT_STALE_AFTER,
              show_default=True, help="Seconds without a heartbeat before a started job is stale.")
@_json_option
@click.option("--now", type=float, default=None, hidden=True, help="Epoch ms (tests).")
@_guard
def status_cmd(store: str, watch: bool, interval: float, count: int | None, stale_after: float,
               as_json: bool, now: float | None) -> None:
    """Counts by status and type, ready, running and stale jobs, recent failures.

    Exit code 0 when healthy (no stale started job, no failed job), 1 otherwise;
    with --watch, 1 when any refresh found a problem.
    """
    conn = _connect(store)
    try:
        def report() -> StatusReport:
            return status_report(conn.sync(), _now_ms(now), int(stale_after * 1000))

        if not watch:
            rep = report()
            if as_json:
                click.echo(json.dumps(rep.as_json(), default=str))
            else:
                _console().print(render_status(rep, store))
            healthy = rep.healthy
        else:
            healthy = _watch(report, store, interval, count, as_json)
    finally:
        conn.close()
    if not healthy:
        raise click.exceptions.Exit(1)


def _watch(report: Callable[[], StatusReport], uri: str, interval: float, count: int | None,
           as_json: bool) -> bool:
    """Show ``report()`` every ``interval`` seconds (``count`` times, or until Ctrl-C); True when
    every refresh was healthy."""
    rep = report()
    healthy = rep.healthy
    n = 1
    if as_json:  # one JSON line per refresh: a stream for other tools
        try:
            while True:
                click.echo(json.dumps(rep.as_json(), default=str))
                if count is not None and n >= count:
                    return healthy
                time.sleep(interval)
                rep, n = report(), n + 1
                healthy = healthy and rep.healthy
        except KeyboardInterrupt:
            return healthy
    from rich.live import Live

    try:
        with Live(render_status(rep, uri), console=_console(), auto_refresh=False) as live:
            while count is None or n < count:
                time.sleep(interval)
                rep, n = report(), n + 1
                healthy = healthy and rep.healthy
                live.update(render_status(rep, uri), refresh=True)
    except KeyboardInterrupt:
        pass
    return healthy


@status_commands.group("jobs")
def jobs_group() -> None:
    """Lists of jobs."""


@jobs_group.command("list")
@_store_option
@click.option("--status", "status", type=click.Choice([_name(s) for s in STATUSES]),
              help="Only jobs with this status.")
@click.option("--type", "job_type", metavar="TYPE", help="Only jobs of this type.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@_json_option
@_guard
def jobs_list_cmd(store: str, status: str | None, job_type: str | None, limit: int | None,
                  as_json: bool) -> None:
    """Every job (id, type, status, worker, attempt), by status then id."""
    conn = _connect(store)
    try:
        rows = job_rows(conn.sync(), status, job_type)
    finally:
        conn.close()
    total = len(rows)
    rows = rows[:limit] if limit else rows
    if as_json:
        click.echo(json.dumps([dict(zip(("id", "type", "status", "owner", "attempt"), r))
                               for r in rows]))
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(box=box.SIMPLE_HEAVY, show_edge=False, header_style="bold")
    id_width = max((len(str(r[0])) for r in rows), default=2)
    for c in ("id", "type", "status", "worker", "attempt"):  # cells wrap, never cut; ids stay whole
        t.add_column(c, justify="right" if c == "attempt" else "left", overflow="fold",
                     min_width=id_width if c == "id" else None)
    for r in rows:
        t.add_row(*[Text(str(x)) for x in r])
    con = _console()
    con.print(t)
    con.print(Text(f"({len(rows)} of {_count(total, 'job')})" if len(rows) < total
                   else f"({_count(total, 'job')})", style="dim"))


@status_commands.group("job")
def job_group() -> None:
    """One job."""


@job_group.command("show")
@click.argument("job_id", metavar="ID")
@_store_option
@_json_option
@_guard
def job_show_cmd(job_id: str, store: str, as_json: bool) -> None:
    """A job's attributes, deps, dependents, failure and history of status changes."""
    conn = _connect(store)
    try:
        d = job_detail(conn.sync(), job_id)
    finally:
        conn.close()
    if d is None:
        raise _Failure(f"no job with id {show(job_id)}")
    if as_json:
        def plain(v: Any) -> Any:
            if isinstance(v, dict):
                return {str(k).lstrip(":"): plain(x) for k, x in v.items()}
            if isinstance(v, list):
                return [plain(x) for x in v]
            if isinstance(v, fs.Keyword):
                return str(v)
            if hasattr(v, "isoformat"):
                return v.isoformat()
            return v
        click.echo(json.dumps(plain(d), default=str))
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    con = _console()
    con.print(Text(f"job {d['id']}  ", style="bold") + Text(f"{d['type']}  {d['status']}"))
    t = Table(box=box.SIMPLE_HEAVY, show_edge=False, show_header=False)
    t.add_column("attribute")
    t.add_column("value")
    for k, v in d["attributes"].items():
        if k == ":job/failure":
            continue
        t.add_row(Text(k), Text(fs.write_edn(v) if not isinstance(v, str) or
                                isinstance(v, fs.Keyword) else v))
    t.add_row(Text("deps"), Text(", ".join(f"{x['id']} ({x['status']})" for x in d["deps"]) or "-"))
    t.add_row(Text("dependents"), Text(", ".join(d["dependents"]) or "-"))
    con.print(t)
    if d["failure"]:
        f = d["failure"]
        con.print(Text("failure: ", style="bold red") +
                  Text(_reason(json.dumps(f)) if isinstance(f, dict) else str(f)))
        if isinstance(f, dict) and f.get("traceback"):
            con.print(Text(str(f["traceback"]).rstrip(), style="dim"))
    h = Table(title="history", title_justify="left", box=box.SIMPLE_HEAVY, show_edge=False,
              header_style="bold")
    for c in ("t", "when", "status"):
        h.add_column(c, justify="right" if c == "t" else "left")
    for row in d["history"]:
        h.add_row(Text(str(row["t"])), Text(_when(row["when"])), Text(row["status"]))
    con.print(h)


@status_commands.command("retry")
@click.argument("job_id", metavar="ID")
@_store_option
@_guard
def retry_cmd(job_id: str, store: str) -> None:
    """Put a failed or aborted job back to unstarted, with the dependents its end aborted."""
    conn = _connect(store)
    try:
        tx = retry_txn(conn.sync(), job_id)
        conn.transact(tx)
    finally:
        conn.close()
    n = sum(1 for op in tx if op[0] == ":db/cas")
    click.echo(f"retrying {job_id}" + (f" and {_count(n - 1, 'aborted dependent')}" if n > 1 else "")
               + ": unstarted again")


@status_commands.command("abort")
@click.argument("job_id", metavar="ID")
@_store_option
@click.option("--reason", default="aborted by an operator", show_default=True,
              help="Recorded in :job/failure.")
@_guard
def abort_cmd(job_id: str, store: str, reason: str) -> None:
    """Abort an unstarted or started job and its unstarted transitive dependents."""
    conn = _connect(store)
    try:
        tx = abort_txn(conn.sync(), job_id, reason)
        conn.transact(tx)
    finally:
        conn.close()
    n = sum(1 for op in tx if op[0] == ":db/cas")
    click.echo(f"aborted {job_id}" + (f" and {_count(n - 1, 'dependent')}" if n > 1 else ""))


@status_commands.command("submit")
@click.argument("graph_file", metavar="GRAPH.edn", type=click.Path(dir_okay=False))
@_store_option
@click.option("--args", "args_edn", metavar="EDN", default=None,
              help="A map of attributes every job gets, e.g. '{:report/day \"2024-05-01\"}'.")
@click.option("--id-prefix", default=None, metavar="P",
              help="Name job ids P<node> instead of random UUIDs.")
@click.option("--if-exists", type=click.Choice(["refuse", "skip"]), default="refuse", show_default=True,
              help="When a job id of the graph exists already: refuse (exit 1, nothing written) or skip "
                   "the graph (exit 0, nothing written), as Overseer's transact-graph.")
@_json_option
@_guard
def submit_cmd(graph_file: str, store: str, args_edn: str | None, id_prefix: str | None,
               if_exists: str, as_json: bool) -> None:
    """Insert a job graph in one transaction: GRAPH.edn maps each node (its job type) to its deps.

      {:start [] :result1 [:start] :result2 [:start] :finish [:result1 :result2]}
    """
    with open(graph_file, encoding="utf-8") as f:
        graph = fs.read_edn(f.read())
    if not isinstance(graph, dict):
        raise _Failure(f"{graph_file}: a job graph is a map {{node [deps ...]}}, "
                       f"got {fs.write_edn(graph)[:60]}")
    args = fs.read_edn(args_edn) if args_edn else None
    if args is not None and not isinstance(args, dict):
        raise click.BadParameter("expected an EDN map", param_hint="--args")
    ids = (lambda n: f"{id_prefix}{str(n).lstrip(':')}") if id_prefix is not None else None
    tx = graph_txns(graph, args, ids=ids, if_exists=if_exists)
    conn = _connect(store, create=True)
    try:
        install_schema(conn)
        report = conn.transact(tx)
    finally:
        conn.close()
    guarded = bool(tx) and isinstance(tx[0], (list, tuple)) and tx[0][0] == ":overseer/insert-unless-exists"
    jobs = {str(m[":db/id"]): m for m in (tx[0][2] if guarded else tx) if isinstance(m, dict)}
    if jobs and not any(t in report.tempids for t in jobs):
        if as_json:
            click.echo(json.dumps({"t": report.db_after.basis_t, "jobs": [], "skipped": True}))
        else:
            click.echo(f"skipped: job ids of this graph already exist ({next(iter(jobs.values()))[':job/id']} …); "
                       "nothing inserted")
        return
    rows = [(str(m[":job/type"]), m[":job/id"], report.tempids.get(tempid)) for tempid, m in
            jobs.items()]
    if as_json:
        click.echo(json.dumps({"t": report.db_after.basis_t,
                               "jobs": [{"type": r[0], "id": r[1]} for r in rows]}))
        return
    click.echo(f"submitted {_count(len(rows), 'job')} at t {report.db_after.basis_t}")
    for typ, jid, _ in rows:
        click.echo(f"  {typ}  {jid}")


if __name__ == "__main__":  # pragma: no cover
    status_commands()
