"""The feedback store: durable, append-only ``prod_data.csv``.

Each row is written under an exclusive ``flock`` and fsynced before :meth:`FeedbackStore.append`
returns, so rows from several worker processes never interleave and an acknowledged row survives
a crash. A crash in the middle of a write can leave a torn last line without its newline; the
next writer (or :meth:`FeedbackStore.repair` at start-up) cuts it off, and readers never look
past the last newline. This is the only module that touches the file, behind the small
interface :class:`mp_core.stores.FeedbackRows` that the PostgreSQL backend implements as well.

An idempotency key, when given, is written to ``<name>.keys.jsonl`` beside the CSV, under the
same lock and *before* the row, with the number the row is about to get: a crash between the
two leaves a key that points past the last row, which the next writer cuts off, so a retry of
an unacknowledged request is stored once, and a retry of an acknowledged one finds its row.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import msgspec

from mp_core.errors import FeedbackStoreError, IdempotencyConflict
from mp_core.schema import FEATURE_NAMES, StudentProfile

if TYPE_CHECKING:
    from mp_core.ml.dataset import LoadedDataset

PROD_COLUMNS: Final[tuple[str, ...]] = (
    "timestamp",
    "model_version",
    *FEATURE_NAMES,
    "prediction",
    "probability",
    "actual",
)
_HEADER: Final = (",".join(PROD_COLUMNS) + "\n").encode()


class FeedbackRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One acknowledged feedback: the profile, what the model said, and what is true."""

    profile: StudentProfile
    prediction: int
    probability: float
    actual: int
    model_version: str
    timestamp: str | None = None  # filled with the current UTC time when omitted


class Stored(msgspec.Struct, frozen=True):
    """What storing a feedback gave: its number (= rows stored then) and whether it was a retry."""

    total: int
    replayed: bool = False


def request_body(record: FeedbackRecord) -> dict[str, Any]:
    """What a client sent for ``record``: the part an idempotent retry must repeat exactly."""
    return {
        "features": msgspec.structs.asdict(record.profile),
        "prediction": record.prediction,
        "actual": record.actual,
    }


def check_same_request(key: str, stored: dict[str, Any], record: FeedbackRecord) -> None:
    """Raise :class:`IdempotencyConflict` naming the first field where ``record`` differs."""
    sent = request_body(record)
    for name in ("features", "prediction", "actual"):
        if name == "features":
            for feature, value in sent["features"].items():
                if stored.get("features", {}).get(feature) != value:
                    raise _conflict(key, f"features.{feature}")
        elif stored.get(name) != sent[name]:
            raise _conflict(key, name)


def _conflict(key: str, field: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        field,
        f"differs from the first request sent with Idempotency-Key {key!r}; "
        "a retry must repeat the same body (use a new key for a new feedback)",
    )


def format_row(record: FeedbackRecord) -> bytes:
    """The CSV line for ``record``, newline included."""
    timestamp = record.timestamp or datetime.now(UTC).isoformat(timespec="milliseconds")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [
            timestamp,
            record.model_version,
            *msgspec.structs.astuple(record.profile),
            record.prediction,
            repr(float(record.probability)),
            record.actual,
        ]
    )
    return buffer.getvalue().encode()


class FeedbackStore:
    """Append-only CSV of feedback rows at ``path`` (created with its header on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.keys_path = self.path.with_name(self.path.stem + ".keys.jsonl")
        # Rows counted so far and the byte offset they end at: counting resumes from there.
        self._counted_bytes = 0
        self._counted_rows = 0
        # Idempotency keys read so far (key -> (row number, request body)) and where reading stopped.
        self._keys: dict[str, tuple[int, dict[str, Any]]] = {}
        self._keys_bytes = 0

    @contextmanager
    def _locked(self) -> Iterator[IO[bytes]]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered: a write that fails leaves no bytes queued to reach the file later
            # (a buffered file retries them at truncate and close, after the cut).
            handle = open(self.path, "a+b", buffering=0)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise FeedbackStoreError(f"cannot open {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield handle
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()

    def append(self, record: FeedbackRecord) -> int:
        """Write one row durably; return the number of rows now stored."""
        return self.add(record).total

    def add(self, record: FeedbackRecord, *, key: str | None = None) -> Stored:
        """Write one row durably, once per ``key``; a retry with the same key gets its answer."""
        line = format_row(record)
        with self._locked() as handle:
            size = self._repair_locked(handle)
            count = self._count_locked(handle)
            if key is not None:
                self._repair_keys_locked(count)
                known = self._keys.get(key)
                if known is not None:
                    check_same_request(key, known[1], record)
                    return Stored(total=known[0], replayed=True)
                self._write_key_locked(key, count + 1, request_body(record))
            try:
                _write_all(handle, _HEADER + line if size == 0 else line)
                os.fsync(handle.fileno())
            except OSError as exc:
                # Cut back whatever part of the row reached the file, so nothing torn stays.
                handle.truncate(size)
                if key is not None:  # and the key written for it
                    self._keys.clear()
                    self._keys_bytes = 0
                    self._repair_keys_locked(count)
                raise FeedbackStoreError(f"cannot write {self.path}: {exc.strerror}") from None
            return Stored(total=self._count_locked(handle))

    def count(self) -> int:
        """Rows stored (complete lines after the header)."""
        if not self.path.exists():
            return 0
        with self._locked() as handle:
            return self._count_locked(handle)

    def repair(self) -> int:
        """Cut off a torn last line left by a crash; return the bytes removed."""
        if not self.path.exists():
            return 0
        with self._locked() as handle:
            before = os.fstat(handle.fileno()).st_size
            return before - self._repair_locked(handle)

    def read(self, since: int = 0) -> LoadedDataset:
        """Valid rows after the first ``since`` ones, typed; malformed rows in ``bad_lines``."""
        from mp_core.ml.dataset import parse_csv_text

        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        complete = data[: data.rfind(b"\n") + 1]  # never past the last newline
        if not complete:
            complete = _HEADER
        header, _, body = complete.partition(b"\n")
        if since > 0:
            lines = body.split(b"\n")
            body = b"\n".join(lines[since:]) if since < len(lines) - 1 else b""
        text = (header + b"\n" + body).decode("utf-8", errors="replace")
        loaded: LoadedDataset = parse_csv_text(
            text,
            source=str(self.path),
            binary_columns=("prediction", "actual"),
            float_columns=("probability",),
            keep_columns=("timestamp", "model_version"),
            on_bad="skip",
        )
        if since > 0:  # report line numbers as they are in the file
            loaded.bad_lines = {line + since: why for line, why in loaded.bad_lines.items()}
        loaded.frame = loaded.frame[list(PROD_COLUMNS)]
        return loaded

    def problem(self) -> str | None:
        """Why rows cannot be stored now (None: the folder is there and writable)."""
        folder = self.path.parent
        if folder.exists() and not os.access(folder, os.W_OK):
            return f"feedback store unavailable: {folder} is not writable"
        return None

    def close(self) -> None:
        """Nothing to release: every write opens and closes the file."""

    def _write_key_locked(self, key: str, row: int, body: dict[str, Any]) -> None:
        entry = msgspec.json.encode({"key": key, "row": row, "request": body}) + b"\n"
        try:
            with open(self.keys_path, "ab") as keys:
                keys.write(entry)
                keys.flush()
                os.fsync(keys.fileno())
        except OSError as exc:
            raise FeedbackStoreError(f"cannot write {self.keys_path}: {exc.strerror}") from None
        self._keys[key] = (row, body)
        self._keys_bytes += len(entry)

    def _repair_keys_locked(self, rows: int) -> None:
        """With the lock held: read new keys; cut torn lines and keys past the last row."""
        try:
            handle = open(self.keys_path, "r+b")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            self._keys.clear()
            self._keys_bytes = 0
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            if size < self._keys_bytes:  # cut back by another process: read again
                self._keys.clear()
                self._keys_bytes = 0
            handle.seek(self._keys_bytes)
            data = handle.read()
            offset = self._keys_bytes
            keep = offset
            for raw in data.split(b"\n")[:-1]:  # the part after the last newline is torn
                entry = msgspec.json.decode(raw)
                if int(entry["row"]) > rows:
                    break  # written before a row that never made it (a crash): cut from here
                self._keys[str(entry["key"])] = (int(entry["row"]), entry["request"])
                keep += len(raw) + 1
            if keep != size:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
            self._keys_bytes = keep

    def _repair_locked(self, handle: IO[bytes]) -> int:
        """With the lock held: drop bytes after the last newline; return the new size."""
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return size
        # Walk back to the last newline; a torn line is at most one row long.
        position = size
        while position > 0:
            start = max(0, position - 4096)
            handle.seek(start)
            chunk = handle.read(position - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                new_size = start + cut + 1
                break
            position = start
        else:
            new_size = 0
        handle.truncate(new_size)
        handle.flush()
        os.fsync(handle.fileno())
        return new_size

    def _count_locked(self, handle: IO[bytes]) -> int:
        size = os.fstat(handle.fileno()).st_size
        if size < self._counted_bytes:  # cut back by a repair: count again
            self._counted_bytes = self._counted_rows = 0
        handle.seek(self._counted_bytes)
        newlines = 0
        remaining = size - self._counted_bytes
        while remaining > 0:
            chunk = handle.read(min(remaining, 1 << 20))
            if not chunk:
                break
            newlines += chunk.count(b"\n")
            remaining -= len(chunk)
        if self._counted_bytes == 0 and newlines:
            newlines -= 1  # the header line
        self._counted_rows += newlines
        self._counted_bytes = size
        return self._counted_rows


def _write_all(handle: IO[bytes], data: bytes) -> None:
    """Write every byte to an unbuffered file, which may take several short writes."""
    while data:
        data = data[handle.write(data) :]
