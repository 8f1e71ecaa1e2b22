"""Error mapping of the client, over httpx's in-memory transport (the server side is tested
against the real API in services/api)."""

import base64
import json

import httpx
import pytest

from mp_core.client import ApiError, ApiUnavailable, MindPulseClient
from mp_core.receipts import ReceiptSigner

PROFILE = {
    "Age": 21,
    "Gender": "Male",
    "Department": "Law",
    "CGPA": 3.0,
    "Sleep_Duration": 7.0,
    "Study_Hours": 3.0,
    "Social_Media_Hours": 2.0,
    "Physical_Activity": 100.0,
    "Stress_Level": 4,
}


def client_for(handler):  # type: ignore[no-untyped-def]
    return MindPulseClient("http://api.test", transport=httpx.MockTransport(handler))


def test_predict_decodes_the_answer_and_sends_the_features() -> None:
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["body"] = request.content
        return httpx.Response(
            200,
            json={
                "prediction": 1,
                "probability": 0.8,
                "model_version": "v0002",
                "prediction_id": "r1.p.m",
            },
        )

    with client_for(handler) as client:
        result = client.predict(PROFILE)
    assert (result.prediction, result.probability, result.model_version) == (1, 0.8, "v0002")
    assert result.prediction_id == "r1.p.m"
    assert b'"Stress_Level":4' in seen["body"].replace(b" ", b"")


def test_feedback_sends_the_receipt_and_waits_out_a_429() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "x"})
        ack = {"status": "ok", "total_feedbacks": 7, "retrain_triggered": False}
        return httpx.Response(200, json=ack)

    receipt = ReceiptSigner(b"k" * 32).issue(list(PROFILE.values()), 1, 0.8, "v0002", 1)
    with client_for(handler) as client:
        assert client.feedback("r1.payload.mac", 1).total_feedbacks == 7
        client.feedback(receipt, 0)
    assert len(sent) == 3
    assert json.loads(sent[1].content) == {"prediction_id": "r1.payload.mac", "actual": 1}
    assert sent[1].headers["Idempotency-Key"] == "mac"
    # A receipt of the current format: its mac in hex, as the server keys the row on it.
    assert sent[2].headers["Idempotency-Key"] == base64.b64decode(receipt)[-16:].hex()


def test_a_validation_error_carries_field_and_rule() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "error": "invalid_request",
                "field": "Age",
                "rule": ">= 16",
                "detail": "Age: >= 16",
            },
        )

    with client_for(handler) as client, pytest.raises(ApiError) as caught:
        client.predict(PROFILE)
    assert caught.value.status == 400
    assert caught.value.field == "Age"
    assert not isinstance(caught.value, ApiUnavailable)


def test_503_and_connection_errors_are_unavailable() -> None:
    with client_for(
        lambda _r: httpx.Response(
            503, json={"status": "unavailable", "reason": "no model: run `just train`"}
        )
    ) as client:
        health = client.health()
        assert not health.ready and "just train" in (health.reason or "")
        with pytest.raises(ApiUnavailable):
            client.predict(PROFILE)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        client_for(refuse) as client,
        pytest.raises(ApiUnavailable, match="cannot connect") as caught,
    ):
        client.model_info()
    assert caught.value.reason == "connect"


def test_admin_calls_send_the_bearer_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        ok = request.headers.get("authorization") == "Bearer tok"
        return httpx.Response(
            202 if ok else 401, json={"status": "started"} if ok else {"detail": "bad token"}
        )

    with MindPulseClient(
        "http://api.test", admin_token="tok", transport=httpx.MockTransport(handler)
    ) as client:
        assert client.retrain()["status"] == "started"
        with pytest.raises(ApiError) as caught:
            client.rollback(token="wrong")
    assert caught.value.status == 401
