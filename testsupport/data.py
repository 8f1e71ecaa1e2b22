"""Fixtures for data and models: temporary directories, settings, a small trained model.

The model is trained once per test session on a few thousand synthetic rows and copied into
each test's own folders, so tests stay fast and never share files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mp_core.settings import Settings
from mp_core.stores.artifacts_files import ArtifactStore

TINY_ROWS = 3000
#: Every test process and the servers they start sign and check bundles with this key, so no
#: test creates the per-user key file in the real home folder.
TEST_SIGNING_KEY = "test-model-signing-key-0123456789abcdef"


@pytest.fixture(scope="session", autouse=True)
def _model_signing_key() -> Iterator[str]:
    before = os.environ.get("MODEL_SIGNING_KEY")
    os.environ["MODEL_SIGNING_KEY"] = TEST_SIGNING_KEY
    os.environ.pop("MODEL_SIGNING_KEY_FILE", None)
    yield TEST_SIGNING_KEY
    if before is None:
        os.environ.pop("MODEL_SIGNING_KEY", None)
    else:
        os.environ["MODEL_SIGNING_KEY"] = before


def settings_for(root: Path, **overrides: object) -> Settings:
    """Settings whose data, artifacts and reports folders live under ``root``."""
    values: dict[str, object] = {
        "data_dir": root / "data",
        "artifacts_dir": root / "artifacts",
        "reports_dir": root / "reports",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def train_into(
    settings: Settings,
    *,
    rows: int = TINY_ROWS,
    seed: int = 42,
    candidates: tuple[str, ...] = ("logistic_regression",),
) -> str:
    """Generate ``rows`` synthetic rows, train, save and promote; return the version."""
    from mp_core.ml.dataset import save_base_dataset
    from mp_core.ml.publish import promote_version, save_version
    from mp_core.ml.synthetic import generate
    from mp_core.ml.training import TrainConfig, train

    frame = generate(rows, seed)
    save_base_dataset(
        frame, settings.dataset_path, {"source": "synthetic", "rows": rows, "seed": seed}
    )
    result = train(frame, TrainConfig(seed=seed, candidates=candidates, n_jobs=1))  # type: ignore[arg-type]
    version = save_version(settings, result, extra={"data_source": {"source": "synthetic"}})
    promote_version(settings, version, result, frame)
    return version


@pytest.fixture
def mp_settings(tmp_path: Path) -> Settings:
    """Empty data, artifacts and reports folders under the test's tmp_path."""
    return settings_for(tmp_path)


@pytest.fixture(scope="session")
def _trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trained-template")
    train_into(settings_for(root))
    return root


@pytest.fixture(scope="session")
def _forest_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forest-template")
    train_into(settings_for(root), candidates=("random_forest",))
    return root


def _copy_template(template: Path, target: Path) -> Settings:
    for name in ("data", "artifacts"):
        shutil.copytree(template / name, target / name)
    return settings_for(target)


@pytest.fixture
def trained_settings(_trained_template: Path, tmp_path: Path) -> Iterator[Settings]:
    """Settings with a small logistic-regression model already current (version v0001)."""
    yield _copy_template(_trained_template, tmp_path)


@pytest.fixture
def forest_settings(_forest_template: Path, tmp_path: Path) -> Iterator[Settings]:
    """Settings with a small random-forest model already current (version v0001)."""
    yield _copy_template(_forest_template, tmp_path)


def copy_version(store: ArtifactStore, version: str) -> Path:
    """v0001's bundle again as ``version`` (signed with the right key), not yet current."""
    folder = store.versions_dir / version
    shutil.copytree(store.versions_dir / "v0001", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    text = json.dumps({**manifest, "version": version}).encode()
    (folder / "manifest.json").write_bytes(text)
    (folder / "manifest.sig").write_text(store.signing_key.sign(text))
    return folder
