"""``GET /health``, ``GET /live``, ``GET /model`` and ``GET /model/versions``."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
from litestar import Response
from litestar.handlers import HTTPRouteHandler, get
from litestar.openapi import ResponseSpec

from mp_api.problems import public_text
from mp_api.registry import NO_MODEL
from mp_api.services import Services
from mp_api.wire import Health, ModelInfo, ModelVersions, VersionSummary
from mp_core import tracking
from mp_core.errors import CorruptArtifact, ModelUnavailable
from mp_core.stores import ModelBundles
from mp_core.stores.requests import WAITING_FOR_TRAINER


class _Retrains(msgspec.Struct, frozen=True):
    """What the retrain-request store says now (read in one worker thread)."""

    status: dict[str, Any] | None
    running: bool
    waiting: list[dict[str, str]]
    trainers: list[str]
    feedback_total: int

    @property
    def note(self) -> str | None:
        if self.waiting and not self.trainers:
            return WAITING_FOR_TRAINER
        return None

    @property
    def shown(self) -> dict[str, Any] | None:
        """The running retrain, else a waiting request, else the last retrain."""
        if self.waiting and not self.running:
            first = self.waiting[0]
            return {
                "state": "waiting",
                "trigger": first["trigger"],
                "requested_at": first["requested_at"],
                "detail": self.note or "a trainer takes it within seconds",
                "previous": self.status,
            }
        return self.status


def build(services: Services) -> list[HTTPRouteHandler]:
    registry = services.registry
    stores = services.stores

    def read_retrains() -> _Retrains:
        requests = stores.requests
        status = requests.read_status()
        if status is not None and isinstance(status.get("error"), str):
            status["error"] = public_text(status["error"])
        return _Retrains(
            status=status,
            running=requests.is_running(),
            waiting=requests.waiting(),
            trainers=requests.trainers(),
            # count() waits for the feedback lock, which a writer holds across its fsync.
            feedback_total=stores.feedback.count(),
        )

    def store_problem() -> str | None:
        return stores.feedback.problem()

    @get(
        "/health",
        summary="Ready: 200 when a model is loaded, 503 with the reason otherwise",
        responses={503: ResponseSpec(Health, description="No model is loaded; see reason.")},
        tags=["ops"],
    )
    async def health() -> Response[Health]:
        try:
            loaded = registry.current()
        except ModelUnavailable as exc:
            body = Health(status="unavailable", reason=public_text(str(exc) or NO_MODEL))
            return Response(body, status_code=503)
        # A store that is down stops feedback, not predictions: say so and stay in rotation.
        problem = await anyio.to_thread.run_sync(store_problem)
        return Response(
            Health(
                status="degraded" if problem else "ok",
                model_version=loaded.version,
                algorithm=loaded.manifest.get("algorithm"),
                reason=_public(
                    problem or registry.failure
                ),  # failure: a newer version did not load
            )
        )

    @get("/live", summary="Live: 200 while the process answers", tags=["ops"])
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @get("/model", summary="The serving model and the last retrain", tags=["model"])
    async def model_info() -> ModelInfo:
        loaded = registry.peek()
        retrains = await anyio.to_thread.run_sync(read_retrains)
        feedback_total = retrains.feedback_total
        common: dict[str, Any] = {
            "retrain_running": retrains.running,
            "retrain": retrains.shown,
            "retrain_waiting": len(retrains.waiting),
            "trainers": retrains.trainers,
            "trainer_note": retrains.note,
            "stores": stores.backend,
        }
        if loaded is None:
            return ModelInfo(
                serving=False,
                version=None,
                load_error=public_text(registry.failure or NO_MODEL),
                feedback_total=feedback_total,
                feedback_since_training=feedback_total,
                **common,
            )
        manifest = loaded.manifest
        # A retrain records the feedback rows it trained on; `mindpulse train` uses none.
        at_training = int(manifest.get("feedback_rows") or 0)
        return ModelInfo(
            serving=True,
            version=loaded.version,
            algorithm=manifest.get("algorithm"),
            trained_at=manifest.get("created_at"),
            selection_metric=manifest.get("selection_metric"),
            metrics=manifest.get("metrics"),
            training_rows=manifest.get("training_rows"),
            trained_by=manifest.get("trained_by"),
            load_error=_public(registry.failure),
            mlflow_run=tracking.run_for_version(services.settings, loaded.version),
            feedback_total=feedback_total,
            feedback_at_training=at_training,
            feedback_since_training=max(0, feedback_total - at_training),
            **common,
        )

    @get(
        "/model/versions",
        summary="Every kept model version with its held-out metrics (read-only)",
        tags=["model"],
    )
    async def model_versions() -> ModelVersions:
        return await anyio.to_thread.run_sync(lambda: list_versions(registry.store))

    return [health, live, model_info, model_versions]


def list_versions(store: ModelBundles) -> ModelVersions:
    """What each kept version's manifest says; an unreadable one says why instead."""
    try:
        current = store.current_version()
    except CorruptArtifact:
        current = None
    summaries = []
    for version in store.versions():
        try:
            manifest = store.manifest(version)
        except CorruptArtifact as exc:
            summaries.append(
                VersionSummary(version, version == current, problem=public_text(str(exc)))
            )
            continue
        metrics = manifest.get("metrics")
        summaries.append(
            VersionSummary(
                version=version,
                current=version == current,
                created_at=manifest.get("created_at"),
                algorithm=manifest.get("algorithm"),
                trained_by=manifest.get("trained_by"),
                selection_metric=manifest.get("selection_metric"),
                metrics=metrics if isinstance(metrics, dict) else None,
            )
        )
    return ModelVersions(current=current, versions=summaries)


def _public(text: str | None) -> str | None:
    return None if text is None else public_text(text)
