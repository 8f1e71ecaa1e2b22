"""The Model tab's history: every kept version's held-out figures and how it did in use.

Drawn from ``GET /model/versions`` (each version's manifest) and the latest report's accuracy
per version on the feedback received while it served. Each figure gets one plain line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

from mp_ui.charts import Series, bar_chart, legend
from mp_ui.history import ServedAccuracy

#: The held-out metrics charted, with what each means for someone who is not a specialist.
CHARTED: Final = (
    (
        "accuracy",
        "Accuracy",
        "Of 100 students the model had not seen during training, how many it put in the "
        "right group.",
    ),
    (
        "f1",
        "F1 score",
        "How well it finds the students in the higher-risk group without false alarms "
        "(1 is perfect).",
    ),
    (
        "roc_auc",
        "ROC AUC",
        "How often it ranks a higher-risk student above a lower-risk one (0.5 is chance, "
        "1 is perfect).",
    ),
)
FEEDBACK_NAME: Final = "Accuracy on feedback"
FEEDBACK_MEANING: Final = (
    "Of the answers students sent back while this version was in use, how often its estimate "
    "matched what they said (from the latest report)."
)


def _metric(version: Mapping[str, Any], key: str) -> float | None:
    metrics = version.get("metrics")
    value = metrics.get(key) if isinstance(metrics, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def versions_html(
    versions: Sequence[Mapping[str, Any]], served: Mapping[str, ServedAccuracy]
) -> str:
    """Chart and table of every kept version, oldest first; nothing when there is none."""
    kept = [v for v in versions if isinstance(v, Mapping) and isinstance(v.get("version"), str)]
    if not kept:
        return ""
    labels = [str(v["version"]) for v in kept]
    series = [
        Series(f"{title} (held out)", tuple(_metric(v, key) for v in kept))
        for key, title, _ in CHARTED
    ]
    in_use = tuple(served[label].accuracy if label in served else None for label in labels)
    series.append(Series(FEEDBACK_NAME, in_use))
    chart = bar_chart(
        "mp-versions-chart",
        "Each model version: held-out figures and accuracy in use",
        labels,
        series,
    )
    rows = []
    for i, v in enumerate(kept):
        label = labels[i]
        use = served.get(label)
        feedback = f"{use.accuracy:.2f} ({use.rows} answers)" if use else "no feedback yet"
        current = " (current)" if v.get("current") else ""
        rows.append(
            f"<tr><th scope='row'>{escape(label)}{current}</th>"
            + "".join(f"<td>{_cell(s.values[i])}</td>" for s in series[:-1])
            + f"<td>{escape(feedback)}</td></tr>"
        )
    heads = "".join(f"<th scope='col'>{escape(t)}</th>" for _, t, _ in CHARTED)
    meanings = "".join(
        f"<li><strong>{escape(title)}</strong>: {escape(meaning)}</li>"
        for _, title, meaning in CHARTED
    )
    return (
        '<section class="mp-versions" aria-labelledby="mp-versions-title">'
        "<h2 id='mp-versions-title'>Model versions</h2>"
        "<p>Every kept version, oldest first. Held-out figures come from students kept aside "
        "when the version was trained; accuracy in use comes from the answers sent back.</p>"
        f"{chart}{legend(series)}"
        "<div class='mp-table-scroll'><table class='mp-grid'><caption>The same figures</caption>"
        f"<thead><tr><th scope='col'>Version</th>{heads}"
        f"<th scope='col'>{FEEDBACK_NAME}</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        f"<ul class='mp-meanings'>{meanings}"
        f"<li><strong>{FEEDBACK_NAME}</strong>: {escape(FEEDBACK_MEANING)}</li></ul></section>"
    )
