"""Model and reports panels: what GET /model and the reports folder say, shown as found."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from mp_ui.panels import model_html, reports_html, retrain_html
from mp_ui.reports import REPORT_FILES, find_reports, report_path, summary_items

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


def test_reports_panel_says_how_to_make_reports_when_there_are_none(tmp_path: Path) -> None:
    html = reports_html(find_reports(tmp_path / "missing"))
    assert "No reports yet" in html and "just report" in html


def test_reports_panel_links_the_reports_present(tmp_path: Path) -> None:
    (tmp_path / "data_drift.html").write_text("<html>drift</html>")
    (tmp_path / "summary.json").write_text(
        json.dumps({"generated_at": "2026-05-01", "drift": {"share": 0.25, "detected": False}})
    )
    (tmp_path / "secret.txt").write_text("no")
    os.utime(tmp_path / "data_drift.html", (0, 1_700_000_000))
    index = find_reports(tmp_path)
    assert [f.name for f in index.files] == ["data_drift.html", "summary.json"]
    html = reports_html(index)
    assert "href='/reports/data_drift.html'" in html
    assert "2023-11-14 22:13 UTC" in html
    assert "drift.share" in html and "0.25" in html and "drift.detected" in html
    assert "secret" not in html


def test_only_known_report_names_resolve(tmp_path: Path) -> None:
    (tmp_path / "data_quality.html").write_text("x")
    assert report_path(tmp_path, "data_quality.html") == tmp_path / "data_quality.html"
    assert report_path(tmp_path, "../etc/passwd") is None
    assert report_path(tmp_path, "data_drift.html") is None
    assert set(REPORT_FILES) >= {"data_quality.html", "classification_performance.html"}


def test_summary_items_flatten_one_level_and_skip_lists() -> None:
    items = summary_items({"a": 1.234567, "b": {"c": True, "d": {"e": 1}}, "f": [1], "g": None})
    assert items == [("a", "1.235"), ("b.c", "yes"), ("g", "-")]


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
