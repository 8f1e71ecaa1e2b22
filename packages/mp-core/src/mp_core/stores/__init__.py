"""The stores: small interfaces, two backends each, one factory that picks them from settings.

    FeedbackRows     feedback rows            files: DATA_DIR/prod_data.csv    pg: feedback
    RetrainRequests  requests + one-at-a-time files: ARTIFACTS_DIR/retrain.*   pg: retrain_*
    ModelBundles     bundles + current        files: ARTIFACTS_DIR/versions/   pg: model_*

Like a database URL picking a driver: ``DATABASE_URL=postgresql://…`` puts all three in
PostgreSQL (``mp-core[postgres]``), otherwise they are files (the embedded default). Callers
never branch on the backend; the contract tests in ``tests/test_stores.py`` define both.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mp_core.ml.dataset import LoadedDataset
    from mp_core.ml.training import TrainingResult
    from mp_core.settings import Settings
    from mp_core.stores.artifacts_files import Bundle, LoadedScorer
    from mp_core.stores.feedback_files import FeedbackRecord, Stored
    from mp_core.stores.requests import Taken


class FeedbackRows(Protocol):
    """Append-only feedback rows, numbered from 1; durable before ``add`` returns."""

    def add(self, record: FeedbackRecord, *, key: str | None = None) -> Stored: ...
    def append(self, record: FeedbackRecord) -> int: ...
    def count(self) -> int: ...
    def repair(self) -> int: ...
    def read(self, since: int = 0) -> LoadedDataset: ...
    def problem(self) -> str | None: ...
    def close(self) -> None: ...


class RetrainRequests(Protocol):
    """Retrain requests recorded by the API and taken by trainers, one training at a time."""

    def request(self, trigger: str) -> bool: ...
    def waiting(self) -> list[dict[str, str]]: ...
    def take(self, worker: str) -> AbstractContextManager[Taken | None]: ...
    def hold_lock(self) -> AbstractContextManager[bool]: ...
    def is_running(self) -> bool: ...
    def write_status(self, status: dict[str, Any]) -> None: ...
    def read_status(self) -> dict[str, Any] | None: ...
    def beat(self, worker: str) -> None: ...
    def trainers(self) -> list[str]: ...
    def problem(self) -> str | None: ...
    def close(self) -> None: ...


class ModelBundles(Protocol):
    """Versioned, verified model bundles and the one current pointer."""

    def versions(self) -> list[str]: ...
    def pointer(self) -> dict[str, Any] | None: ...
    def current_version(self) -> str | None: ...
    def pointer_state(self) -> object: ...
    def manifest(self, version: str | None = None) -> dict[str, Any]: ...
    def verify(self, version: str | None = None) -> dict[str, Any]: ...
    def read_files(self, version: str) -> tuple[dict[str, Any], dict[str, bytes]]: ...
    def load_scorer(self, version: str | None = None) -> LoadedScorer: ...
    def load_bundle(self, version: str | None = None) -> Bundle: ...
    def save(self, result: TrainingResult, *, extra: dict[str, Any] | None = None) -> str: ...
    def promote(self, version: str) -> None: ...
    def rollback(self) -> str: ...
    def problem(self) -> str | None: ...
    def close(self) -> None: ...


def backend_name(settings: Settings) -> str:
    """``postgresql`` or ``files``: what :func:`open_stores` picks for ``settings``."""
    return "postgresql" if settings.database_url else "files"


def feedback_store(settings: Settings) -> FeedbackRows:
    if settings.database_url:
        from mp_core.stores.feedback_postgres import PostgresFeedbackStore
        from mp_core.stores.postgres import database

        return PostgresFeedbackStore(database(settings.database_url))
    from mp_core.stores.feedback_files import FeedbackStore

    return FeedbackStore(settings.prod_data_path)


def retrain_requests(settings: Settings) -> RetrainRequests:
    if settings.database_url:
        from mp_core.stores.postgres import database
        from mp_core.stores.requests_postgres import PostgresRetrainRequests

        return PostgresRetrainRequests(database(settings.database_url))
    from mp_core.stores.requests_files import FileRetrainRequests

    return FileRetrainRequests(settings.artifacts_dir)


def model_store(settings: Settings) -> ModelBundles:
    """Both backends sign manifests and check them with the key ``settings`` configure."""
    from mp_core.stores.bundle_trust import SigningKey

    # Settings built by hand (tools, tests) without a key follow the environment, as a store
    # opened without settings does; read from the environment, they are the same thing.
    if settings.model_signing_key is not None:
        key = SigningKey.from_settings(settings)
    else:
        key = SigningKey.from_env()
    if settings.database_url:
        from mp_core.stores.artifacts_postgres import PostgresArtifactStore
        from mp_core.stores.postgres import database

        return PostgresArtifactStore(database(settings.database_url), signing_key=key)
    from mp_core.stores.artifacts_files import ArtifactStore

    return ArtifactStore(settings.artifacts_dir, signing_key=key)


@dataclass(slots=True)
class Stores:
    """The three stores of one process, all on the same backend."""

    backend: str
    feedback: FeedbackRows
    requests: RetrainRequests
    models: ModelBundles

    def close(self) -> None:
        for store in (self.feedback, self.requests, self.models):
            store.close()


def open_stores(settings: Settings) -> Stores:
    """The stores ``settings`` configure (PostgreSQL when DATABASE_URL is set, else files)."""
    return Stores(
        backend=backend_name(settings),
        feedback=feedback_store(settings),
        requests=retrain_requests(settings),
        models=model_store(settings),
    )
