"""``Idempotency-Key`` on ``POST /feedback``: one row per key, the same answer, 422 on reuse."""

from __future__ import annotations

import httpx

from mp_core.stores import feedback_store
from testsupport.api import EXAMPLE, ApiServers, worker_of


def test_a_retry_stores_one_row_and_a_changed_body_is_refused(
    start_api: ApiServers, store_url: str | None
) -> None:
    api = start_api.start(
        workers=2, retrain_threshold="2", database_url=store_url, api_worker_header="1"
    )
    body = {"features": EXAMPLE, "prediction": 1, "actual": 0}
    key = {"Idempotency-Key": "3f1c0b8e-retry-test"}
    with httpx.Client(base_url=api.url, timeout=10) as http:
        http.post("/feedback", json=body)
        first = http.post("/feedback", json=body, headers=key)
        assert first.status_code == 200
        assert first.json() == {"status": "ok", "total_feedbacks": 2, "retrain_triggered": True}
        http.post("/feedback", json=body)
        # Retries (to each worker, after another row) get the first answer and store nothing.
        retries = api.until_every_worker(
            lambda client: client.post("/feedback", json=body, headers=key), at_least=6
        )
        assert len({worker_of(again) for again in retries}) == 2
        for again in retries:
            assert (again.status_code, again.json()) == (200, first.json())
        changed = http.post("/feedback", json={**body, "actual": 1}, headers=key)
        assert changed.status_code == 422
        problem = changed.json()
        assert problem["field"] == "actual" and "Idempotency-Key" in problem["rule"]
        moved = {**body, "features": {**EXAMPLE, "CGPA": 1.5}}
        assert http.post("/feedback", json=moved, headers=key).json()["field"] == "features.CGPA"
        too_long = http.post("/feedback", json=body, headers={"Idempotency-Key": "k" * 201})
        assert too_long.status_code == 400 and too_long.json()["field"] == "Idempotency-Key"
        info = http.get("/model").json()
    assert feedback_store(api.settings).count() == 3
    assert info["feedback_total"] == 3
    assert info["retrain_waiting"] == 1  # the replay of row 2 asked for no second retrain
