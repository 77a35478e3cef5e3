"""Log stores: the append-only truth every index is built from; ``open_store(uri)`` picks one.

=====================================  ==============================================
URI                                    store
=====================================  ==============================================
``mem:``                               a fresh in-process store (``memory.py``)
``mem:NAME``                           the process-wide in-memory store NAME
``file:PATH[?durability=fsync|group|none&lock_timeout=S&max_tx_bytes=N&network_fs=refuse|warn]``
                                       a directory on a local disk (``file.py``);
                                       PATH relative or absolute; ``file:///abs``
                                       also works
``postgresql://user@host:port/db[?schema=NAME&durability=fsync|group|none&unsafe_server=refuse|warn&lock_timeout=S&reconnect_timeout=S&max_tx_bytes=N]``
                                       tables in one schema of a PostgreSQL database
                                       (``postgres.py``; ``postgres://`` too); other
                                       query parameters go to libpq
=====================================  ==============================================

>>> s = open_store("mem:doctest")
>>> s is not open_store("mem:doctest"), s.head() == open_store("mem:doctest").head()
(True, True)
>>> open_store("redis://x")
Traceback (most recent call last):
...
fact_store.errors.ConfigurationError: unknown store URI "redis://x": expected mem:, mem:NAME, file:PATH or postgresql://...
"""

from __future__ import annotations

import importlib
import os
from typing import Callable
from urllib.parse import parse_qsl, unquote

from fact_store.errors import ConfigurationError
from fact_store.edn.writer import show as _show
from fact_store.log.base import DURABILITY_MODES, LogStore, RawRecord
from fact_store.log.file import FileStore, VerifyReport, verify
from fact_store.log.memory import MemoryStore, open_memory
from fact_store.log.record import decode_tx, decode_value, encode_tx, encode_value, pack, unpack

if os.environ.get("FACTSTORE_CRASH_AT"):  # fault tests only: arms the crash points
    from fact_store.log import crash as _crash  # noqa: F401

__all__ = [
    "DURABILITY_MODES", "FileStore", "LogStore", "MemoryStore", "RawRecord", "VerifyReport",
    "decode_tx", "decode_value", "encode_tx", "encode_value", "open_store", "pack", "unpack",
    "verify",
]

_ACCEPTED = "mem:, mem:NAME, file:PATH or postgresql://..."
_FILE_OPTIONS = ("durability", "lock_timeout", "max_tx_bytes", "network_fs")


def _open_mem(uri: str) -> LogStore:
    return open_memory(uri, uri[len("mem:"):])


def _open_file(uri: str) -> LogStore:
    rest = uri[len("file:"):]
    path, _, query = rest.partition("?")
    if path.startswith("//"):
        # file:///abs/path or file://localhost/abs/path
        host, slash, tail = path[2:].partition("/")
        if host not in ("", "localhost"):
            raise ConfigurationError(f"store URI {_show(uri)} names host {_show(host)}; a file: store "
                                     "must be on this machine", uri=uri)
        path = unquote(slash + tail)
    if not path:
        raise ConfigurationError(f"store URI {_show(uri)} has no path; write file:PATH", uri=uri)
    opts: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if k not in _FILE_OPTIONS:
            raise ConfigurationError(f"store URI {_show(uri)}: unknown option {_show(k)}; file: accepts "
                                     f"{', '.join(_FILE_OPTIONS)}", uri=uri)
        opts[k] = v
    kwargs: dict[str, object] = {"uri": uri}
    if "durability" in opts:
        kwargs["durability"] = opts["durability"]
    if "network_fs" in opts:
        kwargs["network_fs"] = opts["network_fs"]
    try:
        if "lock_timeout" in opts:
            kwargs["lock_timeout"] = float(opts["lock_timeout"])
        if "max_tx_bytes" in opts:
            kwargs["max_tx_bytes"] = int(opts["max_tx_bytes"])
    except ValueError as exc:
        raise ConfigurationError(f"store URI {_show(uri)}: {exc}", uri=uri) from exc
    return FileStore(path, **kwargs)  # type: ignore[arg-type]


def _open_postgres(uri: str) -> LogStore:
    try:
        module = importlib.import_module("fact_store.log.postgres")
    except ModuleNotFoundError as exc:
        if exc.name != "fact_store.log.postgres":
            raise
        raise ConfigurationError(f"store URI {_show(uri)}: the postgresql backend is not yet "
                                 "available in this build; use file:PATH", uri=uri) from exc
    opener: Callable[[str], LogStore] = module.open_store
    return opener(uri)


#: scheme prefix → opener. A backend plugs in here (postgres.py exports open_store(uri)).
_OPENERS: list[tuple[str, Callable[[str], LogStore]]] = [
    ("mem:", _open_mem),
    ("file:", _open_file),
    ("postgresql://", _open_postgres),
    ("postgres://", _open_postgres),
]


def open_store(uri: str) -> LogStore:
    """Open (creating if needed) the log store a URI names.

    :raises ConfigurationError: an unknown scheme or option (the message lists
        the accepted ones), or a backend that is not available.
    :raises NotAFactStore: ``file:PATH`` names something that is not a store.
    :raises StorageError: the store cannot be opened.
    """
    if not isinstance(uri, str):
        raise ConfigurationError(f"store URI must be a str, not {type(uri).__name__}")
    for prefix, opener in _OPENERS:
        if uri.startswith(prefix):
            return opener(uri)
    raise ConfigurationError(f"unknown store URI {_show(uri)}: expected {_ACCEPTED}", uri=uri)
