"""The model panel as HTML, from ``GET /model``.

The panels read what the API and the reporting job give and show it as they find it: a missing
key becomes a dash, an unexpected one is ignored, so the page survives changes on either side.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any, Final

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


def parse_utc(value: Any) -> datetime | None:
    """An ISO-8601 time (``Z`` or an offset; none means UTC) as an aware UTC datetime."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timestamp(value: Any) -> Any:
    """An ISO time from the API as ``2026-05-01 14:03 UTC``; anything else unchanged."""
    moment = parse_utc(value)
    return value if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


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


def _score(part: Any, metric: Any) -> float | None:
    metrics = part.get("metrics") if isinstance(part, Mapping) else None
    value = metrics.get(metric) if isinstance(metrics, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def decision_words(retrain: Mapping[str, Any]) -> str | None:
    """What the last retrain decided and why, in words that match the figures."""
    decision = retrain.get("decision")
    metric = retrain.get("selection_metric")
    name = METRIC_NAMES.get(str(metric), str(metric or "score"))
    new, old = _score(retrain.get("challenger"), metric), _score(retrain.get("champion"), metric)
    tolerance = retrain.get("tolerance")
    margin = (
        f"the allowed margin of {tolerance:g}"
        if isinstance(tolerance, int | float)
        else "the allowed margin"
    )
    if decision == "promoted":
        if old is None:
            return "There was no usable current model to compare with, so the new one replaced it."
        if new is None:
            return "The new model replaced the previous one."
        if new >= old:
            return (
                f"The new model scored as well or better ({name} {new:.4f} against {old:.4f}), "
                "so it replaced the previous one."
            )
        return (
            f"The new model scored slightly lower ({name} {new:.4f} against {old:.4f}) but within "
            f"{margin}, so it replaced the previous one."
        )
    if decision == "kept_champion":
        if new is None or old is None:
            return "The new model was not good enough, so the current model was kept."
        return (
            f"The new model scored lower ({name} {new:.4f} against {old:.4f}) by more than "
            f"{margin}, so the current model was kept."
        )
    return str(decision) if decision else None


def retrain_html(retrain: Any, running: bool) -> str:
    """The last retrain: when, why, and what was decided (promoted or kept)."""
    now = "<p><strong>A retrain is running now.</strong></p>" if running else ""
    if not isinstance(retrain, Mapping):
        return now + "<p class='mp-muted'>Last retrain: none yet.</p>"
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
                ("Decision", decision_words(retrain)),
                ("Rule applied", retrain.get("reason") or retrain.get("error")),
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


def report_requested_html(answer: Mapping[str, Any]) -> str:
    """The API recorded the request: when, and what happens next."""
    when = _timestamp(answer.get("requested_at"))
    at = f" at {escape(str(when))}" if when else ""
    return (
        f"<p class='mp-banner mp-ok' role='status'>Asked for new reports{at}. The reporting job "
        "makes them in a minute or two; then press “Check for new reports”.</p>"
    )
