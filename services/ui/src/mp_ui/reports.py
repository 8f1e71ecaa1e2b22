"""The latest Evidently reports in ``REPORTS_DIR``: which exist, and a small reading of summary.json.

The page links to them through the UI's own ``/reports/<name>`` route, which serves only the
names listed here, so nothing else under ``REPORTS_DIR`` (or outside it) is reachable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

REPORT_ROUTE: Final = "/reports"

# name -> title, in the order the panel lists them.
REPORT_FILES: Final[dict[str, str]] = {
    "data_quality.html": "Data quality",
    "data_drift.html": "Data drift",
    "classification_performance.html": "Model performance",
    "summary.json": "Summary (JSON)",
}

MEDIA_TYPES: Final = {".html": "text/html; charset=utf-8", ".json": "application/json"}

# summary.json can be large; the panel shows a handful of its headline figures.
MAX_SUMMARY_ITEMS: Final = 12


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
    summary: tuple[tuple[str, str], ...]


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
    summary = _read_summary(reports_dir / "summary.json")
    return ReportIndex(tuple(files), summary)


def _read_summary(path: Path) -> tuple[tuple[str, str], ...]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    return tuple(summary_items(data))[:MAX_SUMMARY_ITEMS] if isinstance(data, dict) else ()


def summary_items(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Scalar entries of the summary, one level of nesting flattened (``drift.share``)."""
    items: list[tuple[str, str]] = []
    for key, value in data.items():
        label = f"{prefix}{key}"
        if isinstance(value, bool) or value is None:
            items.append((label, {True: "yes", False: "no", None: "-"}[value]))
        elif isinstance(value, float):
            items.append((label, f"{value:.4g}"))
        elif isinstance(value, int | str):
            items.append((label, str(value)))
        elif isinstance(value, dict) and not prefix:
            items.extend(summary_items(value, f"{label}."))
    return items
