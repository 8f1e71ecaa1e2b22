import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mp_core.ml.dataset import load_dataset


def mindpulse(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "REPORTS_DIR": str(tmp_path / "reports"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "mp_core.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=240,
        check=False,
    )


def test_generate_data_writes_the_requested_rows(tmp_path: Path) -> None:
    out = mindpulse(tmp_path, "generate-data", "--rows", "1500", "--seed", "3")
    assert out.returncode == 0, out.stderr
    assert "Wrote 1,500 rows" in out.stdout
    assert len(load_dataset(tmp_path / "data" / "dataset.csv").frame) == 1500
    assert json.loads((tmp_path / "data" / "dataset.json").read_text())["seed"] == 3


def test_train_info_retrain_and_rollback(tmp_path: Path) -> None:
    args = (
        "train",
        "--rows",
        "3000",
        "--candidates",
        "logistic_regression",
        "hist_gradient_boosting",
    )
    first = mindpulse(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    assert "Bayes-optimal" in first.stdout
    assert "version v0001" in first.stdout
    assert (tmp_path / "data" / "ref_data.csv").exists()

    info = json.loads(mindpulse(tmp_path, "model-info", "--json").stdout)
    assert info["version"] == "v0001"
    assert info["algorithm"] in {"logistic_regression", "hist_gradient_boosting"}
    assert 0.5 < info["metrics"]["accuracy"] <= 1

    skipped = mindpulse(tmp_path, "train", "--if-missing")
    assert "not training" in skipped.stdout

    second = mindpulse(tmp_path, "train", "--json", "--candidates", "logistic_regression")
    summary = json.loads(second.stdout)
    assert summary["version"] == "v0002"
    assert summary["bayes_accuracy"] is not None
    assert summary["metrics"]["accuracy"] >= summary["bayes_accuracy"] - 0.05

    back = mindpulse(tmp_path, "rollback")
    assert back.returncode == 0
    assert "from v0002 to v0001" in back.stdout
    assert json.loads(mindpulse(tmp_path, "model-info", "--json").stdout)["version"] == "v0001"


def test_model_info_without_a_model_says_how_to_get_one(tmp_path: Path) -> None:
    out = mindpulse(tmp_path, "model-info")
    assert out.returncode == 1
    assert "just train" in out.stderr


def test_a_users_csv_with_bad_lines_is_refused_with_line_numbers(tmp_path: Path) -> None:
    from mp_core.ml.dataset import write_csv
    from mp_core.ml.synthetic import generate

    frame = generate(300, 1)
    frame["Age"] = frame["Age"].astype(object)
    frame.loc[4, "Age"] = "twenty"
    path = tmp_path / "mine.csv"
    write_csv(frame, path)
    out = mindpulse(tmp_path, "train", "--data", str(path))
    assert out.returncode == 2
    assert "line 6: Age must be a whole number from 16 to 100" in out.stderr
    assert not (tmp_path / "artifacts" / "current.json").exists()

    check = mindpulse(tmp_path, "validate-data", str(path))
    assert check.returncode == 1
    assert "299 valid row(s), 1 bad" in check.stdout


def test_a_users_csv_trains_and_is_kept_as_the_base_dataset(tmp_path: Path) -> None:
    from mp_core.ml.dataset import write_csv
    from mp_core.ml.synthetic import generate

    path = tmp_path / "mine.csv"
    write_csv(generate(2500, 9), path)
    out = mindpulse(tmp_path, "train", "--data", str(path), "--candidates", "logistic_regression")
    assert out.returncode == 0, out.stderr
    assert "Bayes-optimal" not in out.stdout  # unknown for a user's data
    assert json.loads((tmp_path / "data" / "dataset.json").read_text())["source"] == "user"


@pytest.mark.parametrize(("name", "value"), [("RETRAIN_THRESHOLD", "lots"), ("LOG_FORMAT", "xml")])
def test_bad_configuration_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    out = mindpulse(tmp_path, "model-info", **{name: value})
    assert out.returncode == 2
    assert f"environment variable {name}" in out.stderr


def test_train_says_plainly_when_mlflow_did_not_get_the_run(tmp_path: Path) -> None:
    from testsupport.api import free_port

    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nobody listens there
        "MLFLOW_TIMEOUT": "1",
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "mp_core.cli", "train", "--rows", "2000",
         "--candidates", "logistic_regression"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "were NOT confirmed" in done.stdout and "mindpulse sync-mlflow" in done.stdout
    assert (tmp_path / "artifacts" / "current.json").exists()  # the model is current anyway


def test_train_if_missing_replaces_a_model_that_no_longer_loads(tmp_path: Path) -> None:
    """A bundle signed with another key (or from before signing) counts as no model."""
    args = ("train", "--rows", "2000", "--candidates", "logistic_regression")
    other = {"MODEL_SIGNING_KEY": "another-key-" + "x" * 32}
    assert mindpulse(tmp_path, *args, **other).returncode == 0
    redo = mindpulse(tmp_path, *args, "--if-missing")
    assert redo.returncode == 0, redo.stderr
    assert "No usable current model" in redo.stdout and "signature does not match" in redo.stdout
    info = json.loads(mindpulse(tmp_path, "model-info", "--json").stdout)
    assert info["version"] == "v0002"
    assert "not training" in mindpulse(tmp_path, *args, "--if-missing").stdout
