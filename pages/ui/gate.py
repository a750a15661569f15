"""The server in front of every page and every HTTP route: ``streamlit run explorer.py`` serves
``explorer.app``, Streamlit's own server (``st.App``) with :class:`Gate` as its outermost middleware.

The password form on a page guards what the page draws, but Streamlit also answers HTTP requests no page
sees: file uploads (``/_stcore/upload_file``, kept in memory), ``/_stcore/metrics``, media, components,
host config and the WebSocket every page runs over. As Jupyter applies ``@authenticated`` to every handler,
the gate answers each request before Streamlit does:

- its ``Host`` must name this machine (:func:`allowed_hosts`): a DNS-rebinding page, whose name resolves to
  127.0.0.1 but which the browser still sends as the Host, gets nothing, with or without a password;
- with ``MMCAM_PASSWORD`` set, only ``/_stcore/health`` (it says "ok") and the login page (:data:`LOGIN`)
  answer without the cookie the login page sets; everything else, the WebSocket included, is refused
  before its body is read (a browser asking for a page is sent to the login page). So before the password
  no session opens, no script runs and no byte is stored.

The cookie is an HMAC of the password under a key made when the server starts: it opens every page of
this server until the browser closes, and nothing once the server restarts or the password changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import ipaddress
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from streamlit import config

from core import access

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "mmcam_auth"
LOGIN = "/mmcam-login"  # outside Streamlit's reserved prefixes (/_stcore/, /media/, /component/, /static/)
PUBLIC = ("/_stcore/health",)  # what answers without the password: it says "ok" and nothing else
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
FAILED_WAIT = 1.0  # seconds a wrong password costs (slows guessing; asyncio, so it blocks nobody else)
MAX_FORM_BYTES = 4096  # the login form's body; anything longer is refused unread
_KEY = secrets.token_bytes(32)  # per server process: a restart logs every browser out


def cookie_value(password: str) -> str:
    """The login cookie for ``password`` on this server process."""
    return hmac.new(_KEY, password.encode("utf-8"), hashlib.sha256).hexdigest()


def logged_in(cookie: object) -> bool:
    """Whether ``cookie`` (the :data:`COOKIE` a request carries) was set by this server's login page for
    the password set now. True when no password is set."""
    password = access.server_password()
    if password is None:
        return True
    return isinstance(cookie, str) and hmac.compare_digest(cookie.encode("utf-8", "replace"),
                                                      cookie_value(password).encode())


def _wildcard(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_unspecified
    except ValueError:
        return False


def allowed_hosts() -> list[str]:
    """The host names requests may carry: the loopback names, the address the server listens on (this
    machine's own names and addresses when it listens on every interface) and what the operator added in
    ``server.allowedHosts`` (``*.example.org`` matches subdomains, ``*`` anything)."""
    address = (config.get_option("server.address") or "").strip()
    names = [*LOOPBACK_HOSTS]
    if address and not _wildcard(address):
        names.append(address.strip("[]"))
    else:  # every interface: whatever this machine calls itself and the addresses those names have
        host = socket.gethostname()
        names += [host, socket.getfqdn()]
        try:
            names += [str(info[4][0]) for info in socket.getaddrinfo(host, None)]
        except OSError:
            pass
    names += [str(name) for name in config.get_option("server.allowedHosts") or []]
    return list(dict.fromkeys(name.strip().lower().rstrip(".") for name in names if name.strip()))


def host_allowed(host: str | None, allowed: list[str]) -> bool:
    """Whether a request's ``Host`` header (port ignored) is one of ``allowed`` (see :func:`allowed_hosts`)."""
    if not host:
        return False
    try:
        parsed = urlparse(f"//{host}")
        name, _ = parsed.hostname, parsed.port  # .port validates it
    except ValueError:
        return False
    if not name or parsed.username or parsed.password or parsed.path or parsed.query or parsed.fragment:
        return False
    name = name.lower().rstrip(".")
    return any(pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:]))
               for pattern in allowed)


class Gate:
    """ASGI middleware: the Host check and, with ``MMCAM_PASSWORD`` set, the login (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.allowed = allowed_hosts()  # config is loaded before the server builds its middleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not host_allowed(headers.get("host"), self.allowed):
            await self._refuse(scope, receive, send, 403, "This server answers only to its own names; open it "
                               "at the address it was started on, or ask whoever starts it to add this name "
                               "to server.allowedHosts.")
            return
        path = _app_path(scope.get("path", "/"))
        password = access.server_password()
        if password is None or path in PUBLIC:
            await self.app(scope, receive, send)
        elif path == LOGIN and scope["type"] == "http":
            await _login(scope, receive, send, password)
        elif logged_in(cookie_parser(headers.get("cookie", "")).get(COOKIE)):
            await self.app(scope, receive, send)
        elif scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") and \
                "text/html" in headers.get("accept", ""):  # a browser opening a page: to the login page
            target = scope.get("path", "/") + (f"?{scope['query_string'].decode('latin-1')}"
                                               if scope.get("query_string") else "")
            await RedirectResponse(f"{_base()}{LOGIN}?next={quote(target)}", status_code=303)(scope, receive, send)
        else:
            await self._refuse(scope, receive, send, 401, "Log in first: this server asks for a password.")

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, sentence: str) -> None:
        """Answer ``status`` without reading the request's body (a WebSocket is closed before it opens)."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": sentence[:120]})
            return
        await PlainTextResponse(sentence, status_code=status, headers={"Connection": "close"})(scope, receive, send)


def _base() -> str:
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def _app_path(path: str) -> str:
    """``path`` without ``server.baseUrlPath``."""
    base = _base()
    return path[len(base):] or "/" if base and (path == base or path.startswith(f"{base}/")) else path


def _safe_next(target: str) -> str:
    """Where to go after logging in: a path on this server only (never ``//elsewhere`` or a URL)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else f"{_base()}/"


async def _login(scope: Scope, receive: Receive, send: Send, password: str) -> None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    target = _safe_next(query.get("next", [f"{_base()}/"])[0])
    response: Response
    if scope.get("method") == "POST":
        body = await _read_body(receive)
        if body is None:
            response = PlainTextResponse("The login form is too long.", status_code=413)
        else:
            given = parse_qs(body.decode("utf-8", "replace")).get("password", [""])[0]
            if access.password_matches(given, password):
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(COOKIE, cookie_value(password), httponly=True, samesite="strict",
                                    secure=bool(config.get_option("server.sslCertFile")), path=f"{_base()}/")
            else:
                await asyncio.sleep(FAILED_WAIT)
                response = HTMLResponse(_login_page(target, failed=True), status_code=401)
    else:
        response = HTMLResponse(_login_page(target, failed=False))
    response.headers["Cache-Control"] = "no-store"
    await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes | None:
    """The request's body, or None as soon as it grows past :data:`MAX_FORM_BYTES`."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            return None
        if not message.get("more_body", False):
            return body


def _login_page(target: str, *, failed: bool) -> str:
    error = '<p class="error" role="alert">Wrong password.</p>' if failed else ""
    action = html.escape(f"{_base()}{LOGIN}?next={quote(target)}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Grad-CAM explorer</title>
<style>body{{font-family:sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#262730}}
input{{width:100%;padding:.5rem;margin:.5rem 0 1rem;box-sizing:border-box}}button{{padding:.5rem 1.5rem;
background:#e4572e;color:#fff;border:0;border-radius:.4rem}}.error{{color:#b3261e}}small{{color:#666}}</style>
</head><body><h1>Grad-CAM explorer</h1>{error}
<form method="post" action="{action}"><label for="password">Password</label>
<input id="password" name="password" type="password" autofocus autocomplete="current-password">
<button type="submit">Open</button></form>
<p><small>The password whoever runs this server set in {access.PASSWORD_ENV}.</small></p></body></html>"""

