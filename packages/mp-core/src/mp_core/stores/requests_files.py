"""Retrain requests as files under ``ARTIFACTS_DIR`` (one machine, any number of processes).

    retrain_requests.json  the waiting requests, replaced atomically under retrain_requests.lock
    retrain.lock           the one-at-a-time rule: a trainer holds an exclusive flock on it
    retrain_status.json    the last retrain's status (written atomically)
    trainers/<name>        one file per trainer, touched as a heartbeat

The kernel drops a flock when its holder dies, so a killed trainer never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from mp_core.atomic import atomic_write_text
from mp_core.stores.requests import (
    TRAINER_SILENCE_SECONDS,
    Taken,
    interrupted_if_orphaned,
    utc_now,
)

QUEUE_FILE: Final = "retrain_requests.json"
QUEUE_LOCK: Final = "retrain_requests.lock"
RUN_LOCK: Final = "retrain.lock"
STATUS_FILE: Final = "retrain_status.json"
TRAINERS_DIR: Final = "trainers"


class FileRetrainRequests:
    """The retrain queue, lock and status of one ``ARTIFACTS_DIR``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- the queue -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _queue(self) -> Iterator[list[dict[str, Any]]]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / QUEUE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            path = self.root / QUEUE_FILE
            try:
                waiting: list[dict[str, Any]] = json.loads(path.read_text())["waiting"]
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                waiting = []
            before = list(waiting)
            yield waiting
            if waiting != before:
                atomic_write_text(path, json.dumps({"waiting": waiting}, indent=2) + "\n")
        finally:
            os.close(fd)  # closing drops the flock

    def request(self, trigger: str) -> bool:
        """Record a request; False when one is already waiting (it covers this one)."""
        with self._queue() as waiting:
            if waiting:
                return False
            waiting.append({"trigger": trigger, "requested_at": utc_now()})
            return True

    def waiting(self) -> list[dict[str, str]]:
        """The requests not taken yet (trigger, requested_at), oldest first."""
        with self._queue() as waiting:
            return [dict(r) for r in waiting]

    @contextlib.contextmanager
    def take(self, worker: str) -> Iterator[Taken | None]:
        """Hold the one-at-a-time lock and take every waiting request; None when busy or idle."""
        with self.hold_lock() as held:
            if not held:
                yield None
                return
            with self._queue() as waiting:
                taken = Taken(
                    triggers=[str(r["trigger"]) for r in waiting],
                    requested_at=[str(r["requested_at"]) for r in waiting],
                )
                waiting.clear()
            yield taken if taken.triggers else None

    @contextlib.contextmanager
    def hold_lock(self) -> Iterator[bool]:
        """The one-at-a-time lock, without waiting: True while held, False when busy."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / RUN_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def is_running(self) -> bool:
        """True while some trainer holds the lock."""
        try:
            fd = os.open(self.root / RUN_LOCK, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's shared lock
        return False

    # -- status and trainers ---------------------------------------------------------------
    def write_status(self, status: dict[str, Any]) -> None:
        text = json.dumps(status, indent=2, default=str) + "\n"
        atomic_write_text(self.root / STATUS_FILE, text)

    def read_status(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.root / STATUS_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            return {"state": "unknown", "error": f"status file unreadable: {exc}"}
        if not isinstance(data, dict):
            return {"state": "unknown", "error": "status file holds no object"}
        return interrupted_if_orphaned(data, self.is_running())

    def beat(self, worker: str) -> None:
        folder = self.root / TRAINERS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        (folder / worker).touch()

    def trainers(self) -> list[str]:
        """Trainers seen within the last ``TRAINER_SILENCE_SECONDS``."""
        folder = self.root / TRAINERS_DIR
        now = time.time()
        alive = []
        with contextlib.suppress(FileNotFoundError):
            for path in folder.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if now - path.stat().st_mtime <= TRAINER_SILENCE_SECONDS:
                        alive.append(path.name)
        return sorted(alive)

    def problem(self) -> str | None:
        return None

    def close(self) -> None:
        """Nothing is held between calls."""
