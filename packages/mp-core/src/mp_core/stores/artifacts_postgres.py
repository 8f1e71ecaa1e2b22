"""Model bundles in PostgreSQL: ``model_versions``, ``model_files``, ``model_pointer``.

The same bundles as the files backend (the same three files, the same signed manifest and the
same checks: :func:`mp_core.stores.bundle_trust.verify_bundle` on the manifest's exact bytes and
signature, kept as two more rows of ``model_files``, and the exact skops type allowlist), kept as
bytes in the database, so API replicas on other hosts need no shared disk. A promotion is one
``UPDATE`` of the pointer row, whose ``serial`` grows by one; each serving process polls that
number every ``POLL_SECONDS`` on a thread of its own, so asking for the pointer on every request
costs no query, and a promotion reaches every replica within ``POLL_SECONDS`` plus a load.
Every statement of this store is in this module.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import TYPE_CHECKING, Any, Final

from psycopg.types.json import Jsonb

from mp_core.errors import CorruptArtifact, ModelUnavailable, StoreUnavailable
from mp_core.scoring.fastpath import load_fastpath
from mp_core.stores.artifacts_files import (
    BUNDLE_FILES,
    FASTPATH_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    PIPELINE_FILE,
    Bundle,
    LoadedScorer,
    build_manifest,
    bundle_files,
    checked_version,
    manifest_bytes,
    next_history,
    utc_now,
)
from mp_core.stores.bundle_trust import SIGNATURE_FILE, SigningKey, load_skops, verify_bundle
from mp_core.stores.postgres import Database

if TYPE_CHECKING:
    from mp_core.ml.training import TrainingResult

log = logging.getLogger("mp_core.stores")

POLL_SECONDS: Final = 0.5

VERSIONS: Final = "SELECT version FROM model_versions ORDER BY number"
POINTER: Final = (
    "SELECT version, history, to_char(switched_at AT TIME ZONE 'UTC',"
    ' \'YYYY-MM-DD"T"HH24:MI:SS"Z"\'), serial FROM model_pointer WHERE id = 1'
)
SERIAL: Final = "SELECT serial FROM model_pointer WHERE id = 1"
MANIFEST: Final = "SELECT manifest FROM model_versions WHERE version = %s"
FILES: Final = "SELECT name, content FROM model_files WHERE version = %s"
LOCK_VERSIONS: Final = "LOCK TABLE model_versions IN EXCLUSIVE MODE"
NEXT_NUMBER: Final = "SELECT coalesce(max(number), 0) + 1 FROM model_versions"
INSERT_VERSION: Final = "INSERT INTO model_versions (number, version, manifest) VALUES (%s, %s, %s)"
INSERT_FILE: Final = "INSERT INTO model_files (version, name, content) VALUES (%s, %s, %s)"
LOCK_POINTER: Final = "LOCK TABLE model_pointer IN EXCLUSIVE MODE"
WRITE_POINTER: Final = (
    "INSERT INTO model_pointer (id, version, history, switched_at, serial)"
    " VALUES (1, %s, %s, now(), 1)"
    " ON CONFLICT (id) DO UPDATE SET version = excluded.version, history = excluded.history,"
    " switched_at = now(), serial = model_pointer.serial + 1"
)
HAS_VERSION: Final = "SELECT 1 FROM model_versions WHERE version = %s"


class PostgresArtifactStore:
    """The versioned model store in the database ``db``."""

    def __init__(self, db: Database, signing_key: SigningKey | None = None) -> None:
        self.db = db
        self.signing_key = signing_key or SigningKey.from_env()
        self._serial: int | None = None
        self._poller: threading.Thread | None = None
        self._poll_lock = threading.Lock()
        self._stopped = threading.Event()

    # -- reading ---------------------------------------------------------------------------
    def versions(self) -> list[str]:
        with self.db.connection() as conn:
            return [str(r[0]) for r in conn.execute(VERSIONS).fetchall()]

    def pointer(self) -> dict[str, Any] | None:
        with self.db.connection() as conn:
            row = conn.execute(POINTER).fetchone()
        if row is None:
            return None
        return {"version": row[0], "history": row[1], "switched_at": row[2], "serial": row[3]}

    def current_version(self) -> str | None:
        pointer = self.pointer()
        return None if pointer is None else str(pointer["version"])

    def pointer_state(self) -> int | None:
        """The pointer's switch counter as last polled (no query here: a thread polls it)."""
        if self._poller is None:
            with self._poll_lock:
                if self._poller is None:
                    self._serial = self._read_serial()
                    self._poller = threading.Thread(
                        target=self._poll, name="model-pointer-poll", daemon=True
                    )
                    self._poller.start()
        return self._serial

    def manifest(self, version: str | None = None) -> dict[str, Any]:
        version = self._resolve(version)
        with self.db.connection() as conn:
            row = conn.execute(MANIFEST, (version,)).fetchone()
        if row is None:
            raise CorruptArtifact(f"{version}: no such version in the database")
        manifest: dict[str, Any] = row[0]  # type: ignore[assignment]
        return manifest

    def read_files(self, version: str | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The verified manifest and bundle files of ``version``: each row read once, then
        checked, so what is parsed is exactly what was verified."""
        version = self._resolve(version)
        with self.db.connection() as conn:
            rows = {str(n): bytes(c) for n, c in conn.execute(FILES, (version,)).fetchall()}  # type: ignore[call-overload]
        manifest = rows.get(MANIFEST_FILE)
        if manifest is None:
            raise CorruptArtifact(f"{version}: {MANIFEST_FILE} is missing")
        files: dict[str, bytes | None] = {name: rows.get(name) for name in BUNDLE_FILES}
        checked = verify_bundle(
            version,
            manifest,
            rows.get(SIGNATURE_FILE),
            files,
            self.signing_key,
            required=BUNDLE_FILES,
        )
        return checked, {name: files[name] or b"" for name in checked["files"]}

    def verify(self, version: str | None = None) -> dict[str, Any]:
        return self.read_files(version)[0]

    def load_scorer(self, version: str | None = None) -> LoadedScorer:
        version = self._resolve(version)
        manifest, files = self.read_files(version)
        try:
            scorer = load_fastpath(io.BytesIO(files[FASTPATH_FILE]))
        except (ValueError, KeyError, OSError) as exc:
            raise CorruptArtifact(f"{version}: {FASTPATH_FILE} is unusable: {exc}") from None
        return LoadedScorer(version=version, scorer=scorer, manifest=manifest)

    def load_bundle(self, version: str | None = None) -> Bundle:
        version = self._resolve(version)
        manifest, files = self.read_files(version)
        return Bundle(
            version=version,
            preprocessor=load_skops(files[PIPELINE_FILE], PIPELINE_FILE, version),
            model=load_skops(files[MODEL_FILE], MODEL_FILE, version),
            manifest=manifest,
        )

    # -- writing ---------------------------------------------------------------------------
    def save(self, result: TrainingResult, *, extra: dict[str, Any] | None = None) -> str:
        import hashlib

        files = bundle_files(result)
        digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        return self.publish_files(build_manifest(result, digests, extra or {}), files)

    def publish_files(self, manifest: dict[str, Any], files: dict[str, bytes]) -> str:
        """Store a bundle under the next version name, in one transaction; return the name.

        The manifest names its new version and is signed here with this store's key; the
        files must match the sha256 it lists (checked before anything is written)."""
        unknown = sorted(set(files) - set(BUNDLE_FILES))
        if unknown:
            raise CorruptArtifact(f"a bundle holds only {list(BUNDLE_FILES)}, not {unknown}")
        with self.db.connection() as conn:
            conn.execute(LOCK_VERSIONS)
            row = conn.execute(NEXT_NUMBER).fetchone()
            number = int(str(row[0])) if row else 1
            version = f"v{number:04d}"
            manifest = {**manifest, "version": version}
            text = manifest_bytes(manifest)
            signature = self.signing_key.sign(text).encode("ascii")
            verify_bundle(version, text, signature, files, self.signing_key, required=BUNDLE_FILES)
            conn.execute(INSERT_VERSION, (number, version, Jsonb(manifest)))
            for name, data in {**files, MANIFEST_FILE: text, SIGNATURE_FILE: signature}.items():
                conn.execute(INSERT_FILE, (version, name, data))
        return version

    def promote(self, version: str) -> None:
        self.load_scorer(version)  # refuses a partial or corrupted bundle
        with self.db.connection() as conn:
            conn.execute(LOCK_POINTER)
            self._write_pointer(conn, version, next_history(self._pointer_in(conn), version))

    def rollback(self) -> str:
        with self.db.connection() as conn:
            conn.execute(LOCK_POINTER)
            pointer = self._pointer_in(conn)
            if pointer is None:
                raise ModelUnavailable("no model has been promoted yet: run `just train`")
            history = [
                v for v in pointer.get("history", []) if conn.execute(HAS_VERSION, (v,)).fetchone()
            ]
            if not history:
                raise ModelUnavailable(
                    f"{pointer['version']} is the only version: nothing to roll back to"
                )
            previous = str(history[0])
            self.load_scorer(previous)
            self._write_pointer(conn, previous, history[1:])
        return previous

    def problem(self) -> str | None:
        return self.db.problem()

    def close(self) -> None:
        self._stopped.set()
        self.db.close()

    # -- internals -------------------------------------------------------------------------
    def _resolve(self, version: str | None) -> str:
        return checked_version(version, self.current_version)

    def _pointer_in(self, conn: Any) -> dict[str, Any] | None:
        row = conn.execute(POINTER).fetchone()
        return None if row is None else {"version": row[0], "history": row[1]}

    def _write_pointer(self, conn: Any, version: str, history: list[str]) -> None:
        conn.execute(WRITE_POINTER, (version, Jsonb(history)))
        log.info("pointer_switched", extra={"version": version, "at": utc_now()})

    def _read_serial(self) -> int | None:
        try:
            with self.db.connection() as conn:
                row = conn.execute(SERIAL).fetchone()
        except StoreUnavailable:
            return self._serial  # keep serving what we have; the next poll tries again
        return None if row is None else int(str(row[0]))

    def _poll(self) -> None:
        while not self._stopped.wait(POLL_SECONDS):
            try:
                self._serial = self._read_serial()
            except Exception as exc:  # the poll must outlive any one failure; the next one retries
                log.warning("pointer_poll_failed", extra={"error": str(exc)})
