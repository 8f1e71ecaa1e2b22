"""Missing, scarce and malformed data: reports still come out and say what is missing.

Columns that break the contract stop the run with exit code 2 and an error naming them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from mp_core.settings import Settings
from mp_core.stores.feedback_files import PROD_COLUMNS
from mp_reporting.cli import EXIT_BAD_INPUT, EXIT_OK, main
from mp_reporting.performance import MIN_METRIC_ROWS
from mp_reporting.summary import REPORT_FILES, SUMMARY_FILE
from testsupport.reporting import feedback_lines, write_feedback


def _run(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> int:
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ARTIFACTS_DIR", str(settings.artifacts_dir))
    monkeypatch.setenv("REPORTS_DIR", str(settings.reports_dir))
    return main(list(args))


def _summary(settings: Settings) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((settings.reports_dir / SUMMARY_FILE).read_text())
    return data


def test_no_production_file_yet(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    assert not settings.prod_data_path.exists()

    assert _run(monkeypatch, settings) == EXIT_OK

    for name in (*REPORT_FILES.values(), SUMMARY_FILE):
        assert (settings.reports_dir / name).stat().st_size > 0
    summary = _summary(settings)
    assert summary["rows"]["production"] == 0
    assert summary["drift"]["computed"] is False and summary["drift"]["share"] is None
    assert summary["metrics"]["production"] is None
    assert summary["metrics"]["reference"]["rows"] == 3000
    assert any("no feedback rows yet" in w for w in summary["warnings"])
    drift_page = (settings.reports_dir / "data_drift.html").read_text()
    assert "Drift was not computed: 0 production row(s)" in drift_page
    assert "no feedback rows yet" in capsys.readouterr().out


def test_too_few_rows_for_metrics_and_drift(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    write_feedback(settings.prod_data_path, feedback_lines(settings, MIN_METRIC_ROWS - 5, seed=3))

    assert _run(monkeypatch, settings) == EXIT_OK

    summary = _summary(settings)
    assert summary["rows"]["production"] == MIN_METRIC_ROWS - 5
    assert summary["metrics"]["production"] is None
    assert summary["drift"]["computed"] is False
    warnings = " ".join(summary["warnings"])
    assert f"at least {MIN_METRIC_ROWS} are needed" in warnings
    assert "drift: 15 production row(s)" in warnings


def test_one_class_in_actual_is_stated(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    lines = [line[: line.rfind(b",")] + b",1\n" for line in feedback_lines(settings, 60, seed=4)]
    write_feedback(settings.prod_data_path, lines)

    assert _run(monkeypatch, settings) == EXIT_OK

    summary = _summary(settings)
    assert summary["metrics"]["production"]["rows"] == 60
    assert any("every actual label is 1" in w for w in summary["warnings"])
    assert any("the page shows the reference alone" in w for w in summary["warnings"])


def test_only_malformed_rows(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    write_feedback(settings.prod_data_path, [], extra=b"garbage\n\xff\xfe,1,2\n")

    assert _run(monkeypatch, settings) == EXIT_OK

    summary = _summary(settings)
    assert summary["rows"]["production"] == 0
    assert summary["bad_rows"]["production"]["count"] == 2


def test_no_model_skips_the_pca_part_and_says_so(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    write_feedback(settings.prod_data_path, feedback_lines(settings, 100, seed=5))
    shutil.rmtree(settings.artifacts_dir)

    assert _run(monkeypatch, settings) == EXIT_OK

    summary = _summary(settings)
    assert summary["model"]["current_version"] is None
    assert "no trained model" in summary["model"]["problem"]
    assert summary["drift"]["computed"] and summary["drift"]["components"] is None
    assert any(w.startswith("PCA drift skipped: no trained model") for w in summary["warnings"])


def test_unknown_production_column_is_named(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    header = ",".join([*PROD_COLUMNS, "Mood"]) + "\n"
    settings.prod_data_path.write_text(header)

    assert _run(monkeypatch, settings) == EXIT_BAD_INPUT

    err = capsys.readouterr().err
    assert "unknown column(s) Mood" in err and str(settings.prod_data_path) in err
    assert not settings.reports_dir.exists()


def test_missing_production_column_is_named(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    header = ",".join(c for c in PROD_COLUMNS if c != "actual") + "\n"
    settings.prod_data_path.write_text(header)

    assert _run(monkeypatch, settings, "--drift-check") == EXIT_BAD_INPUT
    assert "missing column(s) actual" in capsys.readouterr().err


def test_reference_columns_are_checked(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    text = settings.ref_data_path.read_text().replace("Sleep_Duration", "Sleep", 1)
    settings.ref_data_path.write_text(text)

    assert _run(monkeypatch, settings) == EXIT_BAD_INPUT

    err = capsys.readouterr().err
    assert "missing column(s) Sleep_Duration" in err and "unknown column(s) Sleep" in err


def test_missing_reference_says_to_train_first(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    settings.ref_data_path.unlink()

    assert _run(monkeypatch, settings) == EXIT_BAD_INPUT
    assert "train a model first" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("threshold", "args", "named"),
    [
        ("a lot", [], "DRIFT_THRESHOLD"),
        ("1.5", [], "DRIFT_THRESHOLD"),
        ("0.3", ["--threshold", "-0.1"], "--threshold"),
        ("0.3", ["--keep", "-1"], "--keep"),
    ],
)
def test_bad_configuration_is_exit_2(
    threshold: str,
    args: list[str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DRIFT_THRESHOLD", threshold)

    assert main(args) == EXIT_BAD_INPUT
    assert named in capsys.readouterr().err


def test_reference_from_another_model_skips_the_pca_part(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mp_core.ml.publish import save_version
    from mp_core.ml.synthetic import generate
    from mp_core.ml.training import TrainConfig, train
    from mp_core.stores.artifacts_files import ArtifactStore

    settings = make_settings()
    write_feedback(settings.prod_data_path, feedback_lines(settings, 100, seed=6))
    # A model trained on other data becomes current without its ref_data.csv (as a rollback).
    other = train(generate(2000, 99), TrainConfig(seed=99, candidates=("logistic_regression",)))
    ArtifactStore(settings.artifacts_dir).promote(save_version(settings, other))

    assert _run(monkeypatch, settings) == EXIT_OK

    summary = _summary(settings)
    assert summary["model"]["current_version"] == "v0002"
    assert summary["drift"]["computed"] and summary["drift"]["components"] is None
    assert any("written by another model" in w for w in summary["warnings"])
