"""What the handlers of one worker share: settings, the model registry, the stores."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from mp_api import metrics
from mp_api.config import ApiConfig
from mp_api.registry import POINTER_CHECK_SECONDS, ModelRegistry
from mp_api.worker import new_worker_id
from mp_core.errors import StoreUnavailable
from mp_core.receipts import ReceiptSigner
from mp_core.settings import Settings
from mp_core.stores import FeedbackRows, RetrainRequests, Stores, open_stores

log = logging.getLogger("mp_api")


@dataclass(slots=True)
class Services:
    settings: Settings
    config: ApiConfig
    registry: ModelRegistry
    stores: Stores
    receipts: ReceiptSigner
    #: This worker's opaque id (mp_api.worker), drawn when the worker builds its app.
    worker_id: str = field(default_factory=new_worker_id)

    @property
    def feedback(self) -> FeedbackRows:
        return self.stores.feedback

    @property
    def requests(self) -> RetrainRequests:
        return self.stores.requests

    @classmethod
    def build(cls, settings: Settings, config: ApiConfig) -> Services:
        stores = open_stores(settings)
        return cls(
            settings=settings,
            config=config,
            registry=ModelRegistry(
                stores.models, on_swap=metrics.model_swapped, check_every=POINTER_CHECK_SECONDS
            ),
            stores=stores,
            receipts=ReceiptSigner.from_settings(settings),
        )

    def start(self) -> None:
        """On worker start: cut a torn feedback line left by a crash, load the model."""
        try:
            removed = self.feedback.repair()
        except StoreUnavailable as exc:  # serving goes on; feedback answers 503 until it is back
            log.error("store_unavailable", extra={"error": str(exc)})
            removed = 0
        if removed:
            log.warning("feedback_repaired", extra={"bytes_removed": removed})
        loaded = self.registry.peek()
        log.info(
            "worker_ready",
            extra={
                "worker_id": self.worker_id,
                "pid": os.getpid(),
                "model_version": loaded.version if loaded else None,
                "stores": self.stores.backend,
                "reason": None if loaded else (self.registry.failure or "no model"),
            },
        )
