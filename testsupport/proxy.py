"""The Swarm stack's HAProxy, run from infra/swarm/haproxy.cfg in front of stand-in replicas.

What changes from the stack, and only that: the addresses. Swarm's DNS (127.0.0.11) becomes a DNS
server of the test's own on 127.0.0.1 (testsupport.dns), answering ``tasks.serving-api`` and
``tasks.webapp`` with loopback addresses (127.0.0.2, 127.0.0.3, ...), one per stand-in replica;
the proxy's and the replicas' ports become free ports. Every other line is the stack's. Each
replacement must match exactly once, so a change to the configuration cannot slip past the tests.

A stand-in replica answers ``/health`` and ``/healthz`` with 200 and names itself in an
``X-Replica`` header on every other answer; in ``drop`` mode it reads a request and closes the
connection without answering, as a task that is killed mid-request does.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

import httpx
import pytest

from testsupport.api import free_port
from testsupport.dns import DnsServer, dns_server

PROXY_CONFIG = Path(__file__).resolve().parents[1] / "infra" / "swarm" / "haproxy.cfg"
Mode = Literal["serve", "drop"]
_HEALTH = ("/health", "/healthz")


@dataclass
class Hit:
    method: str
    path: str
    idempotency_key: str | None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Connections reset by stop() (a task killed) or by the proxy are the point of the tests.
        return


class Replica:
    """One stand-in task: an HTTP server on ``address:port``."""

    def __init__(self, name: str, address: str, port: int) -> None:
        self.name = name
        self.address = address
        self.mode: Mode = "serve"
        self.hits: list[Hit] = []
        self.health_checks = 0
        self._connections: set[socket.socket] = set()
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One segment per answer, sent at once: no delayed-ACK stalls on keep-alive.
            wbufsize = -1
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                replica._connections.add(self.connection)

            def finish(self) -> None:
                replica._connections.discard(self.connection)
                super().finish()

            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.path in _HEALTH:
                    replica.health_checks += 1
                else:
                    replica.hits.append(
                        Hit(self.command, self.path, self.headers.get("Idempotency-Key"))
                    )
                    if replica.mode == "drop":
                        self.close_connection = True
                        return
                body = b'{"status":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Replica", replica.name)
                self.end_headers()
                self.wfile.write(body)

            do_GET = _handle
            do_POST = _handle

        self._server = _QuietServer((address, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.running = True

    def stop(self) -> None:
        """Gone, as a killed task is: new connections are refused and open ones are reset."""
        if self.running:
            self._server.shutdown()
            self._server.server_close()
            for connection in list(self._connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._thread.join(timeout=5)
            self.running = False

    def served(self, path: str | None = None) -> int:
        return sum(1 for hit in self.hits if path is None or hit.path == path)


def _replicas(prefix: str, addresses: list[str]) -> tuple[int, list[Replica]]:
    """Stand-ins on the same port at every address (a template has one port for all)."""
    for _ in range(20):
        port = free_port()
        started: list[Replica] = []
        try:
            for index, address in enumerate(addresses, start=1):
                started.append(Replica(f"{prefix}-{index}", address, port))
        except OSError:
            for replica in started:
                replica.stop()
            continue
        return port, started
    raise RuntimeError(f"no port free on all of {addresses}")


def _replace_once(text: str, old: str, new: str) -> str:
    count = text.count(old)
    if count != 1:
        raise AssertionError(f"haproxy.cfg: expected {old!r} once, found it {count} times")
    return text.replace(old, new)


def local_config(
    text: str, *, dns_port: int, api_port: int, page_port: int, api_replicas: int, pages: int
) -> str:
    """The stack's configuration with loopback addresses in place of Swarm's."""
    text = _replace_once(text, "127.0.0.11:53", f"127.0.0.1:{dns_port}")
    text = _replace_once(text, "bind :8080\n", f"bind 127.0.0.1:{api_port}\n")
    text = _replace_once(text, "bind :8081\n", f"bind 127.0.0.1:{page_port}\n")
    text = _replace_once(text, "tasks.serving-api:8080", f"tasks.serving-api:{api_replicas}")
    return _replace_once(text, "tasks.webapp:8081", f"tasks.webapp:{pages}")


@dataclass
class ProxyRig:
    """HAProxy with three API stand-ins and two page stand-ins, and the DNS naming them."""

    dns: DnsServer
    api_url: str
    page_url: str
    api_port: int
    api: list[Replica]
    pages: list[Replica]
    log: Path
    spare: list[Replica] = field(default_factory=list)

    def publish(self) -> None:
        """Point tasks.serving-api at the running API stand-ins (as Swarm's DNS does)."""
        self.dns.set("tasks.serving-api", [r.address for r in self.api if r.running])

    def add_api_replica(self, address: str) -> Replica:
        replica = Replica(f"api-{len(self.api) + 1}", address, self.api_port)
        self.api.append(replica)
        return replica

    def retried_requests(self) -> int:
        """Requests HAProxy logged with at least one retry (the ``retries`` counter, ``+n`` when
        redispatched to another server)."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        counts = re.findall(r" \d+/\d+/\d+/\d+/\+?(\d+) \d+/\d+ ", text)
        return sum(1 for count in counts if int(count) > 0)


def wait_for(condition: object, timeout: float, what: str) -> None:
    """Poll ``condition()`` every 100 ms until it is true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def proxy_rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ProxyRig]:
    """The rig, with the proxy's per-client feedback limit off unless a test asks for one
    (``@pytest.mark.parametrize("proxy_rig", [5], indirect=True)``: 5 a minute)."""
    feedback_rate = int(getattr(request, "param", 0))
    haproxy = shutil.which("haproxy")
    assert haproxy is not None, "haproxy is not on PATH: install Debian's haproxy (as .ci/run does)"
    api_replica_port, api = _replicas("api", ["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    page_replica_port, pages = _replicas("page", ["127.0.0.6", "127.0.0.7"])
    with dns_server() as dns:
        api_port, page_port = free_port(), free_port()
        rig = ProxyRig(
            dns=dns,
            api_url=f"http://127.0.0.1:{api_port}",
            page_url=f"http://127.0.0.1:{page_port}",
            api_port=api_replica_port,
            api=api,
            pages=pages,
            log=tmp_path / "haproxy.log",
        )
        rig.publish()
        dns.set("tasks.webapp", [r.address for r in pages])
        config = tmp_path / "haproxy.cfg"
        config.write_text(
            local_config(
                PROXY_CONFIG.read_text(encoding="utf-8"),
                dns_port=dns.port,
                api_port=api_port,
                page_port=page_port,
                api_replicas=api_replica_port,
                pages=page_replica_port,
            ),
            encoding="utf-8",
        )
        with rig.log.open("wb") as log:
            process = subprocess.Popen(
                [haproxy, "-db", "-f", str(config)],
                stdout=log,
                stderr=log,
                env={**os.environ, "FEEDBACK_RATE_PER_MINUTE": str(feedback_rate)},
            )
        try:
            with httpx.Client(timeout=5) as client:

                def every_replica_answers() -> bool:
                    seen = set()
                    for _ in range(12):
                        with contextlib.suppress(httpx.HTTPError):
                            response = client.post(f"{rig.api_url}/predict", content=b"{}")
                            seen.add(response.headers.get("X-Replica"))
                    return seen >= {r.name for r in api}

                wait_for(every_replica_answers, 20, "HAProxy sends requests to all three replicas")
            # A server that just came up is one failed check away from down; after `fall` more
            # passing checks it has its full margin, as a replica that has run a while does.
            checked = {r.name: r.health_checks for r in api}
            wait_for(
                lambda: all(r.health_checks >= checked[r.name] + 2 for r in api),
                20,
                "two more passing health checks of every replica",
            )
            for replica in api:
                replica.hits.clear()
            yield rig
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            for replica in [*rig.api, *rig.pages]:
                replica.stop()
