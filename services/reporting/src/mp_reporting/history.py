"""Publish a run: the latest files in ``REPORTS_DIR``, a timestamped copy in ``history/``.

Each top-level file is replaced atomically. The copy is written into a hidden folder and renamed
into place, so ``history/<timestamp>/`` is always complete; beyond the newest ``keep`` copies the
oldest are removed. A lock file serialises concurrent runs so pruning never races.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Final

from mp_core.atomic import atomic_write_bytes, fsync_dir

HISTORY_DIR: Final = "history"
DEFAULT_KEEP: Final = 10
_RUN_RE: Final = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")


@contextlib.contextmanager
def reports_lock(reports_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``reports_dir`` (waits for a concurrent run to finish)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    with open(reports_dir / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def history_runs(reports_dir: Path) -> list[Path]:
    """Complete history folders, oldest first."""
    root = reports_dir / HISTORY_DIR
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and _RUN_RE.match(p.name)]
    return sorted(runs, key=_run_order)


def _run_order(path: Path) -> tuple[str, int]:
    stamp, _, suffix = path.name.partition("-")
    return stamp, int(suffix or 0)


def publish(
    reports_dir: Path,
    files: Mapping[str, bytes],
    generated_at: datetime,
    *,
    keep: int = DEFAULT_KEEP,
) -> Path | None:
    """Write ``files`` into ``reports_dir`` and, when ``keep`` > 0, a copy into the history."""
    for name, data in files.items():
        atomic_write_bytes(reports_dir / name, data)
    if keep <= 0:
        return None
    root = reports_dir / HISTORY_DIR
    root.mkdir(parents=True, exist_ok=True)
    stamp = generated_at.strftime("%Y%m%dT%H%M%SZ")
    # Runs within one second get increasing suffixes, after any such run still kept.
    same_second = [_run_order(p)[1] for p in history_runs(reports_dir) if p.name[:16] == stamp]
    target = root / (f"{stamp}-{max(same_second) + 1}" if same_second else stamp)
    temp = root / f".tmp-{target.name}-{os.getpid()}"
    temp.mkdir()
    try:
        for name, data in files.items():
            with open(temp / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.rename(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    fsync_dir(root)
    for old in history_runs(reports_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target
