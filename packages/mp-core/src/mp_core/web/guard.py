"""The ASGI layer in front of both web services (the API and the page), whatever the server.

It answers before the application does when a request:

- names a ``Host`` outside the allowlist (400; stops DNS rebinding: a page on another site whose
  name resolves to 127.0.0.1 sends its own name as Host);
- goes to a path the service refuses outright (404; the page's upload route);
- arrives while ``max_concurrent`` requests are already in flight in this worker (503 with
  ``Retry-After``: the client is told when to come back instead of queueing without end);
- sends its body slower than ``body_seconds`` in total (408, then the connection is closed: a
  client sending one byte a second holds nothing for long).

Every response gets the security headers ``headers_for(path)`` gives. Header size and header
deadlines are the server's job (the request is not an ASGI event until its head is complete):
see :mod:`mp_core.web.uvicorn_limits` and the API's granian settings.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

DEFAULT_ALLOWED_HOSTS: Final = ("127.0.0.1", "localhost", "[::1]")
SWEEP_SECONDS: Final = 1.0

#: Headers every response carries (the JSON API, the page, the reports).
BASE_HEADERS: Final = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)
#: JSON answers: nothing to run, nothing to frame.
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The API docs: Swagger UI's files are served by the API itself (``/schema/assets``); its page
#: boots with an inline script. Nothing comes from elsewhere.
DOCS_CSP: Final = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
#: The Gradio page: its own scripts (inline boot code, ``js=`` run through Function()), its own
#: server for data, nothing from elsewhere.
PAGE_CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "media-src 'self' blob: data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
#: Evidently's pages are self-contained (inline script and style); they may fetch nothing.
REPORT_CSP: Final = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """How much one client may take; the servers' own settings are derived from it too."""

    header_bytes: int = 32 * 1024  # request line and headers together
    header_seconds: float = 10.0  # from connection (or last response) to the end of the head
    body_seconds: float = 10.0  # the whole body
    keep_alive_seconds: int = 5  # idle between requests
    max_concurrent: int = 64  # requests in flight per worker
    retry_after_seconds: int = 1


def parse_hosts(
    text: str | None, default: Iterable[str] = DEFAULT_ALLOWED_HOSTS
) -> tuple[str, ...]:
    """A comma-separated allowlist (``name`` or ``name:port``; ``*`` allows any), lower case."""
    names = tuple(part.strip().lower() for part in (text or "").split(",") if part.strip())
    return names or tuple(default)


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """``host`` (the Host header, with or without a port) against the allowlist."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0]
    return any(entry in ("*", host, name) for entry in allowed)


def api_headers(path: str) -> Headers:
    """Security headers of the API: the OpenAPI pages may load their viewers, JSON nothing."""
    return _headers(DOCS_CSP if path == "/schema" or path.startswith("/schema/") else API_CSP)


def page_headers(report_prefix: str) -> Callable[[str], Headers]:
    """Security headers of the page's server: the page, and the reports under ``report_prefix``."""

    def headers(path: str) -> Headers:
        return _headers(REPORT_CSP if path.startswith(report_prefix + "/") else PAGE_CSP)

    return headers


@functools.cache
def _headers(csp: str) -> Headers:
    """Encoded once per policy: this runs on every request."""
    pairs = [*BASE_HEADERS, ("content-security-policy", csp)]
    return [(name.encode(), value.encode()) for name, value in pairs]


class HttpGuard:
    """Wraps an ASGI app with the checks above; one instance per worker process."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: HttpLimits,
        allowed_hosts: tuple[str, ...],
        headers_for: Callable[[str], Headers],
        refused_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.limits = limits
        self.allowed_hosts = allowed_hosts
        self.headers_for = headers_for
        self.refused_paths = refused_paths
        self.in_flight = 0
        # A handful of Host values reach a server: answer each once.
        self._host_ok = functools.lru_cache(maxsize=64)(
            functools.partial(host_allowed, allowed=allowed_hosts)
        )
        # Exchanges waiting for body bytes. One sweep a second ends those past their deadline:
        # cheaper than a timer per request, at the price of up to a second of lateness.
        self.waiting: set[_Exchange] = set()
        self._sweeping = False

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for exchange in [e for e in self.waiting if e.deadline <= now]:
            exchange.expire()
        loop.call_later(SWEEP_SECONDS, self._sweep)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        extra = self.headers_for(scope.get("path", ""))
        host = _header(scope, b"host")
        if host is None or not self._host_ok(host):
            shown = "no Host header" if host is None else f"Host {host[:100]!r}"
            await _answer(
                scope, send, 400, extra,
                f"{shown} is not served here (allowed: {', '.join(self.allowed_hosts)})",
                field="Host", rule="must be one of the allowed hosts",
            )  # fmt: skip
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        if self.refused_paths and scope.get("path", "").startswith(self.refused_paths):
            await _answer(scope, send, 404, extra, "not found", field="path", rule="not served")
            return
        if self.in_flight >= self.limits.max_concurrent:
            retry = str(self.limits.retry_after_seconds)
            await _answer(
                scope, send, 503, [*extra, (b"retry-after", retry.encode())],
                f"busy: {self.limits.max_concurrent} requests in progress; retry in {retry} s",
                rule=f"at most {self.limits.max_concurrent} requests at once",
            )  # fmt: skip
            return
        if not self._sweeping:
            self._sweeping = True
            asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)
        self.in_flight += 1
        try:
            await _Exchange(self, scope, receive, send, extra).run()
        finally:
            self.in_flight -= 1


class _Exchange:
    """One request: the body under its deadline, the headers added to the response."""

    def __init__(
        self, guard: HttpGuard, scope: Scope, receive: Receive, send: Send, extra: Headers
    ) -> None:
        self.guard = guard
        self.scope, self._receive, self._send = scope, receive, send
        self.extra = extra
        self.body_done = False
        self.started = False
        self.timed_out = False
        self.task: asyncio.Task[Any] | None = None
        self.deadline = asyncio.get_running_loop().time() + guard.limits.body_seconds

    async def run(self) -> None:
        await self.guard.app(self.scope, self.receive, self.send)

    def expire(self) -> None:
        """Past the deadline while waiting for the body: wake the waiting receive."""
        if not self.timed_out and self.task is not None:
            self.timed_out = True
            self.task.cancel()

    async def receive(self) -> Message:
        if self.timed_out:
            return {"type": "http.disconnect"}
        if self.body_done:
            return await self._receive()  # waiting for a disconnect: no deadline
        self.task = asyncio.current_task()
        self.guard.waiting.add(self)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if not self._expired() or self.task is None:
                raise
            self.task.uncancel()  # the cancel was the deadline's, not the server's
            return await self._too_slow()
        finally:
            self.guard.waiting.discard(self)
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        return message

    def _expired(self) -> bool:
        return self.timed_out  # set by expire() while receive was waiting

    async def _too_slow(self) -> Message:
        if not self.started:
            self.started = True
            seconds = f"{self.guard.limits.body_seconds:g}"
            await _answer(
                self.scope, self._send, 408, self.extra,
                f"the request body did not arrive within {seconds} s",
                field="body", rule=f"send the whole body within {seconds} s",
            )  # fmt: skip
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.timed_out:
            return  # the 408 went out; whatever the app says now has no one to go to
        if message["type"] == "http.response.start":
            self.started = True
            present = {name.lower() for name, _ in message.get("headers", [])}
            added = [(n, v) for n, v in self.extra if n not in present]
            message = {**message, "headers": [*message.get("headers", []), *added]}
        await self._send(message)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


_ERRORS: Final = {400: "invalid_request", 404: "not_found", 408: "request_timeout",
                  503: "unavailable"}  # fmt: skip


async def _answer(
    scope: Scope,
    send: Send,
    status: int,
    extra: Headers,
    detail: str,
    *,
    field: str | None = None,
    rule: str | None = None,
) -> None:
    """A JSON error in the API's shape (error, detail, field, rule); closes the connection."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(
        {"error": _ERRORS.get(status, "error"), "detail": detail, "field": field, "rule": rule}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
