"""uvicorn's httptools protocol with the two limits it lacks: head size and head deadline.

uvicorn (0.54) with httptools buffers a request head of any size (httptools accumulates a
header's value before handing it over) and waits for it forever: its keep-alive timer runs only
between requests and any byte cancels it. :class:`LimitedHttpToolsProtocol` counts the bytes
received while a head is incomplete and answers 431 past ``header_bytes``; and it gives every
head ``header_seconds`` from the moment the connection is ready for it (opened, or the previous
response sent), then answers 408 (or just closes an idle connection). :func:`uvicorn_options`
gives the matching ``uvicorn.run`` keywords. Only the services that run uvicorn import this.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mp_core.web.guard import HttpLimits


def _plain(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"connection: close\r\ncontent-length: " + str(len(text)).encode() + b"\r\n\r\n" + text
    )


_TOO_LARGE = _plain(b"431 Request Header Fields Too Large", b"request head too large\n")
_TIMEOUT = _plain(b"408 Request Timeout", b"request head not received in time\n")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One connection, under :class:`HttpLimits`' head limits."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            self._head_bytes += len(data)
        super().data_received(data)
        # Reject only when the head is still incomplete after parsing: a chunk holding a whole
        # head and the start of a body is fine however big the body part is.
        if self._head_open and self._head_bytes > self.limits.header_bytes:
            self._refuse(_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open = True

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._head_bytes = 0
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._head_open = True
            self._head_bytes = 0
            self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_timer = self.loop.call_later(self.limits.header_seconds, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self._head_open or self.transport.is_closing():
            return
        if self._head_bytes:
            self._refuse(_TIMEOUT)
        else:
            self.transport.close()  # idle: nobody is waiting for an answer

    def _refuse(self, answer: bytes) -> None:
        self._head_open = False
        self._disarm_head_deadline()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()


#: What ``uvicorn.run(http=...)`` gets: an import string, because uvicorn's worker processes
#: import the protocol themselves (a class object would have to be pickled to reach them).
PROTOCOL: Final = "mp_core.web.uvicorn_limits:LimitedHttpToolsProtocol"


def uvicorn_options(limits: HttpLimits) -> dict[str, Any]:
    """``uvicorn.run`` keywords for ``limits``. The head limits are :class:`HttpLimits`'
    defaults (the protocol is imported by name); the concurrency cap is the ASGI guard's."""
    return {
        "http": PROTOCOL,
        "timeout_keep_alive": limits.keep_alive_seconds,
        # h11's own cap, for a deployment that switches uvicorn to h11.
        "h11_max_incomplete_event_size": limits.header_bytes,
    }
