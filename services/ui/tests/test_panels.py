"""Model and reports panels: what GET /model and the reports folder say, shown as found."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from mp_ui.history import ServedAccuracy, drift_history, feedback_accuracy
from mp_ui.panels import decision_words, model_html, retrain_html
from mp_ui.reports import REPORT_FILES, find_reports, report_path
from mp_ui.reports_panel import RefreshPlan, refresh_html, reports_html
from mp_ui.versions import versions_html

MODEL = {
    "serving": True,
    "version": "v0004",
    "algorithm": "random_forest",
    "trained_at": "2026-05-01T14:03:10Z",
    "metrics": {"accuracy": 0.81234, "f1": 0.7, "confusion_matrix": [[1, 2], [3, 4]]},
    "training_rows": 2400,
    "retrain_running": False,
    "retrain": {
        "state": "rejected",
        "decision": "kept_champion",
        "reason": "challenger f1 0.69 < champion 0.70 - 0.01",
        "tolerance": 0.01,
        "champion": {"metrics": {"f1": 0.70}},
        "trigger": "feedback",
        "started_at": "2026-05-01T14:00:00+00:00",
        "finished_at": "2026-05-01T14:01:00+00:00",
        "selection_metric": "f1",
        "challenger": {"algorithm": "logistic_regression", "metrics": {"f1": 0.69}},
    },
}


def test_model_panel_shows_version_algorithm_metrics_and_the_last_decision() -> None:
    html = model_html(MODEL, datetime(2026, 5, 1, 15, 0, tzinfo=UTC))
    assert "v0004" in html and "Random forest" in html
    assert "2026-05-01 14:03 UTC" in html
    assert "Accuracy" in html and "0.812" in html
    assert "confusion" not in html
    assert "current model was kept" in html
    assert "F1 score 0.6900 against 0.7000" in html
    assert "challenger f1 0.69" in html
    assert "Logistic regression, f1 0.690" in html
    assert "Checked at 15:00:00 UTC" in html


def test_model_panel_links_the_mlflow_run_and_counts_new_feedback() -> None:
    tracked = {
        **MODEL,
        "feedback_since_training": 37,
        "mlflow_run": {
            "run_id": "abc123",
            "url": "http://127.0.0.1:5000/#/experiments/1/runs/abc123",
        },
    }
    html = model_html(tracked)
    assert (
        "<a href='http://127.0.0.1:5000/#/experiments/1/runs/abc123'" in html
        and ">abc123</a>" in html
    )
    assert "Feedback since training" in html and ">37<" in html
    assert "MLflow run" not in model_html(MODEL)
    hostile = model_html({**MODEL, "mlflow_run": {"run_id": "x", "url": "javascript:alert(1)"}})
    assert "javascript:" not in hostile


def test_model_panel_without_a_model_or_retrain() -> None:
    html = model_html({"serving": False, "version": None, "load_error": "no model trained yet"})
    assert "not serving a model: no model trained yet" in html
    assert "none yet" in html


def test_retrain_running_is_said() -> None:
    assert "A retrain is running now" in retrain_html(None, True)


def test_decision_words_match_the_figures() -> None:
    kept_within = {
        "decision": "promoted",
        "selection_metric": "f1",
        "tolerance": 0.01,
        "challenger": {"metrics": {"f1": 0.6912}},
        "champion": {"metrics": {"f1": 0.6913}},
    }
    words = decision_words(kept_within)
    assert words is not None
    assert "slightly lower (F1 score 0.6912 against 0.6913)" in words
    assert "within the allowed margin of 0.01" in words and "better" not in words
    better = {**kept_within, "challenger": {"metrics": {"f1": 0.75}}}
    assert "as well or better (F1 score 0.7500 against 0.6913)" in str(decision_words(better))
    worse = {**kept_within, "decision": "kept_champion", "challenger": {"metrics": {"f1": 0.6}}}
    assert "by more than the allowed margin of 0.01, so the current model was kept" in str(
        decision_words(worse)
    )
    first = {"decision": "promoted", "challenger": {"metrics": {"f1": 0.7}}}
    assert "no usable current model" in str(decision_words(first))


def _summary(generated_at: str, share: float, **more: object) -> dict[str, object]:
    return {
        "generated_at": generated_at,
        "drift": {
            "share": share,
            "threshold": 0.3,
            "features": {
                "columns": {
                    "Sleep_Duration": {
                        "drifted": True,
                        "description": "Sleep went down: mean 7.10 -> 4.60 hours/day",
                    },
                    "Age": {"drifted": False, "description": "Age stable: mean 22 -> 22 years"},
                }
            },
        },
        **more,
    }


def _write_run(root: Path, stamp: str, summary: dict[str, object]) -> None:
    folder = root / "history" / stamp
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))


def test_reports_panel_says_how_reports_get_made_when_there_are_none(tmp_path: Path) -> None:
    html = reports_html(find_reports(tmp_path / "missing"))
    assert "No reports yet" in html and "person who runs MindPulse" in html
    assert "just report" not in html
    button = reports_html(find_reports(tmp_path), (), RefreshPlan(None, True))
    assert "Make reports now" in button


def test_refresh_words_say_when_the_next_scheduled_run_is() -> None:
    made = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)
    soon = refresh_html(RefreshPlan(6, False), made, now=datetime(2026, 5, 1, 15, 0, tzinfo=UTC))
    assert "every 6 hours" in soon and "due around 2026-05-01 20:00 UTC" in soon
    late = refresh_html(RefreshPlan(6, False), made, now=datetime(2026, 5, 2, tzinfo=UTC))
    assert "due now" in late
    assert "every 1 hour;" in refresh_html(RefreshPlan(1, False), made, now=made)


def test_reports_panel_tells_the_latest_run_in_words_and_charts_the_history(
    tmp_path: Path,
) -> None:
    (tmp_path / "data_drift.html").write_text("<html>drift</html>")
    latest = _summary(
        "2026-05-01T14:03:10+00:00",
        0.44,
        metrics={"production": {"accuracy": 0.71}},
        rows={"production": 300},
    )
    (tmp_path / "summary.json").write_text(json.dumps(latest))
    (tmp_path / "secret.txt").write_text("no")
    _write_run(tmp_path, "20260501T080000Z", _summary("2026-05-01T08:00:00+00:00", 0.11))
    _write_run(tmp_path, "20260501T140310Z", latest)
    (tmp_path / "history" / "not-a-run").mkdir()
    history = drift_history(tmp_path)
    assert [p.share for p in history] == [0.11, 0.44]
    index = find_reports(tmp_path)
    assert [f.name for f in index.files] == ["data_drift.html", "summary.json"]
    html = reports_html(index, history, RefreshPlan(6, True))
    assert "Made on <strong>2026-05-01 14:03 UTC</strong>" in html
    assert "Drift share: <strong>44%</strong>" in html and "above the alarm level" in html
    assert "Sleep went down: mean 7.10 to 4.60 hours/day" in html and "Age stable" not in html
    assert "matched 71% of the 300 answers sent back" in html
    assert "href='/reports/data_drift.html'" in html and "secret" not in html
    assert '<svg class="mp-chart"' in html and "01 May 08:00: 11%, 01 May 14:03: 44%" in html
    assert "The alarm level is 30%" in html


def test_versions_chart_held_out_figures_and_accuracy_in_use() -> None:
    versions = [
        {"version": "v0001", "current": False, "metrics": {"accuracy": 0.8, "f1": 0.7}},
        {"version": "v0002", "current": True, "metrics": {"accuracy": 0.82, "roc_auc": 0.9}},
    ]
    served = {"v0001": ServedAccuracy(0.75, 40, "2026-05-01")}
    html = versions_html(versions, served)
    assert "v0002 (current)" in html
    assert (
        "v0001: Accuracy (held out) 80%, F1 score (held out) 70%, Accuracy on feedback 75%" in html
    )
    assert "0.75 (40 answers)" in html and "no feedback yet" in html
    assert "Of 100 students the model had not seen" in html
    assert versions_html([], {}) == ""


def test_feedback_accuracy_comes_from_the_latest_report(tmp_path: Path) -> None:
    assert feedback_accuracy(tmp_path) == {}
    (tmp_path / "summary.json").write_text(
        json.dumps(
            {
                "generated_at": "2026-05-01",
                "metrics": {
                    "by_model_version": {"v0001": {"rows": 12, "accuracy": 0.5}, "v0002": None}
                },
            }
        )
    )
    assert feedback_accuracy(tmp_path) == {"v0001": ServedAccuracy(0.5, 12, "2026-05-01")}


def test_only_known_report_names_resolve(tmp_path: Path) -> None:
    (tmp_path / "data_quality.html").write_text("x")
    assert report_path(tmp_path, "data_quality.html") == tmp_path / "data_quality.html"
    assert report_path(tmp_path, "../etc/passwd") is None
    assert report_path(tmp_path, "data_drift.html") is None
    assert set(REPORT_FILES) >= {"data_quality.html", "classification_performance.html"}


def test_last_retrain_shows_the_gate_reason_and_the_training_data() -> None:
    html = retrain_html(
        {
            "state": "succeeded",
            "decision": "promoted",
            "reason": "on 400 held-out recent feedback rows, challenger f1 0.70 vs champion 0.66",
            "policy": "trains on the newest 5,000 feedback rows at most",
        },
        False,
    )
    assert "Training data" in html and "newest 5,000 feedback rows" in html
    assert "held-out recent feedback rows" in html
