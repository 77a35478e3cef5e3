"""The ``web`` subcommand's options and runner, shared by ``fact-store web`` and ``overseer web``.

Imports nothing of the ``web`` extra until the server starts, so both CLIs
load without it and say how to install it when it is missing.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def web_options(f: F) -> F:
    """``--host --port --token --allow-writes --open --query-timeout --max-rows``."""
    opts = [
        click.option("--host", default="127.0.0.1", show_default=True,
                     help="Address to bind; anything but loopback needs a token (one is generated "
                          "and printed when --token is not given)."),
        click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
                     help="Port (0: any free one; the URL printed at start names it)."),
        click.option("--token", envvar="FACT_STORE_WEB_TOKEN", show_envvar=True, default=None,
                     help="Require this token on every request (?token=, cookie or Bearer)."),
        click.option("--allow-writes", is_flag=True,
                     help="Allow actions that transact (retry, abort, submit); read-only otherwise."),
        click.option("--open", "open_browser", is_flag=True, help="Open a browser on the console."),
        click.option("--query-timeout", default=5.0, show_default=True, type=click.FloatRange(0.001),
                     help="Seconds a web query may run."),
        click.option("--max-rows", default=100_000, show_default=True, type=click.IntRange(1),
                     help="Rows a web query may produce (intermediate results included)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def run(uri: str, home: str | None, **options: Any) -> None:
    """Serve the console on ``uri`` until Ctrl-C (``options`` are :func:`web_options`' values)."""
    try:
        from fact_store.web.app import serve
    except ImportError as exc:
        raise click.ClickException(f"the web console needs the web extra ({exc.name} is missing): "
                                   "pip install 'fact-store[web]'") from None
    try:
        serve(uri, options["host"], options["port"], token=options["token"],
              allow_writes=options["allow_writes"], open_browser=options["open_browser"],
              home=home, query_timeout=options["query_timeout"], max_rows=options["max_rows"],
              echo=click.echo)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {options['host']}:{options['port']}: "
                                   f"{exc.strerror or exc}") from None
