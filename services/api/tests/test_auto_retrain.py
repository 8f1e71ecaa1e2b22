"""Every RETRAIN_THRESHOLD feedbacks start a retrain; one already running is only noted."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from mp_api import jobs
from testsupport.api import EXAMPLE, ApiServers

THRESHOLD = 5


def _send(http: httpx.Client, n: int) -> list[dict[str, object]]:
    body = {"features": EXAMPLE, "prediction": 1, "actual": 1}
    return [http.post("/feedback", json=body).json() for _ in range(n)]


@pytest.mark.slow
def test_feedback_threshold_starts_one_retrain_at_a_time(start_api: ApiServers) -> None:
    # Five copies of one profile say little: a wide tolerance lets the challenger through, so
    # the promotion metric below can be checked (the gate itself is tested in mp-core).
    api = start_api.start(workers=2, retrain_threshold=str(THRESHOLD), promotion_tolerance="1.0")
    artifacts = api.settings.artifacts_dir
    with httpx.Client(base_url=api.url, timeout=10) as http:
        acks = _send(http, THRESHOLD)
        assert [a["total_feedbacks"] for a in acks] == [1, 2, 3, 4, 5]
        assert [a["retrain_triggered"] for a in acks] == [False] * 4 + [True]

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = jobs.read_status(artifacts) or {}
            # The job writes its final status, then exits and so frees the lock.
            if status.get("state") not in (None, "running") and not jobs.is_running(artifacts):
                break
            time.sleep(0.1)
        assert status["state"] == "succeeded", status
        assert status["trigger"] == "feedback:5"
        assert status["rows"]["feedback"] == THRESHOLD

        # Another process holds the retrain lock: the next trigger is noted, not started.
        fd = jobs.try_lock(artifacts)
        try:
            acks = _send(http, THRESHOLD)
        finally:
            os.close(fd)
        assert [a["retrain_triggered"] for a in acks] == [False] * THRESHOLD
        assert acks[-1]["total_feedbacks"] == 2 * THRESHOLD
        metrics = http.get("/metrics").text
    assert "retrain_skipped" in api.log()
    assert 'mindpulse_retrains_total{outcome="busy"} 1.0' in metrics
    assert 'mindpulse_retrains_total{outcome="promoted"} 1.0' in metrics
