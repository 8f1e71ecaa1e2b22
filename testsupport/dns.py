"""A tiny DNS server on 127.0.0.1 for tests: A records from a table the test changes at will.

It stands in for Swarm's embedded DNS (127.0.0.11), which answers ``tasks.<service>`` with one
address per running task. Only what a resolver like HAProxy's needs: one question per query, A
answers with a 1-second TTL, an empty NOERROR answer for other types of a known name, NXDOMAIN for
unknown names. Started and stopped by the fixture that uses it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

_TYPE_A = 1
_CLASS_IN = 1
_NXDOMAIN = 3


class DnsServer:
    """A UDP DNS server on 127.0.0.1:``port`` answering from ``records`` (name -> addresses)."""

    def __init__(self) -> None:
        self._records: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = int(self._socket.getsockname()[1])
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)

    def set(self, name: str, addresses: list[str]) -> None:
        with self._lock:
            self._records[name.lower()] = list(addresses)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                query, client = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(ValueError, IndexError, struct.error):
                self._socket.sendto(self.answer(query), client)

    def answer(self, query: bytes) -> bytes:
        ident, flags = struct.unpack("!HH", query[:4])
        position, labels = 12, []
        while query[position]:
            length = query[position]
            labels.append(query[position + 1 : position + 1 + length].decode("ascii").lower())
            position += 1 + length
        qtype, _ = struct.unpack("!HH", query[position + 1 : position + 5])
        question = query[12 : position + 5]
        with self._lock:
            addresses = self._records.get(".".join(labels))
        records = b""
        count = 0
        if addresses and qtype == _TYPE_A:
            for address in addresses:
                # Name as a pointer to the question's (offset 12), TTL 1 s, 4 bytes of address.
                records += struct.pack("!HHHIH", 0xC00C, _TYPE_A, _CLASS_IN, 1, 4)
                records += socket.inet_aton(address)
                count += 1
        rcode = 0 if addresses is not None else _NXDOMAIN
        # A response (QR), authoritative (AA), recursion desired copied, recursion available.
        reply_flags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        return struct.pack("!6H", ident, reply_flags, 1, count, 0, 0) + question + records


@contextlib.contextmanager
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
