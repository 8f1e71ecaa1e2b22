"""Model bundles in PostgreSQL: ``model_versions``, ``model_files``, ``model_pointer``.

The same bundles as the files backend (the same three files, the same manifest and checks), kept
as bytes in the database, so API replicas on other hosts need no shared disk. A promotion is one
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
    FASTPATH_FILE,
    MODEL_FILE,
    PIPELINE_FILE,
    Bundle,
    LoadedScorer,
    build_manifest,
    bundle_files,
    check_files,
    load_skops_bytes,
    next_history,
    utc_now,
)
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

    def __init__(self, db: Database) -> None:
        self.db = db
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
        version = self._resolve(version)
        manifest = self.manifest(version)
        with self.db.connection() as conn:
            files = {str(n): bytes(c) for n, c in conn.execute(FILES, (version,)).fetchall()}  # type: ignore[call-overload]
        check_files(version, manifest, files)
        return manifest, files

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
            preprocessor=load_skops_bytes(files[PIPELINE_FILE], version, PIPELINE_FILE),
            model=load_skops_bytes(files[MODEL_FILE], version, MODEL_FILE),
            manifest=manifest,
        )

    # -- writing ---------------------------------------------------------------------------
    def save(self, result: TrainingResult, *, extra: dict[str, Any] | None = None) -> str:
        import hashlib

        files = bundle_files(result)
        digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        return self.publish_files(build_manifest(result, digests, extra or {}), files)

    def publish_files(self, manifest: dict[str, Any], files: dict[str, bytes]) -> str:
        """Store a bundle under the next version name, in one transaction; return the name."""
        with self.db.connection() as conn:
            conn.execute(LOCK_VERSIONS)
            row = conn.execute(NEXT_NUMBER).fetchone()
            number = int(str(row[0])) if row else 1
            version = f"v{number:04d}"
            manifest = {**manifest, "version": version}
            check_files(version, manifest, files)
            conn.execute(INSERT_VERSION, (number, version, Jsonb(manifest)))
            for name, data in files.items():
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
        if version is not None:
            return version
        current = self.current_version()
        if current is None:
            raise ModelUnavailable("no model: run `just train`")
        return current

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
