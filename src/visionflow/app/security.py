"""Who may talk to the app: one ASGI middleware in front of every route.

The app runs on the user's machine and edits their data, so a web page in another tab (or a
DNS-rebinding attack aimed at 127.0.0.1) must not be able to drive it:

- bound to localhost (the default), the Host header must name this machine (a rebinding
  attacker's page sends its own host name); bound to any other address a token is required;
- every mutation (POST/PUT/PATCH/DELETE) needs the `X-Visionflow-Token` header, on localhost
  too: a cross-site page cannot set a custom header without a CORS preflight, which this
  server never answers (there is no CORS);
- bound to a non-local address, every request needs the token: the header, the
  `visionflow_token` cookie, or `?token=` once, which sets that cookie (HttpOnly,
  SameSite=Strict) so the URL printed at start works in a browser;
- request bodies over `max_body` bytes get 413 before they are read into memory.

Tokens are compared in constant time (`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from ..core.errors import Error

MAX_BODY = 32 * 1024 * 1024
HEADER = "x-visionflow-token"
COOKIE = "visionflow_token"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MIN_TOKEN = 16


def is_local(host: str) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    h = host.strip().strip("[]").lower()
    return h in LOCAL_HOSTS or h.startswith("127.")


def new_token() -> str:
    """A fresh session token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def read_token(path: str | Path) -> str:
    """The token kept in `path` (first line, surrounding blanks dropped). Short or unreadable
    tokens are refused: a guessable token is no protection on a network."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise Error(f"{p}: cannot read the token file ({getattr(e, 'strerror', None) or e})"
                    ) from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(token) < MIN_TOKEN:
        raise Error(f"{p}: the token must be at least {MIN_TOKEN} characters (make one with "
                    "'python -c \"import secrets; print(secrets.token_urlsafe(32))\"')")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise Error(f"{p}: the token must be one line without spaces")
    return token


def same_token(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"),
                                                     token.encode("utf-8"))


class Guard:
    """The ASGI middleware (see the module docstring). `public`: bound to a non-local
    address; `allowed_hosts`: Host header names accepted when not public (with any port)."""

    def __init__(self, app: Any, *, token: str, public: bool, max_body: int = MAX_BODY,
                 allowed_hosts: tuple[str, ...] = LOCAL_HOSTS):
        if not token or len(token) < MIN_TOKEN:
            raise Error("the app needs a session token of at least "
                        f"{MIN_TOKEN} characters" + (" to listen on a non-local address"
                                                     if public else ""))
        self.app = app
        self.token = token
        self.public = public
        self.max_body = max_body
        self.allowed_hosts = {h.lower().strip("[]") for h in allowed_hosts}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):         # lifespan
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if scope["type"] == "websocket":    # none are served; the same rules if one ever is
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
            if self._host_problem(headers) or (self.public and not (
                    same_token(headers.get(HEADER), self.token)
                    or same_token(_cookie(headers.get("cookie", "")), self.token)
                    or same_token(next((v for k, v in query if k == "token"), None),
                                  self.token))):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET").upper()
        problem = self._host_problem(headers)
        if problem:
            await _answer(send, 403, problem)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                          keep_blank_values=True)
        by_query = next((v for k, v in query if k == "token"), None)
        by_header = headers.get(HEADER)
        by_cookie = _cookie(headers.get("cookie", ""))
        set_cookie = False
        if method in MUTATING:
            if not same_token(by_header, self.token):
                await _answer(send, 403, f"{method} {scope.get('path', '')}: missing or wrong "
                              "X-Visionflow-Token header (the page sends it; reload it)")
                return
        elif self.public:
            if same_token(by_header, self.token) or same_token(by_cookie, self.token):
                pass
            elif same_token(by_query, self.token):
                set_cookie = True
            else:
                await _answer(send, 403, "this server needs its token: open the URL printed "
                              "when it started (it ends with ?token=...)")
                return
        length = headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body
            except ValueError:
                await _answer(send, 400, "Content-Length is not a number")
                return
            if too_big:
                await _answer(send, 413, f"request body of {int(length)} bytes is over the "
                              f"limit of {self.max_body} bytes")
                return
        if set_cookie and method == "GET" and not scope.get("path", "").startswith("/api/"):
            # a page opened with ?token=: keep the token in the cookie, not in the address bar
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            raw = scope.get("raw_path") or scope.get("path", "/").encode("utf-8")
            path = "/" + raw.decode("latin-1").lstrip("/")     # never "//host": same site
            await _redirect(send, path + (f"?{rest}" if rest else ""), self._cookie_header())
            return
        started = False
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge()
            return message

        async def send_wrapper(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if set_cookie:
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"set-cookie", self._cookie_header())]}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except _BodyTooLarge:
            if not started:
                await _answer(send, 413, f"request body is over the limit of {self.max_body} "
                              "bytes")

    def _host_problem(self, headers: dict[str, str]) -> str | None:
        if self.public:
            return None
        host = headers.get("host", "")
        if host.startswith("["):                     # [::1]:8765
            name = host[1:host.find("]")] if "]" in host else host
        else:
            name = host.split(":")[0] if host.count(":") == 1 else host
        if name.lower() not in self.allowed_hosts:
            return (f"Host {host[:80]!r} is not this server (it listens on localhost only; "
                    "open http://127.0.0.1:PORT/)")
        origin = headers.get("origin")
        if origin and origin != "null":
            o = origin.split("://", 1)[-1].split("/", 1)[0]
            if o.lower() != host.lower():
                return f"cross-origin request from {origin[:80]!r} refused"
        return None

    def _cookie_header(self) -> bytes:
        return (f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/").encode("latin-1")


class _BodyTooLarge(Exception):
    pass


def _cookie(header: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is no token
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


async def _answer(send: Any, status: int, message: str) -> None:
    body = orjson.dumps({"error": message})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Any, location: str, cookie: bytes) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1", "replace")),
                            (b"set-cookie", cookie), (b"content-length", b"0"),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": b""})
