"""The Open Inference Protocol (V2) routes, driven by Triton's own HTTP client against a real
server: answers equal ``/predict/batch``, bad tensors get a 400 naming the input and the rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from mp_core.ml.synthetic import generate
from mp_core.schema import FEATURE_NAMES, SPECS_BY_NAME
from testsupport.api import ApiServer, ApiServers

MODEL = "mindpulse"
MAX_BATCH = 200
DATATYPES = {"category": "BYTES", "int": "INT64", "float": "FP64"}


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    return module_api.start(workers=1, max_batch=str(MAX_BATCH), retrain_threshold="100000")


@pytest.fixture(scope="module")
def client(api: ApiServer) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(api.url.removeprefix("http://"), network_timeout=10.0)
    yield client
    client.close()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    frame = generate(40, seed=7)
    return [{name: record[name] for name in FEATURE_NAMES} for record in frame.to_dict("records")]


def _named_inputs(rows: list[dict[str, Any]], **datatypes: str) -> list[triton.InferInput]:
    inputs = []
    for name in FEATURE_NAMES:
        datatype = datatypes.get(name, DATATYPES[SPECS_BY_NAME[name].kind])
        values = [row[name] for row in rows]
        array = np.array(values, dtype=object if datatype == "BYTES" else None)
        tensor = triton.InferInput(name, [len(rows)], datatype)
        if datatype == "BYTES":
            tensor.set_data_from_numpy(array.astype(object), binary_data=False)
        else:
            tensor.set_data_from_numpy(array.astype(_numpy(datatype)), binary_data=False)
        inputs.append(tensor)
    return inputs


def _numpy(datatype: str) -> Any:
    return {"INT64": np.int64, "INT32": np.int32, "FP64": np.float64, "FP32": np.float32}[datatype]


def _json_outputs(*names: str) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=False) for name in names]


def _batch(api: ApiServer, rows: list[dict[str, Any]]) -> dict[str, Any]:
    response = httpx.post(f"{api.url}/predict/batch", json={"instances": rows}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_health_and_metadata(client: triton.InferenceServerClient, api: ApiServer) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert not client.is_model_ready("some-other-model")
    metadata = client.get_model_metadata(MODEL)
    assert metadata["name"] == MODEL
    assert metadata["versions"] == ["v0001"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        (name, DATATYPES[SPECS_BY_NAME[name].kind], [-1]) for name in FEATURE_NAMES
    ]
    assert {t["name"] for t in metadata["outputs"]} == {"prediction", "probability"}
    assert client.get_model_metadata(MODEL, model_version="v0001")["name"] == MODEL
    assert client.get_server_metadata()["name"] == MODEL
    with pytest.raises(InferenceServerException, match="no version 'v0099'"):
        client.get_model_metadata(MODEL, model_version="v0099")


def test_named_tensors_answer_like_the_batch_route(
    client: triton.InferenceServerClient, api: ApiServer, rows: list[dict[str, Any]]
) -> None:
    result = client.infer(
        MODEL,
        _named_inputs(rows),
        outputs=_json_outputs("prediction", "probability"),
        request_id="req-7",
    )
    expected = _batch(api, rows)
    assert result.as_numpy("probability").tolist() == expected["probabilities"]
    assert result.as_numpy("prediction").tolist() == expected["predictions"]
    response = result.get_response()
    assert response["model_name"] == MODEL
    assert response["model_version"] == expected["model_version"]
    assert response["id"] == "req-7"
    assert [o["shape"] for o in response["outputs"]] == [[len(rows)], [len(rows)]]


def test_all_outputs_when_none_requested_and_narrower_types(
    client: triton.InferenceServerClient, api: ApiServer, rows: list[dict[str, Any]]
) -> None:
    # No outputs named: tritonclient asks for binary outputs, the server answers JSON data.
    result = client.infer(MODEL, _named_inputs(rows, Age="INT32", Stress_Level="INT32"))
    expected = _batch(api, rows)
    assert result.as_numpy("prediction").tolist() == expected["predictions"]
    assert result.as_numpy("probability").tolist() == expected["probabilities"]
    only = client.infer(MODEL, _named_inputs(rows), outputs=_json_outputs("probability"))
    assert [o["name"] for o in only.get_response()["outputs"]] == ["probability"]


def test_one_row_major_bytes_tensor(
    client: triton.InferenceServerClient, api: ApiServer, rows: list[dict[str, Any]]
) -> None:
    table = np.array([[str(row[name]) for name in FEATURE_NAMES] for row in rows], dtype=object)
    tensor = triton.InferInput("features", list(table.shape), "BYTES")
    tensor.set_data_from_numpy(table, binary_data=False)
    result = client.infer(MODEL, [tensor], outputs=_json_outputs("probability", "prediction"))
    expected = _batch(api, rows)
    assert result.as_numpy("probability").tolist() == expected["probabilities"]
    assert result.as_numpy("prediction").tolist() == expected["predictions"]


def test_nested_data_and_no_content_type(api: ApiServer, rows: list[dict[str, Any]]) -> None:
    import json

    body = {
        "inputs": [
            {
                "name": name,
                "shape": [2, 1],
                "datatype": DATATYPES[SPECS_BY_NAME[name].kind],
                "data": [[row[name]] for row in rows[:2]],
            }
            for name in FEATURE_NAMES
        ]
    }
    response = httpx.post(
        f"{api.url}/v2/models/{MODEL}/infer", content=json.dumps(body).encode(), timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][1]["data"] == _batch(api, rows[:2])["probabilities"]
    wrong = httpx.post(
        f"{api.url}/v2/models/{MODEL}/infer",
        content=b"{}",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert wrong.status_code == 415
    assert "application/json" in wrong.json()["error"]


def _refused(
    client: triton.InferenceServerClient, inputs: list[triton.InferInput], **kwargs: Any
) -> str:
    with pytest.raises(InferenceServerException) as caught:
        client.infer(MODEL, inputs, outputs=_json_outputs("probability"), **kwargs)
    assert caught.value.status() == "400", caught.value
    return str(caught.value.message())


def test_bad_tensors_are_refused_naming_input_and_rule(
    client: triton.InferenceServerClient, rows: list[dict[str, Any]]
) -> None:
    young = [dict(row) for row in rows]
    young[3]["Age"] = 12
    message = _refused(client, _named_inputs(young))
    assert message.startswith("Age row 3: 12")
    assert "whole number from 16 to 100" in message

    unknown = [dict(row) for row in rows]
    unknown[5]["Department"] = "Astrology"
    message = _refused(client, _named_inputs(unknown))
    assert "Department row 5: 'Astrology'" in message and "Engineering" in message

    assert "datatype BYTES is not allowed" in _refused(client, _wrong_type(rows))
    assert "missing Stress_Level" in _refused(client, _named_inputs(rows)[:-1])

    short = _named_inputs(rows)
    short[0] = triton.InferInput("Age", [2], "INT64")
    short[0].set_data_from_numpy(np.array([20, 21], dtype=np.int64), binary_data=False)
    assert "40 rows, the other inputs have 2" in _refused(client, short)

    extra = triton.InferInput("Mood", [len(rows)], "FP64")
    extra.set_data_from_numpy(np.ones(len(rows)), binary_data=False)
    assert "unknown input 'Mood'" in _refused(client, [*_named_inputs(rows), extra])

    binary = _named_inputs(rows)
    binary[3].set_data_from_numpy(np.array([r["CGPA"] for r in rows]), binary_data=True)
    assert "binary tensor data is not supported" in _refused(client, binary)


def _wrong_type(rows: list[dict[str, Any]]) -> list[triton.InferInput]:
    inputs = _named_inputs(rows)
    index = FEATURE_NAMES.index("CGPA")
    inputs[index] = triton.InferInput("CGPA", [len(rows)], "BYTES")
    inputs[index].set_data_from_numpy(
        np.array([str(r["CGPA"]) for r in rows], dtype=object), binary_data=False
    )
    return inputs


def test_shape_data_mismatch_nan_and_size_limits(
    api: ApiServer, rows: list[dict[str, Any]]
) -> None:
    url = f"{api.url}/v2/models/{MODEL}/infer"

    def post(body: Any) -> httpx.Response:
        return httpx.post(url, json=body, timeout=10)

    def tensors(n: int, **override: Any) -> list[dict[str, Any]]:
        found = []
        for name in FEATURE_NAMES:
            kind = DATATYPES[SPECS_BY_NAME[name].kind]
            found.append(
                {"name": name, "shape": [n], "datatype": kind, "data": [rows[0][name]] * n}
            )
            found[-1].update(override.get(name, {}))
        return found

    mismatch = post({"inputs": tensors(2, CGPA={"shape": [3]})})
    assert mismatch.status_code == 400
    assert mismatch.json()["field"] == "CGPA"
    assert "holds 3 values, data has 2" in mismatch.json()["error"]

    not_a_number = post({"inputs": tensors(1, Study_Hours={"data": ["nan"], "datatype": "FP64"})})
    assert not_a_number.status_code == 400
    assert not_a_number.json()["path"].startswith("$.inputs[")

    text_nan = {"name": "features", "shape": [1, 9], "datatype": "BYTES"}
    text_nan["data"] = [str(rows[0][name]) for name in FEATURE_NAMES]
    text_nan["data"][3] = "nan"  # CGPA
    refused = post({"inputs": [text_nan]})
    assert refused.status_code == 400
    assert refused.json()["field"] == "CGPA"

    too_many = post({"inputs": tensors(MAX_BATCH + 1)})
    assert too_many.status_code == 413
    assert too_many.json()["field"] == "inputs"

    unknown_output = post({"inputs": tensors(1), "outputs": [{"name": "explanation"}]})
    assert unknown_output.status_code == 400
    assert unknown_output.json()["field"] == "explanation"

    other_model = httpx.post(
        f"{api.url}/v2/models/resnet/infer", json={"inputs": tensors(1)}, timeout=10
    )
    assert other_model.status_code == 404
    assert "resnet" in other_model.json()["error"]

    not_json = httpx.post(url, content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["field"] == "body"


def test_metrics_name_the_v2_route(api: ApiServer, client: triton.InferenceServerClient) -> None:
    client.is_server_live()
    text = httpx.get(f"{api.url}/metrics", timeout=10).text
    assert 'route="/v2/models/mindpulse/infer"' in text
    assert 'route="/v2/health/live"' in text


def test_without_a_model_ready_is_false_and_infer_is_503(start_api: ApiServers) -> None:
    api = start_api.start(model="none", wait="live")
    client = triton.InferenceServerClient(api.url.removeprefix("http://"), network_timeout=10.0)
    try:
        assert client.is_server_live()
        assert not client.is_server_ready()
        assert not client.is_model_ready(MODEL)
        tensor = triton.InferInput("Age", [1], "INT64")
        tensor.set_data_from_numpy(np.array([20], dtype=np.int64), binary_data=False)
        with pytest.raises(InferenceServerException) as caught:
            client.infer(MODEL, [tensor], outputs=_json_outputs("probability"))
        assert caught.value.status() == "503"
        assert "no model" in str(caught.value.message())
    finally:
        client.close()
