import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mp_core.errors import CorruptArtifact, ModelUnavailable
from mp_core.ml.synthetic import generate
from mp_core.ml.training import TrainConfig, TrainingResult, train
from mp_core.schema import FEATURE_NAMES
from mp_core.stores.artifacts_files import ArtifactStore, sha256_file


@pytest.fixture(scope="module")
def result() -> TrainingResult:
    return train(generate(3000, 41), TrainConfig(candidates=("logistic_regression",), n_jobs=1))


def test_round_trip_gives_the_same_predictions(tmp_path: Path, result: TrainingResult) -> None:
    store = ArtifactStore(tmp_path)
    assert store.current_version() is None
    with pytest.raises(ModelUnavailable, match="just train"):
        store.load_scorer()
    version = store.save(result, extra={"note": "first"})
    assert version == "v0001"
    assert store.current_version() is None  # saved, not promoted
    store.promote(version)

    bundle = store.load_bundle()
    scorer = store.load_scorer()
    rows = generate(500, 42)[list(FEATURE_NAMES)]
    expected = result.model.predict_proba(result.preprocessor.transform(rows))[:, 1]
    np.testing.assert_allclose(
        bundle.model.predict_proba(bundle.preprocessor.transform(rows))[:, 1], expected
    )
    np.testing.assert_allclose(scorer.scorer.score_frame(rows), expected, atol=1e-9)

    manifest = store.manifest()
    assert manifest["version"] == "v0001" and manifest["note"] == "first"
    assert manifest["algorithm"] == "logistic_regression"
    assert manifest["training_rows"] == result.train_rows
    assert manifest["data_hash"] == result.data_hash
    assert {"scikit-learn", "numpy", "skops", "python"} <= set(manifest["libraries"])
    assert set(manifest["files"]) == {"model.skops", "pipeline.skops", "fastpath.npz"}


@pytest.mark.parametrize("name", ["model.skops", "pipeline.skops", "fastpath.npz"])
def test_a_flipped_byte_is_refused(tmp_path: Path, result: TrainingResult, name: str) -> None:
    store = ArtifactStore(tmp_path)
    version = store.save(result)
    path = tmp_path / "versions" / version / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifact, match=f"{name} does not match its sha256"):
        store.promote(version)
    with pytest.raises(CorruptArtifact):
        store.load_bundle(version)


@pytest.mark.parametrize("name", ["model.skops", "fastpath.npz", "manifest.json"])
def test_a_missing_file_is_refused(tmp_path: Path, result: TrainingResult, name: str) -> None:
    store = ArtifactStore(tmp_path)
    version = store.save(result)
    (tmp_path / "versions" / version / name).unlink()
    with pytest.raises(CorruptArtifact, match="missing"):
        store.load_scorer(version)


def test_a_bad_pointer_is_reported(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    (tmp_path / "current.json").write_text("{not json")
    with pytest.raises(CorruptArtifact, match=r"current\.json"):
        store.current_version()


def test_promotion_keeps_history_and_rollback_goes_back(
    tmp_path: Path, result: TrainingResult
) -> None:
    store = ArtifactStore(tmp_path)
    v1, v2, v3 = store.save(result), store.save(result), store.save(result)
    assert store.versions() == ["v0001", "v0002", "v0003"]
    store.promote(v1)
    before = store.pointer_state()
    time.sleep(0.01)
    store.promote(v2)
    assert store.pointer_state() != before
    store.promote(v3)
    assert store.rollback() == v2
    assert store.current_version() == v2
    assert store.rollback() == v1
    with pytest.raises(ModelUnavailable, match="only version"):
        store.rollback()
    assert store.current_version() == v1


def test_rollback_refuses_a_corrupted_previous_version(
    tmp_path: Path, result: TrainingResult
) -> None:
    store = ArtifactStore(tmp_path)
    v1, v2 = store.save(result), store.save(result)
    store.promote(v1)
    store.promote(v2)
    (tmp_path / "versions" / v1 / "fastpath.npz").write_bytes(b"garbage")
    with pytest.raises(CorruptArtifact):
        store.rollback()
    assert store.current_version() == v2


def test_a_skops_file_with_foreign_types_is_refused(tmp_path: Path, result: TrainingResult) -> None:
    """Even a bundle signed with the right key loads only the allowed types."""
    import skops.io

    store = ArtifactStore(tmp_path)
    version = store.save(result)
    folder = tmp_path / "versions" / version
    skops.io.dump({"payload": Fraction(1, 3)}, folder / "model.skops")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["model.skops"] = sha256_file(folder / "model.skops")
    text = json.dumps(manifest).encode()
    (folder / "manifest.json").write_bytes(text)
    (folder / "manifest.sig").write_text(store.signing_key.sign(text))
    with pytest.raises(CorruptArtifact, match=r"not allowed: .*'fractions.Fraction'"):
        store.load_bundle(version)


def test_a_save_killed_part_way_never_becomes_a_version(tmp_path: Path) -> None:
    """kill -9 while the bundle is being written: no version, the current one stays."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        import mp_core.stores.artifacts_files as artifacts
        from mp_core.ml.synthetic import generate
        from mp_core.ml.training import TrainConfig, train

        store = artifacts.ArtifactStore(Path({str(tmp_path)!r}))
        result = train(generate(2000, 1), TrainConfig(candidates=("logistic_regression",), n_jobs=1))
        store.promote(store.save(result))
        real_export = artifacts.export_fastpath
        def slow_export(*args):
            print("writing", flush=True)
            time.sleep(60)
            return real_export(*args)
        artifacts.export_fastpath = slow_export
        store.save(result)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    store = ArtifactStore(tmp_path)
    assert store.versions() == ["v0001"]
    assert store.current_version() == "v0001"
    leftovers = list((tmp_path / "versions").glob(".tmp-*"))
    assert len(leftovers) == 1 and (leftovers[0] / "model.skops").exists()
    store.load_scorer()  # the current version still loads


def test_a_failed_save_leaves_nothing_behind(
    tmp_path: Path, result: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mp_core.stores.artifacts_files as artifacts

    def broken(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifacts, "save_fastpath", broken)
    store = ArtifactStore(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        store.save(result)
    assert store.versions() == []
    assert list((tmp_path / "versions").iterdir()) == []
