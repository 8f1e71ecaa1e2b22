"""Fixtures for API tests: the real ``mindpulse-api serve`` on a free port, with its own folders.

Each server runs the installed console script with environment variables pointing at
temporary data and artifacts folders (copied from the session's tiny trained model, or empty),
in its own process group so a test can stop it, or ``kill -9`` it with all its workers.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from mp_core.client import MindPulseClient
from mp_core.contract import EXAMPLE_PROFILE, FeedbackAck
from mp_core.settings import Settings
from testsupport.data import settings_for

ADMIN_TOKEN = "test-admin-token"
START_TIMEOUT = 60.0
#: The header naming the worker that answered (sent with ``API_WORKER_HEADER=1``).
WORKER_HEADER = "MindPulse-Worker"
#: Fresh connections tried, at most, before giving up on reaching every worker.
MAX_CONNECTIONS = 400
Model = Literal["logistic", "forest", "none"]
#: Variables of the parent environment that must not leak into a test server.
_CLEARED = (
    "DATA_DIR", "ARTIFACTS_DIR", "REPORTS_DIR", "ADMIN_TOKEN", "API_PORT", "API_HOST",
    "API_WORKERS", "API_SERVER", "RETRAIN_THRESHOLD", "MAX_BATCH", "PROMETHEUS_MULTIPROC_DIR",
    "MP_BENCH_CEILING", "RETRAIN_CANDIDATES", "PROMOTION_TOLERANCE", "LOG_FORMAT",
    "DATABASE_URL", "DATABASE_URL_FILE",
    "API_ALLOWED_HOSTS", "API_MAX_CONCURRENT", "ADMIN_TOKEN_FILE", "API_WORKER_HEADER",
    "API_MAX_BODY_BYTES",
    "RECEIPT_KEY", "RECEIPT_KEY_FILE", "RECEIPT_MAX_AGE", "FEEDBACK_RATE_PER_MINUTE",
    "FEEDBACK_BURST",
)  # fmt: skip

EXAMPLE: dict[str, Any] = EXAMPLE_PROFILE


def worker_of(answer: httpx.Response) -> str:
    """The id of the worker that sent ``answer`` (its ``MindPulse-Worker`` header)."""
    worker = answer.headers.get(WORKER_HEADER)
    if not worker:
        raise AssertionError(f"no {WORKER_HEADER} header: start the server with api_worker_header")
    return worker


def predict_receipt(http: httpx.Client, features: Mapping[str, Any]) -> str:
    """``POST /predict`` for ``features``; the receipt (``prediction_id``) of the answer."""
    answer = http.post("/predict", json={"features": dict(features)})
    answer.raise_for_status()
    return str(answer.json()["prediction_id"])


def predict_and_feed_back(
    http: httpx.Client, features: Mapping[str, Any], actual: int, **kwargs: Any
) -> httpx.Response:
    """``POST /predict`` for ``features``, then ``POST /feedback`` with its receipt and
    ``actual``; the feedback's answer (``kwargs`` go to that request, e.g. ``headers``)."""
    body = {"prediction_id": predict_receipt(http, features), "actual": actual}
    return http.post("/feedback", json=body, **kwargs)


async def apredict_and_feed_back(
    http: httpx.AsyncClient, features: Mapping[str, Any], actual: int
) -> httpx.Response:
    """:func:`predict_and_feed_back` for an async client."""
    answer = await http.post("/predict", json={"features": dict(features)})
    answer.raise_for_status()
    body = {"prediction_id": answer.json()["prediction_id"], "actual": actual}
    return await http.post("/feedback", json=body)


def client_feedback(
    client: MindPulseClient, features: Mapping[str, Any], actual: int
) -> FeedbackAck:
    """The same through the typed client: predict, then feed back the receipt."""
    return client.feedback(client.predict(features).prediction_id, actual)


def free_port() -> int:
    """A port nobody listens on right now (bind to port 0 and ask)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def console_script(name: str = "mindpulse-api") -> str:
    """The installed console script ``name`` next to this interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `uv sync --all-packages`")
    return str(path)


class Trainer:
    """One ``mindpulse worker`` process (its own group), with the server's environment."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [console_script("mindpulse"), "worker", *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait(10)


class ApiServer:
    """One ``mindpulse-api serve`` process group; start, stop, kill and inspect it."""

    def __init__(self, root: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.root = root
        url = (env or {}).get("DATABASE_URL")
        self.settings: Settings = settings_for(root, **({"database_url": url} if url else {}))
        self.workers = workers
        self.port = free_port()
        self.extra_env = dict(env or {})
        self.log_path = root / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0
        self.trainers: list[Trainer] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
        env.update(
            DATA_DIR=str(self.settings.data_dir),
            ARTIFACTS_DIR=str(self.settings.artifacts_dir),
            REPORTS_DIR=str(self.settings.reports_dir),
            API_HOST="127.0.0.1",
            API_PORT=str(self.port),
            API_WORKERS=str(self.workers),
            RETRAIN_CANDIDATES="logistic_regression",
            # Tests send hundreds of feedbacks a second from one address; the rate limit's
            # own tests set it (services/api/tests/test_receipts.py).
            FEEDBACK_RATE_PER_MINUTE="0",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return {k: v for k, v in env.items() if v != ""}

    def start_trainer(self, *args: str) -> Trainer:
        """Start a ``mindpulse worker`` on this server's stores (stopped with the server)."""
        path = self.root / f"trainer-{len(self.trainers)}.log"
        trainer = Trainer(self.environment(), path, *args)
        self.trainers.append(trainer)
        return trainer

    def start(self, *, wait: Literal["live", "ready", "no"] = "live") -> ApiServer:
        self._log_start = len(self.log())
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [console_script(), "serve"],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: workers and jobs die with it
        )
        log.close()
        if wait != "no":
            self.wait_until("/live" if wait == "live" else "/health")
        return self

    def wait_until(self, path: str, timeout: float = START_TIMEOUT) -> None:
        """Wait until every worker could answer ``path`` with 200 (or fail with the log)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}):\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                answered = httpx.get(self.url + path, timeout=2).status_code == 200
                # Wait until every worker has finished its start-up (model loaded or not).
                if answered and self.log()[self._log_start :].count("worker_ready") >= self.workers:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer {path} in {timeout:.0f}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def until_every_worker(
        self,
        send: Callable[[httpx.Client], httpx.Response],
        *,
        at_least: int = 1,
        limit: int = MAX_CONNECTIONS,
        timeout: float = 60.0,
    ) -> list[httpx.Response]:
        """``send`` once per fresh connection until every worker has answered (and ``at_least``
        answers came), bounded by ``limit`` connections and ``timeout`` seconds.

        A kept-alive connection stays with the worker that accepted it, so each request gets a
        connection of its own; the kernel hands each to whichever worker accepts first. Needs
        the server started with ``API_WORKER_HEADER=1`` (see :func:`worker_of`).
        """
        answers: list[httpx.Response] = []
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        no_keep_alive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, timeout=10, limits=no_keep_alive) as client:
            while len(seen) < self.workers or len(answers) < at_least:
                if len(answers) >= limit or time.monotonic() > deadline:
                    raise AssertionError(
                        f"{len(answers)} connections in {timeout:.0f}s reached "
                        f"{len(seen)} of {self.workers} workers"
                    )
                answer = send(client)
                answers.append(answer)
                seen.add(worker_of(answer))
        return answers

    def from_every_worker(
        self, method: str, path: str, **request: Any
    ) -> dict[str, httpx.Response]:
        """One answer from each worker to the same request, by worker id."""
        answers = self.until_every_worker(lambda client: client.request(method, path, **request))
        first: dict[str, httpx.Response] = {}
        for answer in answers:
            first.setdefault(worker_of(answer), answer)
        return first

    def logged_workers(self) -> dict[str, int]:
        """Worker id -> pid, from the ``worker_ready`` lines of this start's log."""
        found: dict[str, int] = {}
        for line in self.log()[self._log_start :].splitlines():
            if ": worker_ready " in line:
                fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
                found[fields["worker_id"]] = int(fields["pid"])
        return found

    def serving_pids(self) -> list[int]:
        """The processes that answer requests: the workers, or the launcher when it serves alone."""
        if self.process is None:
            return []
        return self.worker_pids() or [self.process.pid]

    @contextlib.contextmanager
    def file_size_limit(self, size: int) -> Iterator[None]:
        """While inside: no serving process may write a file past ``size`` bytes (RLIMIT_FSIZE).

        A write that crosses it stops at the limit (part of it reaches the file) and the rest
        fails with EFBIG, as on a full disk; Python ignores the SIGXFSZ that comes with it.
        Only the soft limit is lowered, so no privilege is needed to raise it back.
        """
        before = {pid: resource.prlimit(pid, resource.RLIMIT_FSIZE) for pid in self.serving_pids()}
        try:
            for pid, (_, hard) in before.items():
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, hard))
            yield
        finally:
            for pid, limits in before.items():
                with contextlib.suppress(ProcessLookupError):
                    resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)

    def worker_pids(self) -> list[int]:
        """Processes in the server's group other than the launcher: its workers."""
        if self.process is None:
            return []
        group = self.process.pid
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == group:
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            # uvicorn's multiprocessing start leaves a resource tracker in the group: not a worker.
            helper = b"resource_tracker" in cmdline
            if int(fields[2]) == group and not helper:
                found.append(int(entry.name))
        return sorted(found)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole group (and the trainers), then SIGKILL whatever is left."""
        for trainer in self.trainers:
            trainer.stop(timeout=timeout)
        self.trainers = []
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        self._kill_group()

    def kill9(self) -> None:
        """``kill -9`` the launcher and every worker, all at once."""
        if self.process is None:
            return
        self._kill_group()

    def _kill_group(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        # Wait for the group to be gone, so the next server gets the files to itself.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.process = None

    def restart(self, **kwargs: Any) -> ApiServer:
        self.stop()
        return self.start(**kwargs)


def prepare_root(root: Path, model: Model, templates: dict[str, Path]) -> Path:
    """Copy the chosen trained template (or nothing) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if model != "none":
        template = templates[model]
        for name in ("data", "artifacts"):
            shutil.copytree(template / name, root / name)
    return root


class ApiServers:
    """Starts servers and stops them all when the test (or module) ends."""

    def __init__(self, base: Path, templates: dict[str, Path]) -> None:
        self.base = base
        self.templates = templates
        self.running: list[ApiServer] = []

    def start(
        self,
        *,
        model: Model = "logistic",
        workers: int = 1,
        admin_token: str | None = ADMIN_TOKEN,
        wait: Literal["live", "ready", "no"] = "live",
        database_url: str | None = None,
        trainer: bool = False,
        **env: str,
    ) -> ApiServer:
        """A server on files, or on ``database_url`` (the model copied into the database)."""
        root = prepare_root(self.base / f"server{len(self.running)}", model, self.templates)
        server_env = {"ADMIN_TOKEN": admin_token or "", **{k.upper(): v for k, v in env.items()}}
        if database_url:
            from testsupport.postgres import copy_models

            server_env["DATABASE_URL"] = database_url
            copy_models(settings_for(root), settings_for(root, database_url=database_url))
        server = ApiServer(root, workers=workers, env=server_env)
        self.running.append(server)
        server.start(wait=wait)
        if trainer:  # the training plane next to it: `mindpulse worker`
            server.start_trainer()
        return server

    def close(self) -> None:
        for server in self.running:
            server.stop()


def _templates(request: pytest.FixtureRequest) -> dict[str, Path]:
    """Lazy access to the session's trained templates (the forest one only when asked for)."""

    class Lazy(dict[str, Path]):
        def __missing__(self, key: str) -> Path:
            name = {"logistic": "_trained_template", "forest": "_forest_template"}[key]
            value: Path = request.getfixturevalue(name)
            self[key] = value
            return value

    return Lazy()


@pytest.fixture
def start_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServers]:
    """``start_api.start(model="logistic"|"forest"|"none", workers=1, **ENV)`` per test."""
    servers = ApiServers(tmp_path, _templates(request))
    yield servers
    servers.close()


@pytest.fixture(scope="module")
def module_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServers]:
    """The same as :func:`start_api`, for servers shared by a module's tests."""
    servers = ApiServers(tmp_path_factory.mktemp("api"), _templates(request))
    yield servers
    servers.close()
