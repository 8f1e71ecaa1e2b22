"""The retrain job run by hand: data, champion/challenger decision, status file, lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mp_api import jobs
from mp_core.artifacts import ArtifactStore
from mp_core.feedback import FeedbackRecord, FeedbackStore
from mp_core.schema import profile_from_mapping
from mp_core.settings import Settings
from testsupport.api import console_script


def _run_retrain(settings: Settings, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "ARTIFACTS_DIR": str(settings.artifacts_dir),
        "RETRAIN_CANDIDATES": "logistic_regression",
        **env,
    }
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return subprocess.run(
        [console_script(), "retrain"],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _add_feedback(settings: Settings, n: int) -> None:
    """``n`` feedback rows drawn from the same world as the base set (the generator's labels)."""
    from mp_core.schema import FEATURE_NAMES, TARGET
    from mp_core.synthetic import generate

    store = FeedbackStore(settings.prod_data_path)
    for i, record in enumerate(generate(n, 77).to_dict("records")):
        profile = profile_from_mapping({name: record[name] for name in FEATURE_NAMES})
        store.append(
            FeedbackRecord(
                profile=profile, prediction=i % 2, probability=0.5, actual=int(record[TARGET]),
                model_version="v0001",
            )
        )  # fmt: skip


@pytest.mark.slow
def test_manual_retrain_promotes_and_writes_status(trained_settings: Settings) -> None:
    _add_feedback(trained_settings, 30)
    # 600 held-out rows bound a difference of F1 only loosely: a wide tolerance lets it through.
    done = _run_retrain(trained_settings, PROMOTION_TOLERANCE="0.05")
    assert done.returncode == 0, done.stderr
    status = jobs.read_status(trained_settings.artifacts_dir)
    assert status is not None
    assert status["state"] == "succeeded" and status["decision"] == "promoted", status["reason"]
    assert status["trigger"] == "manual"
    # 30 feedback rows are too few to judge on: the gate scores on the base test split.
    assert status["rows"] == {
        "base": 3000, "feedback": 30, "base_trained_on": 2400, "feedback_trained_on": 30,
        "train": 2430, "holdout": 600, "holdout_feedback": 0,
    }  # fmt: skip
    assert status["held_out"] == "base_split" and status["gate"]["rows"] == 600
    assert status["gate"]["promote"] is True and status["gate"]["lower_bound"] is not None
    assert "newest" in status["policy"]
    champion, challenger = status["champion"], status["challenger"]
    assert champion["metrics"]["rows"] == challenger["metrics"]["rows"] == 600  # same rows
    store = ArtifactStore(trained_settings.artifacts_dir)
    assert store.current_version() == "v0002" == challenger["version"]
    manifest = store.manifest("v0002")
    assert manifest["trained_by"] == "retrain" and manifest["feedback_rows"] == 30
    assert manifest["gate"]["held_out"] == "base_split" and manifest["retrain_policy"]
    ref = trained_settings.ref_data_path.read_text().splitlines()
    assert len(ref) == 1 + 3030  # the promoted model's reference set
    assert "retrain_finished" in done.stderr


@pytest.mark.slow
def test_a_worse_challenger_is_rejected_with_the_reason(trained_settings: Settings) -> None:
    # A negative tolerance demands a strictly better challenger than an equal one can be.
    done = _run_retrain(trained_settings, PROMOTION_TOLERANCE="-0.5")
    assert done.returncode == 0, done.stderr
    status = json.loads(jobs.status_path(trained_settings.artifacts_dir).read_text())
    assert status["state"] == "rejected" and status["decision"] == "kept_champion"
    assert "champion kept" in status["reason"] and "lower bound" in status["reason"]
    assert status["gate"]["promote"] is False
    assert ArtifactStore(trained_settings.artifacts_dir).current_version() == "v0001"
    assert ArtifactStore(trained_settings.artifacts_dir).versions() == ["v0001"]


def test_a_second_job_waits_for_none_and_says_busy(trained_settings: Settings) -> None:
    fd = jobs.try_lock(trained_settings.artifacts_dir)
    try:
        assert jobs.is_running(trained_settings.artifacts_dir)
        done = _run_retrain(trained_settings)
        assert done.returncode == 3
        assert "already running" in done.stderr
    finally:
        os.close(fd)
    assert not jobs.is_running(trained_settings.artifacts_dir)


def test_a_failing_job_records_the_error_and_keeps_the_model(trained_settings: Settings) -> None:
    trained_settings.dataset_path.write_text("Age,Gender\n1,2\n")  # unusable base data
    done = _run_retrain(trained_settings)
    assert done.returncode == 1
    status = jobs.read_status(trained_settings.artifacts_dir)
    assert status is not None and status["state"] == "failed"
    assert "InvalidDataset" in status["error"]
    assert ArtifactStore(trained_settings.artifacts_dir).current_version() == "v0001"


def test_retrain_module_imports_nothing_heavy_until_it_runs() -> None:
    code = "import sys, mp_api.jobs, mp_api.retrain; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
