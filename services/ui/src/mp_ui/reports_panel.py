"""The Reports tab for teachers and staff: the latest run in words, drift over time, the links.

Everything comes from what the reporting job wrote (``summary.json`` and its kept history) and
from how this platform makes reports (a schedule, a button for admins, or the person who runs
it), so the tab says what a reader can actually do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, Final

from mp_ui.charts import line_chart
from mp_ui.history import DriftPoint
from mp_ui.panels import parse_utc
from mp_ui.reports import ReportIndex

#: What each file shows, in one line.
REPORT_MEANINGS: Final = {
    "data_quality.html": "missing, unusual or new values in the answers received.",
    "data_drift.html": "how today's answers differ from those the model was trained on.",
    "classification_performance.html": "how often the model's estimates matched the "
    "answers students sent back.",
    "summary.json": "the same figures for other programs.",
}
DRIFT_MEANING: Final = (
    "Drift share: the part of the nine answers whose spread changed noticeably compared with "
    "the training data. Above the alarm level, the model may no longer fit the students it sees."
)


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    """How new reports get made where this page runs."""

    schedule_hours: float | None
    can_request: bool


def _shown(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _short(moment: datetime | None, fallback: str) -> str:
    return f"{moment:%d %b %H:%M}" if moment else fallback


def refresh_html(plan: RefreshPlan, made: datetime | None, now: datetime | None = None) -> str:
    """How to get newer reports, in words that fit how this platform runs."""
    parts = []
    if plan.schedule_hours:
        hours = f"{plan.schedule_hours:g} hour" + ("" if plan.schedule_hours == 1 else "s")
        line = f"New reports are made automatically every {hours}"
        if made is not None:
            due = made + timedelta(hours=plan.schedule_hours)
            late = due <= (now or datetime.now(UTC))
            line += f"; the next run is {'due now' if late else 'due around ' + _shown(due)}"
        parts.append(line + ".")
    if plan.can_request:
        parts.append(
            "To see the latest answers sooner, press “Make reports now”: the reporting job "
            "makes them in a minute or two, then press “Check for new reports”."
        )
    if not parts:
        parts.append(
            "New reports are made when the person who runs MindPulse starts the reporting job. "
            "Ask them for fresh reports, then press “Check for new reports”."
        )
    return "<p class='mp-refresh'>" + " ".join(escape(p) for p in parts) + "</p>"


def latest_html(summary: Mapping[str, Any]) -> str:
    """The latest run in words: when, the drift share, what moved and which way, accuracy."""
    made = parse_utc(summary.get("generated_at"))
    lines = [f"<p>Made on <strong>{_shown(made)}</strong>.</p>" if made else ""]
    found = summary.get("drift")
    drift: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    share, threshold = drift.get("share"), drift.get("threshold")
    if isinstance(share, int | float):
        columns = (drift.get("features") or {}).get("columns") or {}
        moved = [
            str(info.get("description"))
            for name, info in columns.items()
            if isinstance(info, Mapping) and info.get("drifted") and info.get("description")
        ]
        total = len(columns) or 9
        alarm = isinstance(threshold, int | float) and share > threshold
        verdict = (
            "above the alarm level: the model may need retraining on newer answers"
            if alarm
            else "below the alarm level"
        )
        level = f" (alarm level {threshold:.0%})" if isinstance(threshold, int | float) else ""
        lines.append(
            f"<p>Drift share: <strong>{share:.0%}</strong>{escape(level)}, "
            f"{len(moved)} of {total} answers moved, {escape(verdict)}.</p>"
        )
        if moved:
            items = "".join(f"<li>{escape(m.replace(' -> ', ' to '))}</li>" for m in moved)
            lines.append(f"<p>What moved, and which way:</p><ul class='mp-moved'>{items}</ul>")
    else:
        lines.append("<p>Drift was not computed in this run: there were too few answers.</p>")
    production = (summary.get("metrics") or {}).get("production")
    rows = (summary.get("rows") or {}).get("production")
    if isinstance(production, Mapping) and isinstance(production.get("accuracy"), int | float):
        count = f" of the {rows} answers sent back" if isinstance(rows, int) else ""
        lines.append(f"<p>The model's estimate matched {production['accuracy']:.0%}{count}.</p>")
    return "".join(lines)


def drift_chart_html(points: Sequence[DriftPoint]) -> str:
    """Drift share over the kept runs, with the alarm level; nothing before two runs."""
    if len(points) < 2:
        return ""
    labels = [_short(parse_utc(p.generated_at), p.generated_at[:10]) for p in points]
    threshold = next((p.threshold for p in reversed(points) if p.threshold is not None), None)
    chart = line_chart(
        "mp-drift-chart",
        f"Drift share over the last {len(points)} reports",
        labels,
        [p.share for p in points],
        threshold=threshold,
        threshold_name="alarm level",
    )
    return f"<h3>Drift over time</h3>{chart}<p class='mp-muted'>{escape(DRIFT_MEANING)}</p>"


def reports_html(
    index: ReportIndex, history: Sequence[DriftPoint] = (), plan: RefreshPlan | None = None
) -> str:
    """The latest reports in words and a chart, the links, and how to get newer ones."""
    plan = plan or RefreshPlan(None, False)
    summary = index.summary or {}
    refresh = refresh_html(plan, parse_utc(summary.get("generated_at")))
    if not index.files:
        return (
            '<section class="mp-reports"><h2>Monitoring reports</h2>'
            "<p>No reports yet. They compare the answers received with the training data "
            f"(data quality, drift, and how often the model was right).</p>{refresh}</section>"
        )
    links = "".join(
        f"<li><a href='{escape(f.href)}' target='_blank' rel='noopener'>{escape(f.title)}</a>: "
        f"{escape(REPORT_MEANINGS.get(f.name, ''))}</li>"
        for f in index.files
    )
    return (
        '<section class="mp-reports"><h2>Monitoring reports</h2>'
        + (latest_html(summary) if index.summary else "")
        + drift_chart_html(history)
        + f"<h3>The full reports</h3><p>They open in a new tab.</p><ul>{links}</ul>"
        + f"<h3>Newer reports</h3>{refresh}</section>"
    )
