"""The model a worker serves, reloaded whenever the artifact store's pointer changes.

Every request asks :meth:`ModelRegistry.current`, which asks the model store for the pointer's
state (files: a stat of ``current.json``, about a microsecond; PostgreSQL: the switch counter a
thread polls) and reloads only when the pointer moved. A new version is loaded and verified
*before* it replaces the old one; when loading fails the old one keeps serving and the failure
is logged once per pointer change (retried every few seconds in case files were still arriving).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from mp_core.errors import CorruptArtifact, ModelUnavailable, StoreUnavailable
from mp_core.stores import ModelBundles
from mp_core.stores.artifacts_files import LoadedScorer

log = logging.getLogger("mp_api.model")

NO_MODEL: Final = "no model: run `just train`"
RETRY_SECONDS: Final = 5.0

PointerState = object


class ModelRegistry:
    """Holds the loaded scorer of one worker; cheap to ask on every request."""

    def __init__(
        self,
        store: ModelBundles,
        *,
        on_swap: Callable[[LoadedScorer | None, LoadedScorer], None] | None = None,
    ) -> None:
        self.store = store
        self._loaded: LoadedScorer | None = None
        self._seen: PointerState = None
        self._checked = False
        self._failure: str | None = None
        self._retry_at = 0.0
        self._on_swap = on_swap

    def current(self) -> LoadedScorer:
        """The serving model; raises :class:`ModelUnavailable` with the reason when none."""
        state = self.store.pointer_state()
        if (
            state != self._seen
            or not self._checked
            or (self._failure is not None and time.monotonic() >= self._retry_at)
        ):
            self._reload(state)
        if self._loaded is None:
            raise ModelUnavailable(self._failure or NO_MODEL)
        return self._loaded

    def peek(self) -> LoadedScorer | None:
        """The serving model or None, without raising."""
        try:
            return self.current()
        except ModelUnavailable:
            return None

    @property
    def failure(self) -> str | None:
        """Why the pointed-to version could not be loaded (None when all is well)."""
        return self._failure

    def _reload(self, state: PointerState) -> None:
        self._seen = state
        self._checked = True
        if state is None:
            # No pointer at all: nothing was ever trained (a pointer is never deleted).
            self._failure = None if self._loaded else NO_MODEL
            return
        try:
            version = self.store.current_version()
            if self._loaded is not None and version == self._loaded.version:
                self._failure = None
                return
            fresh = self.store.load_scorer(version)
        except (CorruptArtifact, ModelUnavailable, StoreUnavailable, OSError, ValueError) as exc:
            self._failure = f"model cannot be loaded: {exc}"
            self._retry_at = time.monotonic() + RETRY_SECONDS
            log.error(
                "model_load_failed",
                extra={
                    "error": str(exc),
                    "still_serving": self._loaded.version if self._loaded else None,
                },
            )
            return
        previous, self._loaded, self._failure = self._loaded, fresh, None
        log.info(
            "model_loaded",
            extra={
                "version": fresh.version,
                "algorithm": fresh.manifest.get("algorithm"),
                "previous": previous.version if previous else None,
            },
        )
        if self._on_swap is not None:
            self._on_swap(previous, fresh)
