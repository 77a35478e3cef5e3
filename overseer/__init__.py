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

Everything public is exported here; the modules behind it are the map of the
design (see ``STYLE.md``): ``schema``, ``graph``, ``queries``, ``claim``,
``handlers``, ``heartbeat``, ``status``, ``worker``, ``cli``.
"""

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
