"""The latest Evidently reports in ``REPORTS_DIR``: which exist, and their summary.json.

The page links to them through the UI's own ``/reports/<name>`` route, which serves only the
names listed here, so nothing else under ``REPORTS_DIR`` (or outside it) is reachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from mp_ui.history import SUMMARY_FILE, read_summary

REPORT_ROUTE: Final = "/reports"

# name -> title, in the order the panel lists them.
REPORT_FILES: Final[dict[str, str]] = {
    "data_quality.html": "Data quality",
    "data_drift.html": "Data drift",
    "classification_performance.html": "Model performance",
    "summary.json": "Summary (JSON)",
}

MEDIA_TYPES: Final = {".html": "text/html; charset=utf-8", ".json": "application/json"}


@dataclass(frozen=True, slots=True)
class ReportFile:
    name: str
    title: str
    modified: datetime
    size: int

    @property
    def href(self) -> str:
        return f"{REPORT_ROUTE}/{self.name}"


@dataclass(frozen=True, slots=True)
class ReportIndex:
    files: tuple[ReportFile, ...]
    summary: dict[str, Any] | None


def report_path(reports_dir: Path, name: str) -> Path | None:
    """The file behind ``/reports/<name>`` when ``name`` is a known report that exists."""
    if name not in REPORT_FILES:
        return None
    path = reports_dir / name
    return path if path.is_file() else None


def find_reports(reports_dir: Path) -> ReportIndex:
    """The reports present now; an empty index when there are none (or no folder)."""
    files = []
    for name, title in REPORT_FILES.items():
        path = report_path(reports_dir, name)
        if path is None:
            continue
        try:
            stat = path.stat()
        except OSError:  # removed between the check and the stat: a report run is replacing it
            continue
        files.append(
            ReportFile(name, title, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size)
        )
    return ReportIndex(tuple(files), read_summary(reports_dir / SUMMARY_FILE))
