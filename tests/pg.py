"""A real PostgreSQL for the tests: one throwaway server per test session, one schema per test.

``pg_server_uri(request)`` (the ``postgresql`` param of the ``store_uri``
fixture in ``tests/conftest.py``) returns a ``postgresql://`` store URI naming
a fresh schema; the schema is dropped when the test ends. The server starts
on first use and stops when the session ends (``config.add_cleanup``, and
``atexit`` as a fallback).

Which server:

- ``FACT_STORE_TEST_PG_DSN`` set (``postgresql://user@host:port/db``): that
  server is used as is; nothing is started or stopped, and the tests that
  crash or restart the server skip.
- otherwise PostgreSQL's server binaries (``initdb``, ``pg_ctl``,
  ``postgres``; version 15 preferred) are looked up in
  ``FACT_STORE_PG_BINDIR``, the usual package directories
  (``/usr/lib/postgresql/<v>/bin``, ``/usr/pgsql-<v>/bin``, ...) and ``PATH``.
  ``initdb`` runs into a temporary directory and ``postgres`` listens on a
  random loopback port (and a Unix socket in the same directory) with
  ``fsync=on`` and ``synchronous_commit=on``: the store's durable mode
  accepts it.

PostgreSQL refuses to run as root. Under root (CI containers) the harness
creates, once and idempotently, the ordinary system user ``factstore-test``
(``useradd``; the ``postgres`` user if that fails) and runs ``initdb`` and
``pg_ctl`` as that user; the temporary directory is handed to it.

No binaries or a failed start: the PostgreSQL tests **skip** with the reason,
except under ``CI=true``, where they **fail**: CI must test every backend.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

import pytest

PREFERRED_VERSION = 15
OS_USER = "factstore-test"
#: The database superuser initdb creates (trust authentication on loopback only).
DB_USER = "factstore"
_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")


def find_bindir() -> str | None:
    """The directory holding initdb, pg_ctl and postgres, version 15 preferred; None if none."""
    candidates: list[str] = []
    env = os.environ.get("FACT_STORE_PG_BINDIR")
    if env:
        candidates.append(env)
    for pattern in (f"/usr/lib/postgresql/{PREFERRED_VERSION}/bin",
                    f"/usr/pgsql-{PREFERRED_VERSION}/bin",
                    f"/opt/homebrew/opt/postgresql@{PREFERRED_VERSION}/bin",
                    f"/usr/local/opt/postgresql@{PREFERRED_VERSION}/bin",
                    "/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin",
                    "/opt/homebrew/opt/postgresql@*/bin"):
        candidates.extend(sorted(glob.glob(pattern), reverse=True))
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found:
            candidates.append(os.path.dirname(os.path.realpath(found)))
    for d in candidates:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in _SERVER_BINARIES):
            return d
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_os_user() -> pwd.struct_passwd:
    """Root only: the unprivileged user the server runs as (created once)."""
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    proc = subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                           OS_USER], capture_output=True, text=True)
    try:
        return pwd.getpwnam(OS_USER)  # created now, or concurrently by another session
    except KeyError:
        pass
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(f"running as root and cannot create the user {OS_USER!r} to run "
                           f"PostgreSQL as ({useradd}: {proc.stderr.strip() or proc.returncode}), "
                           "and there is no 'postgres' user") from None


class PgServer:
    """A PostgreSQL server in a temporary directory (or an external one from a DSN)."""

    def __init__(self, bindir: str | None = None, dsn: str | None = None,
                 settings: dict[str, str] | None = None) -> None:
        self.bindir = bindir
        self.external_dsn = dsn
        self.settings = settings or {}
        self.tmp: Path | None = None
        self.port = 0
        self.user: pwd.struct_passwd | None = None
        self._admin: Any = None
        self._admin_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------
    @property
    def can_restart(self) -> bool:
        return self.external_dsn is None

    @property
    def data(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "data"

    def _run(self, args: Sequence[str], check: bool = True, timeout: float = 120
             ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C",
               "HOME": str(self.tmp)}
        proc = subprocess.run(list(args), capture_output=True, text=True, env=env,
                              timeout=timeout, cwd=str(self.tmp), **kwargs)
        if check and proc.returncode != 0:
            log_tail = ""
            logfile = self.tmp / "server.log" if self.tmp else None
            if logfile is not None and logfile.exists():
                log_tail = "\n--- server.log ---\n" + logfile.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}"
                               f"{proc.stderr}{log_tail}")
        return proc

    def _bin(self, name: str) -> str:
        assert self.bindir is not None
        return os.path.join(self.bindir, name)

    def start(self) -> "PgServer":
        """initdb (first time only) and start; waits until the server accepts connections."""
        if self.external_dsn is not None:
            return self
        if self.tmp is None:
            self.tmp = Path(tempfile.mkdtemp(prefix="fact-store-pg-"))
            if os.geteuid() == 0:
                self.user = _ensure_os_user()
                os.chown(self.tmp, self.user.pw_uid, self.user.pw_gid)
            self._run([self._bin("initdb"), "-D", str(self.data), "-U", DB_USER, "-A", "trust",
                       "-E", "UTF8", "--locale=C", "--no-sync"])
            self.port = _free_port()
            conf = {
                "listen_addresses": "'127.0.0.1'",
                "port": str(self.port),
                "unix_socket_directories": f"'{self.tmp}'",
                "max_connections": "300",
                "shared_buffers": "64MB",
                "fsync": "on",
                "synchronous_commit": "on",
                # crash recovery fsyncs the data directory first: one syncfs() is much
                # faster than an fsync per file (the restart tests crash the server)
                "recovery_init_sync_method": "syncfs",
                "log_min_messages": "warning",
                "log_min_error_statement": "panic",
                "logging_collector": "off",
            }
            conf.update(self.settings)
            with open(self.data / "postgresql.conf", "a") as f:
                f.write("\n# fact-store test harness\n")
                for k, v in conf.items():
                    f.write(f"{k} = {v}\n")
        self._pg_ctl_start()
        return self

    def _pg_ctl_start(self) -> None:
        for attempt in range(3):
            proc = self._run([self._bin("pg_ctl"), "-D", str(self.data), "-l",
                              str(self.tmp / "server.log"), "-w", "-t", "60", "start"], check=False)
            if proc.returncode == 0:
                return
            logtext = (self.tmp / "server.log").read_text(errors="replace")  # type: ignore[operator]
            if "could not bind" in logtext and attempt < 2:  # the port was taken meanwhile
                self.port = _free_port()
                with open(self.data / "postgresql.conf", "a") as f:
                    f.write(f"port = {self.port}\n")
                continue
            raise RuntimeError(f"pg_ctl start failed ({proc.returncode}): {proc.stderr}\n"
                               f"--- server.log ---\n{logtext[-3000:]}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` is a crash: no checkpoint, recovery on start)."""
        if self.external_dsn is not None or self.tmp is None:
            return
        self._drop_admin()
        self._run([self._bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60",
                   "stop"], check=False)

    def restart(self, mode: str = "immediate") -> None:
        """Stop (a crash by default) and start again on the same port and data."""
        self.stop(mode)
        self._pg_ctl_start()

    def destroy(self) -> None:
        """Stop the server and remove its directory."""
        if self.external_dsn is not None or self.tmp is None:
            return
        try:
            self.stop("fast")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    # -- addresses ----------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres", **params: str) -> str:
        """A libpq URI for ``dbname`` (loopback TCP)."""
        if self.external_dsn is not None:
            base = self.external_dsn
            if dbname != "postgres":
                base = re.sub(r"/[^/?]*(\?|$)", f"/{quote(dbname)}\\1", base.split("://", 1)[1], 1)
                base = self.external_dsn.split("://", 1)[0] + "://" + base
        else:
            base = f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{quote(dbname)}"
        if params:
            sep = "&" if "?" in base else "?"
            base += sep + "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
        return base

    def store_uri(self, schema: str, dbname: str = "postgres", **params: str) -> str:
        """The fact-store URI of a store in ``schema``."""
        return self.dsn(dbname, schema=schema, **params)

    def admin(self) -> Any:
        """A shared autocommit superuser connection (re-made after a restart)."""
        import psycopg

        with self._admin_lock:
            if self._admin is None or self._admin.closed or self._admin.broken:
                self._admin = psycopg.connect(self.dsn(), autocommit=True)
            return self._admin

    def admin_execute(self, query: Any, params: Sequence[Any] | None = None) -> list[Any]:
        """Run one statement on the admin connection (reconnecting once); the rows, if any."""
        import psycopg

        for attempt in range(2):
            try:
                cur = self.admin().execute(query, params)
                return cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                if attempt:
                    raise
                self._drop_admin()
        return []

    def _drop_admin(self) -> None:
        with self._admin_lock:
            if self._admin is not None:
                try:
                    self._admin.close()
                except Exception:  # noqa: BLE001 - the server may be gone already
                    pass
                self._admin = None

    def drop_schema(self, schema: str) -> None:
        """Terminate the schema's store sessions and drop it (best effort: schemas are throwaway)."""
        from psycopg import sql

        try:
            self.admin_execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE %s AND pid <> pg_backend_pid()",
                (f"fact-store {schema} %",))
            self.admin_execute("SET lock_timeout = '5s'")
            self.admin_execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))
        except Exception as exc:  # noqa: BLE001 - never fail a test on cleanup
            print(f"tests/pg.py: could not drop schema {schema}: {exc}")


# --- the session server -------------------------------------------------------------------

_server: PgServer | None = None
_failure: str | None = None
_start_lock = threading.Lock()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


def session_server(request: pytest.FixtureRequest | None = None) -> PgServer:
    """The server of this test session, started on first use (skip/fail when impossible)."""
    global _server, _failure
    with _start_lock:
        if _server is None and _failure is None:
            try:
                import psycopg  # noqa: F401
            except ImportError:
                _failure = "psycopg is not installed (pip install 'fact-store[postgres]')"
            else:
                dsn = os.environ.get("FACT_STORE_TEST_PG_DSN")
                if dsn:
                    _server = PgServer(dsn=dsn)
                else:
                    bindir = find_bindir()
                    if bindir is None:
                        _failure = ("no PostgreSQL server binaries (initdb, pg_ctl, postgres) "
                                    "found; install postgresql-15 or set FACT_STORE_PG_BINDIR "
                                    "or FACT_STORE_TEST_PG_DSN")
                    else:
                        server = PgServer(bindir)
                        try:
                            started = time.monotonic()
                            server.start()
                            print(f"tests/pg.py: PostgreSQL from {bindir} on port {server.port} "
                                  f"in {time.monotonic() - started:.1f} s")
                        except Exception as exc:  # noqa: BLE001 - reported as the reason
                            server.destroy()
                            _failure = f"could not start PostgreSQL from {bindir}: {exc}"
                        else:
                            _server = server
                            atexit.register(server.destroy)
                            if request is not None:
                                request.config.add_cleanup(server.destroy)
    if _server is None:
        _unavailable(_failure or "unknown")
    assert _server is not None
    return _server


def new_schema_name() -> str:
    return "t_" + uuid.uuid4().hex[:16]


def fresh_schema(request: pytest.FixtureRequest) -> tuple[PgServer, str]:
    """The session server and a new schema name, dropped when the test ends."""
    server = session_server(request)
    schema = new_schema_name()
    request.addfinalizer(lambda: server.drop_schema(schema))
    return server, schema


def pg_server_uri(request: pytest.FixtureRequest) -> str:
    """A store URI on the session's PostgreSQL naming a fresh schema (dropped after the test)."""
    server, schema = fresh_schema(request)
    return server.store_uri(schema)
