"""White-box crash points: SIGKILL this process at a named step when a test asks.

The storage layer calls :func:`crashpoint` at the steps where a crash is most
interesting (RELIABILITY.md T2w, as RocksDB's whitebox crash test does). When
the environment variable ``FACTSTORE_CRASH_AT`` holds ``name:k`` (several
comma-separated entries allowed), the k-th hit of ``name`` in this process kills
the process with ``SIGKILL``: no ``finally`` block, no flush, no unlock. The OS
releases the process's ``flock`` exactly as it would after ``kill -9``.

Production code never imports this module: the stores call
:func:`fact_store.log.base.crashpoint`, a no-op until this module arms it, and
``fact_store/log/__init__.py`` imports this module only when the variable is
set (a test may also import it and call :func:`configure`). Disarmed, a crash
point costs one global lookup.

Points the file store uses (see ``fact_store/log/file.py``):

``before-write``, ``mid-write`` (half the frame is written, then death),
``after-write-before-fsync``, ``after-fsync-before-unlock``,
``after-unlock-before-ack``, ``tail-truncate`` (the torn tail is cut but the
cut is not yet fsynced), ``snapshot-tmp-written``, ``snapshot-renamed``.

>>> configure("mid-write:3")
>>> [would_crash("mid-write") for _ in range(2)]
[False, False]
>>> configure(None)
>>> crashpoint("mid-write")   # disarmed: a no-op
"""

from __future__ import annotations

import os
import signal
from typing import Callable

from fact_store.errors import ConfigurationError
from fact_store.log import base

ENV_VAR = "FACTSTORE_CRASH_AT"

#: name -> hit count k at which to die; None when disarmed (the fast path).
_armed: dict[str, int] | None = None
_hits: dict[str, int] = {}


def _parse(spec: str) -> dict[str, int]:
    targets: dict[str, int] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, k = part.rpartition(":")
        if not sep or not name or not k.isdigit() or int(k) < 1:
            raise ConfigurationError(
                f"{ENV_VAR}={spec!r}: expected name:k with k >= 1, e.g. 'mid-write:3'",
                spec=spec)
        targets[name] = int(k)
    return targets


def configure(spec: str | None) -> None:
    """Arm (``"name:k,..."``) or disarm (``None``) crash points and reset hit counts."""
    global _armed
    _hits.clear()
    _armed = _parse(spec) if spec else None
    base.crash_hook = crashpoint if _armed is not None else None


def would_crash(name: str) -> bool:
    """Count a hit of ``name``; True when this hit is the one to die at.

    For points that must do something first (``mid-write`` writes half a
    frame), the caller does it and then calls :func:`die`.
    """
    if _armed is None:
        return False
    k = _armed.get(name)
    if k is None:
        return False
    n = _hits.get(name, 0) + 1
    _hits[name] = n
    return n == k


def die() -> None:  # pragma: no cover - the process ends here
    """Kill this process with SIGKILL, like ``kill -9`` would."""
    os.kill(os.getpid(), signal.SIGKILL)


def crashpoint(name: str, before: Callable[[], object] | None = None) -> None:
    """Die here if ``FACTSTORE_CRASH_AT`` names this point and hit count.

    :func:`configure` installs it as ``fact_store.log.base.crash_hook`` when armed.

    ``before`` runs first when the crash fires (``mid-write`` uses it to write
    half a record). Cost when disarmed: one global lookup.
    """
    if _armed is None:
        return
    if would_crash(name):  # pragma: no cover - exercised in subprocesses
        if before is not None:
            before()
        die()


configure(os.environ.get(ENV_VAR))
