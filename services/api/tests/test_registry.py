"""How soon a serving worker sees a switched pointer: predictions look every ``check_every``
seconds, health and model status every time."""

from __future__ import annotations

import time

from mp_api.registry import POINTER_CHECK_SECONDS, ModelRegistry
from mp_core.settings import Settings
from mp_core.stores import model_store
from mp_core.stores.artifacts_files import ArtifactStore
from testsupport.data import copy_version


def test_predictions_see_a_promotion_after_the_check_interval_never_sooner(
    trained_settings: Settings,
) -> None:
    store = ArtifactStore(trained_settings.artifacts_dir)
    copy_version(store, "v0002")
    interval = 0.5
    registry = ModelRegistry(model_store(trained_settings), check_every=interval)
    started = time.monotonic()
    assert registry.current().version == "v0001"
    store.promote("v0002")
    while registry.current().version == "v0001":
        assert time.monotonic() - started < interval + 5, "the promotion was never seen"
    assert time.monotonic() - started >= interval
    assert POINTER_CHECK_SECONDS <= 0.1  # what the API's workers use: far inside the 2 s promise


def test_peek_always_looks_and_what_it_finds_is_served(trained_settings: Settings) -> None:
    store = ArtifactStore(trained_settings.artifacts_dir)
    copy_version(store, "v0002")
    registry = ModelRegistry(model_store(trained_settings), check_every=3600)
    assert registry.current().version == "v0001"
    store.promote("v0002")
    assert registry.current().version == "v0001"  # inside the interval nothing looked
    peeked = registry.peek()
    assert peeked is not None and peeked.version == "v0002"
    assert registry.current().version == "v0002"
    # With no interval every prediction looks, as a registry built without one does.
    eager = ModelRegistry(model_store(trained_settings))
    assert eager.current().version == "v0002"
    store.rollback()
    assert eager.current().version == "v0001"
