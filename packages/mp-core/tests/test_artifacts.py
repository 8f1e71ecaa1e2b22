import functools
import json
import multiprocessing
import os
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mp_core.errors import CorruptArtifact, ModelUnavailable
from mp_core.ml.synthetic import generate
from mp_core.ml.training import TrainConfig, TrainingResult, train
from mp_core.schema import FEATURE_NAMES
from mp_core.stores.artifacts_files import ArtifactStore, sha256_file
from mp_core.stores.bundle_trust import SigningKey


@functools.cache
def _trained() -> TrainingResult:
    """Trained once per process: the runs of `just mutants`, forked from one, reuse it."""
    return train(generate(3000, 41), TrainConfig(candidates=("logistic_regression",), n_jobs=1))


@pytest.fixture
def result() -> TrainingResult:
    return _trained()


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
    model = tmp_path / "versions" / version / "model.skops"
    skops.io.dump({"payload": Fraction(1, 3)}, model)
    _rewrite_manifest(
        store, version, lambda manifest: manifest["files"].update({model.name: sha256_file(model)})
    )
    with pytest.raises(CorruptArtifact, match=r"not allowed: .*'fractions.Fraction'"):
        store.load_bundle(version)


@pytest.mark.slow
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


def _rewrite_manifest(store: ArtifactStore, version: str, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    """Edit a bundle's manifest and sign it again, as someone holding the key could."""
    folder = store.versions_dir / version
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    text = json.dumps(manifest).encode()
    (folder / "manifest.json").write_bytes(text)
    (folder / "manifest.sig").write_text(store.signing_key.sign(text))


def test_stale_temporary_folders_are_swept_by_the_next_save(
    tmp_path: Path, result: TrainingResult
) -> None:
    """A folder left by a killed save goes after an hour; a younger one may be a save under way."""
    store = ArtifactStore(tmp_path)
    versions = tmp_path / "versions"
    ages = {"old": 3600 + 120, "young": 3600 - 120}
    for name, age in ages.items():
        folder = versions / f".tmp-{name}"
        folder.mkdir(parents=True)
        (folder / "model.skops").write_bytes(b"partial")
        os.utime(folder, (time.time() - age, time.time() - age))
    assert store.save(result) == "v0001"
    assert sorted(p.name for p in versions.iterdir()) == [".tmp-young", "v0001"]


def _save_in_step(root: str, result: TrainingResult, listed: Any, answers: Any) -> None:
    """Save, with both processes made to list the versions before either renames its folder."""
    store = ArtifactStore(Path(root), SigningKey(secret=RACE_KEY))
    real_versions = store.versions
    seen: list[list[str]] = []

    def versions() -> list[str]:
        found = real_versions()
        seen.append(found)
        if len(seen) == 1:
            listed.wait(timeout=30)
        return found

    store.versions = versions  # type: ignore[method-assign]
    answers.put((store.save(result), seen))


RACE_KEY = b"a-test-key-that-is-long-enough-for-the-rule-0123456789"


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_two_saves_racing_for_a_version_number_both_get_their_own(
    tmp_path: Path, result: TrainingResult, kind: str
) -> None:
    """Processes are the real case; threads race the same way and are seen by `just mutants`."""
    savers: list[Any]
    if kind == "process":
        context = multiprocessing.get_context("fork")  # the trained result is inherited
        listed, answers = context.Barrier(2), context.Queue()
        start: Any = context.Process
    else:
        listed, answers, start = threading.Barrier(2), queue.Queue(), threading.Thread
    savers = [
        start(target=_save_in_step, args=(str(tmp_path), result, listed, answers)) for _ in range(2)
    ]
    for saver in savers:
        saver.start()
    for saver in savers:
        saver.join(timeout=60)
        assert getattr(saver, "exitcode", 0) == 0
    got = [answers.get(timeout=10) for _ in savers]

    assert sorted(version for version, _ in got) == ["v0001", "v0002"]
    # Both saw an empty store and aimed at v0001; the loser listed again and took v0002.
    assert sorted(seen for _, seen in got) == [[[]], [[], ["v0001"]]]
    store = ArtifactStore(tmp_path, SigningKey(secret=RACE_KEY))
    assert store.versions() == ["v0001", "v0002"]
    for version in ("v0001", "v0002"):
        assert store.verify(version)["version"] == version  # renumbered, signed again
        store.load_scorer(version)
    assert list((tmp_path / "versions").glob(".tmp-*")) == []


def test_the_history_keeps_the_last_fifty_without_repeats(
    tmp_path: Path, result: TrainingResult
) -> None:
    store = ArtifactStore(tmp_path)
    v1, v2 = store.save(result), store.save(result)
    older = [f"v{n:04d}" for n in range(100, 160)]
    (tmp_path / "current.json").write_text(json.dumps({"version": v1, "history": older}))
    store.promote(v2)
    pointer = store.pointer()
    assert pointer is not None
    assert pointer["history"] == [v1, *older[:49]]
    store.promote(v1)  # back to v1: it leaves the history instead of appearing twice
    pointer = store.pointer()
    assert pointer is not None
    assert pointer["version"] == v1
    assert pointer["history"] == [v2, *older[:49]]


def test_rollback_before_any_promotion_says_to_train(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no model has been promoted yet: run `just train`"):
        ArtifactStore(tmp_path).rollback()


def test_rollback_skips_versions_whose_folder_was_deleted(
    tmp_path: Path, result: TrainingResult
) -> None:
    store = ArtifactStore(tmp_path)
    v1, v2, v3 = store.save(result), store.save(result), store.save(result)
    for version in (v1, v2, v3):
        store.promote(version)
    shutil.rmtree(tmp_path / "versions" / v2)
    assert store.rollback() == v1
    pointer = store.pointer()
    assert pointer is not None
    assert (pointer["version"], pointer["history"]) == (v1, [])
    with pytest.raises(ModelUnavailable, match="only version"):
        store.rollback()


NOT_VERSIONS = [
    "v001",
    "v0001x",
    "x0001",
    "V0001",
    "v0001\n",
    "v\u0661\u0662\u0663\u0664",
    "../v0001",
    "v0001/..",
    "",
]


@pytest.mark.parametrize("name", NOT_VERSIONS)
def test_names_that_are_not_versions_are_refused(
    tmp_path: Path, result: TrainingResult, name: str
) -> None:
    store = ArtifactStore(tmp_path)
    store.promote(store.save(result))
    for load in (store.load_scorer, store.load_bundle, store.verify, store.manifest, store.promote):
        with pytest.raises(CorruptArtifact, match="is not a version name"):
            load(name)
    (tmp_path / "current.json").write_text(json.dumps({"version": name, "history": []}))
    with pytest.raises(CorruptArtifact, match="is not a version name"):
        store.load_scorer()


def test_folders_that_are_not_versions_are_not_listed_and_numbers_sort_as_numbers(
    tmp_path: Path,
) -> None:
    versions = tmp_path / "versions"
    for name in [
        "v0002",
        "v10000",
        "v9999",
        "v0001",
        "v012",
        "v0003.old",
        "notes",
        ".tmp-x",
        "v\u0661\u0662\u0663\u0664",
    ]:
        (versions / name).mkdir(parents=True)
    assert ArtifactStore(tmp_path).versions() == ["v0001", "v0002", "v9999", "v10000"]


def test_a_manifest_without_its_file_list_is_refused(
    tmp_path: Path, result: TrainingResult
) -> None:
    store = ArtifactStore(tmp_path)
    version = store.save(result)
    _rewrite_manifest(store, version, lambda manifest: manifest.pop("files"))
    with pytest.raises(CorruptArtifact, match="has no file list"):
        store.manifest(version)
    with pytest.raises(CorruptArtifact, match="has no file list"):
        store.promote(version)
    assert store.current_version() is None


@pytest.mark.parametrize("name", ["model.skops", "pipeline.skops", "fastpath.npz"])
def test_a_manifest_that_leaves_out_a_required_file_is_refused(
    tmp_path: Path, result: TrainingResult, name: str
) -> None:
    """A file the manifest does not list is not checked, so it is never loaded."""
    store = ArtifactStore(tmp_path)
    version = store.save(result)
    _rewrite_manifest(store, version, lambda manifest: manifest["files"].pop(name))
    for load in (store.load_scorer, store.load_bundle, store.promote):
        with pytest.raises(CorruptArtifact, match=f"manifest does not list {name}"):
            load(version)
