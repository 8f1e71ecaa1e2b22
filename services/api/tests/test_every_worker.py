"""Every worker of a two-worker server, each reached on purpose: the ``MindPulse-Worker``
header tells them apart, and ``/metrics`` adds up what all of them served."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest

from mp_api.metrics import FLUSH_SECONDS
from testsupport.api import EXAMPLE, WORKER_HEADER, ApiServer, ApiServers, worker_of

PREDICTED = "mindpulse_predictions_total"
PREDICT_OK = 'mindpulse_http_requests_total{method="POST",route="/predict",status="200"}'


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    return module_api.start(workers=2, api_worker_header="1")


def test_each_worker_answers_with_its_own_opaque_id(api: ApiServer) -> None:
    answers = api.until_every_worker(lambda client: client.get("/live"), at_least=10)
    ids = {worker_of(answer) for answer in answers}
    logged = api.logged_workers()  # worker_ready: worker_id=... pid=...
    # One id per worker process, the same ones the workers logged with their pids.
    assert ids == set(logged)
    assert sorted(logged.values()) == api.worker_pids()
    for worker_id, pid in logged.items():
        assert len(worker_id) == 12 and str(pid) not in worker_id
    # The guard's own refusals say which worker refused, too.
    refused = api.from_every_worker("GET", "/health", headers={"Host": "elsewhere.example"})
    assert set(refused) == ids
    assert {answer.status_code for answer in refused.values()} == {400}


def _samples(answer: httpx.Response) -> dict[str, float]:
    assert "# TYPE mindpulse_http_requests_total counter" in answer.text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in answer.text.splitlines()
        if line and not line.startswith("#")
    }


def _counts(samples: dict[str, float]) -> tuple[float, float]:
    """(predictions counted, POST /predict answered 200)."""
    predicted = sum(v for k, v in samples.items() if k.startswith(PREDICTED + "{"))
    return predicted, samples.get(PREDICT_OK, 0.0)


def _views(api: ApiServer) -> dict[str, dict[str, float]]:
    """Each worker's own ``/metrics`` answer, by worker."""
    return {w: _samples(a) for w, a in api.from_every_worker("GET", "/metrics").items()}


def _settled_counts(api: ApiServer) -> tuple[float, float]:
    """The counts every worker reports alike, twice in a row past a flush period."""
    deadline = time.monotonic() + 10
    previous: Any = None
    while True:
        views = {w: _counts(s) for w, s in _views(api).items()}
        now = set(views.values())
        if len(now) == 1 and now == previous:
            return now.pop()
        if time.monotonic() > deadline:
            raise AssertionError(f"the workers never agreed on the counts: {views}")
        previous = now
        time.sleep(2 * FLUSH_SECONDS)


def test_metrics_add_up_every_worker(api: ApiServer) -> None:
    before = _settled_counts(api)
    sent = api.until_every_worker(
        lambda client: client.post("/predict", json={"features": EXAMPLE}), at_least=20
    )
    assert {answer.status_code for answer in sent} == {200}
    served = Counter(worker_of(answer) for answer in sent)
    assert len(served) == 2 and sum(served.values()) == len(sent)
    expected = (before[0] + len(sent), before[1] + len(sent))
    # Each worker moves its prediction counts to the shared files every FLUSH_SECONDS.
    deadline = time.monotonic() + 10
    while True:
        views = _views(api)
        counts = {worker: _counts(samples) for worker, samples in views.items()}
        if set(counts.values()) == {expected} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # Every worker's answer is the sum over both, exactly: not its own share, not more.
    assert counts == dict.fromkeys(served, expected), (served, before)
    for samples in views.values():
        assert 'mindpulse_http_request_duration_seconds_bucket{le="0.005",route="/predict"}' in (
            samples
        )
        assert samples['mindpulse_model_info{algorithm="logistic_regression",version="v0001"}'] == 1


def test_the_worker_header_is_off_unless_asked_for(start_api: ApiServers) -> None:
    api = start_api.start(workers=1)
    with httpx.Client(base_url=api.url, timeout=10) as http:
        answers = [http.get("/live"), http.post("/predict", json={"features": EXAMPLE})]
        answers.append(http.get("/live", headers={"Host": "elsewhere.example"}))
    assert [answer.status_code for answer in answers] == [200, 200, 400]
    assert all(WORKER_HEADER not in answer.headers for answer in answers)
    # The ids are still logged, for the operator.
    assert len(api.logged_workers()) == 1
