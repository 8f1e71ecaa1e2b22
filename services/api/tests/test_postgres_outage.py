"""PostgreSQL stopped and started under a stream of feedbacks: 503 with the reason, never a 500,
``/health`` says why, no acknowledged row is lost, and the API recovers by itself."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from mp_core.stores import feedback_store
from testsupport.api import EXAMPLE, ApiServers, predict_receipt
from testsupport.postgres import PostgresServer


class Stream:
    """One client sending feedbacks in order, retrying a refused one under the same key."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: list[int] = []
        self.codes: Counter[int] = Counter()
        self.refusals: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i, receipt = 0, None
        with httpx.Client(base_url=self.url, timeout=15) as http:
            while not self.stop.is_set():
                # One receipt per row, sent again after a refusal: stored once either way.
                receipt = receipt or predict_receipt(http, {**EXAMPLE, "Physical_Activity": i})
                answer = http.post("/feedback", json={"prediction_id": receipt, "actual": i % 2})
                self.codes[answer.status_code] += 1
                if answer.status_code == 200:
                    self.acked.append(i)
                    i += 1
                    receipt = None
                else:
                    self.refusals.append(answer.json())
                    time.sleep(0.05)

    def wait(self, probe: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not reached: {dict(self.codes)}")
            time.sleep(0.05)


@pytest.mark.slow
def test_a_database_outage_is_a_503_with_the_reason_and_heals_by_itself(
    start_api: ApiServers, postgres_server: PostgresServer, database_url: str
) -> None:
    api = start_api.start(workers=2, retrain_threshold="100000", database_url=database_url)
    stream = Stream(api.url)
    stream.thread.start()
    try:
        stream.wait(lambda: len(stream.acked) >= 30, 60, "30 rows before the outage")
        postgres_server.stop("fast")
        try:
            stream.wait(lambda: stream.codes[503] >= 3, 60, "503 while down")
            with httpx.Client(base_url=api.url, timeout=15) as http:
                health = http.get("/health")
                predicted = http.post("/predict", json={"features": EXAMPLE})
            acked_while_down = len(stream.acked)
        finally:
            postgres_server.start()
        stream.wait(lambda: len(stream.acked) >= acked_while_down + 30, 60, "recovery")
    finally:
        stream.stop.set()
        stream.thread.join(30)

    # While down: still serving predictions, health names the cause, feedback refused with it.
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "degraded"
    assert "PostgreSQL is unreachable" in health.json()["reason"]
    assert predicted.status_code == 200
    assert set(stream.codes) <= {200, 503}, stream.codes  # never a 500
    assert all(r["error"] == "store_unavailable" for r in stream.refusals)
    assert all("PostgreSQL is unreachable" in r["detail"] for r in stream.refusals)
    # Every acknowledged row is stored, once (the retries reused their key).
    frame = feedback_store(api.settings).read().frame
    stored = list(frame["Physical_Activity"].astype(int))
    assert sorted(stored) == sorted(set(stored))
    assert set(stream.acked) <= set(stored)
    assert len(stored) - len(stream.acked) <= 1  # at most the one in flight at the end
    with httpx.Client(base_url=api.url, timeout=15) as http:
        assert http.get("/health").json()["status"] == "ok"
