"""Drift on generated data: none without a drift, the stated features with SLEEP_LOSS_DRIFT."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mp_core.ml.synthetic import SLEEP_LOSS_DRIFT, generate
from mp_core.settings import Settings
from mp_reporting.cli import EXIT_OK, main
from mp_reporting.drift import (
    MIN_DRIFT_ROWS,
    SMALL_SAMPLE_ROWS,
    choose_methods,
    compute_drift,
    describe_change,
)
from mp_reporting.reports import check_drift
from testsupport.reporting import feedback_lines, write_feedback

PRODUCTION_ROWS = 600


def test_no_drift_on_data_from_the_same_generator(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    write_feedback(settings.prod_data_path, feedback_lines(settings, PRODUCTION_ROWS, seed=7))

    check = check_drift(settings)

    assert check.production_rows == PRODUCTION_ROWS
    assert check.share is not None
    assert check.share <= settings.drift_threshold
    assert not check.detected
    assert "Sleep_Duration" not in check.drifted_columns


def test_sleep_loss_drift_flags_sleep_and_social_media(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    lines = feedback_lines(settings, PRODUCTION_ROWS, seed=7, drift=SLEEP_LOSS_DRIFT)
    write_feedback(settings.prod_data_path, lines)

    check = check_drift(settings)

    assert check.detected
    assert check.share is not None and check.share > settings.drift_threshold
    assert {"Sleep_Duration", "Social_Media_Hours"} <= set(check.drifted_columns)
    assert "Sleep went down" in check.drifted_columns["Sleep_Duration"]
    assert "Social media went up" in check.drifted_columns["Social_Media_Hours"]


def test_drift_check_without_drift_exits_0_and_requests_nothing(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    write_feedback(settings.prod_data_path, feedback_lines(settings, PRODUCTION_ROWS, seed=8))
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ARTIFACTS_DIR", str(settings.artifacts_dir))
    # Nothing listens on port 9: a retrain request would fail the run with exit code 1.
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ADMIN_TOKEN", "secret")

    assert main(["--drift-check"]) == EXIT_OK
    assert "No drift" in capsys.readouterr().out


def test_too_few_rows_give_no_verdict_and_exit_0(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    lines = feedback_lines(settings, MIN_DRIFT_ROWS - 1, seed=9, drift=SLEEP_LOSS_DRIFT)
    write_feedback(settings.prod_data_path, lines)
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))

    assert check_drift(settings).share is None
    assert main(["--drift-check"]) == EXIT_OK
    assert f"at least {MIN_DRIFT_ROWS} are needed" in capsys.readouterr().out


def test_methods_follow_the_smaller_sample() -> None:
    assert choose_methods(100_000, SMALL_SAMPLE_ROWS)[:2] == ("ks", "chisquare")
    assert choose_methods(100_000, SMALL_SAMPLE_ROWS + 1)[:2] == ("wasserstein", "jensenshannon")


def test_large_samples_use_distances_and_still_see_the_drift() -> None:
    reference = generate(4000, 1)
    production = generate(1500, 2, drift=SLEEP_LOSS_DRIFT)
    features = ["Sleep_Duration", "Social_Media_Hours", "Age", "Gender"]

    result = compute_drift(reference, production, features=features, threshold=0.3)

    by_column = {c.column: c for c in result.features.columns}
    assert by_column["Sleep_Duration"].method == "wasserstein"
    assert by_column["Gender"].method == "jensenshannon"
    assert by_column["Sleep_Duration"].drifted and by_column["Social_Media_Hours"].drifted
    assert not by_column["Age"].drifted and not by_column["Gender"].drifted
    assert result.features.share == 0.5
    assert result.components is None


def test_descriptions_speak_plainly() -> None:
    reference = generate(500, 1)
    production = generate(500, 2, drift=SLEEP_LOSS_DRIFT)

    sleep = describe_change(
        "Sleep_Duration", reference["Sleep_Duration"], production["Sleep_Duration"], drifted=True
    )
    stress = describe_change(
        "Stress_Level", reference["Stress_Level"], production["Stress_Level"], drifted=False
    )

    assert sleep.startswith("Sleep went down: mean 7.") and sleep.endswith("hours/day")
    assert stress.startswith("Stress level stable: mean ") and "1-10" not in stress
