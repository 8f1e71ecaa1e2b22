"""Performance drift: the serving model's accuracy on its newest feedback against its held-out one."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pandas as pd
import pytest

from mp_core.ml.synthetic import SCREEN_TIME_CONCEPT
from mp_core.settings import Settings
from mp_reporting.cli import EXIT_OK, EXIT_RETRAIN_REQUESTED, main
from mp_reporting.performance_drift import check_performance
from mp_reporting.reports import build_reports
from testsupport.api import ADMIN_TOKEN, ApiServers
from testsupport.reporting import environment_for, feedback_lines, write_feedback

MANIFEST = {"metrics": {"accuracy": 0.80}}


def _rows(version: str, right: int, wrong: int) -> pd.DataFrame:
    actual = [1] * (right + wrong)
    prediction = [1] * right + [0] * wrong
    return pd.DataFrame({"model_version": version, "prediction": prediction, "actual": actual})


def test_a_drop_past_the_threshold_over_enough_rows_is_detected() -> None:
    production = pd.concat([_rows("v0001", 300, 0), _rows("v0002", 360, 140)])
    found = check_performance(production, "v0002", MANIFEST, threshold=0.03, min_rows=500)
    assert found.computed and found.detected
    assert found.recent_rows == 500 and found.recent_accuracy == pytest.approx(0.72)
    assert found.drop == pytest.approx(0.08) and "more than the threshold" in found.reason


def test_a_small_drop_or_too_few_rows_requests_nothing() -> None:
    small = check_performance(_rows("v0002", 390, 110), "v0002", MANIFEST, threshold=0.03, min_rows=500)  # fmt: skip
    assert small.computed and not small.detected and small.drop == pytest.approx(0.02)
    # Another model's rows do not count for the serving one.
    few = check_performance(
        pd.concat([_rows("v0001", 0, 900), _rows("v0002", 0, 499)]), "v0002", MANIFEST,
        threshold=0.03, min_rows=500,
    )  # fmt: skip
    assert not few.computed and not few.detected and "at least 500" in few.reason
    none = check_performance(_rows("v0002", 0, 600), "v0002", {}, threshold=0.03, min_rows=500)
    assert not none.detected and "no held-out accuracy" in none.reason


def test_concept_drift_moves_no_feature_yet_requests_a_retrain(
    start_api: ApiServers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = start_api.start(retrain_threshold="100000")
    # The same students, a changed relation: the model's answers go wrong, the features do not move.
    lines = feedback_lines(api.settings, 1000, seed=13, concept=SCREEN_TIME_CONCEPT)
    write_feedback(api.settings.prod_data_path, lines)
    environment_for(monkeypatch, api.settings, ADMIN_TOKEN, api.url)

    assert main(["--drift-check"]) == EXIT_RETRAIN_REQUESTED

    out = capsys.readouterr().out
    assert "Performance drift detected" in out and "accepted" in out
    assert httpx.get(f"{api.url}/model", timeout=10).json()["retrain"]["trigger"] == "api"


def test_a_stationary_world_requests_nothing_and_the_summary_says_why(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    write_feedback(settings.prod_data_path, feedback_lines(settings, 1000, seed=11))
    environment_for(monkeypatch, settings, ADMIN_TOKEN)  # nothing listens: never called

    assert main(["--drift-check"]) == EXIT_OK
    assert "Performance drift: no" in capsys.readouterr().out

    build_reports(settings, keep=0)
    summary = json.loads((settings.reports_dir / "summary.json").read_text())
    performance = summary["performance_drift"]
    assert performance["computed"] is True and performance["detected"] is False
    assert performance["recent_rows"] == 1000 and performance["serving_version"] == "v0001"
    assert performance["threshold"] == 0.03 and performance["min_rows"] == 500
    assert abs(performance["drop"]) < 0.03 and performance["reason"]
