"""The job graphs and handlers of ``overseer demo`` (a worker loads ``overseer.demo:HANDLERS``).

The sample graph is the one in Overseer's guide; the generated graph is a seeded
random DAG of extract → transform → load stages with a few jobs that fault once
(a transient failure, run again by some worker) to show retries.
"""

from __future__ import annotations

import random
import time
from typing import Any

from overseer.handlers import fault

SAMPLE_GRAPH = {"start": [], "result1": ["start"], "result2": ["start"], "finish": ["result1", "result2"]}

#: Nodes of the generated graph whose job faults on its first attempt.
FAULT_ONCE_EVERY = 50


def generated_graph(n: int = 300, seed: int = 7) -> tuple[dict[str, list[str]], dict[str, str]]:
    """A random DAG of ``n`` jobs in three stages: ``({node: deps}, {node: type})``.

    >>> g, types = generated_graph(30)
    >>> len(g), sorted(set(types.values()))
    (30, ['extract', 'load', 'transform'])
    """
    rng = random.Random(seed)
    graph: dict[str, list[str]] = {}
    types: dict[str, str] = {}
    n_extract = max(1, n // 5)
    n_load = max(1, n // 5)
    extract = [f"extract-{i:03d}" for i in range(n_extract)]
    transform = [f"transform-{i:03d}" for i in range(n - n_extract - n_load)]
    load = [f"load-{i:03d}" for i in range(n_load)]
    for node in extract:
        graph[node], types[node] = [], "extract"
    for i, node in enumerate(transform):
        pool = extract + transform[:i]
        graph[node] = sorted(set(rng.sample(pool, min(len(pool), rng.randint(1, 3)))))
        types[node] = "transform"
    for node in load:
        graph[node] = sorted(set(rng.sample(transform, min(len(transform), rng.randint(2, 4)))))
        types[node] = "load"
    return graph, types


def _work(job: Any) -> None:
    time.sleep(random.uniform(0.001, 0.008))


def _sample(job: Any) -> None:
    time.sleep(0.05)


def _flaky(job: Any) -> None:
    if job.get(":job/attempt", 1) == 1 and job[":job/id"].endswith("0") and \
            int(job[":job/id"].rsplit("-", 1)[-1]) % FAULT_ONCE_EVERY == 0:
        fault("the upstream service timed out (demo: this job faults on its first attempt)")
    _work(job)


HANDLERS = {
    "start": _sample,
    "result1": _sample,
    "result2": _sample,
    "finish": _sample,
    "extract": _work,
    "transform": _flaky,
    "load": _work,
}
