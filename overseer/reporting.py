"""Error reporting: the ``on_error`` hook and the optional Sentry integration.

When a handler fails (an exception, or :func:`overseer.abort`), the worker
logs it and calls its reporter with the job and the exception, as Overseer
sends such errors to Sentry when its config has ``{:sentry {:dsn …}}``.
:func:`overseer.abort_silent` and :func:`overseer.fault` are not reported.

- ``on_error``: a function ``f(job, exc)`` or ``f(job, exc, failure)``
  (``failure`` is the dict recorded as ``:job/failure``), given to
  ``Worker(on_error=…)``, as ``{"on-error": "module:function"}`` in the config,
  ``overseer worker --on-error module:function`` or ``OVERSEER_ON_ERROR``. Its
  own exceptions are logged and never change the job's outcome.
- Sentry: ``{"sentry": {"dsn": "https://…"}}`` in the config (other keys go
  to ``sentry_sdk.init``), ``--sentry-dsn`` or ``OVERSEER_SENTRY_DSN``. Needs
  ``pip install 'fact-store[sentry]'``; ``sentry_sdk`` is imported only when
  Sentry is configured. Each event carries the job as context (id, type,
  attempt and args) and the tags ``job.type`` and ``job.id``.

Both may be set; both are then called.

>>> seen = []
>>> report = adapt(lambda job, exc: seen.append((job[":job/id"], str(exc))))
>>> report({":job/id": "j-1"}, ValueError("bad"), {})
>>> seen
[('j-1', 'bad')]
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from fact_store.edn import show

from overseer.config import Config
from overseer.errors import ConfigError

log = logging.getLogger("overseer")

OnError = Callable[[Mapping[Any, Any], BaseException, Mapping[str, Any]], Any]

#: the job attributes that are overseer's own; every other attribute is an argument
_OWN_NAMESPACES = ("job", "db")


def adapt(fn: Callable[..., Any]) -> OnError:
    """``fn`` as a three-argument reporter: ``f(job, exc)`` functions are called without ``failure``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass all three
        return fn
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params) or len(positional) >= 3:
        return fn
    if len(positional) == 2:
        return lambda job, exc, failure: fn(job, exc)
    raise ConfigError(f"on-error {getattr(fn, '__qualname__', show(fn))} must take (job, exc) or "
                      "(job, exc, failure)", value=str(fn))


def job_context(job: Mapping[Any, Any]) -> dict[str, Any]:
    """What a report says about the job: id, type, attempt, and its args (the non-overseer attributes).

    Values are JSON-ready: numbers, strings, booleans and nil as they are,
    anything else as EDN text.

    >>> from fact_store import Keyword
    >>> job_context({Keyword(":db/id"): 7, Keyword(":job/id"): "r-1", Keyword(":job/type"): Keyword(":report"),
    ...              Keyword(":job/attempt"): 2, Keyword(":org/id"): 12, Keyword(":org/tags"): [Keyword(":a")]})
    {'id': 'r-1', 'type': ':report', 'attempt': 2, 'args': {':org/id': 12, ':org/tags': '[:a]'}}
    """
    args = {str(k): _jsonable(v) for k, v in job.items()
            if not (isinstance(k, str) and k.lstrip(":").split("/", 1)[0] in _OWN_NAMESPACES)}
    t = job.get(":job/type")
    return {"id": job.get(":job/id"), "type": None if t is None else str(t),
            "attempt": job.get(":job/attempt"), "args": args}


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float)) or type(v) is str:
        return v
    return show(v, limit=1000)


class SentryReporter:
    """Sends handler errors to Sentry, with the job as context. Initialises ``sentry_sdk`` itself.

    ``options`` go to ``sentry_sdk.init`` (``dsn`` at least; ``environment``,
    ``release``, ``before_send``, ``transport`` … as sentry-sdk documents them).
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        try:
            import sentry_sdk
        except ImportError:
            raise ConfigError("config :sentry needs the sentry-sdk package: pip install 'fact-store[sentry]'",
                              missing="sentry-sdk") from None
        self.sdk = sentry_sdk
        opts = dict(options)
        try:
            self.sdk.init(**opts)
        except Exception as exc:  # sentry-sdk rejects a bad DSN or option with its own errors
            raise ConfigError(f"config :sentry: sentry-sdk refused the options: {exc}",
                              keys=sorted(opts)) from None

    def __call__(self, job: Mapping[Any, Any], exc: BaseException, failure: Mapping[str, Any]) -> None:
        ctx = job_context(job)
        with self.sdk.new_scope() as scope:
            scope.set_tag("job.type", ctx["type"])
            scope.set_tag("job.id", ctx["id"])
            scope.set_context("job", ctx)
            scope.capture_exception(exc)

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (the worker calls this when it stops)."""
        self.sdk.flush(timeout=timeout)


class Reporters:
    """Several reporters called in turn; one failing does not keep the next from running."""

    def __init__(self, reporters: list[OnError]) -> None:
        self.reporters = reporters

    def __call__(self, job: Mapping[Any, Any], exc: BaseException, failure: Mapping[str, Any]) -> None:
        for r in self.reporters:
            try:
                r(job, exc, failure)
            except Exception:  # a reporter's failure must not change the job's outcome
                log.exception("error reporter %s failed for job %s", getattr(r, "__qualname__", type(r).__name__),
                              show(job.get(":job/id")))

    def close(self) -> None:
        for r in self.reporters:
            close = getattr(r, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing error reporter failed")


def on_error_for(config: Config, on_error: Callable[..., Any] | None = None) -> Reporters | None:
    """The worker's reporter: ``on_error`` (else the config's), then Sentry when configured; None if neither."""
    chosen: list[OnError] = []
    fn = on_error if on_error is not None else config.on_error
    if fn is not None:
        chosen.append(adapt(fn))
    if config.sentry:
        chosen.append(SentryReporter(config.sentry))
    return Reporters(chosen) if chosen else None
