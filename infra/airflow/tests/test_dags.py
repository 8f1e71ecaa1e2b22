"""The Airflow DAGs, run by Airflow itself in its own environment against a real API.

Airflow's environment is the locked project in infra/airflow (``uv run --project``); its
metadata database is SQLite in a temporary AIRFLOW_HOME. ``airflow dags test`` runs a whole
DAG run in one process, with the DAGs talking to ``mindpulse-api serve`` on a free port and to
the workspace's ``mindpulse-report`` console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mp_core.ml.synthetic import Drift, generate
from testsupport.api import ADMIN_TOKEN, ApiServer, ApiServers, predict_and_feed_back
from testsupport.mlflow import uv_binary

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
PROJECT = REPO / "infra/airflow"
DAGS = PROJECT / "dags"
#: Four of the nine features move: a drift share of 4/9, over the 0.3 threshold.
STRONG_DRIFT = Drift(
    sleep_hours=-2.5, social_media_hours=3.0, stress_levels=3.0, activity_minutes=-250
)
INSPECT_DAGS = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
folder = Path(sys.argv[1])
bag = BundleDagBag(dag_folder=folder, bundle_path=folder)
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {d.dag_id: {"schedule": str(d.schedule), "tasks": sorted(d.task_ids),
                        "catchup": d.catchup} for d in bag.dags.values()},
}))
"""


class Airflow:
    """Airflow commands in the project's environment with a private AIRFLOW_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV"))}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__UNIT_TEST_MODE="False",
            PYTHONWARNINGS="ignore",
        )
        env.update(extra)
        return env

    def run(
        self, *args: str, timeout: float = 600, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        command = [uv_binary(), "run", "--frozen", "--quiet", "--project", str(PROJECT), *args]
        return subprocess.run(
            command,
            env=self.env(**extra),
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def dags_test(
        self, dag_id: str, api: ApiServer, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        settings = api.settings
        platform = {
            "API_URL": api.url,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "MINDPULSE_REPORT_CMD": str(Path(sys.executable).parent / "mindpulse-report"),
            "DATA_DIR": str(settings.data_dir),
            "ARTIFACTS_DIR": str(settings.artifacts_dir),
            "REPORTS_DIR": str(settings.reports_dir),
            "RETRAIN_POLL_SECONDS": "0.5",
            "RETRAIN_WAIT_SECONDS": "300",
            **extra,
        }
        return self.run("airflow", "dags", "test", dag_id, **platform)


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Airflow:
    """Airflow's environment installed from its lock, with a migrated SQLite database."""
    runner = Airflow(tmp_path_factory.mktemp("airflow-home"))
    done = runner.run("airflow", "db", "migrate")
    assert done.returncode == 0, done.stdout + done.stderr
    return runner


@pytest.fixture
def api(start_api: ApiServers) -> Iterator[ApiServer]:
    """A served model with automatic retraining out of the way (the DAG is what asks here)."""
    # The API records the DAG's request; the trainer next to it runs it.
    yield start_api.start(model="logistic", retrain_threshold="1000000", trainer=True)


def post_feedback(api: ApiServer, rows: int, *, drift: Drift | None, seed: int) -> None:
    frame = generate(rows, seed, drift=drift)
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for record in frame.to_dict(orient="records"):
            actual = int(record.pop("Depression"))
            features = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
            response = predict_and_feed_back(client, features, actual)
            assert response.status_code == 200, response.text


def model_info(api: ApiServer) -> dict[str, Any]:
    response = httpx.get(f"{api.url}/model", timeout=10)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_every_dag_imports_with_its_schedule_and_tasks(airflow: Airflow) -> None:
    done = airflow.run("python", "-c", INSPECT_DAGS, str(DAGS))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    assert found["dags"] == {
        "mindpulse_retrain": {
            "schedule": "@hourly",
            "tasks": ["read_signals", "request_retrain", "wait_for_outcome"],
            "catchup": False,
        },
        "mindpulse_reporting": {
            "schedule": "0 */6 * * *",
            "tasks": ["write_reports"],
            "catchup": False,
        },
    }


def test_the_dags_import_nothing_from_the_platform() -> None:
    for path in DAGS.glob("*.py"):
        source = path.read_text()
        for name in ("mp_core", "mp_api", "mp_ui", "mp_reporting", "mlflow"):
            assert f"import {name}" not in source and f"from {name}" not in source, path.name


#: What ``request_retrain`` logs on each of its branches (infra/airflow/dags/mindpulse_retrain.py).
ROWS_BRANCH = "feedback rows since training >= "
DRIFT_CHECK_RAN = "--drift-check"
DRIFT_BRANCH = "drift over the threshold: the drift check asked for a retrain"
NOTHING_BRANCH = "no drift over the threshold and "


def test_retrain_dag_asks_for_a_retrain_on_drift_and_waits_for_it(
    airflow: Airflow, api: ApiServer
) -> None:
    post_feedback(api, 300, drift=STRONG_DRIFT, seed=11)
    assert model_info(api)["retrain"] is None

    # 300 rows are far from RETRAIN_MIN_ROWS: only the drift can ask.
    output = retrain_dag(airflow, api, min_rows=1000)
    assert DRIFT_CHECK_RAN in output and DRIFT_BRANCH in output
    assert ROWS_BRANCH not in output
    finished(api, output)


def test_retrain_dag_asks_for_a_retrain_once_enough_rows_came_in(
    airflow: Airflow, api: ApiServer
) -> None:
    post_feedback(api, 40, drift=None, seed=12)

    # Exactly RETRAIN_MIN_ROWS rows, no drift: the rows ask, and no drift check runs.
    output = retrain_dag(airflow, api, min_rows=40)
    assert f"40 {ROWS_BRANCH}40: retrain accepted" in output
    assert DRIFT_CHECK_RAN not in output and DRIFT_BRANCH not in output
    finished(api, output)


def test_retrain_dag_asks_for_nothing_without_drift_or_enough_rows(
    airflow: Airflow, api: ApiServer
) -> None:
    post_feedback(api, 40, drift=None, seed=12)
    # One row short of RETRAIN_MIN_ROWS and no drift: the drift check runs and says no.
    output = retrain_dag(airflow, api, min_rows=41)
    assert DRIFT_CHECK_RAN in output
    assert f"{NOTHING_BRANCH}40 feedback rows: no retrain" in output
    assert ROWS_BRANCH not in output and DRIFT_BRANCH not in output
    info = model_info(api)
    assert info["retrain"] is None and not info["retrain_running"]


def retrain_dag(airflow: Airflow, api: ApiServer, *, min_rows: int) -> str:
    """Run ``mindpulse_retrain`` once with ``RETRAIN_MIN_ROWS``; it must succeed: its log."""
    done = airflow.dags_test("mindpulse_retrain", api, RETRAIN_MIN_ROWS=str(min_rows))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output


def finished(api: ApiServer, output: str) -> None:
    """The retrain the DAG asked for has ended, with a decision that matches its state, and
    the task log carries its reason."""
    status = model_info(api)["retrain"]
    assert status is not None and status["trigger"] == "api", status
    decisions = {"succeeded": "promoted", "rejected": "kept_champion"}
    assert status["decision"] == decisions[status["state"]], status
    assert status["reason"] and status["reason"] in output


def test_retrain_dag_fails_when_the_api_is_unreachable(airflow: Airflow, api: ApiServer) -> None:
    api.stop()
    done = airflow.dags_test("mindpulse_retrain", api)
    assert done.returncode != 0
    assert "API unreachable" in done.stdout + done.stderr


def test_reporting_dag_writes_the_reports(airflow: Airflow, api: ApiServer) -> None:
    post_feedback(api, 60, drift=None, seed=13)
    done = airflow.dags_test("mindpulse_reporting", api)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    reports = api.settings.reports_dir
    for name in (
        "data_quality.html",
        "data_drift.html",
        "classification_performance.html",
        "summary.json",
    ):
        assert (reports / name).stat().st_size > 0, name


def test_rows_since_training_are_read_from_get_model_when_the_api_reports_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "mindpulse_platform", DAGS / "mindpulse_platform.py"
    )
    assert spec is not None and spec.loader is not None
    platform = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, platform)  # dataclasses look their module up
    spec.loader.exec_module(platform)
    rows = platform.feedback_rows_since_training
    assert rows({"feedback_since_training": 1200}) == 1200
    assert rows({"feedback_total": 1500, "feedback_at_training": 400}) == 1100
    assert rows({"version": "v0001"}) is None  # the DAG then decides on drift alone
