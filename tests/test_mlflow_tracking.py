"""MLflow tracking against a real tracking server (SQLite store, started from infra/mlflow).

A relay in front of the server lets a test make it unreachable or mute without restarting it,
which is how a client sees a server that goes away and comes back.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mp_core import tracking
from mp_core.settings import Settings
from mp_core.stores.artifacts_files import ArtifactStore
from testsupport.api import ADMIN_TOKEN, EXAMPLE, ApiServers
from testsupport.children import Children, running, wait_for_exit
from testsupport.data import settings_for, train_into
from testsupport.mlflow import MuteServer, SwitchableProxy

pytestmark = pytest.mark.slow

ROWS = 2000
BUNDLE_FILES = {"model.skops", "pipeline.skops", "fastpath.npz", "manifest.json"}


def train_like_the_cli(settings: Settings, seed: int) -> tuple[str, Any]:
    """What ``mindpulse train`` does: train, save with the Bayes accuracy, promote."""
    from mp_core.ml.dataset import save_base_dataset
    from mp_core.ml.publish import promote_version, save_version
    from mp_core.ml.synthetic import bayes_accuracy, generate
    from mp_core.ml.training import TrainConfig, train

    frame = generate(ROWS, seed)
    save_base_dataset(frame, settings.dataset_path, {"source": "synthetic", "rows": ROWS})
    config = TrainConfig(seed=seed, candidates=("logistic_regression", "random_forest"), n_jobs=1)
    result = train(frame, config)
    bayes = bayes_accuracy(frame[result.split == "test"])
    extra = {"data_source": {"source": "synthetic"}, "bayes_accuracy": bayes}
    version = save_version(settings, result, extra={**extra, "trained_by": "mindpulse train"})
    promote_version(settings, version, result, frame)
    return version, result


def client_for(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def champion_version(uri: str) -> str:
    """The MindPulse version that the ``champion`` alias names on the server."""
    model_version = client_for(uri).get_model_version_by_alias("mindpulse", "champion")
    return str(model_version.tags["mindpulse_version"])


def run_of(uri: str, version: str) -> Any:
    client = client_for(uri)
    experiment = client.get_experiment_by_name(os.environ["MLFLOW_EXPERIMENT"])
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mindpulse_version = '{version}'"
    )
    assert len(runs) == 1, f"expected one run for {version}, found {len(runs)}"
    return runs[0]


@pytest.fixture
def proxy(mlflow_server: str) -> Iterator[SwitchableProxy]:
    relay = SwitchableProxy(int(mlflow_server.rsplit(":", 1)[1]))
    yield relay
    relay.close()


@pytest.fixture
def tracked(tmp_path: Path, proxy: SwitchableProxy, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings that track to the relay, each test in an experiment of its own."""
    monkeypatch.setenv("MLFLOW_EXPERIMENT", f"mindpulse-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("MLFLOW_TIMEOUT", "90")  # wait for the outcome: the server is healthy
    return settings_for(tmp_path, mlflow_tracking_uri=proxy.url)


def test_training_logs_a_run_registers_it_and_rolls_back(tracked: Settings) -> None:
    uri = str(tracked.mlflow_tracking_uri)
    first, result = train_like_the_cli(tracked, seed=1)
    tracking.log_training(tracked, first, result)

    run = run_of(uri, first)
    assert run.info.status == "FINISHED"
    assert run.data.params["algorithm"] == result.algorithm
    assert run.data.params["data_hash"] == result.data_hash
    assert run.data.params["training_rows"] == str(result.train_rows)
    assert run.data.metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    for candidate in result.candidates:
        assert run.data.metrics[f"{candidate.algorithm}.f1"] == pytest.approx(
            candidate.metrics["f1"]
        )
    assert 0.5 < run.data.metrics["bayes_accuracy"] <= 1.0
    assert run.data.tags["decision"] == "promoted"
    artifacts = {a.path for a in client_for(uri).list_artifacts(run.info.run_id, "bundle")}
    assert {f"bundle/{name}" for name in BUNDLE_FILES} <= artifacts
    assert champion_version(uri) == first

    note = tracking.run_for_version(tracked, first)
    assert note is not None and note["run_id"] == run.info.run_id
    assert note["url"].startswith(uri) and note["url"].endswith(run.info.run_id)

    second, result2 = train_like_the_cli(tracked, seed=2)
    tracking.log_training(tracked, second, result2)
    assert champion_version(uri) == second
    versions = client_for(uri).search_model_versions("name = 'mindpulse'")
    assert {v.tags["mindpulse_version"] for v in versions} >= {first, second}

    assert ArtifactStore(tracked.artifacts_dir).rollback() == first
    tracking.on_rollback(tracked, first)
    assert champion_version(uri) == first


def test_a_rejected_challenger_is_logged_with_its_reason_and_not_registered(
    tracked: Settings,
) -> None:
    uri = str(tracked.mlflow_tracking_uri)
    champion, _ = train_like_the_cli(tracked, seed=3)
    tracking.log_training(tracked, champion)
    status = {
        "state": "rejected",
        "decision": "kept_champion",
        "reason": "challenger f1 0.7000 is worse than champion 0.7500 by more than the tolerance 0.01",
        "trigger": "feedback",
        "selection_metric": "f1",
        "rows": {"base": 2000, "feedback": 50, "train": 1590, "holdout": 410},
        "champion": {"metrics": {"f1": 0.75, "accuracy": 0.8}},
        "challenger": {
            "algorithm": "logistic_regression",
            "metrics": {"f1": 0.7, "accuracy": 0.78},
            "candidates": {"logistic_regression": 0.7},
        },
    }
    tracking.log_training(tracked, None, decision=status)

    client = client_for(uri)
    experiment = client.get_experiment_by_name(os.environ["MLFLOW_EXPERIMENT"])
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="tags.decision = 'kept_champion'"
    )
    assert runs, "the rejected training has no run"
    run = runs[0]
    assert "worse than champion" in run.data.tags["decision_reason"]
    assert run.data.metrics["champion.f1"] == 0.75
    assert run.data.metrics["rows.feedback"] == 50
    assert "mindpulse_version" not in run.data.tags
    assert champion_version(uri) == champion
    note = json.loads((tracked.artifacts_dir / "tracking.json").read_text())
    assert note["pending"] == {}


def hook_verdicts(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What each hook call reported, in order: ``timeout`` (the caller gave up waiting for its
    child) or ``exit N`` (the caller had the child's own answer)."""
    verdicts = []
    for record in caplog.records:
        if record.name != "mp_core.tracking":
            continue
        if hasattr(record, "timeout_s"):
            verdicts.append("timeout")
        elif hasattr(record, "exit_code"):
            verdicts.append(f"exit {record.exit_code}")
    return verdicts


def test_a_stuck_or_stopped_server_costs_at_most_the_timeout_and_sync_catches_up(
    tracked: Settings,
    proxy: SwitchableProxy,
    children: Children,
    caplog: pytest.LogCaptureFixture,
) -> None:
    uri = str(tracked.mlflow_tracking_uri)
    first, _ = train_like_the_cli(tracked, seed=4)
    tracking.log_training(tracked, first)
    assert champion_version(uri) == first
    caplog.set_level(logging.INFO, logger="mp_core.tracking")

    # Stuck: the child's requests may wait 90 s (MLFLOW_TIMEOUT), its caller 3 s; the caller
    # returns while the child is provably still waiting on the mute server.
    proxy.set_mode("hang")
    second, result = train_like_the_cli(tracked, seed=5)
    caplog.clear()
    children.mark()
    assert tracking.log_training(tracked, second, result, timeout=3) is False
    stuck = children.one_started()
    assert hook_verdicts(caplog) == ["timeout"] and running(stuck)
    assert proxy.held.asked.wait(timeout=120), "the child never reached the stuck server"
    assert running(stuck)
    assert ArtifactStore(tracked.artifacts_dir).current_version() == second  # promotion stands
    assert tracking.run_for_version(tracked, second) is None
    proxy.held.hang_up()  # the stuck server gives up: so does the child, which frees its lock
    assert wait_for_exit(stuck, timeout=120)
    for reaper in threading.enumerate():
        if reaper.name == "mlflow-tracking-reaper":
            reaper.join(timeout=60)  # it reports the stuck child's end before the next step

    # Stopped: each child learns at once that nobody listens, and its caller gets that answer
    # instead of waiting out its 90 s.
    proxy.set_mode("down")
    assert ArtifactStore(tracked.artifacts_dir).rollback() == first
    caplog.clear()
    tracking.on_rollback(tracked, first)
    third, _ = train_like_the_cli(tracked, seed=6)
    assert tracking.log_training(tracked, third) is False
    assert hook_verdicts(caplog) == ["exit 1", "exit 1"]
    assert ArtifactStore(tracked.artifacts_dir).current_version() == third

    proxy.set_mode("forward")
    code = tracking.sync_command(argparse.Namespace(json=True, timeout=30.0), tracked)
    assert code == 0
    for version in (second, third):
        assert run_of(uri, version).info.status == "FINISHED"
        assert tracking.run_for_version(tracked, version) is not None
    assert champion_version(uri) == third
    # Syncing again finds nothing new and duplicates nothing.
    assert tracking.sync_command(argparse.Namespace(json=True, timeout=30.0), tracked) == 0
    run_of(uri, second)


def test_sync_reports_an_unreachable_server_without_a_traceback(
    tracked: Settings, proxy: SwitchableProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    train_like_the_cli(tracked, seed=7)
    proxy.set_mode("down")
    code = tracking.sync_command(argparse.Namespace(json=False, timeout=3.0), tracked)
    err = capsys.readouterr().err
    assert code == 1
    # Client libraries may log their retries first; the last line is ours, and no traceback.
    assert err.strip().splitlines()[-1].startswith("mindpulse sync-mlflow: ")
    assert "Traceback" not in err


def test_a_serving_process_with_tracking_on_never_loads_mlflow(
    tracked: Settings, proxy: SwitchableProxy
) -> None:
    """What a serving worker does with tracking on (rollback hook, run link) loads no mlflow."""
    version, _ = train_like_the_cli(tracked, seed=8)
    code = f"""
import sys
from pathlib import Path
from mp_core import tracking
from mp_core.settings import Settings
settings = Settings(artifacts_dir=Path({str(tracked.artifacts_dir)!r}),
                    mlflow_tracking_uri={proxy.url!r})
tracking.on_rollback(settings, {version!r}, wait=False)
tracking.on_promotion(settings, {version!r}, wait=False)
tracking.run_for_version(settings, {version!r})
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("mlflow", "airflow"))
print(",".join(loaded))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_serving_answers_while_the_tracking_child_waits_on_a_stuck_server(
    start_api: ApiServers,
) -> None:
    """A rollback's response comes back, and predictions go on, while the tracking child it
    started is provably still waiting on a server that never answers: its requests may wait an
    hour (MLFLOW_TIMEOUT), so a route that waited for it could not answer before the hang-up."""
    stuck = MuteServer()
    try:
        api = start_api.start(
            model="logistic", mlflow_tracking_uri=stuck.url, mlflow_timeout="3600"
        )
        newer = train_into(api.settings, seed=9)  # a version to roll back from
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        # The client's own timeout only stops a broken route from hanging the test for an hour.
        with httpx.Client(base_url=api.url, timeout=120) as http:
            rolled = http.post("/model/rollback", headers=admin)
            assert rolled.status_code == 200, rolled.text
            assert rolled.json()["version"] != newer
            assert stuck.held.asked.wait(timeout=120), "no tracking child asked the server"
            assert stuck.held.waiting() == 1
            predicted = http.post("/predict", json={"features": EXAMPLE})
            assert predicted.status_code == 200, predicted.text
            assert predicted.json()["model_version"] == rolled.json()["version"]
            assert stuck.held.waiting() == 1  # still unanswered: nothing above waited for it
    finally:
        stuck.close()  # the child meets the hang-up and ends


def test_an_admin_retrain_and_rollback_through_the_api_are_tracked(
    start_api: ApiServers, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = f"mindpulse-api-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_EXPERIMENT", experiment)
    api = start_api.start(
        model="logistic",
        trainer=True,
        mlflow_tracking_uri=mlflow_server,
        mlflow_experiment=experiment,
        mlflow_timeout="90",
        promotion_tolerance="1.0",  # the challenger is promoted: this test is about tracking
        retrain_threshold="1000000",
    )
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=api.url, timeout=30) as http:
        assert http.post("/retrain", headers=admin).status_code == 202
        status = wait_for(lambda: finished_retrain(http), timeout=240)
        assert status["state"] == "succeeded", status
        version = status["challenger"]["version"]
        run = run_of(mlflow_server, version)
        assert run.data.tags["decision"] == "promoted"
        assert run.data.tags["trigger"]
        assert "champion.f1" in run.data.metrics and "rows.base" in run.data.metrics
        assert champion_version(mlflow_server) == version
        link = wait_for(lambda: http.get("/model").json().get("mlflow_run"), timeout=30)
        assert link["run_id"] == run.info.run_id

        rolled = http.post("/model/rollback", headers=admin)
        assert rolled.status_code == 200, rolled.text
        previous = rolled.json()["version"]
        assert previous != version
        # The worker only starts the tracking child; the alias follows within the child's time.
        wait_for(lambda: champion_version(mlflow_server) == previous or None, timeout=120)


def finished_retrain(http: httpx.Client) -> dict[str, Any] | None:
    info = http.get("/model").json()
    status = info.get("retrain")
    # "waiting": recorded by the API, not yet taken by the trainer.
    if not status or info.get("retrain_running") or status.get("state") in ("running", "waiting"):
        return None
    return dict(status)


#: What the registry answers before the model or its alias exists: "not yet", not a failure.
NOT_REGISTERED_YET = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def wait_for(probe: Any, *, timeout: float) -> Any:
    """Call ``probe`` until it returns something true. A registry that does not know the model
    or its alias yet means "not yet"; any other error fails the test at once."""
    from mlflow.exceptions import MlflowException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except MlflowException as exc:
            if exc.error_code not in NOT_REGISTERED_YET:
                raise
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not reached within {timeout:.0f} s")


def test_the_cli_logs_each_training_and_moves_champion_on_rollback(tracked: Settings) -> None:
    """`mindpulse train` and `mindpulse rollback` call the hooks themselves."""
    uri = str(tracked.mlflow_tracking_uri)
    env = {
        **os.environ,
        "DATA_DIR": str(tracked.data_dir),
        "ARTIFACTS_DIR": str(tracked.artifacts_dir),
        "MLFLOW_TRACKING_URI": uri,
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mp_core.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    for _ in range(2):
        out = cli("train", "--rows", str(ROWS), "--candidates", "logistic_regression")
        assert out.returncode == 0, out.stderr
        # When the command returns, the run and the alias exist, and it says so.
        assert "MLflow: run " in out.stdout and "@champion -> version" in out.stdout, out.stdout
    assert run_of(uri, "v0001").data.tags["decision"] == "promoted"
    assert champion_version(uri) == "v0002"
    back = cli("rollback")
    assert back.returncode == 0, back.stderr
    assert champion_version(uri) == "v0001"
