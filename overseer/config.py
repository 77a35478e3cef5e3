"""Reads and validates a worker's configuration: one rule for units, checked values, EDN errors.

The rule for durations
----------------------
**A dashed key is Overseer's and takes milliseconds, as in Overseer; every
other spelling is Python's and takes seconds.** So an Overseer config map
copied as it is means what it meant there::

    {"sleep-time": 10000, "heartbeat": {"sleep-time": 60000, "tolerance": 5}}   # ms, as Overseer

while ``Config(sleep_time=10)``, ``{"sleep_time": 10}``, ``{"heartbeat":
{"interval": 60}}``, the ``OVERSEER_*`` environment variables and the
``overseer worker`` options (``--sleep-time 10``) are seconds. A string with
a unit — ``"250ms"``, ``"10s"``, ``"5m"``, ``"1h"`` — means the same under
any spelling and is never second-guessed.

A bare number that is implausible for the unit its key implies is refused,
naming the unit it was read in and how to write what was probably meant:
under 100 ms for a dashed key (``{"heartbeat": {"sleep-time": 60}}`` is
60 ms, surely 60 seconds), over an hour for a seconds key (``{"heartbeat_interval":
60000}`` would leave a dead worker's job started for days).

>>> Config.from_mapping({"heartbeat": {"sleep-time": 60000, "tolerance": 5}}, env={}).heartbeat_interval
60.0
>>> Config.from_mapping({"sleep_time": 2, "batch-window": "5ms"}, env={}).sleep_time
2.0
>>> Config.from_mapping({"heartbeat": {"sleep-time": 60}}, env={})
Traceback (most recent call last):
...
overseer.errors.ConfigError: config :heartbeat :sleep-time 60 is read in milliseconds (a dashed key is Overseer's, and Overseer's unit is ms): 60 ms is implausibly short; for 60 s write 60000 or "60s", or "60ms" if you mean it

Overseer's other keys: ``detector-sleep-time`` (ms) is accepted and checked
but has no effect (a worker learns of ready jobs from the transactions it
sees); ``heartbeat {monitor-shutdown}`` is accepted and has no effect (a
failing monitor logs and retries); ``sentry {dsn}`` reports handler errors to
Sentry (see :mod:`overseer.reporting`); ``store`` / ``datomic`` are ignored
(the store is the connection or URI given to the worker).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import json
import os
import pathlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from fact_store.edn import read as read_edn
from fact_store.edn import show

from overseer.errors import ConfigError

#: a bare number under this many ms under a dashed (Overseer) key is surely seconds
MIN_PLAUSIBLE_MS = 100
#: a bare number over this many seconds under a Python key is surely milliseconds
MAX_PLAUSIBLE_S = 3600

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|sec|s|min|m|h)\s*$")


def _field(default: Any, kind: str, doc: str, repr: bool = True, *, short: bool = False,
           long: bool = False) -> Any:
    """A Config field. ``short``: a duration that is sensibly a few ms, so a small bare
    number under a dashed key is not refused; ``long``: one that may sensibly be hours."""
    return dataclasses.field(default=default, repr=repr,
                             metadata={"kind": kind, "doc": doc, "short": short, "long": long})


@dataclasses.dataclass
class Config:
    """Worker settings. Keyword arguments are Python's spelling, so durations are seconds.

    ``heartbeat_interval × heartbeat_tolerance + detector_interval + detector_stagger``
    bounds how long a dead worker's job stays started. Build one from an
    Overseer-style map with :meth:`from_mapping` (dashed keys: milliseconds).

    >>> Config(sleep_time="500ms").sleep_time
    0.5
    >>> Config(heartbeat_interval=60000)
    Traceback (most recent call last):
    ...
    overseer.errors.ConfigError: config heartbeat_interval 60000 is read in seconds (Python's spelling takes seconds): 16.7 hours is implausibly long; Overseer's heartbeat sleep-time is in milliseconds: write {:heartbeat {:sleep-time 60000}} or "60000ms", or "60000s" if you mean it
    """

    sleep_time: float = _field(10.0, "duration", "longest idle wait; a worker also wakes on new transactions")
    heartbeat_enabled: bool = _field(True, "bool", "heartbeats and the monitor (both, as in Overseer)")
    heartbeat_interval: float = _field(10.0, "duration", "time between heartbeats")
    heartbeat_tolerance: float = _field(3.0, "number", "missed heartbeats before a job counts as dead")
    detector_interval: float = _field(10.0, "duration", "time between monitor sweeps")
    detector_stagger: float = _field(5.0, "duration", "random extra delay of each sweep")
    concurrency: int = _field(1, "count", "jobs run at once by this worker (threads)")
    max_attempts: int = _field(5, "count", "a job reset or faulted at this attempt fails as poison")
    batch_size: int = _field(64, "count", "most jobs claimed in one transaction")
    batch_window: float = _field(0.005, "duration", "longest an outcome waits to share a commit", short=True)
    retry_delay: float = _field(1.0, "duration", "backoff after a fault or reset: retry_delay x 2^(n-1) "
                                                 "for the n-th counted attempt, with jitter")
    retry_delay_max: float = _field(300.0, "duration", "the longest backoff", long=True)
    timeout: float = _field(0.0, "duration", "longest an attempt may run (0: no limit); per type in a "
                                             "handler map's options, per job in :job/timeout (ms)", long=True)
    isolate: bool = _field(False, "bool", "run each handler in a forked child process (killed at its "
                                          "timeout); else in the worker's own thread")
    max_hold: float = _field(0.02, "duration", "longest a claimed job waits behind a slow handler of its "
                                               "batch before the worker gives it back unrun", short=True)
    exit_grace: float = _field(2.0, "duration", "exit_when_done: how long the store must stay quiet "
                                                "before ready jobs no live worker handles count as left over")
    hand_off: bool = _field(False, "bool", "latency-first: claim the jobs one's own finishes make ready "
                                           "before the others (a departure from the seed's random choice)")
    on_error: Any = _field(None, "callable", "called as f(job, exc[, failure]) when a handler fails; "
                                             "a callable or 'module:function'")
    sentry: Any = _field(None, "sentry", "Sentry options, at least {'dsn': …}; needs the sentry extra",
                         repr=False)  # a DSN holds a key

    ENV = {  # field -> environment variable (values in seconds, or with a unit)
        "sleep_time": "OVERSEER_SLEEP_TIME",
        "heartbeat_enabled": "OVERSEER_HEARTBEAT_ENABLED",
        "heartbeat_interval": "OVERSEER_HEARTBEAT_INTERVAL",
        "heartbeat_tolerance": "OVERSEER_HEARTBEAT_TOLERANCE",
        "detector_interval": "OVERSEER_DETECTOR_INTERVAL",
        "detector_stagger": "OVERSEER_DETECTOR_STAGGER",
        "concurrency": "OVERSEER_CONCURRENCY",
        "max_attempts": "OVERSEER_MAX_ATTEMPTS",
        "batch_size": "OVERSEER_BATCH_SIZE",
        "batch_window": "OVERSEER_BATCH_WINDOW",
        "retry_delay": "OVERSEER_RETRY_DELAY",
        "retry_delay_max": "OVERSEER_RETRY_DELAY_MAX",
        "timeout": "OVERSEER_TIMEOUT",
        "isolate": "OVERSEER_ISOLATE",
        "max_hold": "OVERSEER_MAX_HOLD",
        "exit_grace": "OVERSEER_EXIT_GRACE",
        "hand_off": "OVERSEER_HAND_OFF",
        "on_error": "OVERSEER_ON_ERROR",
        "sentry": "OVERSEER_SENTRY_DSN",
    }

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, _Given):  # from from_mapping: the key's spelling says the unit
                setattr(self, f.name, _check(f, v.value, v.label, v.unit))
            else:
                setattr(self, f.name, _check(f, v, f.name, "s"))
        if self.heartbeat_enabled and self.heartbeat_interval <= 0:
            raise ConfigError("config heartbeat_interval must be more than 0 while heartbeats are on",
                              field="heartbeat_interval", value=self.heartbeat_interval)

    @classmethod
    def from_mapping(cls, m: Mapping[Any, Any] | None, env: Mapping[str, str] | None = None, *,
                     labels: Mapping[Any, str] | None = None) -> "Config":
        """A Config from an Overseer-style map, over the environment, over the defaults.

        Keys may be strings or keywords, with ``-`` (Overseer's spelling:
        durations in **milliseconds**) or ``_`` (Python's: **seconds**).
        Overseer's nesting works: ``{"heartbeat": {"enabled": true, "sleep-time":
        60000, "tolerance": 5}, "sentry": {"dsn": "…"}}``.

        >>> Config.from_mapping({":heartbeat": {":sleep-time": 2000}}, env={}).heartbeat_interval
        2.0
        >>> Config.from_mapping({}, env={"OVERSEER_CONCURRENCY": "4"}).concurrency
        4

        ``labels`` names keys in messages (the command line passes ``--sleep-time``).

        :raises ConfigError: an unknown key, a value of the wrong type, or a
            duration implausible for the unit its key implies.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        env = os.environ if env is None else env
        for name, var in cls.ENV.items():
            if var in env and env[var] != "":
                values[name] = _Given(env[var], var, "s")
        if m is not None and not isinstance(m, Mapping):
            raise ConfigError(f"a worker config is a map, got {show(m)}", value=m)
        for k, v in (m or {}).items():
            key, unit = _key(k)
            label = (labels or {}).get(k) or show(_as_keyword(k))
            if key == "heartbeat" and isinstance(v, Mapping):
                for hk, hv in v.items():
                    hkey, hunit = _key(hk)
                    hlabel = f"{label} {show(_as_keyword(hk))}"
                    if hkey == "monitor_shutdown":
                        _check_bool(hv, hlabel)  # Overseer's; a failing monitor here logs and retries
                        continue
                    full = "heartbeat_" + {"sleep_time": "interval"}.get(hkey, hkey)
                    if full not in fields:
                        raise ConfigError(f"unknown heartbeat setting {show(_as_keyword(hk))}; known: "
                                          ":enabled :sleep-time (ms) :interval (s) :tolerance "
                                          ":monitor-shutdown", key=hk)
                    values[full] = _Given(hv, hlabel, hunit)
            elif key == "sentry":
                values["sentry"] = _Given(v, label, unit)
            elif key == "sentry_dsn":
                values["sentry"] = _Given({"dsn": v} if isinstance(v, str) else v, label, unit)
            elif key == "detector_sleep_time":  # Overseer's ready-job detector: checked, no effect
                _duration(v, label, unit)
            elif key in fields:
                values[key] = _Given(v, label, unit)
            elif key in ("store", "uri", "datomic"):
                continue  # the store is the connection or URI given to the worker
            else:
                known = " ".join(sorted(":" + n.replace("_", "-") for n in fields))
                raise ConfigError(f"unknown config key {label}; known: {known} :heartbeat :sentry", key=k)
        return cls(**values)

    def describe(self) -> str:
        """The settings as one EDN map, durations in seconds (for the worker's start line).

        >>> Config(concurrency=2).describe()[:40]
        '{:sleep-time-s 10.0, :heartbeat-enabled '
        """
        out: dict[Any, Any] = {}
        from fact_store.edn import Keyword
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.metadata["kind"] == "callable" and v is not None:
                v = f"{getattr(v, '__module__', '?')}:{getattr(v, '__qualname__', type(v).__name__)}"
            elif f.metadata["kind"] == "sentry" and v is not None:
                v = {Keyword(":dsn"): "…"}  # a DSN holds a key: never logged
            name = f.name.replace("_", "-") + ("-s" if f.metadata["kind"] == "duration" else "")
            out[Keyword(name)] = v
        return show(out, limit=1000)


@dataclasses.dataclass(frozen=True)
class _Given:
    """A value as the user gave it, with where (for messages) and the unit its key implies."""

    value: Any
    label: str
    unit: str


def _as_keyword(k: Any) -> Any:
    from fact_store.edn import Keyword
    return Keyword(str(k)) if isinstance(k, str) else k


def _key(k: Any) -> tuple[str, str]:
    """A config key as a field name, and the unit a bare number under it is read in."""
    if not isinstance(k, str):
        raise ConfigError(f"config keys are strings or keywords, got {show(k)}", key=k)
    text = str(k).lstrip(":")
    return text.replace("-", "_"), ("ms" if "-" in text else "s")


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    if seconds >= 60:
        return f"{seconds / 60:.1f} minutes"
    return f"{seconds:g} seconds"


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _duration(v: Any, label: str, unit: str, overseer_name: str | None = None, *,
              short: bool = False, long: bool = False) -> float:
    """``v`` in seconds: a bare number in ``unit`` (checked for plausibility) or a string with a unit."""
    n = _number(v)
    if n is None and isinstance(v, str):
        m = _DURATION_RE.match(v)
        if m:  # an explicit unit: taken as written
            return float(m.group(1)) * _UNITS[m.group(2)]
        try:
            n = float(v)
        except ValueError:
            n = None
    if n is None or n != n:
        raise ConfigError(f"config {label} must be a duration: a number ({'ms' if unit == 'ms' else 'seconds'}) "
                          f"or a string with a unit such as \"250ms\", \"10s\", \"5m\"; got {show(v)}",
                          value=v)
    if n < 0:
        raise ConfigError(f"config {label} must be 0 or more, got {show(v)}", value=v)
    shown = f"{n:g}"
    if unit == "ms":
        if 0 < n < MIN_PLAUSIBLE_MS and not short:
            raise ConfigError(
                f"config {label} {shown} is read in milliseconds (a dashed key is Overseer's, and "
                f"Overseer's unit is ms): {shown} ms is implausibly short; for {shown} s write "
                f"{n * 1000:g} or \"{shown}s\", or \"{shown}ms\" if you mean it", value=v, unit="ms")
        return n / 1000
    if n > MAX_PLAUSIBLE_S and not long:
        hint = overseer_name or label
        raise ConfigError(
            f"config {label} {shown} is read in seconds ({_why_seconds(label)}): {_human(n)} is implausibly "
            f"long; Overseer's {hint} is in milliseconds: write {_overseer_form(label, shown)} or "
            f"\"{shown}ms\", or \"{shown}s\" if you mean it", value=v, unit="s")
    return n


def _why_seconds(label: str) -> str:
    if label.startswith("--"):
        return "command-line options take seconds"
    if label.startswith("OVERSEER_"):
        return "environment variables take seconds"
    return "Python's spelling takes seconds"


def _overseer_form(label: str, shown: str) -> str:
    if "heartbeat" in label and ("interval" in label or "sleep" in label):
        return f"{{:heartbeat {{:sleep-time {shown}}}}}"
    return f"{{:{label.lstrip(':').replace('_', '-')} {shown}}}"


def _check_bool(v: Any, label: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise ConfigError(f"config {label} must be true or false, got {show(v)}", value=v)


def _check(f: dataclasses.Field[Any], v: Any, label: str, unit: str) -> Any:
    kind = f.metadata["kind"]
    if kind == "duration":
        overseer_name = {"heartbeat_interval": "heartbeat sleep-time"}.get(f.name, f.name.replace("_", "-"))
        return _duration(v, label, unit, overseer_name, short=f.metadata["short"], long=f.metadata["long"])
    if kind == "bool":
        return _check_bool(v, label)
    if kind in ("count", "number"):
        n: Any = v
        if isinstance(v, str):
            try:
                n = int(v) if kind == "count" else float(v)
            except ValueError:
                n = None
        if isinstance(n, bool) or not isinstance(n, (int, float)) or (kind == "count" and n != int(n)) \
                or n != n:
            want = "a whole number" if kind == "count" else "a number"
            raise ConfigError(f"config {label} must be {want}, got {show(v)}", field=f.name, value=v)
        if kind == "count" and n < 1 or n < 0:
            raise ConfigError(f"config {label} must be {'1' if kind == 'count' else '0'} or more, got {show(v)}",
                              field=f.name, value=v)
        return int(n) if kind == "count" else float(n)
    if kind == "callable":
        if v is None or callable(v):
            return v
        if isinstance(v, str):
            return load_callable(v, label)
        raise ConfigError(f"config {label} must be a function or \"module:function\", got {show(v)}", value=v)
    if kind == "sentry":
        if v is None:
            return None
        if isinstance(v, str):
            v = {"dsn": v}
        if not isinstance(v, Mapping):
            raise ConfigError(f"config {label} must be a map such as {{\"dsn\" \"https://…\"}}, got {show(v)}",
                              value=v)
        opts = {str(k).lstrip(":").replace("-", "_"): x for k, x in v.items()}
        if not isinstance(opts.get("dsn"), str) or not opts["dsn"]:
            raise ConfigError(f"config {label} needs a :dsn string, got {show(v)}", value=v)
        return opts
    raise AssertionError(kind)  # pragma: no cover - every field has a kind


def load_callable(spec: str, label: str = "on-error") -> Callable[..., Any]:
    """Import ``"module:function"`` (``module:obj.attr`` works too) and return the callable.

    >>> load_callable("os.path:join")("a", "b")
    'a/b'

    :raises ConfigError: the spec is malformed, the module does not import,
        or the attribute is missing or not callable.
    """
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ConfigError(f"config {label} must be \"module:function\", got {show(spec)}", value=spec)
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        why = ("there is no such module on the path" if getattr(exc, "name", None) == module
               else f"{type(exc).__name__}: {exc}")
        raise ConfigError(f"config {label}: cannot import module {module}: {why}", value=spec) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"config {label}: module {module} has no attribute {attr}", value=spec) from None
    if not callable(obj):
        raise ConfigError(f"config {label}: {spec} is not callable", value=spec)
    return obj  # type: ignore[no-any-return]


def load_file(path: str | os.PathLike[str]) -> Any:
    """Read an Overseer config map from an EDN file (or JSON when the name ends in ``.json``).

    :raises ConfigError: the file cannot be read or parsed, or is not a map.
    """
    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}", path=str(p)) from None
    try:
        value = json.loads(text) if p.suffix.lower() == ".json" else read_edn(text)
    except ValueError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"config file {p} does not parse: {first}", path=str(p)) from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"config file {p} must hold a map, got {show(value, limit=80)}", path=str(p))
    return value


def epoch_ms(threshold: Any, what: str = "threshold") -> int:
    """An epoch-milliseconds time, as ``:job/heartbeat`` stores it, from ms or a datetime.

    Refuses a number that looks like epoch *seconds* (what ``time.time()``
    gives, and Overseer's unit for heartbeats), which as ms would mean 1970.

    >>> epoch_ms(_dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc))
    1704067200000
    >>> epoch_ms(1704067200)
    Traceback (most recent call last):
    ...
    overseer.errors.ConfigError: threshold 1704067200 looks like epoch seconds; it is epoch milliseconds, as :job/heartbeat stores them: pass 1704067200000 (seconds × 1000) or a datetime
    """
    if isinstance(threshold, _dt.datetime):
        if threshold.tzinfo is None:
            raise ConfigError(f"{what} {threshold.isoformat()} has no timezone; give an aware datetime",
                              value=str(threshold))
        return int(threshold.timestamp() * 1000)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"{what} must be epoch milliseconds or a datetime, got {show(threshold)}",
                          value=threshold)
    if 10**9 <= threshold < 10**11:  # 2001..5138 in seconds, but 1970-01-12..1973 in ms
        raise ConfigError(f"{what} {show(threshold)} looks like epoch seconds; it is epoch milliseconds, as "
                          f":job/heartbeat stores them: pass {int(threshold * 1000)} (seconds × 1000) or a "
                          "datetime", value=threshold)
    return int(threshold)
