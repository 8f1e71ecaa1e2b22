"""The PostgreSQL connection every PostgreSQL store shares: one pool per process, the schema.

The schema is the numbered ``migrations/NNNN_*.sql`` files in this package, applied in order at
start by :func:`migrate` under a transaction-scoped advisory lock (so replicas starting together
take turns) and recorded in ``schema_migrations``; a file already recorded is never run again,
and no migration drops or rewrites data. Every failure to reach the server is raised as
:class:`~mp_core.errors.StoreUnavailable` with the reason, so the API answers 503 and tries
again on the next request: the pool replaces broken connections by itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Final

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from mp_core.errors import StoreUnavailable

log = logging.getLogger("mp_core.stores")

#: Advisory lock keys (32-bit, so pg_locks shows them in ``objid``).
MIGRATION_LOCK: Final = 0x4D500001
RETRAIN_LOCK: Final = 0x4D500002
#: How long a request waits for a connection before it is answered 503.
CONNECT_TIMEOUT: Final = 2.0
POOL_MAX: Final = 8


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, SQL) of every migration shipped in the package, in order."""
    folder = resources.files("mp_core.stores").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    """A connection pool to ``url`` with the schema applied."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] | None = None
        self._lock = threading.Lock()

    def _open(self) -> ConnectionPool[psycopg.Connection[tuple[object, ...]]]:
        """The pool, opened and with the schema applied (once per process, on first use)."""
        with self._lock:
            if self._pool is not None:
                return self._pool
            pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] = ConnectionPool(
                self.url,
                min_size=1,
                max_size=POOL_MAX,
                open=False,
                timeout=CONNECT_TIMEOUT,
                check=ConnectionPool.check_connection,
                kwargs={"connect_timeout": int(CONNECT_TIMEOUT)},
                name="mindpulse",
            )
            pool.open(wait=False)
            try:
                with _reachable(), pool.connection() as conn:
                    migrate(conn)
            except BaseException:
                pool.close()
                raise
            self._pool = pool
            return pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """A pooled connection in a transaction (committed on success), or StoreUnavailable."""
        pool = self._pool or self._open()
        with _reachable(), pool.connection() as conn:
            yield conn

    def dedicated(self) -> psycopg.Connection[tuple[object, ...]]:
        """A connection outside the pool (autocommit), for a session-long advisory lock."""
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT))
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL is unreachable: {_first_line(exc)}") from None

    def problem(self) -> str | None:
        """Why the database cannot be used right now, or None when a query goes through."""
        try:
            with self.connection() as conn:
                conn.execute("SELECT 1")
        except StoreUnavailable as exc:
            return str(exc)
        return None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


@contextmanager
def _reachable() -> Iterator[None]:
    """Turn "cannot reach the server" into StoreUnavailable with the reason."""
    try:
        yield
    except PoolTimeout:
        raise StoreUnavailable(
            f"PostgreSQL is unreachable: no connection within {CONNECT_TIMEOUT:g} s"
        ) from None
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"PostgreSQL is unreachable: {_first_line(exc)}") from None


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Apply the migrations not yet recorded; return their names (empty when up to date)."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " number integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}
        for number, name, statements in migrations():
            if number in done:
                continue
            conn.execute(statements.encode())  # psycopg runs a multi-statement script as is
            conn.execute(
                "INSERT INTO schema_migrations (number, name) VALUES (%s, %s)", (number, name)
            )
            applied.append(name)
    if applied:
        log.info("schema_migrated", extra={"applied": applied})
    return applied


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


_databases: dict[str, Database] = {}
_databases_lock = threading.Lock()


def database(url: str) -> Database:
    """The process's one :class:`Database` for ``url`` (its pool is shared by every store)."""
    with _databases_lock:
        found = _databases.get(url)
        if found is None:
            found = _databases[url] = Database(url)
        return found
