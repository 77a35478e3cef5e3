"""overseer: durable DAG job graphs run by worker processes on a fact store.

A Python port of Overseer (framed-data/overseer) onto ``fact_store``: jobs are
entities, a job graph is inserted in one transaction, and workers in any number
of processes claim ready jobs (unstarted, every dependency finished) with a
transaction function, run their handlers, and record the outcome, with
heartbeats, monitors that reset the jobs of dead workers, and fencing so a
stale attempt can never record an outcome.

>>> import fact_store as fs, overseer
>>> conn = fs.connect("mem:overseer-readme")
>>> _ = overseer.install_schema(conn)
>>> graph = {"start": [], "result1": ["start"], "result2": ["start"], "finish": ["result1", "result2"]}
>>> _ = conn.transact(overseer.graph_txns(graph))
>>> ran = []
>>> handlers = {t: (lambda job: ran.append(job[":job/type"])) for t in graph}
>>> w = overseer.Worker(conn, handlers, {"heartbeat": {"enabled": False}})
>>> while w.step(now=0.0) == "ran":
...     pass
>>> ran[0], ran[-1], sorted(overseer.jobs_with_status(conn.db(), "finished")) == sorted(
...     overseer.jobs_with_status(conn.db(), ":finished"))
(Keyword(':start'), Keyword(':finish'), True)
>>> len(overseer.jobs_with_status(conn.db(), "finished"))
4
>>> conn.close()

User guide (Overseer's, in Python spelling)
-------------------------------------------

**Inserting jobs.** ``graph_txns(graph, args=None)`` turns ``{node: [deps]}`` into
the tx-data of one transaction: every job ``:unstarted`` with ``:job/dep`` edges;
a node is its job type and gets a random UUID id unless ``types=``/``ids=`` say
otherwise. ``args`` (e.g. ``{":organization-id": 123}``) become attributes of every
job: declare them in your schema. ``job_txn("my-job-type", {":user-id": 456})`` is
one job. A missing dependency or a cycle raises ``GraphError`` naming them; ids
that already exist make ``conn.transact`` raise ``DuplicateJobId`` (a GraphError)
and write nothing, or with ``if_exists="skip"`` skip the graph silently (Overseer
0.9's transact-graph). No execution order is promised among ready jobs: a worker picks uniformly at
random among every ready job it handles. ``not_before=`` (a datetime or epoch seconds) delays a
job or a graph.

**Handlers.** ``{job type: handler}``; a handler is ``f(job)`` or
``{"pre_process": f(job), "process": f(job), "post_process": f(job, result)}``.
``job`` is a dict of the job's attributes (``job[":job/id"]``, ``job[":job/attempt"]``,
your args; every key a Keyword). ``harness(handler, wrapper)`` wraps the process
stage; ``harness(handler, "post-process", wrapper)`` (Overseer's order) another.
``validate_graph_handlers(handlers, graph)`` names the types without a handler.
Inside a handler: ``abort(msg)`` (the job and every transitive dependent become
``:aborted``; reported), ``abort_silent(msg)`` (the same, not reported),
``fault(msg, retry_in=None)`` (back to ``:unstarted`` for a later try, after ``retry_in``
seconds or an exponential backoff with jitter). Any other exception:
``:failed`` with JSON failure info in ``:job/failure``, dependents ``:aborted``.
Execution is at least once: make handlers idempotent.

**Workers.** ``start(conn_or_uri, handlers, config)`` runs a worker until
SIGINT/SIGTERM (a first signal finishes the running job, a second releases it);
``Worker(...).step(now)`` runs one iteration. In ``config`` a dashed key is
Overseer's and takes milliseconds, as in Overseer (``{"sleep-time": 10000,
"heartbeat": {"enabled": True, "sleep-time": 60000, "tolerance": 5}}``); Python's
spelling takes seconds (``Config(sleep_time=10)``, ``{"sleep_time": 10}``); a
string with a unit (``"250ms"``, ``"10s"``) means what it says; implausible values
are refused (see :mod:`overseer.config`). ``on-error`` (``module:function``) and
``sentry`` (``{"dsn": …}``) report handler failures. From a shell:
``overseer worker myapp.jobs:HANDLERS --store file:./jobs.db``; ``overseer demo``.

**Status.** ``jobs_with_status(db, "failed")``, ``jobs_unstarted(db)``,
``jobs_ready(db)``, ``jobs_dead(db, threshold_ms)``, ``transitive_dependents(db, id)``:
one Datalog query each; ``overseer.status`` has progress and failure views.

**Statuses and fencing.** ``:unstarted → :started`` (a claim: attempt n+1, owner,
heartbeat) ``→ :finished | :failed | :aborted | :unstarted`` (fault, or a reset by
a monitor when the heartbeat, epoch ms, is older than interval × tolerance). An
outcome or heartbeat counts only while its attempt is current, so a worker paused
past its lease cannot overwrite what replaced it. A job reset or faulted at its
``max_attempts``-th attempt fails as a poison job.

Everything public is exported here; the modules behind it are the map of the
design (docs/ARCHITECTURE.md): ``schema``, ``graph``, ``queries``, ``claim``,
``handlers``, ``heartbeat``, ``status``, ``worker``, ``cli`` (and ``demo``, the
demo's graphs and handlers).
"""

from fact_store import __version__  # one distribution, one version

from overseer.errors import (ClaimLost, ConfigError, DuplicateJobId, GraphError, HandlerNotFound,
                             JobAborted, JobFaulted, JobSignal, OverseerError, StaleAttempt,
                             WorkerInterrupted)
from overseer.schema import (ABORTED, FAILED, FINISHED, STARTED, STATUSES, UNSTARTED,
                             install_schema)
from overseer.graph import (find_cycle, graph_txns, job_txn, missing_handlers, validate_graph,
                            validate_graph_handlers)
from overseer.queries import (jobs_dead, jobs_ready, jobs_unstarted, jobs_with_status,
                              transitive_dependents)
from overseer.handlers import abort, abort_silent, fault, harness
from overseer.worker import Config, Worker, start

__all__ = [
    "install_schema", "graph_txns", "job_txn", "validate_graph", "validate_graph_handlers",
    "missing_handlers", "find_cycle",
    "abort", "abort_silent", "fault", "harness",
    "jobs_with_status", "jobs_unstarted", "jobs_ready", "jobs_dead", "transitive_dependents",
    "Worker", "Config", "start",
    "UNSTARTED", "STARTED", "FINISHED", "FAILED", "ABORTED", "STATUSES",
    "OverseerError", "GraphError", "DuplicateJobId", "HandlerNotFound", "ConfigError", "ClaimLost",
    "StaleAttempt", "JobSignal", "JobAborted", "JobFaulted", "WorkerInterrupted",
]
