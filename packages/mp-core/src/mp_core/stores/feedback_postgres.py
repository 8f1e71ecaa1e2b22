"""Feedback rows in PostgreSQL: the ``feedback`` table, numbered by ``feedback_counter``.

A writer first takes the counter row's lock (``UPDATE … RETURNING``), so concurrent writers on
any host are ordered exactly as one file's flock orders them, then looks the idempotency key up
(it sees every row committed before it got the lock) and inserts. The row is durable when the
transaction commits, before the API answers. Every statement of this store is in this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from psycopg.types.json import Jsonb

from mp_core.schema import FEATURE_NAMES, StudentProfile, profile_from_mapping
from mp_core.stores.feedback_files import (
    PROD_COLUMNS,
    FeedbackRecord,
    Stored,
    check_same_request,
    format_row,
    request_body,
)
from mp_core.stores.postgres import Database

if TYPE_CHECKING:
    from mp_core.ml.dataset import LoadedDataset

_COLUMNS: Final = ", ".join(f'"{name}"' for name in FEATURE_NAMES)

TAKE_NUMBER: Final = "UPDATE feedback_counter SET rows = rows + 1 WHERE id = 1 RETURNING rows"
FIND_KEY: Final = "SELECT seq, request FROM feedback WHERE idempotency_key = %s"
INSERT_ROW: Final = (
    f"INSERT INTO feedback (seq, timestamp, model_version, {_COLUMNS},"
    " prediction, probability, actual, idempotency_key, request)"
    f" VALUES (%s, %s, %s, {', '.join(['%s'] * len(FEATURE_NAMES))}, %s, %s, %s, %s, %s)"
)
COUNT_ROWS: Final = "SELECT rows FROM feedback_counter WHERE id = 1"
READ_ROWS: Final = (
    f"SELECT timestamp, model_version, {_COLUMNS}, prediction, probability, actual"
    " FROM feedback WHERE seq > %s ORDER BY seq"
)


class PostgresFeedbackStore:
    """Feedback rows in the ``feedback`` table of ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, record: FeedbackRecord) -> int:
        return self.add(record).total

    def add(self, record: FeedbackRecord, *, key: str | None = None) -> Stored:
        """Insert one row, once per ``key``; committed before this returns."""
        timestamp = format_row(record).decode().split(",", 1)[0]
        with self.db.connection() as conn:
            row = conn.execute(TAKE_NUMBER).fetchone()
            assert row is not None  # the migration inserts the counter row
            number = int(str(row[0]))
            if key is not None:
                known = conn.execute(FIND_KEY, (key,)).fetchone()
                if known is not None:
                    conn.rollback()  # give the number back
                    body: dict[str, Any] = known[1]  # type: ignore[assignment]
                    check_same_request(key, body, record)
                    return Stored(total=int(str(known[0])), replayed=True)
            conn.execute(
                INSERT_ROW,
                (
                    number,
                    timestamp,
                    record.model_version,
                    *_profile_values(record.profile),
                    record.prediction,
                    float(record.probability),
                    record.actual,
                    key,
                    Jsonb(request_body(record)) if key is not None else None,
                ),
            )
        return Stored(total=number)

    def count(self) -> int:
        with self.db.connection() as conn:
            row = conn.execute(COUNT_ROWS).fetchone()
        return 0 if row is None else int(str(row[0]))

    def repair(self) -> int:
        """Nothing to repair: a transaction is stored whole or not at all."""
        return 0

    def read(self, since: int = 0) -> LoadedDataset:
        """Rows after the first ``since``, typed and checked exactly like the file's rows."""
        from mp_core.ml.dataset import parse_csv_text
        from mp_core.stores.feedback_files import _HEADER

        with self.db.connection() as conn:
            rows = conn.execute(READ_ROWS, (since,)).fetchall()
        lines = [_HEADER]
        for values in rows:
            record = FeedbackRecord(
                profile=profile_from_mapping(
                    dict(zip(FEATURE_NAMES, values[2 : 2 + len(FEATURE_NAMES)], strict=True))
                ),
                prediction=int(str(values[-3])),
                probability=float(str(values[-2])),
                actual=int(str(values[-1])),
                model_version=str(values[1]),
                timestamp=str(values[0]),
            )
            lines.append(format_row(record))
        loaded: LoadedDataset = parse_csv_text(
            b"".join(lines).decode(),
            source="PostgreSQL feedback table",
            binary_columns=("prediction", "actual"),
            float_columns=("probability",),
            keep_columns=("timestamp", "model_version"),
            on_bad="skip",
        )
        loaded.frame = loaded.frame[list(PROD_COLUMNS)]
        return loaded

    def problem(self) -> str | None:
        reason = self.db.problem()
        return None if reason is None else f"feedback store unavailable: {reason}"

    def close(self) -> None:
        self.db.close()


def _profile_values(profile: StudentProfile) -> tuple[Any, ...]:
    return tuple(getattr(profile, name) for name in FEATURE_NAMES)
