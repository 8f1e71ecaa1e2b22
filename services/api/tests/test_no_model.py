"""Starting without a model: 503 with the reason, the process stays up and picks a model up."""

from __future__ import annotations

import time

import httpx

from mp_core.stores.feedback_files import FeedbackStore
from testsupport.api import EXAMPLE, ApiServers
from testsupport.data import train_into


def test_starts_without_model_then_serves_the_first_one_trained(start_api: ApiServers) -> None:
    api = start_api.start(model="none", workers=2, api_worker_header="1")
    unavailable = api.from_every_worker("GET", "/health")
    assert len(unavailable) == 2
    for health in unavailable.values():
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        assert health.json()["reason"] == "no model: run `just train`"
    for path, body in [
        ("/predict", {"features": EXAMPLE}),
        ("/predict/batch", {"instances": [EXAMPLE]}),
        ("/feedback", {"features": EXAMPLE, "prediction": 0, "actual": 1}),
    ]:
        for answer in api.from_every_worker("POST", path, json=body).values():
            assert answer.status_code == 503
            assert answer.json() == {
                "error": "model_unavailable",
                "detail": "no model: run `just train`",
            }
    with httpx.Client(base_url=api.url, timeout=10) as http:
        assert FeedbackStore(api.settings.prod_data_path).count() == 0
        info = http.get("/model").json()
        assert info["serving"] is False and info["version"] is None
        # Bad input is still a 400, not a 503: validation comes first.
        assert http.post("/predict", json={"features": {}}).status_code == 400

        train_into(api.settings)  # what `just train` does, while the server runs

        deadline = time.monotonic() + 10
        versions: set[str] = set()
        while time.monotonic() < deadline and len(versions) < 1:
            answer = http.post("/predict", json={"features": EXAMPLE})
            if answer.status_code == 200:
                versions.add(answer.json()["model_version"])
        assert versions == {"v0001"}
    # Every worker picks it up (each checks the pointer on every request).
    ready = api.from_every_worker("GET", "/health")
    predicted = api.from_every_worker("POST", "/predict", json={"features": EXAMPLE})
    assert set(ready) == set(predicted) == set(unavailable)
    assert {answer.json()["model_version"] for answer in ready.values()} == {"v0001"}
    assert {answer.json()["model_version"] for answer in predicted.values()} == {"v0001"}
    assert api.process is not None and api.process.poll() is None


def test_admin_routes_are_refused_when_admin_token_is_unset(start_api: ApiServers) -> None:
    api = start_api.start(model="logistic", admin_token=None)
    with httpx.Client(base_url=api.url, timeout=10) as http:
        for path in ("/retrain", "/model/rollback"):
            for headers in ({}, {"Authorization": "Bearer anything"}):
                answer = http.post(path, headers=headers)
                assert answer.status_code == 403
                assert "set ADMIN_TOKEN" in answer.json()["detail"]
        assert http.get("/model").json()["retrain"] is None
