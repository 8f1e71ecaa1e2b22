"""``POST /feedback``: store the true class durably, start a retrain every RETRAIN_THRESHOLD rows."""

from __future__ import annotations

import logging
from typing import Annotated

import anyio.to_thread
from litestar.handlers import HTTPRouteHandler, post
from litestar.params import Body

from mp_api import jobs, metrics
from mp_api.body import json_body
from mp_api.routes.docs import PROFILE_EXAMPLE, error_responses, example
from mp_api.services import Services
from mp_api.wire import FeedbackRequest
from mp_core.contract import FeedbackAck
from mp_core.feedback import FeedbackRecord

log = logging.getLogger("mp_api")

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


def build(services: Services) -> list[HTTPRouteHandler]:
    registry = services.registry
    store = services.feedback
    threshold = services.settings.retrain_threshold

    @post(
        "/feedback",
        dto=json_body(FeedbackRequest),
        return_dto=None,
        status_code=200,
        summary="Record the true class for a prediction",
        description=(
            "The row is fsynced to prod_data.csv before the answer. Every RETRAIN_THRESHOLD "
            "rows a retrain starts in the background (retrain_triggered)."
        ),
        responses=error_responses(400, 413, 415, 503),
        tags=["feedback"],
    )
    async def feedback(data: FeedbackBody) -> FeedbackAck:
        loaded = registry.current()
        record = FeedbackRecord(
            profile=data.features,
            prediction=data.prediction,
            probability=loaded.scorer.score_profile(data.features),
            actual=data.actual,
            model_version=loaded.version,
        )
        # flock + fsync block for a moment: keep them off the event loop.
        total = await anyio.to_thread.run_sync(store.append, record)
        metrics.FEEDBACKS.inc()
        triggered = False
        if threshold > 0 and total % threshold == 0:
            pid = await anyio.to_thread.run_sync(
                lambda: jobs.try_start_retrain(
                    services.settings, services.config, trigger=f"feedback:{total}"
                )
            )
            triggered = pid is not None
            metrics.RETRAINS.labels("started" if triggered else "busy").inc()
        return FeedbackAck(status="ok", total_feedbacks=total, retrain_triggered=triggered)

    return [feedback]
