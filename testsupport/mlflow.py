"""A real MLflow tracking server for the session, started from its pinned environment.

``uv run --project infra/mlflow`` installs the server's own locked environment on first use
(full MLflow, apart from the workspace), then ``infra/mlflow/serve.py`` starts it on a free
loopback port with a SQLite store in a temporary folder. Startup takes about half a minute.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uv_binary() -> str:
    found = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    if not Path(found).exists() and not shutil.which(found):
        raise RuntimeError("uv is needed to start the MLflow server's environment")
    return found


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not up after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own session, and every worker it forked."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tracking URI of a running MLflow server (SQLite store in a temporary folder)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_PORT": str(port),
        "MLFLOW_HOST": "127.0.0.1",
        "MLFLOW_DIR": str(root),
        "VIRTUAL_ENV": "",
    }
    log = root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                uv_binary(),
                "run",
                "--frozen",
                "--quiet",
                "--project",
                str(REPO / "infra/mlflow"),
                "python",
                str(REPO / "infra/mlflow/serve.py"),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, log, STARTUP_TIMEOUT)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(process)


class HeldConnections:
    """Connections a stuck server accepted and never answers.

    ``asked`` is set once one of them has sent its request: from then on its client is provably
    waiting for an answer that never comes, until ``hang_up()``.
    """

    def __init__(self) -> None:
        self.asked = threading.Event()
        self._sockets: list[socket.socket] = []
        self._waiting: set[socket.socket] = set()
        self._lock = threading.Lock()

    def hold(self, connection: socket.socket) -> None:
        with self._lock:
            self._sockets.append(connection)
        threading.Thread(target=self._listen, args=(connection,), daemon=True).start()

    def waiting(self) -> int:
        """Clients that sent a request and are still connected, waiting for its answer."""
        with self._lock:
            return len(self._waiting)

    def _listen(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while connection.recv(65536):  # read the request, answer nothing
                with self._lock:
                    self._waiting.add(connection)
                self.asked.set()
        with self._lock:
            self._waiting.discard(connection)  # the client gave up, or we hung up

    def hang_up(self) -> None:
        """Close every held connection, as a stuck server that finally gives up would."""
        with self._lock:
            held, self._sockets = self._sockets, []
        for connection in held:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


class MuteServer:
    """A server that accepts connections, reads requests and never answers (a stuck server)."""

    def __init__(self) -> None:
        self.held = HeldConnections()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.hold(self._listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        self.held.hang_up()


class SwitchableProxy:
    """A TCP relay in front of the tracking server that a test can make unreachable or mute.

    ``forward`` relays to the server; ``down`` refuses connections (the server looks stopped);
    ``hang`` accepts them and never answers (the server looks stuck). Clients see one URL
    throughout, as they would a server that goes away and comes back.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.mode = "forward"
        self._listener: socket.socket | None = None
        self.held = HeldConnections()
        self._active: list[socket.socket] = []
        self._lock = threading.Lock()
        self.set_mode("forward")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            if mode != "forward":
                self._cut_connections()  # kept-alive connections must not keep working
            if mode == "down":
                self._close_listener()
                return
            if self._listener is None:
                listener = socket.socket()
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", self.port))
                listener.listen(64)
                self._listener = listener
                threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._close_listener()
            self._cut_connections()
            self.held.hang_up()  # a muted server that finally hangs up

    def _cut_connections(self) -> None:
        for open_socket in self._active:
            with contextlib.suppress(OSError):
                open_socket.shutdown(socket.SHUT_RDWR)
        self._active.clear()

    def _close_listener(self) -> None:
        if self._listener is not None:
            # Wakes the accepting thread; a bare close leaves the port listening on Linux.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.mode == "hang":
                self.held.hold(client)  # answer nothing
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self._active += [client, upstream]
            threading.Thread(target=_relay, args=(client, upstream), daemon=True).start()


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy both ways until both sides are done, then close both sockets."""
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join(timeout=120)
    client.close()
    upstream.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)  # pass the end of stream on, as the peer would see it
