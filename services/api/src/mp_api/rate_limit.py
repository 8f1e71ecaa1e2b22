"""A token bucket per client address, for ``POST /feedback``.

Each address may send ``burst`` requests at once and ``per_minute`` a minute after that. The
buckets live in the worker process: with ``API_WORKERS`` workers and several replicas, one
client can get up to workers times replicas times the rate, depending on where its connections
land. That is accepted on purpose: receipts already bound what a client can say (only answers
the service gave, each once), and a shared limiter would put a store round trip on every
feedback. A reverse proxy in front sees one address per client; behind it every request
comes from the proxy, so give the proxy its own per-client limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Final

#: Addresses tracked at most; past it, buckets that have refilled are dropped (they hold no
#: debt, so dropping one changes nothing), and if none has, the oldest ones go.
MAX_CLIENTS: Final = 100_000


class ClientRateLimit:
    """``take(address)``: None when the request may go on, else seconds until it may."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if per_minute < 0 or burst < 1:
            raise ValueError("per_minute must be 0 or more and burst at least 1")
        self.per_minute = per_minute
        self.burst = burst
        self._rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def take(self, address: str) -> float | None:
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(address, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self._rate)
            if tokens < 1.0:
                self._buckets[address] = (tokens, now)
                return (1.0 - tokens) / self._rate
            if address not in self._buckets and len(self._buckets) >= self._max_clients:
                self._forget_refilled(now)
            self._buckets[address] = (tokens - 1.0, now)
            return None

    def _forget_refilled(self, now: float) -> None:
        full = [
            key
            for key, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self._rate >= self.burst
        ]
        for key in full or list(self._buckets)[: max(1, self._max_clients // 10)]:
            del self._buckets[key]


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
