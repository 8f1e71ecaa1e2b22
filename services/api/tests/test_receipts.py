"""Prediction receipts on real servers: ``/predict`` signs what it answered, ``/feedback`` redeems
it once (the receipt is the idempotency key, on both stores), within RECEIPT_MAX_AGE, from any
replica; the old body shape and floods are refused."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from mp_api import metrics
from mp_api.rate_limit import ClientRateLimit, retry_after
from mp_api.routes.predict import row_answerer
from mp_core.client import MindPulseClient
from mp_core.receipts import ReceiptSigner, receipt_text
from mp_core.schema import profile_from_mapping
from mp_core.settings import Settings
from mp_core.stores import feedback_store, model_store
from testsupport.api import EXAMPLE, ApiServers, predict_and_feed_back, worker_of

RECEIPT_KEY = "receipt-key-for-tests-0123456789abcdef"


def _receipt(http: httpx.Client, features: dict[str, object] = EXAMPLE) -> dict[str, object]:
    answer = http.post("/predict", json={"features": features})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _refusal(answer: httpx.Response) -> tuple[int, str | None, str]:
    body = answer.json()
    return answer.status_code, body.get("field"), str(body.get("rule"))


def test_the_server_fills_in_what_it_answered_and_a_receipt_is_used_once(
    start_api: ApiServers, store_url: str | None
) -> None:
    api = start_api.start(
        workers=2, retrain_threshold="2", database_url=store_url, api_worker_header="1"
    )
    profile = {**EXAMPLE, "Sleep_Duration": 4.25, "Stress_Level": 9}
    with httpx.Client(base_url=api.url, timeout=10) as http:
        assert predict_and_feed_back(http, EXAMPLE, 0).json()["total_feedbacks"] == 1
        answer = _receipt(http, profile)
        receipt = {"prediction_id": answer["prediction_id"], "actual": 1 - answer["prediction"]}
        first = http.post("/feedback", json=receipt)
        assert first.status_code == 200, first.text
        assert first.json() == {"status": "ok", "total_feedbacks": 2, "retrain_triggered": True}
        # Retries, to each worker, after another row: the first answer, no second row.
        assert predict_and_feed_back(http, EXAMPLE, 0).json()["total_feedbacks"] == 3
        retries = api.until_every_worker(
            lambda client: client.post("/feedback", json=receipt), at_least=6
        )
        assert len({worker_of(again) for again in retries}) == 2
        for again in retries:
            assert (again.status_code, again.json()) == (200, first.json())
        changed = http.post("/feedback", json={**receipt, "actual": answer["prediction"]})
        assert changed.status_code == 422
        assert changed.json()["field"] == "actual" and "used once" in changed.json()["rule"]
        # An Idempotency-Key header is no longer needed; one sent is still checked.
        too_long = http.post("/feedback", json=receipt, headers={"Idempotency-Key": "k" * 201})
        assert too_long.status_code == 400 and too_long.json()["field"] == "Idempotency-Key"
        info = http.get("/model").json()
    assert info["feedback_total"] == 3
    assert info["retrain_waiting"] == 1  # the replays of row 2 asked for no second retrain
    frame = feedback_store(api.settings).read().frame
    assert len(frame) == 3
    row = frame.iloc[1]
    assert (row["Sleep_Duration"], row["Stress_Level"]) == (4.25, 9)
    assert row["prediction"] == answer["prediction"] and row["actual"] == 1 - answer["prediction"]
    assert row["probability"] == answer["probability"]
    assert row["model_version"] == answer["model_version"]


def test_tampered_foreign_expired_and_malformed_receipts_are_refused(
    start_api: ApiServers,
) -> None:
    api = start_api.start(receipt_key=RECEIPT_KEY, receipt_max_age="3600")
    other = start_api.start(receipt_key=RECEIPT_KEY.upper())
    signer = ReceiptSigner(RECEIPT_KEY.encode())
    values = list(EXAMPLE.values())
    now = int(time.time())
    with httpx.Client(base_url=other.url, timeout=10) as http:
        foreign = str(_receipt(http)["prediction_id"])
    with httpx.Client(base_url=api.url, timeout=10) as http:
        receipt = base64.b64decode(str(_receipt(http)["prediction_id"]))
        # The payload says prediction 1 where the server said 0 (or the reverse): re-encoded.
        forged = base64.b64decode(signer.issue(values, 1, 0.99, "v0001", now))
        cases = {
            "altered payload": receipt_text(forged[:-16] + receipt[-16:]),
            "altered mac": receipt_text(receipt[:-2] + b"AA"),
            "from another deployment": foreign,
            "expired": signer.issue(values, 0, 0.2, "v0001", now - 3601),
            "from the future": signer.issue(values, 0, 0.2, "v0001", now + 3600),
            "not a receipt": "hello",
            "too long": "r1." + "A" * 2000,
        }
        for case, prediction_id in cases.items():
            answer = http.post("/feedback", json={"prediction_id": prediction_id, "actual": 1})
            status, field, rule = _refusal(answer)
            assert (status, field) == (400, "prediction_id"), (case, answer.text)
            assert rule, case
        expired = http.post("/feedback", json={"prediction_id": cases["expired"], "actual": 1})
        assert "RECEIPT_MAX_AGE" in expired.json()["rule"]
        # A receipt made with the server's key and an age within the limit is taken.
        fresh = signer.issue(values, 0, 0.2, "v0001", now - 3500)
        assert http.post("/feedback", json={"prediction_id": fresh, "actual": 1}).status_code == 200
    assert feedback_store(api.settings).count() == 1


def test_a_receipt_from_another_replica_and_each_batch_row_is_taken(
    start_api: ApiServers,
) -> None:
    # Two replicas share nothing but the signing key (as in compose, swarm and kubernetes).
    issuing = start_api.start()
    taking = start_api.start(workers=2)
    rows = [EXAMPLE, {**EXAMPLE, "Sleep_Duration": 3.0}, {**EXAMPLE, "Age": 40}]
    with httpx.Client(base_url=issuing.url, timeout=10) as http:
        single = str(_receipt(http)["prediction_id"])
        batch = http.post("/predict/batch", json={"instances": rows}).json()
    assert len(batch["prediction_ids"]) == 3 and len(set(batch["prediction_ids"])) == 3
    with httpx.Client(base_url=taking.url, timeout=10) as http:
        for prediction_id in [single, *batch["prediction_ids"]]:
            answer = http.post("/feedback", json={"prediction_id": prediction_id, "actual": 1})
            assert answer.status_code == 200, answer.text
    frame = feedback_store(taking.settings).read().frame
    assert list(frame["Sleep_Duration"])[1:] == [6.5, 3.0, 6.5]
    assert list(frame["Age"])[1:] == [21, 21, 40]
    assert list(frame["prediction"])[1:] == batch["predictions"]
    assert feedback_store(issuing.settings).count() == 0


def test_the_old_body_shape_is_refused_by_name(start_api: ApiServers) -> None:
    api = start_api.start()
    with httpx.Client(base_url=api.url, timeout=10) as http:
        old = http.post("/feedback", json={"features": EXAMPLE, "prediction": 1, "actual": 0})
        assert _refusal(old)[:2] == (400, "features")
        assert "prediction_id" in old.json()["detail"]
        receipt = _receipt(http)["prediction_id"]
        mixed = http.post(
            "/feedback", json={"prediction_id": receipt, "prediction": 1, "actual": 0}
        )
        assert _refusal(mixed)[:2] == (400, "prediction")
        missing = http.post("/feedback", json={"actual": 0})
        assert _refusal(missing)[:2] == (400, "prediction_id")
    assert feedback_store(api.settings).count() == 0


def test_feedback_beyond_the_rate_gets_429_then_recovers(start_api: ApiServers) -> None:
    api = start_api.start(feedback_rate_per_minute="60", feedback_burst="3")
    with httpx.Client(base_url=api.url, timeout=10) as http:
        receipts = [str(_receipt(http)["prediction_id"]) for _ in range(5)]
        statuses = [
            http.post("/feedback", json={"prediction_id": r, "actual": 0}) for r in receipts[:4]
        ]
        assert [a.status_code for a in statuses] == [200, 200, 200, 429]
        refused = statuses[3]
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"] == "too_many_requests"
        assert "FEEDBACK_RATE_PER_MINUTE" in refused.json()["detail"]
        # Predictions are never limited; one token back a second.
        assert http.post("/predict", json={"features": EXAMPLE}).status_code == 200
        time.sleep(1.1)
        again = http.post("/feedback", json={"prediction_id": receipts[3], "actual": 0})
        assert again.status_code == 200 and again.json()["total_feedbacks"] == 4
        # The typed client waits out the 429 (Retry-After) and gets through.
        with MindPulseClient(api.url) as client:
            started = time.monotonic()
            assert client.feedback(receipts[4], 1).total_feedbacks == 5
            assert time.monotonic() - started >= 0.5
        metrics = http.get("/metrics").text
    assert "mindpulse_feedback_rate_limited_total 2.0" in metrics
    assert feedback_store(api.settings).count() == 5


def test_the_limiter_refills_and_forgets_only_clients_without_debt() -> None:
    now = [0.0]
    limit = ClientRateLimit(60, 2, clock=lambda: now[0], max_clients=3)
    assert [limit.take("a") for _ in range(2)] == [None, None]
    assert limit.take("a") == pytest.approx(1.0)
    now[0] = 0.5
    assert limit.take("a") == pytest.approx(0.5)  # a refused try costs nothing
    now[0] = 1.0
    assert limit.take("a") is None
    assert limit.take("b") is None and limit.take("c") is None
    now[0] = 10.0  # b and c are full again, a is too: any may go; a new client fits
    assert limit.take("d") is None
    assert retry_after(0.01) == "1" and retry_after(1.2) == "2"
    assert ClientRateLimit(0, 1).take("a") is None  # 0: no limit


def test_one_answerer_gives_each_answer_its_own_receipt_and_counts_its_class(
    trained_settings: Settings,
) -> None:
    """The answerer /predict makes once per model and second: the same profile twice gets two
    receipts, each saying exactly what was answered, when, and by which version."""
    loaded = model_store(trained_settings).load_scorer()
    signer = ReceiptSigner(RECEIPT_KEY.encode())
    profile = profile_from_mapping(EXAMPLE)
    before = list(metrics.PENDING_BY_CLASS)
    answer = row_answerer(loaded, signer, issued_at=1_800_000_000)
    first, second = answer(profile), answer(profile)
    assert first.prediction_id != second.prediction_id
    expected = loaded.scorer.score_profile(profile)
    for given in (first, second):
        assert (given.probability, given.prediction) == (expected, int(expected > 0.5))
        assert given.model_version == loaded.version
        receipt = signer.redeem(receipt_text(given.prediction_id), 1_800_000_001)
        assert (receipt.profile, receipt.issued_at) == (profile, 1_800_000_000)
        assert (receipt.probability, receipt.model_version) == (expected, loaded.version)
    after = list(metrics.PENDING_BY_CLASS)
    assert after[first.prediction] - before[first.prediction] == 2
    assert after[1 - first.prediction] == before[1 - first.prediction]
