"""Start retrain jobs and read their status; no machine-learning imports here.

One retrain at a time across every worker and process: a job holds an exclusive ``flock`` on
``ARTIFACTS_DIR/retrain.lock`` for its whole life. A worker takes the lock *before* spawning
the job and hands the locked file to it (``pass_fds``), so no second job can slip in between;
the kernel drops the lock when the job exits, however it exits. The job writes its progress
to ``ARTIFACTS_DIR/retrain_status.json`` (atomically); a status still saying ``running`` while
nobody holds the lock belongs to a job that was killed, and is reported as failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec

from mp_api.config import ApiConfig
from mp_core.atomic import atomic_write_text
from mp_core.settings import Settings

log = logging.getLogger("mp_api.retrain")

LOCK_FILE: Final = "retrain.lock"
STATUS_FILE: Final = "retrain_status.json"
#: Keep numeric libraries to one thread so a retrain leaves the other core to the server.
SINGLE_THREAD_ENV: Final = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


class RetrainBusy(Exception):
    """A retrain is already running somewhere."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lock_path(artifacts_dir: Path) -> Path:
    return artifacts_dir / LOCK_FILE


def status_path(artifacts_dir: Path) -> Path:
    return artifacts_dir / STATUS_FILE


def try_lock(artifacts_dir: Path) -> int:
    """Open the lock file and take the lock without waiting; raise :class:`RetrainBusy`."""
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(artifacts_dir), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RetrainBusy("a retrain is already running") from None
    return fd


def is_running(artifacts_dir: Path) -> bool:
    """True while some process holds the retrain lock."""
    try:
        fd = os.open(lock_path(artifacts_dir), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's shared lock
    return False


def write_status(artifacts_dir: Path, status: dict[str, Any]) -> None:
    atomic_write_text(status_path(artifacts_dir), json.dumps(status, indent=2, default=str) + "\n")


def read_status(artifacts_dir: Path) -> dict[str, Any] | None:
    """The last retrain's status; a ``running`` one whose process is gone reads as failed."""
    try:
        data = json.loads(status_path(artifacts_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        return {"state": "unknown", "error": f"status file unreadable: {exc}"}
    if not isinstance(data, dict):
        return {"state": "unknown", "error": "status file holds no object"}
    if data.get("state") == "running" and not is_running(artifacts_dir):
        data["state"] = "failed"
        data["error"] = "interrupted: the retrain process ended without finishing (killed?)"
        data["decision"] = None
    return data


def child_environment(settings: Settings, config: ApiConfig) -> dict[str, str]:
    """The environment of a retrain job: this server's settings, spelled as variables."""
    env = dict(os.environ)
    for name, value in msgspec.structs.asdict(settings).items():
        key = name.upper()
        if env.get(f"{key}_FILE"):
            continue  # a secret read from a file: the job reads the same file, not a copy in env
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    env["RETRAIN_CANDIDATES"] = ",".join(config.retrain_candidates)
    env.update(SINGLE_THREAD_ENV)
    return env


def start_retrain(settings: Settings, config: ApiConfig, *, trigger: str) -> int:
    """Spawn ``python -m mp_api.retrain`` holding the lock; return its pid.

    Raises :class:`RetrainBusy` when a retrain is running already.
    """
    fd = try_lock(settings.artifacts_dir)
    try:
        # Written before the spawn, so a job killed before its own first write still shows up
        # (and a fast job's final status is never overwritten by this one).
        write_status(
            settings.artifacts_dir,
            {"state": "running", "trigger": trigger, "started_at": utc_now()},
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "mp_api.retrain", "--lock-fd", str(fd), "--trigger", trigger],
            env=child_environment(settings, config),
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.close(fd)  # the child holds its own copy of the locked file
    # Reap the child when it ends so no zombie is left behind.
    threading.Thread(target=process.wait, name=f"retrain-{process.pid}", daemon=True).start()
    log.info("retrain_started", extra={"pid": process.pid, "trigger": trigger})
    return process.pid


def try_start_retrain(settings: Settings, config: ApiConfig, *, trigger: str) -> int | None:
    """:func:`start_retrain`, or None when one is already running (it is noted in the log)."""
    try:
        return start_retrain(settings, config, trigger=trigger)
    except RetrainBusy:
        log.info("retrain_skipped", extra={"reason": "already running", "trigger": trigger})
        return None
    except OSError as exc:
        log.error("retrain_spawn_failed", extra={"error": str(exc)})
        with contextlib.suppress(OSError):
            write_status(
                settings.artifacts_dir,
                {"state": "failed", "trigger": trigger, "error": f"could not start: {exc}"},
            )
        return None
