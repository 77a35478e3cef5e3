"""click front end: demo, worker (and status_cli's commands); exit codes 0 ok, 1 failure, 2 usage.

``overseer worker HANDLERS --store URI`` runs a worker; HANDLERS is
``module:attribute`` naming a mapping ``{job type: handler}`` (or a function
returning one), imported from the ``--path`` directories, the current
directory or ``sys.path``. Every option also reads an environment variable
(``OVERSEER_STORE``, ``OVERSEER_CONCURRENCY`` …, see ``overseer worker --help``).

``overseer demo`` inserts Overseer's sample graph and a generated one into a
fresh embedded store, runs three worker processes on it, shows progress and
ends with a table of every sample job: its status and the worker that ran it.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

import click

from fact_store.edn import show
from fact_store.web.command import run as run_web
from fact_store.web.command import web_options

#: group commit: every claim and outcome is still fsynced before it is acknowledged, but the
#: writer lock is released before the fsync, so workers in other processes commit meanwhile
DEFAULT_STORE = "file:./overseer.db?durability=group"


def load_handlers(spec: str, path: tuple[str, ...] = ()) -> Any:
    """Import ``module:attribute`` and return the handler mapping it names.

    The module is looked up in the ``path`` directories first, then in the
    current directory (as rq and Celery do: ``overseer worker myjobs:HANDLERS``
    started next to ``myjobs.py`` finds it), then on ``sys.path``.
    """
    for d in reversed((*path, os.getcwd())):
        d = os.path.abspath(d)
        if d in sys.path:
            sys.path.remove(d)
        sys.path.insert(0, d)
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise click.BadParameter(f"expected module:attribute, got {show(spec)}", param_hint="HANDLERS")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module}: {exc} (searched {', '.join(sys.path[:len(path) + 1])}, "
                                 "then sys.path; --path DIR adds a directory)",
                                 param_hint="HANDLERS") from exc
    obj: Any = mod
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise click.BadParameter(f"module {module} has no attribute {attr}", param_hint="HANDLERS") from None
    if callable(obj) and not hasattr(obj, "items"):
        obj = obj()
    if not hasattr(obj, "items"):
        raise click.BadParameter(f"{spec} is not a mapping of job type to handler", param_hint="HANDLERS")
    return obj


class JsonFormatter(logging.Formatter):
    """One JSON object per log record, for log shippers: ``time`` (ISO 8601, UTC), ``level``,
    ``logger``, ``pid``, ``message``, the job fields a record carries (``job_id``, ``job_type``,
    ``attempt``, ``outcome``, ``duration_ms``, ``worker``) and ``exc`` when there is a traceback.

    >>> r = logging.LogRecord("overseer", logging.INFO, "", 0, "job %s finished", ("j1",), None)
    >>> r.job_id, r.created = "j1", 0.0
    >>> JsonFormatter().format(r)[:60]
    '{"time": "1970-01-01T00:00:00.000Z", "level": "INFO", "logge'
    """

    FIELDS = ("job_id", "job_type", "attempt", "outcome", "duration_ms", "worker")

    def format(self, record: logging.LogRecord) -> str:
        import datetime as dt
        import json

        when = dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
        out: dict[str, Any] = {"time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
                               "level": record.levelname, "logger": record.name, "pid": record.process,
                               "message": record.getMessage()}
        for f in self.FIELDS:
            if hasattr(record, f):
                out[f] = getattr(record, f)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fact-store", prog_name="overseer")
def main() -> None:
    """Overseer: durable DAG job graphs run by worker processes on a fact store."""


def _opt(name: str, envvar: str, type_: Any, help_: str) -> Any:
    return click.option(name, envvar=envvar, type=type_, default=None, show_envvar=True, help=help_)


@main.command()
@click.argument("handlers")
@click.option("--store", envvar="OVERSEER_STORE", default=DEFAULT_STORE, show_default=True,
              show_envvar=True, help="Store URI: file:PATH[?durability=group], mem:NAME, postgresql://…")
@_opt("--sleep-time", "OVERSEER_SLEEP_TIME", str, "Longest idle wait, seconds or with a unit: 10, 500ms (10).")
@click.option("--heartbeat/--no-heartbeat", "heartbeat_enabled", envvar="OVERSEER_HEARTBEAT_ENABLED",
              default=None, show_envvar=True, help="Heartbeats and the monitor (default on).")
@_opt("--heartbeat-interval", "OVERSEER_HEARTBEAT_INTERVAL", str, "Time between heartbeats, seconds (10).")
@_opt("--heartbeat-tolerance", "OVERSEER_HEARTBEAT_TOLERANCE", float,
      "Missed heartbeats before a job is reset (3).")
@_opt("--detector-interval", "OVERSEER_DETECTOR_INTERVAL", str, "Time between monitor sweeps, seconds (10).")
@_opt("--detector-stagger", "OVERSEER_DETECTOR_STAGGER", str, "Random extra delay per sweep, seconds (5).")
@_opt("--concurrency", "OVERSEER_CONCURRENCY", int, "Jobs run at once (1).")
@_opt("--max-attempts", "OVERSEER_MAX_ATTEMPTS", int, "Attempts before a reset/faulted job fails (5).")
@_opt("--batch-size", "OVERSEER_BATCH_SIZE", int, "Most jobs claimed per transaction (64).")
@_opt("--batch-window", "OVERSEER_BATCH_WINDOW", str,
      "Longest an outcome waits to share a commit, seconds (0.005).")
@_opt("--timeout", "OVERSEER_TIMEOUT", str, "Time an attempt may run, seconds; 0: no limit (0).")
@click.option("--isolate/--no-isolate", "isolate", envvar="OVERSEER_ISOLATE", default=None, show_envvar=True,
              help="Run each handler in a child process, killed at its timeout (default off).")
@_opt("--retry-delay", "OVERSEER_RETRY_DELAY", str,
      "Backoff after a fault or reset: seconds x 2^(attempt-1), with jitter (1).")
@_opt("--retry-delay-max", "OVERSEER_RETRY_DELAY_MAX", str, "Longest backoff, seconds (300).")
@_opt("--on-error", "OVERSEER_ON_ERROR", str,
      "module:function called as f(job, exc) when a handler fails (after logging it).")
@_opt("--sentry-dsn", "OVERSEER_SENTRY_DSN", str, "Report handler errors to Sentry (pip install 'fact-store[sentry]').")
@click.option("--config", "config_file", envvar="OVERSEER_CONFIG", type=click.Path(dir_okay=False),
              default=None, show_envvar=True,
              help="An Overseer config map in EDN (or JSON: *.json); its dashed keys are milliseconds, "
                   "as in Overseer. Options given here override it.")
@click.option("--exit-when-done", is_flag=True, envvar="OVERSEER_EXIT_WHEN_DONE",
              help="Exit once nothing is left that a live worker could run: no job started, and no "
                   "ready job of a type this or another live worker handles.")
@click.option("--log-level", envvar="OVERSEER_LOG_LEVEL", default="INFO", show_default=True)
@click.option("--log-format", envvar="OVERSEER_LOG_FORMAT", type=click.Choice(["text", "json"]),
              default="text", show_default=True, show_envvar=True,
              help="json: one JSON object per line (time, level, logger, message and the job's fields).")
@click.option("--path", "paths", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False),
              help="Look for the HANDLERS module in DIR first (repeatable); the current "
                   "directory is always searched.")
def worker(handlers: str, store: str, exit_when_done: bool, log_level: str, log_format: str,
           paths: tuple[str, ...], config_file: str | None, **options: Any) -> None:
    """Run a worker for the job types of HANDLERS (module:attribute) on the store.

    Durations given as options are seconds unless they carry a unit (500ms,
    10s, 2m); in a --config file, Overseer's dashed keys are milliseconds.
    """
    import fact_store as fs

    from overseer.config import load_file
    from overseer.errors import ConfigError, OverseerError
    from overseer.worker import Config, Worker

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"))
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    mapping = load_handlers(handlers, paths)
    try:
        given = {k: v for k, v in options.items() if v is not None}  # Python names: seconds
        if "sentry_dsn" in given:
            given["sentry"] = {"dsn": given.pop("sentry_dsn")}
        config = Config.from_mapping({**(load_file(config_file) if config_file else {}), **given},
                                     labels={k: "--" + ("sentry-dsn" if k == "sentry" else k.replace("_", "-"))
                                             for k in given})
        logging.getLogger("overseer").info("worker config (durations in seconds): %s", config.describe())
        conn = fs.connect(store)
        w = Worker(conn, mapping, config)
    except ConfigError as exc:  # a usage error: exit 2, as click's own
        click.echo(f"overseer worker: {exc}", err=True)
        sys.exit(2)
    except (OverseerError, fs.FactStoreError) as exc:
        click.echo(f"overseer worker: {exc}", err=True)
        sys.exit(1)
    try:
        w.run(exit_when_done=exit_when_done)
    except fs.FactStoreError as exc:  # fatal (fs.recovery): exit non-zero, a supervisor restarts us
        click.echo(f"overseer worker: {exc}", err=True)
        sys.exit(1)
    finally:
        w.close()
        w.conn.close()  # the worker may have reconnected: close the connection it holds now


# -- demo ------------------------------------------------------------------------------------

@main.command()
@click.option("--workers", default=3, show_default=True, type=click.IntRange(1, 16),
              help="Worker processes to start.")
@click.option("--jobs", default=300, show_default=True, type=click.IntRange(10, 100_000),
              help="Size of the generated graph.")
@click.option("--store", default=None, help="Store directory (default: a fresh temporary one).")
@click.option("--keep", is_flag=True, help="Keep the store afterwards.")
def demo(workers: int, jobs: int, store: str | None, keep: bool) -> None:
    """Run the sample job graph and a generated one on a fresh store with worker processes."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    import fact_store as fs

    import overseer
    from overseer import demo as d
    from overseer import queries, status

    console = Console()
    tmp = None
    if store is None:
        tmp = tempfile.mkdtemp(prefix="overseer-demo-")
        path = os.path.join(tmp, "store")
    else:
        path = os.path.abspath(store)
        shutil.rmtree(path, ignore_errors=True)
    uri = f"file:{path}?durability=group"
    conn = fs.connect(uri)
    try:
        overseer.install_schema(conn)
        sample_ids = {n: f"sample/{n}" for n in d.SAMPLE_GRAPH}
        conn.transact(overseer.graph_txns(d.SAMPLE_GRAPH, ids=sample_ids))
        graph, types = d.generated_graph(jobs)
        conn.transact(overseer.graph_txns(graph, types=types, ids=lambda n: f"gen/{n}"))
        total = len(d.SAMPLE_GRAPH) + len(graph)
        console.print(f"[bold]overseer demo[/]: {total} jobs ({len(d.SAMPLE_GRAPH)} in the sample graph, "
                      f"{len(graph)} generated) in {path}; starting {workers} worker processes")
        cmd = [sys.executable, "-m", "overseer.cli", "worker", "overseer.demo:HANDLERS", "--store", uri,
               "--exit-when-done", "--heartbeat-interval", "1", "--detector-interval", "2",
               "--detector-stagger", "1", "--sleep-time", "1", "--log-level", "ERROR"]
        t0 = time.monotonic()
        procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL) for _ in range(workers)]
        names = {str(p.pid): f"worker {i + 1}" for i, p in enumerate(procs)}
        ok = True
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                      console=console, transient=False) as progress:
            task = progress.add_task("jobs", total=total, detail="")
            while True:
                p = status.progress(conn.sync())
                detail = "  ".join(f"{s[1:]} {n}" for s, n in p.counts.items())
                progress.update(task, completed=p.done, detail=detail)
                if all(p.poll() is not None for p in procs):
                    break
                if time.monotonic() - t0 > 120:
                    ok = False
                    console.print("[red]the demo took longer than 2 minutes; stopping the workers[/]")
                    for p in procs:
                        p.terminate()
                    break
                time.sleep(0.1)
        for p in procs:
            p.wait(30)
            ok = ok and p.returncode == 0
        elapsed = time.monotonic() - t0
        db = conn.sync()

        def who(owner: str) -> str:
            parts = owner.split(":")
            return names.get(parts[1], owner) if len(parts) >= 2 else owner or "-"

        table = Table(title="The sample graph", show_lines=False)
        for col in ("job", "type", "depends on", "status", "attempts", "ran on"):
            table.add_column(col)
        rows = {r[0]: r for r in queries.job_rows(db, sample_ids.values())}
        for node, deps in d.SAMPLE_GRAPH.items():
            jid, jtype, status, owner, attempt = rows[sample_ids[node]]
            colour = "green" if status == overseer.FINISHED else "red"
            table.add_row(jid, jtype, ", ".join(deps) or "-", f"[{colour}]{status[1:]}[/]", str(attempt),
                          who(owner))
        console.print(table)
        gen_rows = queries.job_rows(db, [f"gen/{n}" for n in graph])
        by_status = Counter(r[2][1:] for r in gen_rows)
        by_worker = Counter(who(r[3]) for r in gen_rows)
        retried = sum(1 for r in gen_rows if r[4] > 1)
        summary = Table(title=f"The generated graph: {len(graph)} jobs")
        summary.add_column("")
        summary.add_column("jobs", justify="right")
        for s, n in sorted(by_status.items()):
            summary.add_row(f"status {s}", str(n))
        for w, n in sorted(by_worker.items()):
            summary.add_row(f"ran on {w}", str(n))
        summary.add_row("run again after a fault", str(retried))
        console.print(summary)
        finished = sum(1 for r in gen_rows if r[2] == overseer.FINISHED) + sum(
            1 for r in rows.values() if r[2] == overseer.FINISHED)
        console.print(f"{finished}/{total} jobs finished in {elapsed:.1f}s with {workers} workers "
                      f"({finished / max(elapsed, 1e-9):.0f} jobs/s)")
        ok = ok and finished == total
    finally:
        conn.close()
        if tmp is not None and not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif keep:
            console.print(f"store kept at {path}")
    sys.exit(0 if ok else 1)


# -- web ---------------------------------------------------------------------------------

@main.command("web")
@click.option("--store", envvar="OVERSEER_STORE", default=DEFAULT_STORE, show_default=True,
              show_envvar=True, help="Store URI: file:PATH, mem:NAME, postgresql://…")
@web_options
def web(store: str, **options: Any) -> None:
    """Serve the web console on its Jobs tab (graphs live, job detail, time travel, actions)."""
    run_web(store, "/jobs", **options)


# status, jobs list, job show, retry, abort, submit (overseer/status_cli.py)
from overseer.status_cli import attach as _attach_status_commands  # noqa: E402

_attach_status_commands(main)


if __name__ == "__main__":  # pragma: no cover - `python -m overseer.cli`
    main()
