"""Admin routes: ``POST /retrain`` and ``POST /model/rollback`` (``Authorization: Bearer``)."""

from __future__ import annotations

import hmac
import logging
from typing import Any

import anyio.to_thread
from litestar import Response
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler, post

from mp_api import metrics
from mp_api.problems import ApiProblem
from mp_api.routes.docs import error_responses
from mp_api.services import Services
from mp_api.wire import RetrainAccepted, RollbackDone
from mp_core import tracking
from mp_core.errors import CorruptArtifact, ModelUnavailable
from mp_core.stores.requests import WAITING_FOR_TRAINER

log = logging.getLogger("mp_api")

SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}]


def admin_guard(token: str | None) -> Any:
    """A Litestar guard: 403 when admin routes are disabled, 401 without the right token."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        if not token:
            raise ApiProblem(
                403,
                "admin routes are disabled: set ADMIN_TOKEN on the server to enable them",
                field="Authorization",
                rule="ADMIN_TOKEN must be set on the server",
            )
        scheme, _, supplied = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not supplied:
            raise ApiProblem(
                401,
                "send the admin token as 'Authorization: Bearer <ADMIN_TOKEN>'",
                field="Authorization",
                rule="Bearer token required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(supplied.strip().encode(), token.encode()):
            raise ApiProblem(
                401,
                "the admin token is wrong",
                field="Authorization",
                rule="must equal ADMIN_TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return guard


def build(services: Services) -> list[HTTPRouteHandler]:
    guard = admin_guard(services.settings.admin_token)
    settings = services.settings
    registry = services.registry
    requests = services.requests

    @post(
        "/retrain",
        guards=[guard],
        status_code=202,
        security=SECURITY,
        summary="Ask for a retrain: recorded for the trainer (one request waits at a time)",
        responses=error_responses(401, 403, 409, 503),
        tags=["admin"],
    )
    async def retrain() -> RetrainAccepted:
        recorded = await anyio.to_thread.run_sync(lambda: requests.request("api"))
        if not recorded:
            metrics.RETRAINS.labels("already_waiting").inc()
            raise ApiProblem(
                409,
                "a retrain request is already waiting for a trainer; see GET /model",
                rule="one waiting request at a time",
            )
        metrics.RETRAINS.labels("requested").inc()
        trainers = await anyio.to_thread.run_sync(requests.trainers)
        detail = "a trainer takes it; follow it in GET /model (retrain)"
        if not trainers:
            detail = f"recorded; {WAITING_FOR_TRAINER}"
        return RetrainAccepted(status="queued", detail=detail, trainers=trainers)

    @post(
        "/model/rollback",
        guards=[guard],
        status_code=200,
        security=SECURITY,
        summary="Make the previous model version current again",
        responses=error_responses(401, 403, 409),
        tags=["admin"],
    )
    async def rollback() -> Response[RollbackDone]:
        previous = registry.peek()
        try:
            version = await anyio.to_thread.run_sync(registry.store.rollback)
        except (ModelUnavailable, CorruptArtifact) as exc:
            raise ApiProblem(
                409, f"cannot roll back: {exc}", rule="needs an earlier version"
            ) from None
        log.info(
            "rollback",
            extra={"version": version, "previous": previous.version if previous else None},
        )
        registry.peek()  # pick the switch up right away in this worker
        # Moves MLflow's champion alias when tracking is on; never waits, never raises.
        await anyio.to_thread.run_sync(lambda: tracking.on_rollback(settings, version, wait=False))
        return Response(
            RollbackDone(
                status="ok", version=version, previous=previous.version if previous else None
            )
        )

    return [retrain, rollback]
