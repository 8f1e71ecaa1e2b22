"""``POST /feedback``: redeem a prediction receipt with the true class, durably; every
RETRAIN_THRESHOLD rows, ask for a retrain."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Final

import anyio.to_thread
import msgspec
from litestar import Request
from litestar.handlers import HTTPRouteHandler, post
from litestar.params import Body, HeaderParameter

from mp_api import metrics
from mp_api.body import json_body
from mp_api.problems import ApiProblem
from mp_api.rate_limit import ClientRateLimit, retry_after
from mp_api.routes.docs import error_responses, example
from mp_api.services import Services
from mp_api.wire import FeedbackBody, FeedbackRequest
from mp_core.contract import FeedbackAck
from mp_core.errors import StoreUnavailable
from mp_core.stores.feedback_files import FeedbackRecord

log = logging.getLogger("mp_api")

MAX_KEY_LENGTH: Final = 200
#: The body before receipts: refused by name, since the server now fills these in itself.
_RETIRED_FIELDS: Final = ("features", "prediction")

FeedbackDoc = Annotated[
    FeedbackRequest,
    Body(
        title="The receipt of an estimate and the true class",
        examples=[
            example(
                "the true class of an estimate is 0",
                {"prediction_id": "mpr3AZ…(from POST /predict)…Lw==", "actual": 0},
            )
        ],
    ),
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        description=(
            "Not needed: the receipt is the idempotency key (a retry with the same "
            "prediction_id is stored once and gets the first answer). Checked, then ignored."
        ),
    ),
]


def refuse_retired_fields(data: FeedbackBody) -> str:
    """The receipt of ``data``, or a 400 naming the field of the old body shape it sent."""
    for name in _RETIRED_FIELDS:
        if getattr(data, name) is not msgspec.UNSET:
            raise ApiProblem(
                400,
                f"{name}: not accepted any more; send "
                '{"prediction_id": <the prediction_id POST /predict returned>, "actual": 0|1} '
                "and the server fills in the features, prediction and model version",
                field=name,
                rule="not accepted: send prediction_id",
                path=f"$.{name}",
            )
    if data.prediction_id is None:
        raise ApiProblem(
            400,
            "prediction_id: required (the receipt POST /predict returned with the estimate)",
            field="prediction_id",
            rule="required",
            path="$.prediction_id",
        )
    return data.prediction_id


def build(services: Services) -> list[HTTPRouteHandler]:
    registry = services.registry
    store = services.feedback
    requests = services.requests
    receipts = services.receipts
    threshold = services.settings.retrain_threshold
    limit = ClientRateLimit(
        services.config.feedback_rate_per_minute, services.config.feedback_burst
    )

    def record_request(total: int) -> None:
        try:
            recorded = requests.request(f"feedback:{total}")
        except StoreUnavailable as exc:  # the row is stored: answer it, note the lost request
            log.error("retrain_request_failed", extra={"error": str(exc), "total": total})
            return
        metrics.RETRAINS.labels("requested" if recorded else "already_waiting").inc()

    @post(
        "/feedback",
        dto=json_body(FeedbackRequest, decode_as=FeedbackBody),
        return_dto=None,
        status_code=200,
        summary="Record the true class of an estimate",
        description=(
            "prediction_id is the receipt POST /predict (or /predict/batch) returned; the "
            "features, prediction, probability and model version are read from it, so only the "
            "true class is the client's. A receipt is used once (a retry with it gets the first "
            "answer) and expires after RECEIPT_MAX_AGE seconds (7 days by default). The row is "
            "durable (fsynced, or committed in PostgreSQL) before the answer. Every "
            "RETRAIN_THRESHOLD rows a retrain request is recorded for the trainer "
            "(retrain_triggered). FEEDBACK_RATE_PER_MINUTE per client address (429 with "
            "Retry-After beyond it)."
        ),
        responses=error_responses(400, 413, 415, 422, 429, 503),
        tags=["feedback"],
    )
    async def feedback(
        request: Request[Any, Any, Any],
        data: FeedbackDoc,
        idempotency_key: IdempotencyKey = None,
    ) -> FeedbackAck:
        body: FeedbackBody = data  # type: ignore[assignment]  # decoded as FeedbackBody
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
            raise ApiProblem(
                400,
                f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} characters",
                field="Idempotency-Key",
                rule=f"1 to {MAX_KEY_LENGTH} characters",
            )
        registry.current()  # 503 while no model serves, as before receipts
        receipt = receipts.redeem(refuse_retired_fields(body), time.time())
        address = request.client.host if request.client else "unknown"
        wait = limit.take(address)
        if wait is not None:
            metrics.FEEDBACK_REFUSED.inc()
            raise ApiProblem(
                429,
                f"too many feedbacks from this address: at most {limit.per_minute} a minute "
                f"after a burst of {limit.burst} (FEEDBACK_RATE_PER_MINUTE, FEEDBACK_BURST)",
                field="client",
                rule=f"at most {limit.per_minute} feedbacks a minute",
                headers={"Retry-After": retry_after(wait)},
            )
        record = FeedbackRecord(
            profile=receipt.profile,
            prediction=receipt.prediction,
            probability=receipt.probability,
            actual=body.actual,
            model_version=receipt.model_version,
        )
        # flock + fsync (or a commit) block for a moment: keep them off the event loop.
        stored = await anyio.to_thread.run_sync(
            lambda: store.add(record, key=receipt.idempotency_key)
        )
        # The answer depends on the row's number only, so a replay gets the same one.
        triggered = threshold > 0 and stored.total % threshold == 0
        if not stored.replayed:
            metrics.FEEDBACKS.inc()
            if triggered:
                await anyio.to_thread.run_sync(record_request, stored.total)
        return FeedbackAck(status="ok", total_feedbacks=stored.total, retrain_triggered=triggered)

    return [feedback]
