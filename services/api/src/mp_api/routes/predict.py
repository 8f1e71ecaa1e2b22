"""``POST /predict`` and ``POST /predict/batch``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from itertools import chain, count
from operator import attrgetter
from typing import Annotated, Any

import msgspec
import numpy as np
from litestar.handlers import HTTPRouteHandler, post
from litestar.params import Body

from mp_api import metrics
from mp_api.body import json_body
from mp_api.problems import ApiProblem, describe_invalid_body
from mp_api.raw import Endpoint, coalesced_route, raw_route
from mp_api.registry import ModelRegistry
from mp_api.routes.docs import PROFILE_EXAMPLE, error_responses, example
from mp_api.services import Services
from mp_api.wire import (
    BatchPredictionAnswer,
    BatchRequest,
    BatchRows,
    PredictionAnswer,
    PredictRequest,
    PredictRow,
)
from mp_core.contract import BatchPrediction, Prediction
from mp_core.receipts import ReceiptSigner, new_nonce
from mp_core.schema import NUMERIC_FEATURES
from mp_core.scoring.fastpath import CATEGORY_LEVELS
from mp_core.stores.artifacts_files import LoadedScorer

_numeric_of = attrgetter(*NUMERIC_FEATURES)
_WIDTH = len(NUMERIC_FEATURES)
_gender_of = attrgetter("Gender")
_department_of = attrgetter("Department")
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
    """Probabilities for decoded rows: one C-level pass builds each array (no Python loop)."""
    n = len(rows)
    numeric = np.fromiter(chain.from_iterable(map(_numeric_of, rows)), np.float64, _WIDTH * n)
    gender = np.fromiter(map(_GENDER_CODE.__getitem__, map(_gender_of, rows)), np.int64, n)
    department = np.fromiter(
        map(_DEPARTMENT_CODE.__getitem__, map(_department_of, rows)), np.int64, n
    )
    return np.asarray(scorer.score_codes(numeric.reshape(n, _WIDTH), (gender, department)))


def batch_receipts(
    signer: ReceiptSigner,
    rows: list[Any],
    predictions: list[int],
    probabilities: list[float],
    version: str,
) -> list[bytes]:
    """One receipt per row (bytes: see PredictionAnswer): one clock reading and one random
    nonce, the row's index added."""
    issue, astuple = signer.issuer(version, int(time.time())), msgspec.structs.astuple
    nonce = new_nonce()
    return [
        issue(astuple(row), label, p, nonce + i)
        for i, (row, label, p) in enumerate(zip(rows, predictions, probabilities, strict=True))
    ]


RowAnswer = Callable[[Any], PredictionAnswer]
"""A validated profile in, its answer out: the class, the probability, the version, the receipt."""


def row_answerer(loaded: LoadedScorer, signer: ReceiptSigner, issued_at: int) -> RowAnswer:
    """Answers of ``loaded`` with receipts issued at ``issued_at``, each counted by its class.

    Everything the answers share (the scorer, the version, the receipts' common part, one
    random nonce counted up) is bound here once, so one answer is a few calls.
    """
    score, version = loaded.scorer.profile_scorer(), loaded.version
    issue, astuple = signer.issuer(version, issued_at), msgspec.structs.astuple
    nonces = count(new_nonce())
    tally = metrics.PENDING_BY_CLASS

    def answer(features: Any) -> PredictionAnswer:
        probability = score(features)
        label = 1 if probability > 0.5 else 0  # the rule of fastpath.predicted_class
        tally[label] += 1
        receipt = issue(astuple(features), label, probability, next(nonces))
        return PredictionAnswer(label, probability, version, receipt)

    return answer


def _from_bytes(decoder: msgspec.json.Decoder[Any], answer: Callable[[Any], Any]) -> Endpoint:
    """``answer`` as a raw endpoint: decode with ``decoder``, encode the result."""
    decode, encode = decoder.decode, msgspec.json.encode

    def endpoint(body: bytes) -> bytes:
        try:
            data = decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise describe_invalid_body(exc, body, decoder.type) from None
        return encode(answer(data))

    return endpoint


class SingleAnswers:
    """``/predict``'s answers: the bodies of one event-loop turn (see mp_api.coalesce) in, one
    answer or error per body out, in order; a bad body is its own 400, also when no model
    serves. The row answerer is made once per model and second (:func:`row_answerer`)."""

    def __init__(self, registry: ModelRegistry, signer: ReceiptSigner) -> None:
        self._registry, self._signer = registry, signer
        self._loaded: LoadedScorer | None = None
        self._second = -1
        self._answer: RowAnswer | None = None

    def current(self) -> RowAnswer:
        """The answerer of the serving model for this second (503 without a model)."""
        loaded, second = self._registry.current(), int(time.time())
        answer = self._answer
        if answer is None or loaded is not self._loaded or second != self._second:
            answer = self._answer = row_answerer(loaded, self._signer, second)
            self._loaded, self._second = loaded, second
        return answer

    def __call__(self, bodies: Sequence[bytes]) -> list[bytes | Exception]:
        try:
            answer = self.current()
        except Exception as exc:  # no model: every valid body of the turn says why
            return [_refusal(body, exc) for body in bodies]
        decode, encode = _decode_row, _encode
        answers: list[bytes | Exception] = []
        for body in bodies:
            try:
                answers.append(encode(answer(decode(body).features)))
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                answers.append(describe_invalid_body(exc, body, PredictRow))
            except Exception as exc:  # this body's own failure (logged as a 500 by raw.py)
                answers.append(exc)
        return answers


_decode_row, _encode = msgspec.json.Decoder(PredictRow).decode, msgspec.json.encode


def _refusal(body: bytes, unavailable: Exception) -> Exception:
    """A body's 400 when it is invalid, else why no answer can be given."""
    try:
        _decode_row(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return describe_invalid_body(exc, body, PredictRow)
    return unavailable


def build(services: Services) -> list[HTTPRouteHandler]:
    registry, signer = services.registry, services.receipts
    max_batch = services.settings.max_batch
    batch_limit = services.config.batch_body_bytes(max_batch)
    singles = SingleAnswers(registry, signer)

    def answer_batch(data: BatchRows) -> BatchPredictionAnswer:
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
        predictions, probabilities = labels.tolist(), probability.tolist()
        return BatchPredictionAnswer(
            predictions=predictions,
            probabilities=probabilities,
            model_version=loaded.version,
            prediction_ids=batch_receipts(signer, rows, predictions, probabilities, loaded.version),
        )

    # The typed handlers document the routes (OpenAPI) and hold their settings; the raw route
    # middleware answers their requests from the same answer_* functions (see mp_api.raw), and
    # /predict answers the requests of one event-loop turn together (see mp_api.coalesce).
    serve_one = coalesced_route(singles, services.config.max_body_bytes)
    serve_batch = raw_route(_from_bytes(msgspec.json.Decoder(BatchRows), answer_batch), batch_limit)

    @post(
        "/predict",
        dto=json_body(PredictRequest),
        return_dto=None,
        status_code=200,
        summary="Predict depression risk for one student",
        description=(
            "Educational estimate, not a diagnosis. prediction_id is a signed receipt of this "
            "answer: send it to POST /feedback with the true class (once, within "
            "RECEIPT_MAX_AGE)."
        ),
        responses=error_responses(400, 413, 415, 503),
        tags=["predict"],
        middleware=[serve_one],
    )
    async def predict(data: PredictBody) -> Prediction:
        return singles.current()(data.features)  # type: ignore[return-value]  # the same JSON

    @post(
        "/predict/batch",
        dto=json_body(BatchRequest, decode_as=BatchRows),
        return_dto=None,
        status_code=200,
        request_max_body_size=batch_limit,
        summary=f"Predict for up to {max_batch} students at once",
        description=(
            f"At most MAX_BATCH ({max_batch}) rows: more is answered with 413. "
            "Educational estimates, not diagnoses. prediction_ids: one receipt per row, "
            "in order, for POST /feedback."
        ),
        responses=error_responses(400, 413, 415, 503),
        tags=["predict"],
        middleware=[serve_batch],
    )
    async def predict_batch(data: BatchBody) -> BatchPrediction:
        # Decoded as BatchRows; answered as BatchPredictionAnswer, the same JSON.
        return answer_batch(data)  # type: ignore[arg-type,return-value]

    return [predict, predict_batch]
