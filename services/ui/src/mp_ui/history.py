"""Figures the reporting job already keeps, read from ``REPORTS_DIR`` for the staff views.

``summary.json`` is the latest run; ``history/<UTC stamp>/summary.json`` are the kept runs
(the reporting job keeps the last ten). Anything missing or unreadable is skipped: the panels
show what there is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

HISTORY_DIR: Final = "history"
SUMMARY_FILE: Final = "summary.json"
_RUN_RE: Final = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")


@dataclass(frozen=True, slots=True)
class DriftPoint:
    """One kept run: when it was made and the share of features that drifted."""

    generated_at: str
    share: float
    threshold: float | None


@dataclass(frozen=True, slots=True)
class ServedAccuracy:
    """How often a version was right on the feedback received while it served."""

    accuracy: float
    rows: int
    as_of: str | None


def read_summary(path: Path) -> dict[str, Any] | None:
    """A ``summary.json`` as a dict, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def drift_history(reports_dir: Path) -> list[DriftPoint]:
    """Drift share of every kept run with one, oldest first."""
    root = reports_dir / HISTORY_DIR
    if not root.is_dir():
        return []
    runs = sorted(
        (p for p in root.iterdir() if p.is_dir() and _RUN_RE.match(p.name)),
        key=lambda p: (p.name[:16], int(p.name[17:] or 0)),
    )
    points = []
    for run in runs:
        summary = read_summary(run / SUMMARY_FILE)
        drift = (summary or {}).get("drift")
        if not isinstance(drift, dict) or not isinstance(drift.get("share"), int | float):
            continue
        threshold = drift.get("threshold")
        points.append(
            DriftPoint(
                generated_at=str((summary or {}).get("generated_at") or run.name),
                share=float(drift["share"]),
                threshold=float(threshold) if isinstance(threshold, int | float) else None,
            )
        )
    return points


def feedback_accuracy(reports_dir: Path) -> dict[str, ServedAccuracy]:
    """Per model version, its accuracy on the feedback it got, from the latest report."""
    summary = read_summary(reports_dir / SUMMARY_FILE) or {}
    metrics = summary.get("metrics")
    by_version = metrics.get("by_model_version") if isinstance(metrics, dict) else None
    if not isinstance(by_version, dict):
        return {}
    found = {}
    for version, figures in by_version.items():
        if not isinstance(figures, dict):
            continue
        accuracy, rows = figures.get("accuracy"), figures.get("rows")
        if isinstance(accuracy, int | float) and isinstance(rows, int):
            found[str(version)] = ServedAccuracy(float(accuracy), rows, summary.get("generated_at"))
    return found
