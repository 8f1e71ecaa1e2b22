"""A bundle is loaded only when its manifest is signed and its skops files hold allowed types."""

import io
import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from mp_core.errors import CorruptArtifact
from mp_core.ml.synthetic import generate
from mp_core.ml.training import CANDIDATES, TrainConfig, TrainingResult, train
from mp_core.settings import ConfigError, Settings
from mp_core.stores.artifacts_files import ArtifactStore, is_version_name, sha256_file
from mp_core.stores.bundle_trust import ALLOWED_SKOPS_TYPES, SigningKey, skops_types

KEY = SigningKey(secret=b"k" * 40)


@pytest.fixture(scope="module")
def result() -> TrainingResult:
    return train(generate(2000, 7), TrainConfig(candidates=("logistic_regression",), n_jobs=1))


def _node(loader: str, module: str, name: str, **extra: object) -> dict[str, object]:
    return {"__class__": name, "__module__": module, "__loader__": loader, **extra}


def runstring_skops(code: str) -> bytes:
    """A skops file whose top node calls ``numpy.testing._private.utils.runstring(code, {})``."""
    empty = _node(
        "DictNode", "builtins", "dict", content={},
        key_types=_node("ListNode", "builtins", "list", content=[], __id__=3), __id__=2,
    )  # fmt: skip
    source = _node("JsonNode", "builtins", "str", content=json.dumps(code), is_json=True, __id__=4)
    args = _node("TupleNode", "builtins", "tuple", content=[source, empty], __id__=5)
    top = _node(
        "LossNode", "numpy.testing._private.utils", "runstring",
        __reduce__={"args": args}, content=dict(empty, __id__=6), __id__=1,
        protocol=2, _skops_version="0.16.0",
    )  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(top))
    return buffer.getvalue()


def rewrite_with_files(folder: Path, name: str, data: bytes, key: SigningKey | None) -> None:
    """What someone who can write the folder does: new file, manifest updated to match, and
    (with ``key``) signed again."""
    (folder / name).write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][name] = sha256_file(folder / name)
    text = json.dumps(manifest).encode()
    (folder / "manifest.json").write_bytes(text)
    if key is not None:
        (folder / "manifest.sig").write_text(key.sign(text))


def test_training_produces_only_allowed_types(tmp_path: Path) -> None:
    import skops.io

    frame = generate(2000, 3)
    for algorithm in CANDIDATES:
        trained = train(frame, TrainConfig(candidates=(algorithm,), n_jobs=1))
        for part in (trained.model, trained.preprocessor):
            found = skops_types(skops.io.dumps(part))
            assert found <= ALLOWED_SKOPS_TYPES, (algorithm, sorted(found - ALLOWED_SKOPS_TYPES))


def test_the_payload_runs_when_loaded_the_old_way(tmp_path: Path) -> None:
    """The proof of concept is live: trusting what skops reports (as before) runs it."""
    import skops.io

    marker = tmp_path / "ran"
    data = runstring_skops(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('pwned')")
    skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize("signed", [True, False], ids=["resigned-with-the-key", "unsigned"])
def test_a_runstring_bundle_is_refused_and_writes_nothing(
    tmp_path: Path, result: TrainingResult, signed: bool
) -> None:
    store = ArtifactStore(tmp_path / "artifacts", signing_key=KEY)
    version = store.save(result)
    marker = tmp_path / "ran"
    payload = runstring_skops(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('pwned')")
    rewrite_with_files(
        store.versions_dir / version, "pipeline.skops", payload, KEY if signed else None
    )
    message = "not allowed: .*runstring" if signed else "signature does not match"
    with pytest.raises(CorruptArtifact, match=message):
        store.load_bundle(version)
    assert not marker.exists()


def test_a_manifest_rewritten_with_its_files_is_refused(
    tmp_path: Path, result: TrainingResult
) -> None:
    import skops.io

    store = ArtifactStore(tmp_path, signing_key=KEY)
    version = store.save(result)
    other = train(generate(2000, 99), TrainConfig(candidates=("logistic_regression",), n_jobs=1))
    rewrite_with_files(
        store.versions_dir / version, "model.skops", skops.io.dumps(other.model), None
    )
    for load in (store.load_bundle, store.load_scorer, store.promote):
        with pytest.raises(CorruptArtifact, match="signature does not match"):
            load(version)
    assert store.current_version() is None


def test_a_bundle_signed_with_another_key_or_unsigned_is_refused(
    tmp_path: Path, result: TrainingResult
) -> None:
    version = ArtifactStore(tmp_path, signing_key=KEY).save(result)
    with pytest.raises(CorruptArtifact, match="signature does not match"):
        ArtifactStore(tmp_path, signing_key=SigningKey(secret=b"o" * 40)).load_scorer(version)
    (tmp_path / "versions" / version / "manifest.sig").unlink()
    with pytest.raises(CorruptArtifact, match="not signed"):
        ArtifactStore(tmp_path, signing_key=KEY).load_scorer(version)


def test_a_signed_bundle_copied_under_another_version_is_refused(
    tmp_path: Path, result: TrainingResult
) -> None:
    store = ArtifactStore(tmp_path, signing_key=KEY)
    version = store.save(result)
    shutil.copytree(store.versions_dir / version, store.versions_dir / "v0009")
    with pytest.raises(CorruptArtifact, match="belongs to 'v0001'"):
        store.load_scorer("v0009")


def test_without_a_configured_key_one_is_made_per_user(
    tmp_path: Path, result: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MODEL_SIGNING_KEY", raising=False)
    key_file = tmp_path / "home" / ".config" / "mindpulse" / "model-signing.key"
    reader = ArtifactStore(tmp_path / "artifacts")
    with pytest.raises(CorruptArtifact, match="no signing key"):
        reader.signing_key.check(b"{}", b"hmac-sha256:00", "v0001")
    version = ArtifactStore(tmp_path / "artifacts").save(result)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    ArtifactStore(tmp_path / "artifacts").load_scorer(version)  # a new process reads the same key
    assert key_file.parent.parent.parent == tmp_path / "home"


def test_the_key_comes_from_a_file_and_a_short_one_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s" * 40 + "\n")
    settings = Settings.from_env({"MODEL_SIGNING_KEY_FILE": str(secret)})
    assert SigningKey.from_settings(settings).secret == b"s" * 40
    with pytest.raises(ConfigError, match="MODEL_SIGNING_KEY: at least 32 characters"):
        SigningKey.from_settings(Settings.from_env({"MODEL_SIGNING_KEY": "short"}))


@pytest.mark.parametrize(
    "name", ["v0001\n", "v\u0660\u0660\u0660\u0661", " v0001", "v001", "x0001"]
)
def test_version_names_are_ascii_digits_only(tmp_path: Path, name: str) -> None:
    assert not is_version_name(name)
    store = ArtifactStore(tmp_path, signing_key=KEY)
    with pytest.raises(CorruptArtifact, match="not a version name"):
        store.load_scorer(name)


def test_version_names_that_are_fine(tmp_path: Path) -> None:
    assert is_version_name("v0001") and is_version_name("v12345")
    (tmp_path / "versions" / "v\u0660\u0660\u0660\u0661").mkdir(parents=True)
    (tmp_path / "versions" / "v0002").mkdir()
    assert ArtifactStore(tmp_path, signing_key=KEY).versions() == ["v0002"]
