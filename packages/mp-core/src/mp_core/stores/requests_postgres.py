"""Retrain requests in PostgreSQL: ``retrain_requests``, ``retrain_status``, ``trainers``.

The one-at-a-time rule is the session-level advisory lock ``RETRAIN_LOCK`` held on a connection
of its own for the whole training: PostgreSQL drops it when that session ends, so a trainer
killed on any host frees it. Every statement of this store is in this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb

from mp_core.stores.postgres import RETRAIN_LOCK, Database
from mp_core.stores.requests import (
    TRAINER_SILENCE_SECONDS,
    Taken,
    interrupted_if_orphaned,
)

# A request is recorded only when none is waiting; the lock orders two API replicas asking at once.
RECORD: Final = (
    "INSERT INTO retrain_requests (trigger) SELECT %s"
    " WHERE NOT EXISTS (SELECT 1 FROM retrain_requests WHERE taken_at IS NULL)"
)
LOCK_QUEUE: Final = "LOCK TABLE retrain_requests IN SHARE ROW EXCLUSIVE MODE"
_REQUESTED_AT: Final = (
    """to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
)
WAITING: Final = (
    f"SELECT trigger, {_REQUESTED_AT} FROM retrain_requests WHERE taken_at IS NULL ORDER BY id"
)
TAKE_WAITING: Final = (
    "UPDATE retrain_requests SET taken_at = now(), taken_by = %s WHERE taken_at IS NULL"
    f" RETURNING trigger, {_REQUESTED_AT}, id"
)
TRY_LOCK: Final = "SELECT pg_try_advisory_lock(%s)"
UNLOCK: Final = "SELECT pg_advisory_unlock(%s)"
LOCK_HELD: Final = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
    " AND classid = 0 AND objid = %s AND granted)"
)
WRITE_STATUS: Final = (
    "INSERT INTO retrain_status (id, status, updated_at) VALUES (1, %s, now())"
    " ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = now()"
)
READ_STATUS: Final = "SELECT status FROM retrain_status WHERE id = 1"
BEAT: Final = (
    "INSERT INTO trainers (worker, seen_at) VALUES (%s, now())"
    " ON CONFLICT (worker) DO UPDATE SET seen_at = now()"
)
ALIVE: Final = (
    "SELECT worker FROM trainers WHERE seen_at > now() - make_interval(secs => %s) ORDER BY worker"
)


class PostgresRetrainRequests:
    """The retrain queue, lock and status in the database ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def request(self, trigger: str) -> bool:
        with self.db.connection() as conn:
            conn.execute(LOCK_QUEUE)
            return conn.execute(RECORD, (trigger,)).rowcount == 1

    def waiting(self) -> list[dict[str, str]]:
        with self.db.connection() as conn:
            rows = conn.execute(WAITING).fetchall()
        return [{"trigger": str(r[0]), "requested_at": str(r[1])} for r in rows]

    @contextlib.contextmanager
    def take(self, worker: str) -> Iterator[Taken | None]:
        with self.hold_lock() as held:
            if not held:
                yield None
                return
            with self.db.connection() as conn:
                conn.execute(LOCK_QUEUE)
                rows = sorted(conn.execute(TAKE_WAITING, (worker,)).fetchall(), key=lambda r: r[2])  # type: ignore[arg-type, return-value]
            taken = Taken(
                triggers=[str(r[0]) for r in rows], requested_at=[str(r[1]) for r in rows]
            )
            yield taken if taken.triggers else None

    @contextlib.contextmanager
    def hold_lock(self) -> Iterator[bool]:
        conn = self.db.dedicated()
        try:
            row = conn.execute(TRY_LOCK, (RETRAIN_LOCK,)).fetchone()
            held = bool(row and row[0])
            yield held
            if held:  # at once, rather than when the server notices the session ended
                with contextlib.suppress(psycopg.Error):
                    conn.execute(UNLOCK, (RETRAIN_LOCK,))
        finally:
            conn.close()  # ending the session releases the advisory lock in any case

    def is_running(self) -> bool:
        with self.db.connection() as conn:
            row = conn.execute(LOCK_HELD, (RETRAIN_LOCK,)).fetchone()
        return bool(row and row[0])

    def write_status(self, status: dict[str, Any]) -> None:
        with self.db.connection() as conn:
            conn.execute(WRITE_STATUS, (Jsonb(status, dumps=_dumps),))

    def read_status(self) -> dict[str, Any] | None:
        with self.db.connection() as conn:
            row = conn.execute(READ_STATUS).fetchone()
            held = conn.execute(LOCK_HELD, (RETRAIN_LOCK,)).fetchone()
        status: dict[str, Any] | None = None if row is None else row[0]  # type: ignore[assignment]
        return interrupted_if_orphaned(status, bool(held and held[0]))

    def beat(self, worker: str) -> None:
        with self.db.connection() as conn:
            conn.execute(BEAT, (worker,))

    def trainers(self) -> list[str]:
        with self.db.connection() as conn:
            rows = conn.execute(ALIVE, (TRAINER_SILENCE_SECONDS,)).fetchall()
        return [str(r[0]) for r in rows]

    def problem(self) -> str | None:
        return self.db.problem()

    def close(self) -> None:
        self.db.close()


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str)
