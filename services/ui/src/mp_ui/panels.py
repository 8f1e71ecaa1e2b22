"""The model and reports panels as HTML, from ``GET /model`` and the reports folder.

The panels read what the API and the reporting job give and show it as they find it: a missing
key becomes a dash, an unexpected one is ignored, so the page survives changes on either side.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any, Final

from mp_ui.reports import ReportIndex

METRIC_NAMES: Final = {
    "accuracy": "Accuracy",
    "f1": "F1 score",
    "precision": "Precision",
    "recall": "Recall",
    "roc_auc": "ROC AUC",
    "brier": "Brier score (lower is better)",
}

# Keys the API may use for the same fact; the first one present wins.
TRAINED_AT_KEYS: Final = ("trained_at", "created_at")
RETRAIN_KEYS: Final = ("last_retrain", "retrain")


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return next((data[k] for k in keys if data.get(k) not in (None, "", {})), None)


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "-"
    return str(value)


def _algorithm(name: Any) -> Any:
    """``logistic_regression`` -> ``Logistic regression``."""
    return name.replace("_", " ").capitalize() if isinstance(name, str) else name


def _timestamp(value: Any) -> Any:
    """An ISO time from the API as ``2026-05-01 14:03 UTC``; anything else unchanged."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(
        f"<tr><th scope='row'>{escape(k)}</th><td>{escape(_text(v))}</td></tr>" for k, v in pairs
    )


def model_html(info: Mapping[str, Any], checked_at: datetime | None = None) -> str:
    """Current version, algorithm, metrics, training time and the last retrain's decision."""
    when = checked_at or datetime.now(UTC)
    metrics = info.get("metrics")
    metric_rows = (
        _rows([(title, metrics[k]) for k, title in METRIC_NAMES.items() if k in metrics])
        if isinstance(metrics, Mapping)
        else ""
    )
    retrain_part = retrain_html(_first(info, RETRAIN_KEYS), bool(info.get("retrain_running")))
    summary = _rows(
        [
            ("Version", info.get("version") or info.get("model_version")),
            ("Algorithm", _algorithm(info.get("algorithm"))),
            ("Trained at", _timestamp(_first(info, TRAINED_AT_KEYS))),
            ("Training rows", info.get("training_rows")),
            ("Trained by", info.get("trained_by")),
            ("Feedback since training", info.get("feedback_since_training")),
        ]
    )
    summary += _mlflow_row(info.get("mlflow_run"))
    if info.get("serving") is False or info.get("load_error"):
        problem = info.get("load_error") or "no model is loaded yet"
        retrain_part = (
            f"<p class='mp-banner mp-wait'>The API is not serving a model: {escape(str(problem))}.</p>"
            + retrain_part
        )
    return (
        '<section class="mp-model" aria-labelledby="mp-model-title">'
        "<h2 id='mp-model-title'>Current model</h2>"
        f"<table class='mp-kv mp-model-summary'>{summary}</table>"
        + (
            f"<table class='mp-kv mp-metrics'><caption>Metrics on held-out data</caption>{metric_rows}</table>"
            if metric_rows
            else ""
        )
        + retrain_part
        + f"<p class='mp-muted'>Checked at {when:%H:%M:%S} UTC.</p></section>"
    )


def _mlflow_row(run: Any) -> str:
    """The MLflow run of the serving version, as a link, when tracking is on."""
    if not isinstance(run, Mapping) or not run.get("run_id"):
        return ""
    run_id = escape(str(run["run_id"]))
    url = run.get("url")
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        value = f"<a href='{escape(url)}' target='_blank' rel='noopener'>{run_id}</a>"
    else:
        value = run_id
    return f"<tr><th scope='row'>MLflow run</th><td>{value}</td></tr>"


DECISIONS: Final = {
    "promoted": "The new model was better or as good, so it replaced the previous one.",
    "kept_champion": "The new model was not better, so the current model was kept.",
}


def retrain_html(retrain: Any, running: bool) -> str:
    """The last retrain: when, why, and what was decided (promoted or kept)."""
    now = "<p><strong>A retrain is running now.</strong></p>" if running else ""
    if not isinstance(retrain, Mapping):
        return now + "<p class='mp-muted'>Last retrain: none yet.</p>"
    decision = retrain.get("decision")
    challenger = retrain.get("challenger")
    metric = retrain.get("selection_metric")
    score = (
        challenger.get("metrics", {}).get(metric)
        if isinstance(challenger, Mapping) and isinstance(challenger.get("metrics"), Mapping)
        else None
    )
    # Only what is known so far: a running retrain has no decision or end time yet.
    rows = _rows(
        [
            (title, value)
            for title, value in [
                ("State", retrain.get("state")),
                ("Decision", DECISIONS.get(str(decision), decision)),
                ("Reason", retrain.get("reason") or retrain.get("error")),
                ("Training data", retrain.get("policy")),
                ("Trigger", retrain.get("trigger")),
                ("Started", _timestamp(retrain.get("started_at"))),
                ("Finished", _timestamp(retrain.get("finished_at"))),
                (
                    "Challenger",
                    f"{_algorithm(challenger.get('algorithm'))}"
                    + (f", {metric} {score:.3f}" if isinstance(score, float) else "")
                    if isinstance(challenger, Mapping)
                    else None,
                ),
            ]
            if value not in (None, "")
        ]
    )
    return now + f"<table class='mp-kv mp-retrain'><caption>Last retrain</caption>{rows}</table>"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def reports_html(index: ReportIndex) -> str:
    """Links to the latest reports, or how to make them when there are none."""
    if not index.files:
        return (
            '<section class="mp-reports"><h2>Monitoring reports</h2>'
            "<p>No reports yet. Make them with <code>just report</code> (data quality, data drift "
            "and model performance, compared with the training data); this panel then links to "
            "the latest ones.</p></section>"
        )
    links = "".join(
        f"<li><a href='{escape(f.href)}' target='_blank' rel='noopener'>{escape(f.title)}</a> "
        f"<span class='mp-muted'>({f.modified:%Y-%m-%d %H:%M} UTC, {_size(f.size)})</span></li>"
        for f in index.files
    )
    summary = (
        f"<table class='mp-kv'><caption>From summary.json</caption>{_rows(list(index.summary))}</table>"
        if index.summary
        else ""
    )
    return (
        '<section class="mp-reports"><h2>Monitoring reports</h2>'
        f"<p>The latest reports (they open in a new tab):</p><ul>{links}</ul>{summary}"
        "<p class='mp-muted'>Run <code>just report</code> again to refresh them.</p></section>"
    )
