"""Every endpoint's contract against a real two-worker server, and every kind of bad input.

Metrics summed over the workers and answers told apart by worker: test_every_worker.py.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import msgspec
import pytest

from mp_core.client import MindPulseClient
from mp_core.schema import FEATURE_NAMES
from mp_core.stores.feedback_files import FeedbackStore
from testsupport.api import ADMIN_TOKEN, EXAMPLE, ApiServer, ApiServers, predict_and_feed_back

MAX_BATCH = 50


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    return module_api.start(workers=2, max_batch=str(MAX_BATCH), retrain_threshold="100000")


@pytest.fixture(scope="module")
def http(api: ApiServer) -> Any:
    with httpx.Client(base_url=api.url, timeout=10) as client:
        yield client


def _profile(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE, **changes}


def test_health_and_live(http: httpx.Client) -> None:
    health = http.get("/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "model_version": "v0001",
        "algorithm": "logistic_regression",
        "reason": None,
    }
    assert http.get("/live").json() == {"status": "alive"}


def test_predict_matches_the_trained_pipeline(http: httpx.Client, api: ApiServer) -> None:
    from mp_core.stores.artifacts_files import ArtifactStore

    body = http.post("/predict", json={"features": EXAMPLE}).json()
    bundle = ArtifactStore(api.settings.artifacts_dir).load_bundle()
    import pandas as pd

    frame = pd.DataFrame([EXAMPLE])[list(FEATURE_NAMES)]
    expected = bundle.model.predict_proba(bundle.preprocessor.transform(frame))[0, 1]
    assert set(body) == {"prediction", "probability", "model_version", "prediction_id"}
    assert body["model_version"] == "v0001"
    assert math.isclose(body["probability"], expected, rel_tol=1e-9)
    assert body["prediction"] == int(expected > 0.5)


def test_batch_matches_single_predictions(http: httpx.Client) -> None:
    profiles = [
        _profile(Sleep_Duration=float(h), Stress_Level=s, Gender=g)
        for h, s, g in [(4, 9, "Male"), (8, 2, "Other"), (6, 5, "Female")]
    ]
    batch = http.post("/predict/batch", json={"instances": profiles}).json()
    singles = [http.post("/predict", json={"features": p}).json() for p in profiles]
    assert batch["model_version"] == "v0001"
    assert batch["predictions"] == [s["prediction"] for s in singles]
    for got, single in zip(batch["probabilities"], singles, strict=True):
        assert math.isclose(got, single["probability"], rel_tol=1e-12)


def test_client_round_trip(api: ApiServer) -> None:
    with MindPulseClient(api.url) as client:
        assert client.health().ready
        prediction = client.predict(EXAMPLE)
        batch = client.predict_batch([EXAMPLE, EXAMPLE])
        assert batch.predictions == [prediction.prediction] * 2
        info = client.model_info()
        assert info["version"] == "v0001" and info["serving"] is True


def test_feedback_is_stored_before_the_answer(http: httpx.Client, api: ApiServer) -> None:
    store = FeedbackStore(api.settings.prod_data_path)
    before = store.count()
    profile = _profile(Physical_Activity=777.0)
    answer = predict_and_feed_back(http, profile, 0)
    assert answer.status_code == 200
    body = answer.json()
    assert body == {"status": "ok", "total_feedbacks": before + 1, "retrain_triggered": False}
    rows = store.read().frame
    assert len(rows) == before + 1
    last = rows.iloc[-1]
    assert last["Physical_Activity"] == 777.0
    served = http.post("/predict", json={"features": profile}).json()
    assert (last["prediction"], last["actual"], last["model_version"]) == (
        served["prediction"], 0, "v0001"
    )  # fmt: skip
    assert 0.0 < last["probability"] < 1.0


def test_model_info(http: httpx.Client, api: ApiServer) -> None:
    info = http.get("/model").json()
    assert info["version"] == "v0001"
    assert info["algorithm"] == "logistic_regression"
    assert info["selection_metric"] == "f1"
    assert 0.5 < info["metrics"]["accuracy"] <= 1.0
    assert info["trained_at"].endswith("Z")
    assert info["retrain"] is None and info["retrain_running"] is False
    # The first model was trained on the base data alone: every stored feedback is new to it.
    stored = FeedbackStore(api.settings.prod_data_path).count()
    assert info["feedback_total"] == stored
    assert info["feedback_at_training"] == 0
    assert info["feedback_since_training"] == stored
    predict_and_feed_back(http, EXAMPLE, 1)
    assert http.get("/model").json()["feedback_since_training"] == stored + 1


def test_openapi_documents_bodies_with_examples(http: httpx.Client) -> None:
    schema = http.get("/schema/openapi.json").json()
    predict = schema["paths"]["/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]
    assert body["schema"]["allOf"] == [{"$ref": "#/components/schemas/PredictRequest"}]
    assert body["schema"]["examples"][0]["features"]["Age"] == 21
    assert predict["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorBody"
    )
    profile = schema["components"]["schemas"]["StudentProfile"]
    assert profile["properties"]["Age"]["minimum"] == 16
    assert set(profile["required"]) == set(FEATURE_NAMES)
    assert schema["paths"]["/retrain"]["post"]["security"] == [{"BearerToken": []}]
    assert "never a diagnosis" in schema["info"]["description"]
    assert "/bench/ceiling" not in schema["paths"]


def test_ceiling_route_is_not_mounted_by_default(http: httpx.Client) -> None:
    assert http.post("/bench/ceiling").status_code == 404


# -- bad input -------------------------------------------------------------------------------

BAD_PREDICT: list[tuple[str, Any, str, str]] = [
    ("missing field", {"features": {k: v for k, v in EXAMPLE.items() if k != "Age"}},
     "Age", "required field is missing"),
    ("unknown feature", {"features": _profile(Mood=3)}, "Mood", "unknown field"),
    ("extra top-level field", {"features": EXAMPLE, "extra": 1}, "extra", "unknown field"),
    ("missing features", {}, "features", "required field is missing"),
    ("wrong type", {"features": _profile(Age="21")}, "Age", "Expected `int`, got `str`"),
    ("float for int", {"features": _profile(Stress_Level=5.5)}, "Stress_Level", "Expected `int`"),
    ("bool for number", {"features": _profile(CGPA=True)}, "CGPA", "got `bool`"),
    ("null", {"features": _profile(CGPA=None)}, "CGPA", "got `null`"),
    ("below range", {"features": _profile(Age=15)}, "Age", "from 16 to 100"),
    ("above range", {"features": _profile(Sleep_Duration=24.5)}, "Sleep_Duration", "from 0 to 24"),
    ("negative", {"features": _profile(Physical_Activity=-1)}, "Physical_Activity", "from 0"),
    ("unknown category", {"features": _profile(Gender="Robot")}, "Gender",
     "one of Male, Female, Other"),
    ("unknown department", {"features": _profile(Department="Magic")}, "Department", "one of"),
    ("not an object", [EXAMPLE], "body", "Expected `object`"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "body", "field", "rule"), BAD_PREDICT, ids=[c[0] for c in BAD_PREDICT]
)
def test_bad_predict_bodies_name_field_and_rule(
    http: httpx.Client, case: str, body: Any, field: str, rule: str
) -> None:
    answer = http.post("/predict", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["error"] == "invalid_request"
    assert error["field"] == field
    assert rule in error["rule"]
    assert field in error["detail"] or field == "body"


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b'{"features": {"Age": NaN}}', "Age", "NaN is not allowed"),
        (b'{"features": {"CGPA": Infinity}}', "CGPA", "Infinity is not allowed"),
        (b'{"features": {"CGPA": -Infinity}}', "CGPA", "-Infinity is not allowed"),
    ],
    ids=["nan", "infinity", "minus-infinity"],
)
def test_non_finite_numbers_are_named_against_their_field(
    http: httpx.Client, raw: bytes, field: str, words: str
) -> None:
    answer = http.post("/predict", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["field"] == field
    assert words in body["rule"]
    assert "must be a " in body["rule"]  # the field's own rule follows
    assert body["path"] == f"$.features.{field}"
    assert body["errors"][0] == {"field": field, "rule": body["rule"], "path": body["path"]}


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"features": ', "Expecting value at line 1, column 14"),
        (b"not json at all", "Expecting value at line 1, column 1"),
        (b"\xff\xfe\x00", "not UTF-8 text at byte 0"),
    ],
    ids=["truncated", "text", "binary"],
)
def test_malformed_json_gets_a_truthful_rule(http: httpx.Client, raw: bytes, where: str) -> None:
    answer = http.post("/predict", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["field"] == "body"
    assert body["rule"] == f"must be valid JSON ({where})"
    assert "NaN" not in body["rule"]


def test_every_bad_field_is_listed_and_the_first_keeps_the_top_level_fields(
    http: httpx.Client,
) -> None:
    features = {**_profile(Age=15, Gender="Robot", Sleep_Duration=30), "Mood": 3}
    del features["CGPA"]
    answer = http.post("/predict", json={"features": features})
    assert answer.status_code == 400
    body = answer.json()
    listed = {e["field"]: e for e in body["errors"]}
    assert set(listed) == {"Age", "Gender", "Sleep_Duration", "Mood", "CGPA"}
    assert listed["CGPA"] == {
        "field": "CGPA",
        "rule": "required field is missing",
        "path": "$.features.CGPA",
    }
    assert "one of Male, Female, Other" in listed["Gender"]["rule"]
    assert "from 0 to 24" in listed["Sleep_Duration"]["rule"]
    first = body["errors"][0]
    assert (body["field"], body["rule"], body["path"]) == (
        first["field"],
        first["rule"],
        first["path"],
    )
    assert "4 more" in body["detail"]
    feedback = http.post("/feedback", json={"prediction_id": 2, "actual": None}).json()
    assert [e["field"] for e in feedback["errors"]] == ["prediction_id", "actual"]
    batch = http.post("/predict/batch", json={"instances": [EXAMPLE, _profile(Age=15), 3]}).json()
    assert [e["path"] for e in batch["errors"]] == ["$.instances[1].Age", "$.instances[2]"]


def test_overflowing_number_is_out_of_range(http: httpx.Client) -> None:
    raw = msgspec.json.encode({"features": EXAMPLE}).replace(b"3.2", b"1e999")
    answer = http.post("/predict", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "CGPA"


def test_empty_body(http: httpx.Client) -> None:
    answer = http.post("/predict", content=b"", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "body"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(http: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    raw = msgspec.json.encode({"features": EXAMPLE})
    for path in ("/predict", "/feedback", "/predict/batch"):
        answer = http.post(path, content=raw, headers=headers)
        assert answer.status_code == 415, (path, answer.text)
        assert answer.json()["field"] == "Content-Type"


def test_body_over_one_mebibyte_is_413(http: httpx.Client) -> None:
    raw = b'{"features": ' + b" " * (1 << 20) + msgspec.json.encode(EXAMPLE) + b"}"
    answer = http.post("/predict", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json() == {
        "error": "too_large",
        "detail": "request body too large: at most 1048576 bytes",
        "field": "body",
        "rule": "at most 1048576 bytes",
    }


def test_empty_batch_is_400(http: httpx.Client) -> None:
    answer = http.post("/predict/batch", json={"instances": []})
    assert answer.status_code == 400
    assert answer.json()["field"] == "instances"
    assert "at least one" in answer.json()["rule"]


def test_batch_over_max_batch_is_413(http: httpx.Client) -> None:
    answer = http.post("/predict/batch", json={"instances": [EXAMPLE] * (MAX_BATCH + 1)})
    assert answer.status_code == 413
    body = answer.json()
    assert body["field"] == "instances"
    assert body["rule"] == f"at most {MAX_BATCH} rows"
    ok = http.post("/predict/batch", json={"instances": [EXAMPLE] * MAX_BATCH})
    assert len(ok.json()["predictions"]) == MAX_BATCH


def test_bad_row_in_batch_names_its_index(http: httpx.Client) -> None:
    rows = [EXAMPLE, EXAMPLE, _profile(Stress_Level=11)]
    answer = http.post("/predict/batch", json={"instances": rows})
    assert answer.status_code == 400
    assert answer.json()["field"] == "Stress_Level"
    assert answer.json()["path"] == "$.instances[2].Stress_Level"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"actual": 2}, "actual"),
        ({"actual": -1}, "actual"),
        ({"actual": True}, "actual"),
        ({"actual": 0.5}, "actual"),
        ({"actual": "1"}, "actual"),
        ({"actual": None}, "actual"),
    ],
)
def test_feedback_labels_must_be_0_or_1(
    http: httpx.Client, api: ApiServer, changes: dict[str, Any], field: str
) -> None:
    before = FeedbackStore(api.settings.prod_data_path).count()
    body = {
        "prediction_id": http.post("/predict", json={"features": EXAMPLE}).json()["prediction_id"],
        "actual": 0,
        **changes,
    }
    answer = http.post("/feedback", json=body)
    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert "0 or 1" in answer.json()["rule"]
    assert FeedbackStore(api.settings.prod_data_path).count() == before


def test_feedback_with_missing_actual(http: httpx.Client) -> None:
    answer = http.post(
        "/feedback",
        json={
            "prediction_id": http.post("/predict", json={"features": EXAMPLE}).json()[
                "prediction_id"
            ]
        },
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == "actual"


def test_unknown_route_and_method(http: httpx.Client) -> None:
    assert http.get("/nothing").json()["error"] == "not_found"
    answer = http.get("/predict")
    assert answer.status_code == 405
    assert answer.json()["error"] == "method_not_allowed"


# -- admin routes ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/retrain", "/model/rollback"])
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Basic {ADMIN_TOKEN}", "Bearer", f"bearer {ADMIN_TOKEN}x"],
)
def test_admin_routes_refuse_missing_or_wrong_token(
    http: httpx.Client, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = http.post(path, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["field"] == "Authorization"


def test_rollback_with_one_version_is_a_conflict(http: httpx.Client) -> None:
    answer = http.post("/model/rollback", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 409
    assert "nothing to roll back to" in answer.json()["detail"]
    assert http.get("/health").json()["model_version"] == "v0001"
