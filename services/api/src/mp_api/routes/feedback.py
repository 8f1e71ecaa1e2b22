"""``POST /feedback``: store the true class durably; every RETRAIN_THRESHOLD rows, ask for a retrain."""

from __future__ import annotations

import logging
from typing import Annotated, Final

import anyio.to_thread
from litestar.handlers import HTTPRouteHandler, post
from litestar.params import Body, HeaderParameter

from mp_api import metrics
from mp_api.body import json_body
from mp_api.problems import ApiProblem
from mp_api.routes.docs import PROFILE_EXAMPLE, error_responses, example
from mp_api.services import Services
from mp_api.wire import FeedbackRequest
from mp_core.contract import FeedbackAck
from mp_core.errors import StoreUnavailable
from mp_core.stores.feedback_files import FeedbackRecord

log = logging.getLogger("mp_api")

MAX_KEY_LENGTH: Final = 200

FeedbackBody = Annotated[
    FeedbackRequest,
    Body(
        title="A profile, what the model predicted, and the true class",
        examples=[
            example(
                "the model said 1, the truth is 0",
                {"features": PROFILE_EXAMPLE, "prediction": 1, "actual": 0},
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
            "Any unique string per feedback (a UUID): a retry with the same key is stored once "
            "and gets the first answer; a different body under a known key is refused (422)."
        ),
    ),
]


def build(services: Services) -> list[HTTPRouteHandler]:
    registry = services.registry
    store = services.feedback
    requests = services.requests
    threshold = services.settings.retrain_threshold

    def record_request(total: int) -> None:
        try:
            recorded = requests.request(f"feedback:{total}")
        except StoreUnavailable as exc:  # the row is stored: answer it, note the lost request
            log.error("retrain_request_failed", extra={"error": str(exc), "total": total})
            return
        metrics.RETRAINS.labels("requested" if recorded else "already_waiting").inc()

    @post(
        "/feedback",
        dto=json_body(FeedbackRequest),
        return_dto=None,
        status_code=200,
        summary="Record the true class for a prediction",
        description=(
            "The row is durable (fsynced, or committed in PostgreSQL) before the answer. Every "
            "RETRAIN_THRESHOLD rows a retrain request is recorded for the trainer "
            "(retrain_triggered). Send an Idempotency-Key header to make retries safe."
        ),
        responses=error_responses(400, 413, 415, 422, 503),
        tags=["feedback"],
    )
    async def feedback(data: FeedbackBody, idempotency_key: IdempotencyKey = None) -> FeedbackAck:
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
            raise ApiProblem(
                400,
                f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} characters",
                field="Idempotency-Key",
                rule=f"1 to {MAX_KEY_LENGTH} characters",
            )
        loaded = registry.current()
        record = FeedbackRecord(
            profile=data.features,
            prediction=data.prediction,
            probability=loaded.scorer.score_profile(data.features),
            actual=data.actual,
            model_version=loaded.version,
        )
        # flock + fsync (or a commit) block for a moment: keep them off the event loop.
        stored = await anyio.to_thread.run_sync(lambda: store.add(record, key=idempotency_key))
        # The answer depends on the row's number only, so a replay gets the same one.
        triggered = threshold > 0 and stored.total % threshold == 0
        if not stored.replayed:
            metrics.FEEDBACKS.inc()
            if triggered:
                await anyio.to_thread.run_sync(record_request, stored.total)
        return FeedbackAck(status="ok", total_feedbacks=stored.total, retrain_triggered=triggered)

    return [feedback]
