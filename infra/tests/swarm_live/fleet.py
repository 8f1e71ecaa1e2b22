"""Traffic the Swarm tests send through the stack's proxy on 127.0.0.1, and what they read back.

Every load here is bounded: a fixed number of requests, or a background load that stops when the
test says so or after ``MAX_LOAD_SECONDS`` at the latest. PostgreSQL is read with ``psql`` inside
its own container (it publishes no port).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from infra.swarm.swarm_stack import SwarmStack, docker
from mp_core.contract import EXAMPLE_PROFILE
from mp_core.receipts import receipt_mac

MAX_LOAD_SECONDS = 300.0
T = TypeVar("T")
R = TypeVar("R")
SERVED_BY = "x-served-by"


def profile(marker: int) -> dict[str, Any]:
    """The example profile, made distinct by ``Physical_Activity`` minutes (0 to 10,080)."""
    return {**EXAMPLE_PROFILE, "Physical_Activity": float(marker % 10_080)}


def in_threads(
    url: str, items: Iterable[T], task: Callable[[httpx.Client, T], R], *, concurrency: int
) -> list[R]:
    """``task(client, item)`` for every item, from ``concurrency`` threads at once, each thread
    with its own connection to ``url``; the results in the order of ``items``."""
    local = threading.local()
    clients: list[httpx.Client] = []

    def one(item: T) -> R:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=60)
            clients.append(local.client)
        return task(local.client, item)

    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, items))
    finally:
        for client in clients:
            client.close()


def receipts_for(url: str, markers: range, *, concurrency: int) -> dict[int, str]:
    """``POST /predict`` once per marker through the proxy; each answer's ``prediction_id``."""

    def predict(client: httpx.Client, marker: int) -> tuple[int, str]:
        answer = client.post("/predict", json={"features": profile(marker)})
        answer.raise_for_status()
        return marker, str(answer.json()["prediction_id"])

    return dict(in_threads(url, markers, predict, concurrency=concurrency))


def psql(stack: SwarmStack, sql: str) -> str:
    """``sql``'s result (unaligned, tuples only) from the stack's PostgreSQL."""
    (container,) = stack.containers("postgresql")
    command = ["exec", container, "psql", "-U", "mindpulse", "-d", "mindpulse", "-tAc", sql]
    return docker(*command, timeout=60).stdout.strip()


def feedback_rows(stack: SwarmStack, receipts: Iterable[str] | None = None) -> tuple[int, int]:
    """(rows, distinct idempotency keys) of the feedback table, or of the rows of ``receipts``."""
    where = ""
    if receipts is not None:  # signatures are base64url: nothing to quote
        keys = ",".join(f"'receipt:{receipt_mac(receipt)}'" for receipt in receipts)
        where = f" WHERE idempotency_key IN ({keys})"
    sql = f"SELECT count(*), count(DISTINCT idempotency_key) FROM feedback{where}"
    rows, keys = psql(stack, sql).split("|")
    return int(rows), int(keys)


@dataclass(frozen=True)
class Answer:
    """One finished request: when (monotonic and wall clock), status, the replica, the body."""

    at: float
    wall: float
    status: int
    served_by: str
    body: dict[str, Any]


def _post(client: httpx.Client, path: str, body: dict[str, Any], key: str) -> Answer:
    response = client.post(path, json=body, headers={"Idempotency-Key": key})
    is_json = response.headers.get("content-type", "").startswith("application/json")
    served_by = response.headers.get(SERVED_BY, "")
    body = response.json() if is_json else {}
    return Answer(time.monotonic(), time.time(), response.status_code, served_by, body)


def send_feedbacks(
    url: str, receipts: dict[int, str], *, concurrency: int, attempts: int = 1
) -> list[Answer]:
    """One acknowledged feedback per receipt, from ``concurrency`` threads at once (each its own
    connection). A retry sends the same receipt, which the store keeps once; its signature goes
    in ``Idempotency-Key`` as the typed client sends it, so the proxy may replay the request."""

    def one(client: httpx.Client, marker: int) -> Answer:
        receipt = receipts[marker]
        body = {"prediction_id": receipt, "actual": 1 - marker % 2}
        last: Exception | Answer | None = None
        for _ in range(attempts):
            try:
                answer = _post(client, "/feedback", body, receipt_mac(receipt))
            except httpx.HTTPError as exc:
                last = exc
            else:
                if answer.status == 200:
                    return answer
                last = answer
            time.sleep(0.5)
        raise AssertionError(f"feedback {marker}: not acknowledged in {attempts} tries: {last}")

    return in_threads(url, receipts, one, concurrency=concurrency)


@dataclass
class PredictLoad:
    """Steady ``/predict`` traffic from ``clients`` threads until :meth:`stop` (or the bound)."""

    url: str
    clients: int = 4
    #: Seconds each client waits between requests (a steady load that leaves CPU to the rest).
    pause: float = 0.01
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> PredictLoad:
        for number in range(self.clients):
            thread = threading.Thread(target=self._run, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def _run(self, number: int) -> None:
        deadline = time.monotonic() + MAX_LOAD_SECONDS
        body = {"features": profile(number)}
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    response = client.post("/predict", json=body)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code}: {response.text[:200]}")
                    continue
                served_by = response.headers.get(SERVED_BY, "")
                answer = Answer(time.monotonic(), time.time(), 200, served_by, response.json())
                self.answers.append(answer)
                time.sleep(self.pause)


def task_containers(stack: SwarmStack, service: str) -> dict[str, str]:
    """``container id -> image`` of the service's running containers."""
    found = {}
    for container in stack.containers(service):
        image = docker("inspect", "--format", "{{.Config.Image}}", container).stdout.strip()
        found[container] = image
    return found


def update_state(stack: SwarmStack, service: str) -> str:
    """The service's UpdateStatus.State (``updating``, ``completed``, ``rollback_completed``, ...)."""
    out = docker(
        "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
        stack.service(service),
    ).stdout  # fmt: skip
    return out.strip()


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
