"""The trainer worker run by hand: data, champion/challenger decision, status, the lock."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mp_core.schema import profile_from_mapping
from mp_core.settings import Settings
from mp_core.stores import retrain_requests
from mp_core.stores.artifacts_files import ArtifactStore
from mp_core.stores.feedback_files import FeedbackRecord, FeedbackStore
from testsupport.api import console_script


def _run_worker(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "ARTIFACTS_DIR": str(settings.artifacts_dir),
        "RETRAIN_CANDIDATES": "logistic_regression",
        **env,
    }
    full_env.pop("DATABASE_URL", None)
    return subprocess.run(
        [console_script("mindpulse"), "worker", "--once", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _add_feedback(settings: Settings, n: int) -> None:
    """``n`` feedback rows drawn from the same world as the base set (the generator's labels)."""
    from mp_core.ml.synthetic import generate
    from mp_core.schema import FEATURE_NAMES, TARGET

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
def test_a_request_is_trained_promoted_and_its_status_written(trained_settings: Settings) -> None:
    _add_feedback(trained_settings, 30)
    requests = retrain_requests(trained_settings)
    assert requests.request("api")
    # 600 held-out rows bound a difference of F1 only loosely: a wide tolerance lets it through.
    done = _run_worker(trained_settings, PROMOTION_TOLERANCE="0.05")
    assert done.returncode == 0, done.stderr
    assert requests.waiting() == []
    status = requests.read_status()
    assert status is not None
    assert status["state"] == "succeeded" and status["decision"] == "promoted", status["reason"]
    assert status["trigger"] == "api"
    # 30 feedback rows are too few to judge on: the gate scores on the base test split.
    assert status["rows"] == {
        "base": 3000, "feedback": 30, "base_trained_on": 2400, "feedback_trained_on": 30,
        "train": 2430, "holdout": 600, "holdout_feedback": 0,
        "feedback_uncorroborated_left_out": 0,
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
    retrain_requests(trained_settings).request("drift")
    done = _run_worker(trained_settings, PROMOTION_TOLERANCE="-0.5")
    assert done.returncode == 0, done.stderr
    status = retrain_requests(trained_settings).read_status()
    assert status is not None
    assert status["state"] == "rejected" and status["decision"] == "kept_champion"
    assert "champion kept" in status["reason"] and "lower bound" in status["reason"]
    assert status["gate"]["promote"] is False
    assert ArtifactStore(trained_settings.artifacts_dir).current_version() == "v0001"
    assert ArtifactStore(trained_settings.artifacts_dir).versions() == ["v0001"]


def test_a_busy_lock_leaves_the_request_waiting(trained_settings: Settings) -> None:
    requests = retrain_requests(trained_settings)
    requests.request("api")
    with requests.hold_lock() as held:
        assert held and requests.is_running()
        done = _run_worker(trained_settings)
        assert done.returncode == 0, done.stderr
        assert len(requests.waiting()) == 1  # another trainer holds the lock: nothing taken
    assert not requests.is_running()


def test_a_failing_retrain_records_the_error_and_keeps_the_model(
    trained_settings: Settings,
) -> None:
    trained_settings.dataset_path.write_text("Age,Gender\n1,2\n")  # unusable base data
    requests = retrain_requests(trained_settings)
    requests.request("api")
    done = _run_worker(trained_settings)
    assert done.returncode == 0, done.stderr  # the worker itself goes on
    status = requests.read_status()
    assert status is not None and status["state"] == "failed"
    assert "InvalidDataset" in status["error"]
    assert ArtifactStore(trained_settings.artifacts_dir).current_version() == "v0001"


@pytest.mark.slow
def test_a_fresh_worker_trains_the_first_model(mp_settings: Settings) -> None:
    from mp_core.ml.dataset import save_base_dataset
    from mp_core.ml.synthetic import generate

    save_base_dataset(generate(3000, 3), mp_settings.dataset_path, {"source": "synthetic"})
    done = _run_worker(mp_settings, "--train-if-missing")
    assert done.returncode == 0, done.stderr
    assert ArtifactStore(mp_settings.artifacts_dir).current_version() == "v0001"


def test_the_serving_side_of_the_stores_imports_no_training_library() -> None:
    code = (
        "import sys, mp_core.stores, mp_core.stores.artifacts_files, mp_core.stores.feedback_files, mp_core.scoring.fastpath;"
        "import mp_core.stores.artifacts_postgres, mp_core.stores.feedback_postgres;"
        "import mp_core.stores.requests_files, mp_core.stores.requests_postgres;"
        "print(sorted({'sklearn', 'pandas', 'skops', 'mlflow', 'scipy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
