"""scripts/simulate_drift.py --quick, run as a user runs it: against a real API and on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testsupport.api import ApiServers

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "simulate_drift.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(out: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out), *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "API_URL"},
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (out / "adaptation.png").read_bytes()[:8] == PNG_MAGIC
    report: dict[str, Any] = json.loads((out / "adaptation.json").read_text())
    assert report["quick"] is True
    return report


@pytest.mark.slow
def test_concept_drift_against_a_running_api(start_api: ApiServers, tmp_path: Path) -> None:
    api = start_api.start(retrain_threshold="50", trainer=True)  # the API only records requests
    report = _run(tmp_path / "out", "--scenario", "concept", "--url", api.url)
    (result,) = report["results"]
    assert result["scenario"] == "concept" and result["retrains"] == 5  # 250 feedbacks / 50
    worlds = [p["world"] for p in result["points"]]
    assert worlds[0] == "base" and worlds[-1] == "screen-time"
    for point in result["points"]:
        assert 0.5 < point["accuracy"] <= 1.0 and 0.5 < point["bayes"] <= 1.0
    assert isinstance(result["target_met"], bool) and "rows_to_target" in result
    # One durable feedback row per student sent.
    assert api.settings.prod_data_path.read_text().count("\n") == 1 + 250


@pytest.mark.slow
def test_stationary_world_on_its_own_api(tmp_path: Path) -> None:
    report = _run(
        tmp_path / "out", "--scenario", "stationary", "--candidates", "logistic_regression"
    )
    (result,) = report["results"]
    assert result["retrains"] == 4  # 200 feedbacks / 50
    assert result["false_promotions"] == sum(p["false_promotion"] for p in result["promotion_log"])
    assert result["target"] == "no false promotion"
