"""Fixtures for the reporting tests: production feedback files written in the store's format.

Production rows are generated (optionally with a stated drift), scored by the current model and
written with the feedback store's own row format, in one write instead of one fsync per row.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from mp_core.ml.synthetic import BASE_CONCEPT, Concept, Drift, generate
from mp_core.schema import FEATURE_NAMES, TARGET, profile_from_mapping
from mp_core.settings import Settings
from mp_core.stores.artifacts_files import ArtifactStore
from mp_core.stores.feedback_files import PROD_COLUMNS, FeedbackRecord, format_row
from testsupport.data import settings_for, train_into

FEEDBACK_TIMESTAMP = "2026-01-15T10:00:00.000+00:00"


def feedback_lines(
    settings: Settings,
    rows: int,
    seed: int,
    *,
    drift: Drift | None = None,
    concept: Concept = BASE_CONCEPT,
    version: str | None = None,
) -> list[bytes]:
    """``rows`` feedback lines scored by the current model (``version`` overrides its name)."""
    bundle = ArtifactStore(settings.artifacts_dir).load_bundle()
    frame = generate(rows, seed, drift=drift, concept=concept)
    components = bundle.preprocessor.transform(frame[list(FEATURE_NAMES)])
    predictions = bundle.model.predict(components)
    probabilities = bundle.model.predict_proba(components)[:, 1]
    lines = []
    for i, row in enumerate(frame.to_dict("records")):
        record = FeedbackRecord(
            profile=profile_from_mapping({name: row[name] for name in FEATURE_NAMES}),
            prediction=int(predictions[i]),
            probability=float(np.clip(probabilities[i], 0.0, 1.0)),
            actual=int(row[TARGET]),
            model_version=version or bundle.version,
            timestamp=FEEDBACK_TIMESTAMP,
        )
        lines.append(format_row(record))
    return lines


def environment_for(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    token: str | None,
    api_url: str = "http://127.0.0.1:9",  # nothing listens there
) -> None:
    """Point ``mindpulse-report`` run in this process at ``settings``' folders and ``api_url``."""
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ARTIFACTS_DIR", str(settings.artifacts_dir))
    monkeypatch.setenv("REPORTS_DIR", str(settings.reports_dir))
    monkeypatch.setenv("API_URL", api_url)
    if token is None:
        monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    else:
        monkeypatch.setenv("ADMIN_TOKEN", token)


def write_feedback(path: Path, lines: list[bytes], *, extra: bytes = b"") -> None:
    """Write a production file: header, ``lines``, then ``extra`` raw bytes (bad rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (",".join(PROD_COLUMNS) + "\n").encode()
    path.write_bytes(header + b"".join(lines) + extra)


def read_feedback(path: Path) -> list[dict[str, str]]:
    """The rows of a production file by column name (none when it does not exist yet)."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def reporting_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a trained model and its reference set, shared by one test module."""
    root = tmp_path_factory.mktemp("reporting-template")
    train_into(settings_for(root))
    return root


@pytest.fixture
def make_settings(reporting_template: Path, tmp_path: Path) -> Iterator[Callable[..., Settings]]:
    """Copy the trained template into a fresh folder and return settings for it."""
    import shutil

    counter = iter(range(1_000_000))

    def make(**overrides: object) -> Settings:
        root = tmp_path / f"run{next(counter)}"
        for name in ("data", "artifacts"):
            shutil.copytree(reporting_template / name, root / name)
        return settings_for(root, **overrides)

    yield make
