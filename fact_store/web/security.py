"""The console's network defences, as one ASGI middleware around the whole app.

- **Token.** When the server has a token (required to bind anything but a
  loopback address), every request must carry it: ``Authorization: Bearer T``,
  the ``fs_token`` cookie, or ``?token=T`` once (which sets the cookie, HttpOnly,
  SameSite=Strict). Anything else gets 401 before the app sees it.
- **Host.** Without a token, a request must name a loopback host (``Host:
  127.0.0.1:…``, ``localhost``, ``[::1]``): a site that re-points its own DNS
  name at 127.0.0.1 (DNS rebinding) is refused.
- **CSRF.** Each browser gets a random ``fs_csrf`` cookie (SameSite=Strict,
  HttpOnly); forms carry an HMAC of it (:meth:`Console.csrf_token`) that a
  POST must echo. A POST whose ``Origin`` names another host is refused too.
- **Headers.** A Content-Security-Policy without inline script or style
  (``script-src 'self'``), ``frame-ancestors 'none'``, ``X-Content-Type-Options:
  nosniff``, ``Referrer-Policy: no-referrer`` on every response.
- **JSON twins.** A path ending in ``.json`` is served by the same route,
  answering JSON (the flag ``fs_json`` in the scope).

>>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
(True, True, True, False)
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
           (b"cache-control", b"no-store")]

Scope = dict[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Does ``host`` bind only this machine?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str:
    """``127.0.0.1:8765`` → ``127.0.0.1``; ``[::1]:80`` → ``::1``.

    >>> _hostname("127.0.0.1:8765"), _hostname("[::1]:80"), _hostname("localhost")
    ('127.0.0.1', '::1', 'localhost')
    """
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _cookies(scope: Scope) -> dict[str, str]:
    for k, v in scope.get("headers", []):
        if k == b"cookie":
            c: SimpleCookie = SimpleCookie()
            try:
                c.load(v.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no cookie
                return {}
            return {name: m.value for name, m in c.items()}
    return {}


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")
    return None


class Security:
    """The middleware: token check, CSRF cookie, ``.json`` suffix, security headers."""

    def __init__(self, app: ASGI, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is None and not is_loopback(_hostname(_header(scope, b"host") or "")):
            # without a token the console trusts being reachable from this machine only; a page
            # of another site that re-points its DNS name at 127.0.0.1 (DNS rebinding) sends
            # its own name as Host, and is refused here
            await self._plain(send, 403, "403: this console answers only to localhost / 127.0.0.1 "
                              "(start it with --token to serve other names)")
            return
        cookies = _cookies(scope)
        set_cookies: list[bytes] = []
        scope["fs_bearer"] = False
        if self.token is not None:
            auth = _header(scope, b"authorization") or ""
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip(), self.token):
                scope["fs_bearer"] = True
            elif query and hmac.compare_digest(query, self.token):
                set_cookies.append(f"fs_token={self.token}; Path=/; HttpOnly; SameSite=Strict".encode())
            elif not hmac.compare_digest(cookies.get("fs_token", ""), self.token):
                await self._plain(send, 401, "401: this console needs its token: open the URL the "
                                  "server printed at start (…?token=…) or send Authorization: Bearer")
                return
        csrf = cookies.get("fs_csrf", "")
        if len(csrf) < 16:
            csrf = secrets.token_urlsafe(24)
            set_cookies.append(f"fs_csrf={csrf}; Path=/; HttpOnly; SameSite=Strict".encode())
        scope["fs_csrf"] = csrf
        if scope["method"] == "POST" and not scope["fs_bearer"]:
            origin = _header(scope, b"origin")
            host = _header(scope, b"host")
            if origin and origin != "null" and urlsplit(origin).netloc != host:
                await self._plain(send, 403, "403: cross-origin POST refused")
                return
        path = scope["path"]
        if path.endswith(".json") and len(path) > 6:
            scope = dict(scope, path=path[:-5], raw_path=path[:-5].encode(), fs_json=True)

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] not in dict(HEADERS)]
                headers += HEADERS
                headers += [(b"set-cookie", c) for c in set_cookies]
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _plain(self, send: Any, status: int, text: str) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), *HEADERS]})
        await send({"type": "http.response.body", "body": text.encode()})
