"""The benchmark's model: trained once on the full synthetic set, copied fresh for each server.

The trained folders under ``<bench dir>/model`` are reused while their manifest says they were
trained on :data:`BENCH_ROWS` rows. Each server gets its own copy, so feedback appended and
versions promoted during one phase never change what another phase serves.
"""

from __future__ import annotations

import fcntl
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mp_core.errors import CorruptArtifact
from mp_core.settings import Settings
from mp_core.stores.artifacts_files import ArtifactStore

BENCH_ROWS: Final = 100_000
BENCH_SEED: Final = 42


@dataclass(frozen=True, slots=True)
class BenchModel:
    """Where the trained template lives and what it holds."""

    root: Path
    version: str
    algorithm: str
    train_rows: int
    test_rows: int
    trained_now: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "algorithm": self.algorithm,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "dataset_rows": self.train_rows + self.test_rows,
            "trained_now": self.trained_now,
            "template": str(self.root),
        }


def settings_under(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data", artifacts_dir=root / "artifacts", reports_dir=root / "reports"
    )


def _describe(root: Path, trained_now: bool) -> BenchModel | None:
    store = ArtifactStore(settings_under(root).artifacts_dir)
    if store.current_version() is None:
        return None
    try:
        manifest = store.verify()
    except CorruptArtifact:  # e.g. signed with another key, or before manifests were signed
        return None
    train_rows = int(manifest.get("training_rows", 0))
    test_rows = int(manifest.get("test_rows", 0))
    if train_rows + test_rows != BENCH_ROWS:
        return None
    return BenchModel(
        root=root,
        version=str(manifest["version"]),
        algorithm=str(manifest.get("algorithm", "?")),
        train_rows=train_rows,
        test_rows=test_rows,
        trained_now=trained_now,
    )


def ensure_model(bench_dir: Path) -> BenchModel:
    """Reuse the trained template under ``bench_dir/model`` or train it on the full set.

    A lock file keeps two benchmarks started at once from training into the same folder.
    """
    bench_dir.mkdir(parents=True, exist_ok=True)
    with (bench_dir / "model.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_model_locked(bench_dir / "model")


def _ensure_model_locked(root: Path) -> BenchModel:
    found = _describe(root, trained_now=False)
    if found is not None:
        return found
    from mp_core.ml.dataset import save_base_dataset
    from mp_core.ml.publish import promote_version, save_version
    from mp_core.ml.synthetic import generate
    from mp_core.ml.training import TrainConfig, train

    shutil.rmtree(root, ignore_errors=True)
    settings = settings_under(root)
    frame = generate(BENCH_ROWS, BENCH_SEED)
    source = {"source": "synthetic", "rows": BENCH_ROWS, "seed": BENCH_SEED, "drift": "none"}
    save_base_dataset(frame, settings.dataset_path, source)
    result = train(frame, TrainConfig(seed=BENCH_SEED))
    version = save_version(
        settings, result, extra={"data_source": source, "trained_by": "api benchmark"}
    )
    promote_version(settings, version, result, frame)
    trained = _describe(root, trained_now=True)
    if trained is None:
        raise RuntimeError(f"the benchmark model under {root} could not be read back")
    return trained


def fresh_copy(model: BenchModel, target: Path) -> Settings:
    """Copy the template's data and artifacts into ``target`` and return settings for it."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in ("data", "artifacts"):
        shutil.copytree(model.root / name, target / name)
    (target / "reports").mkdir()
    return settings_under(target)


def export_pipeline(model: BenchModel, target: Path) -> Path:
    """The template's fitted preprocessor and model as one scikit-learn ``Pipeline`` in joblib.

    That is the file the peers' documented loaders take (MLServer's scikit-learn runtime loads
    a joblib file; the others call ``joblib.load`` themselves). Every peer project pins the
    workspace's scikit-learn version, so the pickled objects load as they were fitted. Only the
    benchmark's peers read it: MindPulse itself never loads a pickle.
    """
    import joblib
    from sklearn.pipeline import Pipeline

    bundle = ArtifactStore(settings_under(model.root).artifacts_dir).load_bundle()
    pipeline = Pipeline([("preprocess", bundle.preprocessor), ("model", bundle.model)])
    target.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, target)
    return target
