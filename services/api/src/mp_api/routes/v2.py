"""The Open Inference Protocol (V2) REST routes, next to the API's own.

KServe, MLServer and Triton speak this protocol, so their clients (``tritonclient.http``, the
``kserve`` SDK) work unchanged against MindPulse. The model is called :data:`MODEL_NAME`; its
version is the serving model's. ``POST .../infer`` is answered by a raw ASGI route (as
``/predict`` is, see :mod:`mp_api.raw`) that decodes the tensors straight into the scorer's
columns (:mod:`mp_api.tensors`). JSON tensor data only: Triton's binary tensor extension is
refused with a 400 that says so. Errors follow the protocol, ``{"error": "<message>"}``, and
also name the ``field`` and the ``rule`` like every other error of the API.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec
import numpy as np
from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler, get, post
from litestar.types import ASGIApp, Receive, Scope, Send

from mp_api import __version__, metrics
from mp_api.body import require_json
from mp_api.problems import ApiProblem, describe_invalid_body, problem_for
from mp_api.raw import problem_answer, read_body, send_json, send_problem
from mp_api.registry import ModelRegistry
from mp_api.routes.docs import error_responses
from mp_api.services import Services
from mp_api.tensors import NUMPY_TYPES, Columns, TensorError, decode_request
from mp_core.schema import FEATURE_NAMES, SPECS_BY_NAME

MODEL_NAME: Final = "mindpulse"
PLATFORM: Final = "mindpulse_fastpath"
OUTPUTS: Final = ("prediction", "probability")
_BINARY_HEADER: Final = b"inference-header-content-length"
_MODEL: Final = "/v2/models/{name:str}"
_VERSION: Final = "/v2/models/{name:str}/versions/{version:str}"


class TensorMetadata(msgspec.Struct, frozen=True):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(msgspec.Struct, frozen=True):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(msgspec.Struct, frozen=True):
    name: str
    version: str
    extensions: list[str]


class Live(msgspec.Struct, frozen=True):
    live: bool


class Ready(msgspec.Struct, frozen=True):
    ready: bool


class ModelReady(msgspec.Struct, frozen=True):
    name: str
    ready: bool


class InputTensor(msgspec.Struct, frozen=True):
    """One input (documentation of the body; the raw route decodes with mp_api.tensors)."""

    name: str
    shape: list[int]
    datatype: Literal[tuple(NUMPY_TYPES)]  # type: ignore[valid-type]
    data: list[Any]
    parameters: dict[str, Any] | None = None


class OutputRequest(msgspec.Struct, frozen=True):
    name: Literal[OUTPUTS]  # type: ignore[valid-type]
    parameters: dict[str, Any] | None = None


class InferenceRequest(msgspec.Struct, frozen=True):
    """``inputs``: the nine features as named tensors, or one BYTES tensor of shape [N, 9]."""

    inputs: list[InputTensor]
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[OutputRequest] | None = None


class OutputTensor(msgspec.Struct, frozen=True):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any]


class InferenceResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    model_name: str
    model_version: str
    outputs: list[OutputTensor]
    id: str | None = None


def _tensor(name: str) -> TensorMetadata:
    spec = SPECS_BY_NAME[name]
    datatype = {"category": "BYTES", "int": "INT64", "float": "FP64"}[spec.kind]
    return TensorMetadata(name=name, datatype=datatype, shape=[-1])


_INPUTS: Final = [_tensor(name) for name in FEATURE_NAMES]
_OUTPUTS: Final = [
    TensorMetadata(name="prediction", datatype="INT64", shape=[-1]),
    TensorMetadata(name="probability", datatype="FP64", shape=[-1]),
]


def protocol_problem(problem: ApiProblem) -> ApiProblem:
    """The same problem with the protocol's ``error`` (the message) in place of the code."""
    body = problem.body
    return ApiProblem(
        problem.status,
        body.detail,
        field=body.field,
        rule=body.rule,
        path=body.path,
        error=body.detail,
        headers=problem.headers,
    )


def accept_json_or_none(content_type: str) -> None:
    """The protocol's clients may send no Content-Type; anything sent must be JSON."""
    if content_type:
        require_json(content_type)


def metric_paths() -> frozenset[str]:
    """The concrete paths of the served model, so metrics label them instead of ``other``."""
    model = f"/v2/models/{MODEL_NAME}"
    return frozenset(
        {"/v2", "/v2/health/live", "/v2/health/ready", model, f"{model}/ready", f"{model}/infer"}
    )


def _check_model(registry: ModelRegistry, name: str, version: str | None) -> Any:
    """The serving model if ``name`` (and ``version``, when given) is what is served."""
    if name != MODEL_NAME:
        raise ApiProblem(
            404,
            f"unknown model {name!r}: this server serves {MODEL_NAME!r}",
            field="model_name",
            rule=f"must be {MODEL_NAME}",
            error=f"unknown model {name!r}: this server serves {MODEL_NAME!r}",
        )
    loaded = registry.current()
    if version is not None and version != loaded.version:
        detail = f"model {name!r} has no version {version!r} (serving {loaded.version!r})"
        raise ApiProblem(
            404, detail, field="model_version", rule=f"must be {loaded.version}", error=detail
        )
    return loaded


def _invalid(exc: Exception) -> ApiProblem:
    if isinstance(exc, TensorError):
        return ApiProblem(400, str(exc), field=exc.field, rule=exc.rule, path=exc.path)
    assert isinstance(exc, msgspec.ValidationError | msgspec.DecodeError)
    return describe_invalid_body(exc)


def _answerer(services: Services) -> Any:
    """``(scope, body) -> answer bytes`` for the infer route of the served model."""
    registry = services.registry
    max_batch = services.settings.max_batch
    encode = msgspec.json.encode

    def answer(scope: Scope, body: bytes) -> bytes:
        params = scope["path_params"]
        loaded = _check_model(registry, params["name"], params.get("version"))
        try:
            columns = decode_request(body)
        except (TensorError, msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise _invalid(exc) from None
        if columns.rows > max_batch:
            raise ApiProblem(
                413,
                f"{columns.rows} rows sent; at most {max_batch} per request (MAX_BATCH)",
                field="inputs",
                rule=f"at most {max_batch} rows",
                path="$.inputs",
            )
        return encode(_respond(loaded, columns))

    return answer


def _infer_route(answer: Any, limit: int) -> Any:
    """Route middleware answering ``.../infer`` from the raw body (see :mod:`mp_api.raw`)."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                if any(name == _BINARY_HEADER for name, _ in scope["headers"]):
                    raise ApiProblem(
                        400,
                        "binary tensor data is not supported: send the tensors as JSON data",
                        field="Inference-Header-Content-Length",
                        rule="JSON tensor data only (no binary extension)",
                    )
                payload = answer(scope, await read_body(scope, receive, limit, accept_json_or_none))
            except Exception as exc:
                await send_problem(send, protocol_problem(problem_answer(scope, exc)))
                return
            await send_json(send, 200, payload)

        return serve

    return middleware


def _respond(loaded: Any, columns: Columns) -> InferenceResponse:
    probability = np.asarray(loaded.scorer.score_codes(columns.numeric, columns.codes))
    return inference_response(loaded.version, columns, probability)


def inference_response(
    version: str, columns: Columns, probability: np.ndarray
) -> InferenceResponse:
    """The answer to ``columns`` scored as ``probability`` by model ``version`` (counted)."""
    labels = (probability > 0.5).astype(np.int64)  # the rule of fastpath.predicted_class
    n = columns.rows
    metrics.count_predictions(int(labels.sum()), n)
    metrics.BATCH_ROWS.observe(n)
    wanted = columns.outputs
    if wanted is not None:
        unknown = [name for name in wanted if name not in OUTPUTS]
        if unknown:
            detail = (
                f"outputs: unknown output {unknown[0]!r}; the outputs are prediction, probability"
            )
            raise ApiProblem(
                400, detail, field=unknown[0], rule="one of prediction, probability",
                path="$.outputs",
            )  # fmt: skip
    tensors = []
    if wanted is None or "prediction" in wanted:
        tensors.append(OutputTensor("prediction", "INT64", [n], labels.tolist()))
    if wanted is None or "probability" in wanted:
        tensors.append(OutputTensor("probability", "FP64", [n], probability.tolist()))
    return InferenceResponse(
        model_name=MODEL_NAME, model_version=version, outputs=tensors, id=columns.request_id
    )


def build(services: Services) -> list[HTTPRouteHandler]:
    registry = services.registry
    answer = _answerer(services)
    limit = services.config.batch_body_bytes(services.settings.max_batch)

    def v2_errors(call: Any) -> Any:
        try:
            return call()
        except Exception as exc:
            problem = problem_for(exc)
            if problem is None:
                raise
            raise protocol_problem(problem) from None

    @get("/v2", summary="V2 server metadata", tags=["open inference protocol"])
    async def server_metadata() -> ServerMetadata:
        return ServerMetadata(name=MODEL_NAME, version=__version__, extensions=[])

    @get("/v2/health/live", summary="V2 server live", tags=["open inference protocol"])
    async def live() -> Live:
        return Live(live=True)

    @get(
        "/v2/health/ready",
        summary="V2 server ready: 200 with a model loaded, 503 otherwise",
        tags=["open inference protocol"],
    )
    async def ready() -> Response[Ready]:
        loaded = registry.peek()
        return Response(Ready(ready=loaded is not None), status_code=200 if loaded else 503)

    @get(
        [_MODEL, _VERSION],
        summary="V2 model metadata: the nine input tensors and two outputs",
        responses=error_responses(503),
        tags=["open inference protocol"],
    )
    async def model_metadata(name: str, version: str | None = None) -> ModelMetadata:
        loaded = v2_errors(lambda: _check_model(registry, name, version))
        return ModelMetadata(
            name=MODEL_NAME,
            versions=[loaded.version],
            platform=PLATFORM,
            inputs=_INPUTS,
            outputs=_OUTPUTS,
        )

    @get(
        [f"{_MODEL}/ready", f"{_VERSION}/ready"],
        summary="V2 model ready: 200 when it serves, 503 otherwise",
        tags=["open inference protocol"],
    )
    async def model_ready(name: str, version: str | None = None) -> Response[ModelReady]:
        try:
            v2_errors(lambda: _check_model(registry, name, version))
        except ApiProblem as problem:
            if problem.status != 503:
                raise
            return Response(ModelReady(name=name, ready=False), status_code=503)
        return Response(ModelReady(name=name, ready=True))

    @post(
        [f"{_MODEL}/infer", f"{_VERSION}/infer"],
        status_code=200,
        summary="V2 inference: named tensors (BYTES categories) or one [N, 9] BYTES tensor",
        description=(
            "Inputs: Age, Gender, Department, CGPA, Sleep_Duration, Study_Hours, "
            "Social_Media_Hours, Physical_Activity, Stress_Level, each of shape [N] or [N, 1]; "
            "or one BYTES tensor of shape [N, 9] in that column order. Outputs: prediction "
            "(INT64) and probability (FP64). Educational estimates, not diagnoses."
        ),
        request_max_body_size=limit,
        responses=error_responses(400, 413, 415, 503),
        tags=["open inference protocol"],
        middleware=[_infer_route(answer, limit)],
    )
    async def infer(
        request: Request[Any, Any, Any],
        data: InferenceRequest,
        name: str,
        version: str | None = None,
    ) -> Response[bytes]:
        # Documents the route; its requests are answered by the raw route middleware first.
        payload = v2_errors(lambda: answer(request.scope, msgspec.json.encode(data)))
        return Response(payload, media_type="application/json")

    return [server_metadata, live, ready, model_metadata, model_ready, infer]
