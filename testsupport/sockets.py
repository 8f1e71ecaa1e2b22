"""Hostile HTTP clients on raw sockets, for the server-limit tests of the API and the page.

Each one talks to 127.0.0.1 only, is bounded in bytes and seconds, and reports what the server
did: the status it answered (if any), how long that took, how much was sent before the cut.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None  # None: closed without an answer
    seconds: float
    sent: int
    raw: bytes


def _status(raw: bytes) -> int | None:
    if not raw.startswith(b"HTTP/1."):
        return None
    return int(raw.split(b" ", 2)[1])


def _read_answer(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
    return b"".join(chunks)


def huge_head(port: int, *, total: int = 200 * MIB, line: int = MIB, path: str = "/") -> Outcome:
    """``GET path`` followed by up to ``total`` bytes of ``X-Pad`` header lines of ``line``."""
    start = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        pad = b"X-Pad: " + b"a" * (line - 9) + b"\r\n"
        with contextlib.suppress(OSError):
            while sent < total:
                sock.sendall(pad)
                sent += len(pad)
        raw = _read_answer(sock, 5)
    return Outcome(_status(raw), time.monotonic() - start, sent, raw)


def trickle(port: int, head: bytes, drip: bytes, *, limit: float, every: float = 1.0) -> Outcome:
    """Send ``head``, then one ``drip`` every ``every`` seconds until the server answers or
    closes, or ``limit`` seconds pass."""
    start = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(every)
        raw = b""
        while time.monotonic() - start < limit:
            try:
                sock.sendall(drip)
                sent += len(drip)
            except OSError:
                break
            try:
                raw = sock.recv(65536)
                break  # an answer, or b"" when the server closed
            except TimeoutError:
                continue
            except OSError:
                break
    return Outcome(_status(raw), time.monotonic() - start, sent, raw)


def idle(port: int, *, limit: float, first: bytes = b"") -> Outcome:
    """Open a connection, send ``first`` (a whole request, or nothing), then stay silent;
    how long until the server closes it."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        if first:
            sock.sendall(first)
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        raw = b"".join(chunks)
    return Outcome(_status(raw), time.monotonic() - start, len(first), raw)


def open_slow_body(port: int, path: str, host: str = "127.0.0.1") -> socket.socket:
    """A request whose body never arrives: it stays in flight in the server until the deadline."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{".encode()
    )
    return sock


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def check_base_headers(answers: dict[str, Any]) -> None:
    """Every httpx answer in ``answers`` carries the headers every response gets."""
    from mp_core.web.guard import BASE_HEADERS

    for name, answer in answers.items():
        for header, value in BASE_HEADERS:
            assert answer.headers[header] == value, (name, header)


def slow_body_head(path: str, length: int = 1000) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def slow_head_start(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
