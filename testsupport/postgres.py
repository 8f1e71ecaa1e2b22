"""A real PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a temp cluster.

One server per test session (:func:`postgres_server`), on a free loopback port, with its data
in a temporary folder that is removed when the session ends. Each test that needs a clean
database asks :meth:`PostgresServer.new_database`. PostgreSQL refuses to run as root, so when
the tests run as root (CI does) the cluster belongs to the ``postgres`` system user that the
Debian package creates, and the server is started through ``setpriv`` as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from mp_core.settings import Settings
from testsupport.api import free_port

PG_BIN: Final = Path(os.environ.get("MP_PG_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT: Final = 30.0


class PostgresServer:
    """One ``postgres`` process on 127.0.0.1, started and stopped by the tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log_path = root / "postgres.log"
        self.port = free_port()
        self.user = "mindpulse"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            self._as_user = [
                "setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                "--init-groups", "--",
            ]  # fmt: skip
            shutil.chown(root, account.pw_uid, account.pw_gid)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, check=False, timeout=60
        )

    def init(self) -> None:
        done = self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.user,
            "--auth=trust", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        """Start (or start again) the server and wait until it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=on -c max_connections=200"
        done = self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path),
            "-o", options, "-w", "-t", str(int(START_TIMEOUT)), "start",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{self.log()}")
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not get ready:\n{self.log()}")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (started on first use, removed at the end)."""
    if not (PG_BIN / "postgres").exists():
        raise RuntimeError(f"{PG_BIN}/postgres is missing: install Debian's postgresql package")
    root = Path(tempfile.mkdtemp(prefix="mp-pg-"))
    server = PostgresServer(root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.new_database()


BACKENDS: Final = ("files", "postgresql")


@pytest.fixture
def backend_settings(store_url: str | None, tmp_path: Path) -> Settings:
    """Empty settings for each backend in turn: files under tmp_path, or a fresh database."""
    from testsupport.data import settings_for

    return settings_for(tmp_path, **({"database_url": store_url} if store_url else {}))


def copy_models(source: Settings, target: Settings) -> None:
    """Copy every bundle and the current pointer of ``source`` into ``target``'s model store."""
    from mp_core.stores import model_store

    src, dst = model_store(source), model_store(target)
    publish = getattr(dst, "publish_files", None)
    if publish is None:
        raise TypeError("the target store must keep bundles in PostgreSQL")
    for version in src.versions():
        manifest, files = src.read_files(version)
        assert publish(manifest, files) == version
    current = src.current_version()
    if current is not None:
        dst.promote(current)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str | None:
    """Each backend in turn, as a server's DATABASE_URL: None (files) or a fresh database."""
    if request.param == "files":
        return None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()
