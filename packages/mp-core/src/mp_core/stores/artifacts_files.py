"""Versioned model bundles with a manifest, an atomic ``current`` pointer and rollback.

Layout under ``ARTIFACTS_DIR``::

    versions/v0001/   model.skops  pipeline.skops  fastpath.npz  manifest.json
    versions/v0002/   ...
    current.json      {"version": "v0002", "history": ["v0001"], "switched_at": "..."}

A bundle is written into a hidden temporary folder, fsynced, then renamed into place, so a save
that is interrupted never leaves a folder that looks complete. ``current.json`` is replaced
atomically; any process notices a switch by a cheap ``stat`` (:meth:`ArtifactStore.pointer_state`).
Loading reads each file once, checks the manifest's signature and every file's sha256
(:func:`mp_core.stores.bundle_trust.verify_bundle`) and never executes code from the bundle: skops
builds only the exact types training writes (:func:`mp_core.stores.bundle_trust.load_skops`), the
fast path is a plain ``.npz`` read without pickle. This module is the only one that touches
these files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mp_core.atomic import atomic_write_text, fsync_dir, fsync_path
from mp_core.errors import CorruptArtifact, ModelUnavailable
from mp_core.scoring.fastpath import FastScorer, export_fastpath, load_fastpath, save_fastpath
from mp_core.stores.bundle_trust import SIGNATURE_FILE, SigningKey, load_skops, verify_bundle

if TYPE_CHECKING:
    from mp_core.ml.training import TrainingResult

MODEL_FILE: Final = "model.skops"
PIPELINE_FILE: Final = "pipeline.skops"
FASTPATH_FILE: Final = "fastpath.npz"
MANIFEST_FILE: Final = "manifest.json"
POINTER_FILE: Final = "current.json"
HISTORY_LIMIT: Final = 50
STALE_TEMP_SECONDS: Final = 3600
BUNDLE_FILES: Final = (MODEL_FILE, PIPELINE_FILE, FASTPATH_FILE)
# ASCII digits only, the whole name: re's \d would take other scripts' digits, match a newline.
_VERSION_RE: Final = re.compile(r"v[0-9]{4,}", re.ASCII)


def is_version_name(name: str) -> bool:
    """``v`` and at least four ASCII digits, nothing before or after."""
    return _VERSION_RE.fullmatch(name) is not None


def checked_version(version: str | None, current: Callable[[], str | None]) -> str:
    """``version``, or else the ``current()`` one; refused unless it is a version name."""
    if version is None:
        version = current()
        if version is None:
            raise ModelUnavailable("no model: run `just train`")
    if not is_version_name(version):
        raise CorruptArtifact(f"{version!r} is not a version name")
    return version


def utc_now() -> str:
    """The current time as ISO-8601 UTC with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class LoadedScorer:
    """A verified fast-path scorer and the manifest of its version."""

    version: str
    scorer: FastScorer
    manifest: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Bundle:
    """A verified scikit-learn bundle: fitted preprocessor, fitted model, manifest."""

    version: str
    preprocessor: Any
    model: Any
    manifest: dict[str, Any]


class ArtifactStore:
    """The versioned model store under one directory (``ARTIFACTS_DIR``)."""

    def __init__(self, root: Path, signing_key: SigningKey | None = None) -> None:
        self.root = Path(root)
        self.signing_key = signing_key or SigningKey.from_env()
        self.versions_dir = self.root / "versions"
        self.pointer_path = self.root / POINTER_FILE

    # -- reading ---------------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Complete version folders, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        found = [p.name for p in self.versions_dir.iterdir() if is_version_name(p.name)]
        return sorted(found, key=lambda name: int(name[1:]))

    def pointer(self) -> dict[str, Any] | None:
        """The parsed ``current.json``, or None when no version was ever promoted."""
        try:
            raw = self.pointer_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("version"), str):
                raise ValueError("no version")
        except ValueError as exc:
            raise CorruptArtifact(f"{POINTER_FILE} is unreadable: {exc}") from None
        return data

    def current_version(self) -> str | None:
        pointer = self.pointer()
        return None if pointer is None else str(pointer["version"])

    def pointer_state(self) -> tuple[int, int] | None:
        """(inode, mtime) of the pointer: changes whenever the current version is switched."""
        try:
            st = os.stat(self.pointer_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def manifest(self, version: str | None = None) -> dict[str, Any]:
        """The manifest of ``version`` (default: current), unverified."""
        folder = self._folder(version)
        try:
            data = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CorruptArtifact(f"{folder.name}: {MANIFEST_FILE} is missing") from None
        except ValueError as exc:
            raise CorruptArtifact(f"{folder.name}: {MANIFEST_FILE} is unreadable: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise CorruptArtifact(f"{folder.name}: {MANIFEST_FILE} has no file list")
        return data

    def verify(self, version: str | None = None) -> dict[str, Any]:
        """Check a bundle's signature and every file against its manifest; return the manifest."""
        return self._verified(self._folder(version))[0]

    def load_scorer(self, version: str | None = None) -> LoadedScorer:
        """The verified fast-path scorer of ``version`` (default: current); no scikit-learn."""
        folder = self._folder(version)
        manifest, files = self._verified(folder)
        try:
            scorer = load_fastpath(io.BytesIO(files[FASTPATH_FILE] or b""))
        except (ValueError, KeyError, OSError) as exc:
            raise CorruptArtifact(f"{folder.name}: {FASTPATH_FILE} is unusable: {exc}") from None
        return LoadedScorer(version=folder.name, scorer=scorer, manifest=manifest)

    def load_bundle(self, version: str | None = None) -> Bundle:
        """The verified scikit-learn objects of ``version`` (default: current)."""
        folder = self._folder(version)
        manifest, files = self._verified(folder)
        return Bundle(
            version=folder.name,
            preprocessor=load_skops(files[PIPELINE_FILE] or b"", PIPELINE_FILE, folder.name),
            model=load_skops(files[MODEL_FILE] or b"", MODEL_FILE, folder.name),
            manifest=manifest,
        )

    def read_files(self, version: str) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The verified manifest and file contents of ``version`` (to copy it to another store)."""
        folder = self._folder(version)
        manifest, files = self._verified(folder)
        return manifest, {name: files[name] or b"" for name in manifest["files"]}

    def problem(self) -> str | None:
        return None

    def close(self) -> None:
        """Nothing is held between calls."""

    def _verified(self, folder: Path) -> tuple[dict[str, Any], dict[str, bytes | None]]:
        """Each file read once, then checked: what is parsed is exactly what was verified."""
        manifest = _read_optional(folder / MANIFEST_FILE)
        if manifest is None:
            raise CorruptArtifact(f"{folder.name}: {MANIFEST_FILE} is missing")
        files = {name: _read_optional(folder / name) for name in BUNDLE_FILES}
        checked = verify_bundle(
            folder.name,
            manifest,
            _read_optional(folder / SIGNATURE_FILE),
            files,
            self.signing_key,
            required=BUNDLE_FILES,
        )
        return checked, files

    # -- writing ---------------------------------------------------------------------------
    def save(self, result: TrainingResult, *, extra: dict[str, Any] | None = None) -> str:
        """Write a new bundle (not yet current) and return its version name."""
        import skops.io

        self.versions_dir.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()
        temp = self.versions_dir / f".tmp-{uuid.uuid4().hex}"
        temp.mkdir()
        try:
            skops.io.dump(result.model, temp / MODEL_FILE)
            skops.io.dump(result.preprocessor, temp / PIPELINE_FILE)
            save_fastpath(export_fastpath(result.preprocessor, result.model), temp / FASTPATH_FILE)
            files = {name: sha256_file(temp / name) for name in BUNDLE_FILES}
            for name in files:
                fsync_path(temp / name)
            manifest = build_manifest(result, files, extra or {})
            return self._publish(temp, manifest)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise

    def promote(self, version: str) -> None:
        """Make ``version`` current (after verifying it); the old one goes into the history."""
        self.load_scorer(version)  # refuses a partial or corrupted bundle
        self._write_pointer(version, next_history(self.pointer(), version))

    def rollback(self) -> str:
        """Make the previous version current again and return it."""
        pointer = self.pointer()
        if pointer is None:
            raise ModelUnavailable("no model has been promoted yet: run `just train`")
        history = [v for v in pointer.get("history", []) if (self.versions_dir / v).is_dir()]
        if not history:
            raise ModelUnavailable(
                f"{pointer['version']} is the only version: nothing to roll back to"
            )
        previous, rest = str(history[0]), history[1:]
        self.load_scorer(previous)
        self._write_pointer(previous, rest)
        return previous

    # -- internals -------------------------------------------------------------------------
    def _folder(self, version: str | None) -> Path:
        version = checked_version(version, self.current_version)
        folder = self.versions_dir / version
        if not folder.is_dir():
            raise CorruptArtifact(f"{version}: bundle folder is missing")
        return folder

    def _publish(self, temp: Path, manifest: dict[str, Any]) -> str:
        """Rename the finished temporary folder to the next free version name."""
        for _ in range(100):
            existing = self.versions()
            number = int(existing[-1][1:]) + 1 if existing else 1
            version = f"v{number:04d}"
            manifest["version"] = version
            text = manifest_bytes(manifest)
            (temp / MANIFEST_FILE).write_bytes(text)
            (temp / SIGNATURE_FILE).write_text(self.signing_key.sign(text), encoding="ascii")
            fsync_path(temp / MANIFEST_FILE)
            fsync_path(temp / SIGNATURE_FILE)
            fsync_dir(temp)
            try:
                os.rename(temp, self.versions_dir / version)
            except OSError:
                continue  # another process took this number first
            fsync_dir(self.versions_dir)
            return version
        raise CorruptArtifact("could not allocate a version name")

    def _write_pointer(self, version: str, history: list[str]) -> None:
        payload = {"version": version, "history": history, "switched_at": utc_now()}
        atomic_write_text(self.pointer_path, json.dumps(payload, indent=2) + "\n")

    def _remove_stale_temporaries(self) -> None:
        now = time.time()
        for path in self.versions_dir.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > STALE_TEMP_SECONDS:
                    shutil.rmtree(path)


def bundle_files(result: TrainingResult) -> dict[str, bytes]:
    """The three files of a bundle, as bytes (for a store that keeps them elsewhere than disk)."""
    import skops.io

    fast = io.BytesIO()
    save_fastpath(export_fastpath(result.preprocessor, result.model), fast)
    return {
        MODEL_FILE: skops.io.dumps(result.model),
        PIPELINE_FILE: skops.io.dumps(result.preprocessor),
        FASTPATH_FILE: fast.getvalue(),
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The exact bytes of a manifest as stored and signed (sorted keys, one trailing newline)."""
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def next_history(pointer: dict[str, Any] | None, version: str) -> list[str]:
    """The history after ``version`` becomes current: the old current first, no repeats."""
    history: list[str] = []
    if pointer is not None:
        history = [pointer["version"], *pointer.get("history", [])]
    return [v for v in history if v != version][:HISTORY_LIMIT]


def _read_optional(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def library_versions() -> dict[str, str]:
    names = ("mp-core", "numpy", "pandas", "scikit-learn", "skops", "msgspec")
    found = {"python": platform.python_version()}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def build_manifest(
    result: TrainingResult, files: dict[str, str], extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "version": None,  # set when the folder is published
        "created_at": utc_now(),
        "algorithm": result.algorithm,
        "params": result.winner.params,
        "metrics": result.metrics,
        "selection_metric": result.selection_metric,
        "candidates": {
            c.algorithm: {"metrics": c.metrics, "fit_seconds": round(c.fit_seconds, 3)}
            for c in result.candidates
        },
        "training_rows": result.train_rows,
        "test_rows": result.test_rows,
        "data_hash": result.data_hash,
        "n_components": result.n_components,
        "training_seconds": round(result.seconds, 3),
        "libraries": library_versions(),
        "files": files,
        **extra,
    }
