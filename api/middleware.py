"""ASGI guards that act before a request reaches a route: the body limit, the API key,
HTTP methods (HEAD, OPTIONS, Allow), security headers and server paths in JSON answers."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("planner.api")

#: Routes under /v1 that need no API key.
OPEN_PATHS = ("/v1/health",)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: The self-contained result map: inline Leaflet, scripts and styles, tiles from any server.
MAP_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
           "img-src data: blob: https: http:; font-src data:; connect-src 'none'; "
           "base-uri 'none'; form-action 'none'")
#: The API documentation pages: their scripts and styles come from this server only.
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            "connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'")


async def send_json(send: Send, status: int, content: dict, headers: Iterable = ()) -> None:
    """Answer a request with a small JSON body (``Connection: close`` when the body was not
    read, so the client does not send it on a kept-alive connection)."""
    body = json.dumps(content, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Answer 413 as soon as a request body exceeds its limit (declared or streamed):
    ``max_bytes`` for file uploads (multipart) and the bodies routes stream to disk
    (``streamed``: POST paths), ``small_bytes`` for every other body, which is read into
    memory and parsed on the event loop."""

    def __init__(self, app: ASGIApp, max_bytes: int, small_bytes: int = 1 << 20,
                 streamed: Iterable[str] = ()) -> None:
        self.app, self.max_bytes, self.small_bytes = app, max_bytes, small_bytes
        self.streamed = frozenset(streamed)

    def _limit(self, scope: Scope) -> int:
        ctype = dict(scope.get("headers", [])).get(b"content-type", b"")
        if ctype.lower().startswith(b"multipart/form-data") or (
                scope["method"] == "POST" and scope["path"] in self.streamed):
            return self.max_bytes
        return min(self.small_bytes, self.max_bytes)

    async def _reject(self, send: Send, limit: int) -> None:
        mb = limit / (1024 * 1024)
        if limit == self.max_bytes:
            detail = (f"The request body is larger than this server's limit of {mb:g} MB. Send a "
                      "smaller file (clip the area, or compress OSM XML as .osm.pbf) or ask the "
                      "operator to raise PLANNER_MAX_UPLOAD_MB.")
        else:
            detail = (f"The request body is larger than {mb:g} MB, the limit of this request. "
                      "Files go to POST /v1/uploads or /v1/networks (multipart/form-data), "
                      "scenario documents to POST /v1/scenarios.")
        await send_json(send, 413, {"error": "PayloadTooLarge", "detail": detail})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, limit)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # drop whatever the app answers after the limit was hit
                return
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._reject(send, limit)


class ApiKey:
    """Refuse (401) a /v1 request without the right ``X-API-Key`` before any of its body is
    read. The key is compared as UTF-8, so keys in any script work."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self.key = key.encode("utf-8") if key is not None else None

    def _allowed(self, scope: Scope) -> bool:
        path = scope["path"]
        if (self.key is None or not path.startswith("/v1/") or path in OPEN_PATHS
                or scope["method"] == "OPTIONS"):
            return True
        sent = [v for k, v in scope.get("headers", []) if k == b"x-api-key"]
        # ASGI headers are the raw bytes the client sent: UTF-8 for a non-ASCII key
        return len(sent) == 1 and secrets.compare_digest(sent[0].strip(), self.key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        await send_json(send, 401, {
            "error": "Unauthorized",
            "detail": "Missing or wrong API key: send the header `X-API-Key: <key>` with the key "
                      "the server was started with (PLANNER_API_KEY).",
        }, [(b"www-authenticate", b"APIKey")])


def _allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route accepts on the path of ``scope`` (HEAD with GET, and OPTIONS)."""
    methods = {method for method in _METHODS for route in routes
               if route.matches({**scope, "method": method})[0] == Match.FULL}
    if not methods:
        return []
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods | {"OPTIONS"})


class Methods:
    """HEAD on every GET route (headers only), OPTIONS answered with the full ``Allow`` list,
    and a 405 whose ``Allow`` names every method of the path, not only the first route's."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Iterable[BaseRoute]]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        # the routes are matched again only when the answer needs them (not for GET, POST …)
        allowed = (_allowed_methods(self.routes(), scope)
                   if method in ("OPTIONS", "HEAD") else None)
        if method == "OPTIONS" and allowed:
            await send({"type": "http.response.start", "status": 204,
                        "headers": [(b"allow", ", ".join(allowed).encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        head = method == "HEAD" and "HEAD" in allowed
        if head:
            scope = {**scope, "method": "GET"}

        async def patched_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = allowed if allowed is not None else _allowed_methods(self.routes(),
                                                                               scope)
                if methods:
                    headers = [(k, v) for k, v in message.get("headers", []) if k != b"allow"]
                    message = {**message,
                               "headers": [*headers, (b"allow", ", ".join(methods).encode())]}
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the body of a HEAD answer is dropped; its headers stay
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(scope, receive, patched_send)


class SecurityHeaders:
    """``nosniff`` and ``no-referrer`` on every answer; a content security policy on HTML (the
    result map and the documentation pages); framing only by this server and ``frame_origins``."""

    def __init__(self, app: ASGIApp, frame_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.frame = " ".join(["'self'", *frame_origins])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def patched_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                ctype = dict(headers).get(b"content-type", b"")
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
                if ctype.startswith(b"text/html"):
                    csp = MAP_CSP if scope["path"].endswith("/map.html") else DOCS_CSP
                    headers.append((b"content-security-policy",
                                    f"{csp}; frame-ancestors {self.frame}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, patched_send)


class HidePaths:
    """Replace absolute paths under the server's folders with their file name in JSON answers
    (job errors, planner messages), so no answer shows where the server keeps its files."""

    def __init__(self, app: ASGIApp, roots: Iterable[Path]) -> None:
        self.app = app
        names = sorted({str(p).rstrip("/") for p in roots if str(p).rstrip("/")},
                       key=len, reverse=True)
        alternatives = "|".join(re.escape(n) for n in names)
        # a root, then path segments; the last segment (the file name) is kept
        self.pattern = re.compile(rf"(?:{alternatives})(?:/[^/\s\"'`,;:()\[\]]+)*/")

    def scrub(self, text: str) -> str:
        """``text`` with every server path shortened to its last part."""
        return self.pattern.sub("", text)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def patched_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                ctype = dict(message.get("headers", [])).get(b"content-type", b"")
                if ctype.startswith(b"application/json"):
                    start = message
                    return
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = self.scrub(b"".join(chunks).decode("utf-8")).encode("utf-8")
                headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
                await send({**start, "headers": [*headers,
                                                 (b"content-length", str(len(body)).encode())]})
                message = {"type": "http.response.body", "body": body}
            await send(message)

        await self.app(scope, receive, patched_send)


class InternalErrors:
    """An unexpected exception becomes a logged 500 JSON answer here, inside the other guards,
    so that it too carries the CORS and security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await send_json(send, 500, {
                "error": "InternalError",
                "detail": f"Unexpected server error ({type(exc).__name__}); the request was not "
                          "completed. Report it with the time of the request.",
            })
