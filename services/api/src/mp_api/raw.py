"""Routes answered straight from the ASGI messages, skipping Litestar's typed handler path.

For ``/predict`` the typed path (signature model, DTO, response object) costs as much as the
scoring itself. The typed handler stays registered because it is what the OpenAPI document
describes; :func:`raw_route`, attached as middleware to that one handler, answers its requests
before Litestar gets to it: the body is read from ``receive`` under the same size limit, the
raw ``Content-Type`` header is checked, and the endpoint turns bytes into bytes. Every error
becomes the same problem JSON as the app's exception handler gives (:mod:`mp_api.problems`).
The app-level metrics middleware still wraps it, so requests and latency are counted as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from mp_api.body import require_json
from mp_api.coalesce import BatchAnswer, Coalescer
from mp_api.problems import (
    ApiProblem,
    body_ended_early,
    body_too_large,
    internal_error,
    problem_for,
)

Endpoint = Callable[[bytes], bytes]
"""Request body in, JSON response body out; raises ApiProblem or a mapped domain error."""

_encode = msgspec.json.encode
_JSON: Final = (b"content-type", b"application/json")


async def read_body(
    scope: Scope, receive: Receive, limit: int, accept: Callable[[str], None] = require_json
) -> bytes:
    """The whole body of a request; 413 past ``limit`` bytes, then ``accept`` its media type.

    ``accept`` gets the parsed Content-Type (parameters dropped, lower case; empty when the
    header is missing) and raises the problem to answer; the default wants JSON (else 415).
    A body that ends before it is complete (the client closed its side) is a 400: a client
    that only half-closed still reads the answer, and for one that is gone the servers drop it.
    """
    content_type = b""
    announced = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            announced = value
    if announced is not None:
        # Digits only: int() would also take a sign, spaces and underscores ("-5", "1_0").
        if not announced.isdigit():
            shown = announced.decode("latin-1")
            raise ApiProblem(
                400,
                f"invalid Content-Length: {shown!r}",
                field="Content-Length",
                rule="a whole number of bytes",
            )
        if int(announced) > limit:
            raise body_too_large(limit)
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                total += len(chunk)
                if total > limit:
                    raise body_too_large(limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            raise body_ended_early()
    # The same parsing as Litestar's Request.content_type: parameters dropped, lower case.
    accept(content_type.decode("latin-1").split(";", 1)[0].strip().lower())
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def raw_route(endpoint: Endpoint, limit: int) -> Callable[[ASGIApp], ASGIApp]:
    """Route middleware answering every request of its handler with ``endpoint``."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                payload = endpoint(await read_body(scope, receive, limit))
            except Exception as exc:
                await send_problem(send, problem_answer(scope, exc))
                return
            await send_json(send, 200, payload)

        return serve

    return middleware


def coalesced_route(answer: BatchAnswer, limit: int) -> Callable[[ASGIApp], ASGIApp]:
    """Like :func:`raw_route`, with the bodies of one event-loop turn answered together by
    ``answer`` (see :mod:`mp_api.coalesce`); each request still gets its own answer or error."""
    coalescer = Coalescer(answer)

    def middleware(app: ASGIApp) -> ASGIApp:
        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                payload = await coalescer(await read_body(scope, receive, limit))
            except Exception as exc:
                await send_problem(send, problem_answer(scope, exc))
                return
            await send_json(send, 200, payload)

        return serve

    return middleware


def problem_answer(scope: Scope, exc: Exception) -> ApiProblem:
    """The problem to answer for ``exc`` (a logged 500 for anything unexpected)."""
    return problem_for(exc) or internal_error(scope["path"], exc)


async def send_problem(send: Send, problem: ApiProblem) -> None:
    headers = [(k.lower().encode(), v.encode()) for k, v in problem.headers.items()]
    await send_json(send, problem.status, _encode(problem.body), headers)


async def send_json(
    send: Send, status: int, payload: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """One complete JSON response: start (with Content-Length) and body."""
    headers = [_JSON, (b"content-length", str(len(payload)).encode())]
    if extra:
        headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
