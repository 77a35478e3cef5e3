"""The web console: a Starlette app over one connection, with pages that are also a JSON API.

``fact-store web --uri URI`` serves it (``overseer web`` opens the same app on
its Jobs tab). The console's own pages (query, pull, schema, entity, tx log,
live events) live here; packages above fact_store add tabs through the
``fact_store.web.tabs`` entry point group (:class:`Tab`), so fact_store never
imports them. Needs the ``web`` extra: ``pip install 'fact-store[web]'``.
See docs/WEB.md for the pages, the JSON API and the security model.
"""

from typing import Any

__all__ = ["create_app", "serve", "Console", "Settings", "Tab", "load_tabs", "BadRequest",
           "Forbidden", "NotFound"]


def __getattr__(name: str) -> Any:
    """Load the app on first use, so ``fact_store.web.command`` works without the web extra."""
    if name in ("create_app", "serve"):
        from fact_store.web import app
        return getattr(app, name)
    if name in __all__:
        from fact_store.web import console
        return getattr(console, name)
    raise AttributeError(name)
