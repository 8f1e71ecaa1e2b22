"""``GET /health``, ``GET /live``, ``GET /model`` and ``GET /model/versions``."""

from __future__ import annotations

import anyio
from litestar import Response
from litestar.handlers import HTTPRouteHandler, get
from litestar.openapi import ResponseSpec

from mp_api import jobs
from mp_api.problems import public_text
from mp_api.registry import NO_MODEL
from mp_api.services import Services
from mp_api.wire import Health, ModelInfo, ModelVersions, VersionSummary
from mp_core import tracking
from mp_core.artifacts import ArtifactStore
from mp_core.errors import CorruptArtifact, ModelUnavailable


def build(services: Services) -> list[HTTPRouteHandler]:
    registry = services.registry
    artifacts_dir = services.settings.artifacts_dir

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
        return Response(
            Health(
                status="ok",
                model_version=loaded.version,
                algorithm=loaded.manifest.get("algorithm"),
                reason=_public(registry.failure),  # set when a newer version failed to load
            )
        )

    @get("/live", summary="Live: 200 while the process answers", tags=["ops"])
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @get("/model", summary="The serving model and the last retrain", tags=["model"])
    async def model_info() -> ModelInfo:
        loaded = registry.peek()
        retrain = jobs.read_status(artifacts_dir)
        if retrain is not None and isinstance(retrain.get("error"), str):
            retrain["error"] = public_text(retrain["error"])
        running = jobs.is_running(artifacts_dir)
        # count() waits for the feedback lock, which a writer holds across its fsync.
        feedback_total = await anyio.to_thread.run_sync(services.feedback.count)
        if loaded is None:
            return ModelInfo(
                serving=False,
                version=None,
                load_error=public_text(registry.failure or NO_MODEL),
                feedback_total=feedback_total,
                feedback_since_training=feedback_total,
                retrain_running=running,
                retrain=retrain,
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
            retrain_running=running,
            retrain=retrain,
        )

    @get(
        "/model/versions",
        summary="Every kept model version with its held-out metrics (read-only)",
        tags=["model"],
    )
    async def model_versions() -> ModelVersions:
        return await anyio.to_thread.run_sync(lambda: list_versions(registry.store))

    return [health, live, model_info, model_versions]


def list_versions(store: ArtifactStore) -> ModelVersions:
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
