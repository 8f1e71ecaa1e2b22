"""What the handlers of one worker share: settings, the model registry, the feedback store."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mp_api import metrics
from mp_api.config import ApiConfig
from mp_api.registry import ModelRegistry
from mp_core.artifacts import ArtifactStore
from mp_core.feedback import FeedbackStore
from mp_core.settings import Settings

log = logging.getLogger("mp_api")


@dataclass(slots=True)
class Services:
    settings: Settings
    config: ApiConfig
    registry: ModelRegistry
    feedback: FeedbackStore

    @classmethod
    def build(cls, settings: Settings, config: ApiConfig) -> Services:
        store = ArtifactStore(settings.artifacts_dir)
        return cls(
            settings=settings,
            config=config,
            registry=ModelRegistry(store, on_swap=metrics.model_swapped),
            feedback=FeedbackStore(settings.prod_data_path),
        )

    def start(self) -> None:
        """On worker start: cut a torn feedback line left by a crash, load the model."""
        removed = self.feedback.repair()
        if removed:
            log.warning("feedback_repaired", extra={"bytes_removed": removed})
        loaded = self.registry.peek()
        log.info(
            "worker_ready",
            extra={
                "model_version": loaded.version if loaded else None,
                "reason": None if loaded else (self.registry.failure or "no model"),
            },
        )
