"""Handlers for the browser tests' worker processes: the demo's, plus a job that fails once.

``explode`` raises on its first attempt with an HTML payload as its message
(the page must show it as text, never run it) and succeeds when retried.
"""

from overseer.demo import HANDLERS as DEMO

PAYLOAD = '<script>alert("xss")</script><img src=x onerror=alert(2)>'


def explode(job):
    if job.get(":job/attempt", 1) == 1:
        raise RuntimeError(PAYLOAD)


HANDLERS = {**DEMO, "explode": explode}
