"""The model a worker serves, reloaded whenever the artifact store's pointer changes.

:meth:`ModelRegistry.current`, asked by every prediction, looks at the model store's pointer
state (files: a stat of ``current.json``; PostgreSQL: the switch counter a thread polls) at
most every ``check_every`` seconds (:data:`POINTER_CHECK_SECONDS` in the API), and reloads
only when the pointer moved. A stat on every request cost a tenth of a prediction's time, and a
promotion may take a twentieth of a second longer to be served. :meth:`ModelRegistry.peek`
(``/health``, ``/model``, the admin routes) always looks. A new version is loaded and verified
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
#: How often the API's workers look at the pointer while they serve (seconds).
POINTER_CHECK_SECONDS: Final = 0.05

PointerState = object


class ModelRegistry:
    """Holds the loaded scorer of one worker; cheap to ask on every request."""

    def __init__(
        self,
        store: ModelBundles,
        *,
        on_swap: Callable[[LoadedScorer | None, LoadedScorer], None] | None = None,
        check_every: float = 0.0,
    ) -> None:
        self.store = store
        self.check_every = check_every
        self._next_check = 0.0
        self._loaded: LoadedScorer | None = None
        self._seen: PointerState = None
        self._checked = False
        self._failure: str | None = None
        self._retry_at = 0.0
        self._on_swap = on_swap

    def current(self) -> LoadedScorer:
        """The serving model; raises :class:`ModelUnavailable` with the reason when none.

        Looks at the pointer when the last look is ``check_every`` seconds old.
        """
        now = time.monotonic()
        if now < self._next_check and self._loaded is not None and self._failure is None:
            return self._loaded
        self._next_check = now + self.check_every
        return self._look()

    def _look(self) -> LoadedScorer:
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
        """The serving model or None, without raising; always looks at the pointer."""
        try:
            return self._look()
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
