"""Registry of job type → callable; the harness turns a result or exception into tx-data.

A handler is either a function of the job (a dict of its attributes, keys such
as ``":job/id"``), or a map of lifecycle stages, as in Overseer::

    {"pre_process": f(job), "process": f(job), "post_process": f(job, result)}

``pre_process`` and ``post_process`` are optional; ``process`` is required. The
spellings ``"pre-process"`` and ``":pre-process"`` work too.

From inside a handler, :func:`abort` / :func:`abort_silent` / :func:`fault` end
the job with that outcome; any other exception fails the job with its failure
info (type, message, traceback, data) recorded as JSON in ``:job/failure``. The
worker never dies of a handler's exception: it logs it (logger ``"overseer"``)
and calls the optional ``on_error(job, exc, failure)`` callback (for Sentry and
the like), except for ``abort_silent`` and ``fault``.

>>> h = harness(lambda job: job["n"] * 2, lambda f: (lambda job: f(job) + 1))
>>> run_stages(normalize(h), {"n": 20})
41
>>> h = harness({"process": lambda job: 1}, lambda f: (lambda job, res: res + 1), "post_process")
>>> run_stages(normalize(h), {})
2
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import fact_store as fs
from fact_store.edn import show

from overseer.transitions import ABORT, FAIL, FAULT, FINISH, RELEASE
from overseer.errors import ConfigError, HandlerNotFound, JobAborted, JobFaulted, WorkerInterrupted
from overseer.graph import keyword

log = logging.getLogger("overseer")

STAGES = ("pre_process", "process", "post_process")
_ALIASES = {s: s for s in STAGES} | {s.replace("_", "-"): s for s in STAGES} | {
    ":" + s.replace("_", "-"): s for s in STAGES}

Handler = Callable[[Any], Any] | Mapping[str, Callable[..., Any]]
OnError = Callable[[Mapping[Any, Any], BaseException, Mapping[str, Any]], Any]


# -- control flow helpers (call them from a handler) ---------------------------------------

def abort(msg: str) -> NoReturn:
    """End the job as ``:aborted`` and abort every job that depends on it; reported as an error."""
    raise JobAborted(msg, silent=False)


def abort_silent(msg: str) -> NoReturn:
    """Like :func:`abort`, without error reporting (no ``on_error``, logged at INFO)."""
    raise JobAborted(msg, silent=True)


def fault(msg: str, retry_in: float | None = None) -> NoReturn:
    """A transient failure: the job goes back to ``:unstarted`` and runs again later.

    ``retry_in`` seconds from now, or, when None, after the worker's exponential
    backoff (``retry_delay`` × 2^(attempt-1), capped at ``retry_delay_max``, with
    jitter; see :class:`overseer.Config`). After ``max_attempts`` counted attempts
    the job fails as a poison job instead.
    """
    if retry_in is not None and (not isinstance(retry_in, (int, float)) or retry_in < 0
                                 or retry_in != retry_in):
        raise ConfigError(f"fault(): retry_in must be a number of seconds >= 0, got {retry_in!r}",
                          retry_in=retry_in)
    raise JobFaulted(msg, retry_in=retry_in)


# -- handler shapes ------------------------------------------------------------------------

def _identity(job: Any) -> Any:
    return job


def _identity_post(job: Any, result: Any) -> Any:
    return result


def normalize(handler: Handler) -> dict[str, Callable[..., Any]]:
    """A handler as a dict of its stages (``process`` always present)."""
    if callable(handler) and not isinstance(handler, Mapping):
        return {"process": handler}
    if isinstance(handler, Mapping):
        out: dict[str, Callable[..., Any]] = {}
        for k, f in handler.items():
            stage = _ALIASES.get(str(k))
            if stage is None:
                raise HandlerNotFound(f"unknown handler stage {show(k)}; expected one of {', '.join(STAGES)}",
                                      stage=k)
            if not callable(f):
                raise HandlerNotFound(f"handler stage {stage} is not callable: {show(f)}", stage=stage)
            out[stage] = f
        if "process" not in out:
            raise HandlerNotFound("a handler map needs a process stage", stages=list(out))
        return out
    raise HandlerNotFound(f"a handler is a function or a map of stages, got {show(handler)}",
                          handler=handler)


def harness(handler: Handler, *args: Any, stage: str | None = None) -> dict[str, Callable[..., Any]]:
    """Wrap one stage of ``handler`` (a function or a stage map) with ``wrapper``, like Ring middleware.

    Both argument orders work: Overseer's ``harness(handler, wrapper)`` and
    ``harness(handler, stage, wrapper)``, and ``harness(handler, wrapper, stage)``
    (or ``stage=``). A stage is ``"process"`` (the default), ``"pre_process"`` or
    ``"post_process"``, also spelled ``"post-process"`` or ``":post-process"``.

    ``wrapper`` receives the stage's function and returns a new function of the
    same signature. Wrapping a missing stage wraps an identity (``job -> job``,
    or ``(job, result) -> result`` for ``post_process``), so one harness fits
    handlers with or without that stage.

    >>> add_one = lambda f: (lambda job, res: res + 1)
    >>> run_stages(harness({"process": lambda job: 1}, ":post-process", add_one), {})
    2

    :raises HandlerNotFound: an unknown stage, or arguments that are not a
        handler, a stage name and a wrapper function.
    """
    if len(args) == 1:
        wrapper, st_given = args[0], stage
    elif len(args) == 2 and isinstance(args[0], str) and stage is None:
        st_given, wrapper = args          # Overseer's order: (handler, stage, wrapper)
    elif len(args) == 2 and isinstance(args[1], str) and stage is None:
        wrapper, st_given = args          # (handler, wrapper, stage)
    else:
        raise HandlerNotFound("harness takes (handler, wrapper), (handler, stage, wrapper) or "
                              f"(handler, wrapper, stage); got {len(args) + 1} arguments", arguments=len(args) + 1)
    if not callable(wrapper):
        raise HandlerNotFound(f"a harness wrapper must be a function of the stage's function, got "
                              f"{show(wrapper)}", wrapper=type(wrapper).__name__)
    st = _ALIASES.get(str(st_given if st_given is not None else "process"))
    if st is None:
        raise HandlerNotFound(f"unknown handler stage {show(st_given)}; expected one of "
                              f"{', '.join(STAGES)}", stage=st_given)
    if isinstance(handler, Mapping):
        h = {_ALIASES.get(str(k), str(k)): v for k, v in handler.items()}
    else:
        h = dict(normalize(handler))
    f = h.get(st) or (_identity_post if st == "post_process" else _identity)
    h[st] = wrapper(f)
    return h


def run_stages(stages: Mapping[str, Callable[..., Any]], job: Any) -> Any:
    """Run ``pre_process``, ``process`` and ``post_process`` on ``job``; return the last result."""
    pre = stages.get("pre_process")
    if pre is not None:
        pre(job)
    result = stages["process"](job)
    post = stages.get("post_process")
    if post is not None:
        result = post(job, result)
    return result


#: per-type settings a handler map may carry under ``"options"`` (seconds)
TYPE_OPTIONS = ("retry_delay", "retry_delay_max", "timeout")


def _split_options(handler: Handler) -> tuple[Handler, dict[str, float]]:
    """``{"process": f, "options": {"timeout": 30}}`` → the handler without options, and the options."""
    if not isinstance(handler, Mapping):
        return handler, {}
    opts: dict[str, float] = {}
    rest = {}
    for k, v in handler.items():
        if str(k).lstrip(":") == "options":
            if not isinstance(v, Mapping):
                raise HandlerNotFound(f"handler options must be a mapping, got {v!r}", options=v)
            for ok, ov in v.items():
                name = str(ok).lstrip(":").replace("-", "_")
                if name not in TYPE_OPTIONS:
                    raise HandlerNotFound(f"unknown handler option {ok!r}; known: {', '.join(TYPE_OPTIONS)}",
                                          option=ok)
                if isinstance(ov, bool) or not isinstance(ov, (int, float)) or ov < 0:
                    raise HandlerNotFound(f"handler option {name} must be a number of seconds >= 0, "
                                          f"got {ov!r}", option=name, value=ov)
                opts[name] = float(ov)
        else:
            rest[k] = v
    return rest, opts


class Handlers:
    """The job types a worker handles: ``{Keyword type: stage dict}``, and per-type ``options``."""

    def __init__(self, handlers: Mapping[Any, Handler]) -> None:
        if not isinstance(handlers, Mapping):
            raise HandlerNotFound(f"handlers must be a mapping {{job type: handler}}, got "
                                  f"{type(handlers).__name__}", handlers=handlers)
        self._by_type: dict[fs.Keyword, dict[str, Callable[..., Any]]] = {}
        self.options: dict[fs.Keyword, dict[str, float]] = {}
        for t, h in handlers.items():
            h, opts = _split_options(h)
            self._by_type[keyword(t)] = normalize(h)
            self.options[keyword(t)] = opts

    @property
    def types(self) -> list[fs.Keyword]:
        return list(self._by_type)

    def __contains__(self, job_type: Any) -> bool:
        return keyword(job_type) in self._by_type

    def get(self, job_type: Any) -> dict[str, Callable[..., Any]]:
        try:
            return self._by_type[keyword(job_type)]
        except KeyError:
            raise HandlerNotFound(f"no handler for job type {keyword(job_type)}", type=job_type) from None


# -- turning a run into an outcome ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RunResult:
    """How a handler run ended: an outcome kind, the ``:job/failure`` text, and the exception."""

    kind: str
    failure: str | None = None
    error: BaseException | None = None
    result: Any = None
    retry_in: float | None = None  #: a fault's own delay (seconds), if it gave one


def failure_info(exc: BaseException, job: Mapping[Any, Any] | None = None) -> dict[str, Any]:
    """What ``:job/failure`` records about ``exc``: type, message, traceback and data."""
    t = type(exc)
    data = getattr(exc, "data", None)
    if data is None:
        data = list(exc.args[1:]) if len(exc.args) > 1 else None
    info: dict[str, Any] = {
        "type": f"{t.__module__}.{t.__qualname__}",
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(t, exc, exc.__traceback__)),
        "data": data,
    }
    if job is not None:
        info["attempt"] = job.get(":job/attempt")
        info["owner"] = job.get(":job/owner")
    return info


def _dumps(info: Mapping[str, Any]) -> str:
    return json.dumps(info, default=repr, sort_keys=True)


def execute(stages: Mapping[str, Callable[..., Any]], job: Mapping[Any, Any],
            on_error: OnError | None = None, guard: Any = None) -> RunResult:
    """Run a handler on ``job`` and classify how it ended; never raises.

    ``guard.active`` (when a guard is given) is True exactly while the handler
    runs, inside the ``try``: a signal handler may raise :class:`WorkerInterrupted`
    then, and it becomes a ``release`` outcome.
    """
    jid = job.get(":job/id")
    try:
        if guard is not None:
            guard.active = True
        result = run_stages(stages, job)
        if guard is not None:
            guard.active = False
    except JobAborted as exc:
        info = failure_info(exc, job)
        info["type"] = "overseer/abort-silent" if exc.silent else "overseer/abort"
        if exc.silent:
            log.info("job %s aborted (silently): %s", jid, exc)
        else:
            log.error("job %s aborted: %s", jid, exc)
            _report(on_error, job, exc, info)
        return RunResult(ABORT, _dumps(info), exc)
    except JobFaulted as exc:
        info = failure_info(exc, job)
        info["type"] = "overseer/fault"
        log.warning("job %s faulted, back to unstarted: %s", jid, exc)
        return RunResult(FAULT, _dumps(info), exc, retry_in=exc.retry_in)
    except WorkerInterrupted as exc:
        info = failure_info(exc, job)
        info["type"] = "overseer/interrupted"
        log.warning("job %s interrupted by a second stop signal; released", jid)
        return RunResult(RELEASE, _dumps(info), exc)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:  # a handler's error is data
        info = failure_info(exc, job)
        log.error("job %s failed: %s: %s", jid, info["type"], exc, exc_info=exc)
        _report(on_error, job, exc, info)
        return RunResult(FAIL, _dumps(info), exc)
    finally:
        if guard is not None:
            guard.active = False
    return RunResult(FINISH, None, None, result)


def _report(on_error: OnError | None, job: Mapping[Any, Any], exc: BaseException,
            info: Mapping[str, Any]) -> None:
    if on_error is None:
        return
    try:
        on_error(job, exc, info)
    except Exception:  # the reporter's own failure must not change the job's outcome
        log.exception("on_error callback failed for job %s", job.get(":job/id"))
