"""Prometheus metrics, shared by every worker of one server.

The launcher (``mindpulse-api serve``) points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary
folder before the workers start, so each worker writes its
samples there and ``GET /metrics`` on any worker sums them all. Without that variable (an app
built in-process, a server started another way) the numbers are per worker.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import weakref
from bisect import bisect_left
from typing import Any, Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from mp_api.config import MULTIPROC_ENV

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
_UPPER_BOUNDS: Final = (*_LATENCY_BUCKETS, math.inf)  # the histogram's, +Inf added as it does

REQUESTS = Counter(
    "mindpulse_http_requests_total", "HTTP requests by route, method and status.",
    ["route", "method", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "mindpulse_http_request_duration_seconds", "Time to answer, by route.",
    ["route"], buckets=_LATENCY_BUCKETS,
)  # fmt: skip
PREDICTIONS = Counter(
    "mindpulse_predictions_total", "Predictions served, by predicted class.", ["predicted_class"]
)
BATCH_ROWS = Histogram(
    "mindpulse_batch_rows", "Rows per batch request.",
    buckets=(1, 10, 100, 1000, 5000, 10000),
)  # fmt: skip
FEEDBACKS = Counter("mindpulse_feedback_total", "Feedback rows acknowledged.")
FEEDBACK_REFUSED = Counter(
    "mindpulse_feedback_rate_limited_total",
    "Feedbacks refused with 429 (FEEDBACK_RATE_PER_MINUTE per client address).",
)
RETRAINS = Counter(
    "mindpulse_retrains_total",
    "Retrain requests by outcome: requested, or already_waiting (covered by one waiting).",
    ["outcome"],
)
MODEL_INFO = Gauge(
    "mindpulse_model_info", "1 for the model version a worker serves.",
    ["version", "algorithm"], multiprocess_mode="livemax",
)  # fmt: skip
MODEL_LOAD_FAILURES = Counter(
    "mindpulse_model_load_failures_total", "Pointer switches to a version that could not load."
)


# Label children bound on first use (not at import, so /metrics lists only classes served):
# labels() costs a lock and a dict lookup on every call, the hot path pays it once.
_PREDICTED: dict[str, Any] = {}
#: Predictions per class (the index is the class) not yet added to the shared counter. In
#: multiprocess mode every ``inc`` takes a lock and writes the worker's mmap file (a few
#: microseconds, as much as the scoring); the hot path only adds to these ints
#: (``PENDING_BY_CLASS[label] += 1``) and :func:`flush_pending` moves them over.
PENDING_BY_CLASS: list[int] = [0, 0]
FLUSH_SECONDS: Final = 0.25


def _predicted(label: str) -> Any:
    child = _PREDICTED.get(label)
    if child is None:
        child = _PREDICTED[label] = PREDICTIONS.labels(label)
    return child


def count_predictions(positives: int, total: int) -> None:
    pending = PENDING_BY_CLASS
    pending[1] += positives
    pending[0] += total - positives


#: Every live MetricsMiddleware (Litestar builds one per route's stack), flushed together.
_TALLIES: weakref.WeakSet[MetricsMiddleware] = weakref.WeakSet()


def flush_pending() -> None:
    """Add the predictions and requests counted since the last flush to the shared metrics."""
    zeros, ones = PENDING_BY_CLASS
    PENDING_BY_CLASS[0] = PENDING_BY_CLASS[1] = 0
    if ones:
        _predicted("1").inc(ones)
    if zeros:
        _predicted("0").inc(zeros)
    for middleware in list(_TALLIES):
        middleware.flush()


def add_observations(child: Any, per_bucket: list[int], total: float) -> None:
    """Add to histogram ``child`` what ``observe`` would for values falling ``per_bucket[i]``
    times in its i-th bucket (its upper bounds, +Inf last) and summing to ``total``.

    prometheus-client has no call for many observations at once; this writes its values
    (``_buckets``, ``_sum``: non-cumulative counts and the sum, as ``observe`` does), one mmap
    write per bucket used instead of two per request. A test holds it equal to ``observe``.
    """
    for value, count in zip(child._buckets, per_bucket, strict=True):
        if count:
            value.inc(count)
    child._sum.inc(total)


async def start_flushing() -> None:
    """On worker start: flush every :data:`FLUSH_SECONDS` on the worker's event loop.

    So ``/metrics`` (served by any worker) lags a worker's predictions by at most that long.
    """
    loop = asyncio.get_running_loop()

    def tick() -> None:
        flush_pending()
        loop.call_later(FLUSH_SECONDS, tick)

    loop.call_later(FLUSH_SECONDS, tick)


def model_swapped(previous: Any, fresh: Any) -> None:
    """Record the version a worker now serves (``previous``/``fresh`` are LoadedScorer)."""
    if previous is not None:
        MODEL_INFO.labels(previous.version, str(previous.manifest.get("algorithm"))).set(0)
    MODEL_INFO.labels(fresh.version, str(fresh.manifest.get("algorithm"))).set(1)


def exposition() -> bytes:
    """The text exposition of every worker's samples (or this process's when not shared)."""
    flush_pending()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


class MetricsMiddleware:
    """Counts and times every HTTP request under its route's path (unknown paths -> ``other``).

    A request only adds to this worker's tallies; :func:`flush_pending` (every
    :data:`FLUSH_SECONDS`, and before every ``/metrics`` answer) moves them to the shared
    metrics. In multiprocess mode a counter increment and a histogram observation took a lock,
    a ``getpid`` and an mmap write each, about as much as the rest of the ceiling route.
    """

    def __init__(self, app: ASGIApp, routes: frozenset[str]) -> None:
        self.app = app
        self.routes = routes
        # Label children by (route, method, status) and by route, bound on first flush.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[str, Any] = {}
        self._counts: dict[tuple[str, str, int], int] = {}
        #: Per route: requests per latency bucket, then the sum of their latencies.
        self._latencies: dict[str, list[Any]] = {}
        _TALLIES.add(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            route = path if path in self.routes else "other"
            key = (route, scope.get("method", ""), status)
            counts = self._counts
            counts[key] = counts.get(key, 0) + 1
            tally = self._latencies.get(route)
            if tally is None:
                tally = self._latencies[route] = [0] * len(_UPPER_BOUNDS) + [0.0]
            tally[bisect_left(_UPPER_BOUNDS, elapsed)] += 1  # observe's rule: value <= bound
            tally[-1] += elapsed

    def flush(self) -> None:
        """Move this middleware's tallies to the shared metrics."""
        counts, self._counts = self._counts, {}
        for key, count in counts.items():
            counter = self._counted.get(key)
            if counter is None:
                counter = self._counted[key] = REQUESTS.labels(key[0], key[1], str(key[2]))
            counter.inc(count)
        latencies, self._latencies = self._latencies, {}
        for route, tally in latencies.items():
            timer = self._timed.get(route)
            if timer is None:
                timer = self._timed[route] = LATENCY.labels(route)
            add_observations(timer, tally[:-1], tally[-1])
