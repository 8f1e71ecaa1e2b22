"""``POST /predict`` and ``POST /predict/batch``."""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any

import numpy as np
from litestar.handlers import HTTPRouteHandler, post
from litestar.params import Body

from mp_api import metrics
from mp_api.body import json_body
from mp_api.problems import ApiProblem
from mp_api.routes.docs import PROFILE_EXAMPLE, error_responses, example
from mp_api.services import Services
from mp_api.wire import BatchPrediction, BatchRequest, BatchRows, Prediction, PredictRequest
from mp_core.fastpath import CATEGORY_LEVELS, predicted_class
from mp_core.schema import NUMERIC_FEATURES

_numeric_of = attrgetter(*NUMERIC_FEATURES)
_GENDER_CODE = {level: i for i, level in enumerate(CATEGORY_LEVELS["Gender"])}
_DEPARTMENT_CODE = {level: i for i, level in enumerate(CATEGORY_LEVELS["Department"])}

PredictBody = Annotated[
    PredictRequest,
    Body(
        title="One student's answers",
        examples=[example("a typical student", {"features": PROFILE_EXAMPLE})],
    ),
]
BatchBody = Annotated[
    BatchRequest,
    Body(
        title="Up to MAX_BATCH students",
        examples=[
            example(
                "two students",
                {"instances": [PROFILE_EXAMPLE, {**PROFILE_EXAMPLE, "Sleep_Duration": 4.5}]},
            )
        ],
    ),
]


def score_rows(scorer: Any, rows: list[Any]) -> np.ndarray:
    """Probabilities for decoded rows, built as columns in one pass each."""
    n = len(rows)
    numeric = np.array([_numeric_of(r) for r in rows], dtype=np.float64).reshape(n, 7)
    gender = np.fromiter((_GENDER_CODE[r.Gender] for r in rows), np.int64, n)
    department = np.fromiter((_DEPARTMENT_CODE[r.Department] for r in rows), np.int64, n)
    return np.asarray(scorer.score_codes(numeric, (gender, department)))


def build(services: Services) -> list[HTTPRouteHandler]:
    registry = services.registry
    max_batch = services.settings.max_batch

    @post(
        "/predict",
        dto=json_body(PredictRequest),
        return_dto=None,
        status_code=200,
        summary="Predict depression risk for one student",
        description="Educational estimate, not a diagnosis.",
        responses=error_responses(400, 413, 415, 503),
        tags=["predict"],
    )
    async def predict(data: PredictBody) -> Prediction:
        loaded = registry.current()
        probability = loaded.scorer.score_profile(data.features)
        label = predicted_class(probability)
        metrics.count_predictions(label, 1)
        return Prediction(prediction=label, probability=probability, model_version=loaded.version)

    @post(
        "/predict/batch",
        dto=json_body(BatchRequest, decode_as=BatchRows),
        return_dto=None,
        status_code=200,
        request_max_body_size=services.config.batch_body_bytes(max_batch),
        summary=f"Predict for up to {max_batch} students at once",
        description=(
            f"At most MAX_BATCH ({max_batch}) rows: more is answered with 413. "
            "Educational estimates, not diagnoses."
        ),
        responses=error_responses(400, 413, 415, 503),
        tags=["predict"],
    )
    async def predict_batch(data: BatchBody) -> BatchPrediction:
        rows = data.instances
        if len(rows) > max_batch:
            raise ApiProblem(
                413,
                f"{len(rows)} rows sent; at most {max_batch} per request (MAX_BATCH)",
                field="instances",
                rule=f"at most {max_batch} rows",
                path="$.instances",
            )
        loaded = registry.current()
        probability = score_rows(loaded.scorer, rows)
        labels = (probability > 0.5).astype(np.int64)  # the rule of fastpath.predicted_class
        positives = int(labels.sum())
        metrics.count_predictions(positives, len(rows))
        metrics.BATCH_ROWS.observe(len(rows))
        return BatchPrediction(
            predictions=labels.tolist(),
            probabilities=probability.tolist(),
            model_version=loaded.version,
        )

    return [predict, predict_batch]
