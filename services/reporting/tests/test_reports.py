"""A full run on drifted feedback from two model versions with a few malformed rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mp_core.ml.synthetic import SLEEP_LOSS_DRIFT, generate
from mp_core.schema import FEATURE_NAMES, TARGET, profile_from_mapping
from mp_core.settings import Settings
from mp_core.stores.feedback_files import FeedbackRecord, FeedbackStore
from mp_reporting.history import history_runs, publish
from mp_reporting.pages import DISCLAIMER
from mp_reporting.reports import ReportRun, build_reports
from mp_reporting.summary import REPORT_FILES, SUMMARY_FIELDS, SUMMARY_FILE
from testsupport.data import settings_for
from testsupport.reporting import feedback_lines, write_feedback

# Four malformed rows: an unknown category, an empty age, a torn line, a NaN.
GOOD = b"2026-01-15T10:00:00.000+00:00,v0001,21,Female,Law,3.1,7.0,4.0,3.0,150.0,5,0,0.2,0\n"
MALFORMED = (
    GOOD.replace(b",Female,", b",Robot,")
    + GOOD.replace(b",21,", b",,")
    + b"2026-01-15T10:00:00.000+00:00,v0001,21,Female\n"
    + GOOD.replace(b",7.0,", b",nan,")
)
STORE_ROWS = 60


@pytest.fixture(scope="module")
def run(reporting_template: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    import shutil

    root = tmp_path_factory.mktemp("full-run")
    for name in ("data", "artifacts"):
        shutil.copytree(reporting_template / name, root / name)
    settings = settings_for(root)
    lines = feedback_lines(settings, 400, seed=21, drift=SLEEP_LOSS_DRIFT)
    lines += feedback_lines(settings, 300, seed=22, drift=SLEEP_LOSS_DRIFT, version="v0002")
    write_feedback(settings.prod_data_path, lines, extra=MALFORMED)
    return build_reports(settings)


@pytest.fixture(scope="module")
def summary(run: ReportRun) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run.reports_dir / SUMMARY_FILE).read_text())
    return data


def test_every_file_is_written_with_a_history_copy(run: ReportRun) -> None:
    names = {*REPORT_FILES.values(), SUMMARY_FILE}
    for name in names:
        assert (run.reports_dir / name).stat().st_size > 0
    assert run.history_dir is not None
    assert {p.name for p in run.history_dir.iterdir()} == names
    assert history_runs(run.reports_dir) == [run.history_dir]


def test_summary_has_the_documented_fields(summary: dict[str, Any]) -> None:
    assert tuple(summary) == SUMMARY_FIELDS
    assert datetime.fromisoformat(summary["generated_at"]).utcoffset() is not None
    assert summary["rows"] == {
        "reference": 3000,
        "production": 700,
        "reference_skipped": 0,
        "production_skipped": 4,
    }
    assert summary["model"]["current_version"] == "v0001"
    assert summary["model_versions"]["in_production"] == {"v0001": 400, "v0002": 300}
    assert set(summary["reports"].values()) == set(REPORT_FILES.values())


def test_summary_names_the_drifted_features_with_scores(summary: dict[str, Any]) -> None:
    drift = summary["drift"]
    assert drift["computed"] and drift["detected"]
    assert drift["threshold"] == 0.3
    assert drift["share"] > 0.3
    assert {"Sleep_Duration", "Social_Media_Hours"} <= set(drift["drifted_columns"])
    sleep = drift["drifted_columns"]["Sleep_Duration"]
    assert sleep["method"] == "ks" and sleep["score"] < sleep["threshold"]
    assert "Sleep went down" in drift["features"]["columns"]["Sleep_Duration"]["description"]
    assert drift["components"]["columns"]  # the PCA part was computed with the current model
    assert 0.0 <= drift["components"]["share"] <= 1.0


def test_metrics_reference_production_and_per_version(summary: dict[str, Any]) -> None:
    metrics = summary["metrics"]
    for name in ("reference", "reference_held_out", "production"):
        values = metrics[name]
        assert 0.5 < values["accuracy"] <= 1.0
        assert {"f1", "precision", "recall", "confusion_matrix", "rows"} <= set(values)
        assert sum(map(sum, values["confusion_matrix"])) == values["rows"]
    assert metrics["production"]["rows"] == 700
    assert set(metrics["by_model_version"]) == {"v0001", "v0002"}
    assert metrics["by_model_version"]["v0002"]["rows"] == 300


def test_malformed_rows_are_counted_not_fatal(summary: dict[str, Any]) -> None:
    bad = summary["bad_rows"]["production"]
    assert bad["count"] == 4
    reasons = " | ".join(bad["first_lines"].values())
    assert "Gender must be one of" in reasons and "expected 14 fields" in reasons
    quality = summary["data_quality"]
    assert quality["Gender"]["production_rejected"] == 1
    assert quality["Age"]["production_rejected"] == 1
    assert quality["Sleep_Duration"]["production_rejected"] == 1
    assert quality["(whole row)"]["production_rejected"] == 1
    assert any("4 malformed row(s)" in w for w in summary["warnings"])


def test_pages_carry_title_disclaimer_and_plain_words(run: ReportRun) -> None:
    drift = (run.reports_dir / "data_drift.html").read_text()
    assert "<title>MindPulse - Data drift</title>" in drift
    assert DISCLAIMER[:60] in drift
    for name in ("data_quality.html", "data_drift.html", "classification_performance.html"):
        page = (run.reports_dir / name).read_text()
        assert "Support in France: 3114" in page and "SOS Amiti" in page
    assert "Sleep went down" in drift
    quality = (run.reports_dir / "data_quality.html").read_text()
    assert "4 malformed row(s) skipped" in quality
    performance = (run.reports_dir / "classification_performance.html").read_text()
    assert "production, model v0002" in performance


def test_history_keeps_the_last_ten(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    stamp = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    made = [publish(reports, {"summary.json": b"{}"}, stamp, keep=10) for _ in range(12)]

    kept = history_runs(reports)
    assert len(kept) == 10
    assert kept == made[2:]  # same second: suffixes keep them apart and in order
    assert (reports / "summary.json").read_bytes() == b"{}"


def test_a_run_reads_the_rows_the_feedback_store_appended_and_changes_nothing_else(
    make_settings: Callable[[], Settings],
) -> None:
    settings = make_settings()
    store = FeedbackStore(settings.prod_data_path)
    frame = generate(STORE_ROWS, 5)
    try:
        for row in frame.to_dict("records"):
            record = FeedbackRecord(
                profile=profile_from_mapping({name: row[name] for name in FEATURE_NAMES}),
                prediction=int(row[TARGET]),
                probability=0.5,
                actual=int(row[TARGET]),
                model_version="v0001",
            )
            store.append(record)
    finally:
        store.close()
    before = folder_bytes(settings.data_dir) | folder_bytes(settings.artifacts_dir)

    summary = build_reports(settings).summary

    assert summary["rows"]["production"] == STORE_ROWS
    assert summary["rows"]["production_skipped"] == 0
    assert summary["bad_rows"]["production"]["count"] == 0
    assert summary["model_versions"]["in_production"] == {"v0001": STORE_ROWS}
    # The job only reads the stores: every byte under DATA_DIR and ARTIFACTS_DIR is as it was.
    assert folder_bytes(settings.data_dir) | folder_bytes(settings.artifacts_dir) == before
    assert (settings.reports_dir / SUMMARY_FILE).is_file()


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
