"""Every RETRAIN_THRESHOLD feedbacks record a retrain request; a trainer takes it, never the API."""

from __future__ import annotations

import time

import httpx
import pytest

from mp_core.stores import retrain_requests
from testsupport.api import EXAMPLE, ApiServers, predict_and_feed_back

THRESHOLD = 5


def _send(http: httpx.Client, n: int) -> list[dict[str, object]]:
    return [predict_and_feed_back(http, EXAMPLE, 1).json() for _ in range(n)]


@pytest.mark.slow
def test_feedback_threshold_records_requests_that_a_trainer_takes(start_api: ApiServers) -> None:
    # Ten copies of one profile say little: a wide tolerance lets the challenger through, so
    # the promotion below can be checked (the gate itself is tested in mp-core).
    api = start_api.start(workers=2, retrain_threshold=str(THRESHOLD), promotion_tolerance="1.0")
    requests = retrain_requests(api.settings)
    with httpx.Client(base_url=api.url, timeout=10) as http:
        acks = _send(http, THRESHOLD)
        assert [a["total_feedbacks"] for a in acks] == [1, 2, 3, 4, 5]
        assert [a["retrain_triggered"] for a in acks] == [False] * 4 + [True]

        # No trainer runs: predictions and feedback go on, and GET /model says what waits.
        assert http.post("/predict", json={"features": EXAMPLE}).status_code == 200
        _send(http, THRESHOLD)  # the 10th asks again: covered by the waiting request
        info = http.get("/model").json()
        assert info["retrain_waiting"] == 1 and info["trainers"] == []
        assert "waiting for a trainer" in info["trainer_note"]
        assert info["retrain"]["state"] == "waiting"
        assert info["retrain"]["trigger"] == "feedback:5"
        assert not list(api.settings.artifacts_dir.glob("versions/v0002"))  # the API never trains

        trainer = api.start_trainer()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = requests.read_status() or {}
            if status.get("state") not in (None, "running") and not requests.waiting():
                break
            time.sleep(0.1)
        assert status["state"] == "succeeded", trainer.log()
        assert status["trigger"] == "feedback:5"
        assert status["rows"]["feedback"] == 2 * THRESHOLD
        info = http.get("/model").json()
        assert info["retrain_waiting"] == 0 and info["trainer_note"] is None
        assert len(info["trainers"]) == 1
        metrics = http.get("/metrics").text
    assert 'mindpulse_retrains_total{outcome="requested"} 1.0' in metrics
    assert 'mindpulse_retrains_total{outcome="already_waiting"} 1.0' in metrics
