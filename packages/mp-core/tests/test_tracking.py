"""Tracking hooks without a tracking server: off by default, bounded by the timeout, never raising.

The tests against a real MLflow server are in tests/test_mlflow_tracking.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from mp_core import tracking
from mp_core.settings import Settings
from mp_core.stores.artifacts_files import ArtifactStore
from testsupport.children import CONNECT_EVENTS, PROCESS_EVENTS, Children, audit_events, running
from testsupport.mlflow import MuteServer


@pytest.fixture
def mute_server() -> Iterator[MuteServer]:
    """A tracking server that reads each request and never answers (a stuck server)."""
    server = MuteServer()
    yield server
    server.close()


def timeouts_logged(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The caller timeouts the hooks reported: each means "gave up waiting for the child"."""
    return [
        float(record.timeout_s)
        for record in caplog.records
        if record.name == "mp_core.tracking" and hasattr(record, "timeout_s")
    ]


def test_everything_is_a_no_op_when_tracking_is_off(trained_settings: Settings) -> None:
    assert trained_settings.mlflow_tracking_uri is None
    with audit_events(PROCESS_EVENTS | CONNECT_EVENTS) as seen:
        tracking.log_training(trained_settings, "v0001")
        tracking.on_promotion(trained_settings, "v0001")
        tracking.on_rollback(trained_settings, "v0001")
    assert seen == []  # no child started, no connection opened
    assert not (trained_settings.artifacts_dir / tracking.NOTE_FILE).exists()
    assert tracking.run_for_version(trained_settings, "v0001") is None


def test_a_stuck_server_costs_the_caller_its_timeout_and_never_the_childs_wait(
    trained_settings: Settings,
    mute_server: MuteServer,
    children: Children,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each hook returns while its child is provably still blocked: the training's child on the
    server that never answers, the rollback's child behind it on the one-reconcile-at-a-time lock.
    """
    caplog.set_level(logging.WARNING, logger="mp_core.tracking")
    settings = msgspec.structs.replace(trained_settings, mlflow_tracking_uri=mute_server.url)
    # The child's own request timeout follows MLFLOW_TIMEOUT (60 s here), while the caller waits
    # the `timeout` it passes (as `mindpulse train` does): the child cannot give up first.
    monkeypatch.setenv("MLFLOW_TIMEOUT", "60")
    assert tracking.log_training(settings, "v0001", timeout=1) is False
    training_child = children.one_started()
    assert running(training_child)
    assert mute_server.held.asked.wait(timeout=120), "the child never asked the server"
    assert running(training_child)  # asked, and waiting for an answer that never comes

    monkeypatch.setenv("MLFLOW_TIMEOUT", "2")
    children.mark()
    tracking.on_rollback(settings, "v0001")
    rollback_child = children.one_started()
    # It cannot have finished: the training child holds the lock while the server keeps it.
    assert running(rollback_child) and running(training_child)
    assert timeouts_logged(caplog) == [1.0, 2.0]  # both callers gave up at their own timeout

    assert ArtifactStore(settings.artifacts_dir).current_version() == "v0001"
    note = json.loads((settings.artifacts_dir / tracking.NOTE_FILE).read_text())
    assert note["tracking_uri"] == mute_server.url
    assert note["pending"]["v0001"]["tags"]["mindpulse_version"] == "v0001"
    assert tracking.run_for_version(settings, "v0001") is None


def test_a_serving_worker_hook_never_waits_for_its_child(
    trained_settings: Settings,
    mute_server: MuteServer,
    children: Children,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mp_core.tracking")
    # A hook that waited would give up only after 30 s (and say so), or, waiting for the child
    # itself, return after the child had given up on the mute server: both fail below.
    monkeypatch.setenv("MLFLOW_TIMEOUT", "30")
    settings = msgspec.structs.replace(trained_settings, mlflow_tracking_uri=mute_server.url)
    tracking.on_rollback(settings, "v0001", wait=False)
    child = children.one_started()
    assert running(child)
    assert timeouts_logged(caplog) == []
    # The child carries on alone: it asks the server, which keeps it waiting.
    assert mute_server.held.asked.wait(timeout=120), "the child never asked the server"
    assert running(child)


def test_the_run_holds_parameters_metrics_and_the_decision(trained_settings: Settings) -> None:
    manifest = ArtifactStore(trained_settings.artifacts_dir).manifest("v0001")
    manifest["bayes_accuracy"] = 0.81
    decision = {"decision": "promoted", "reason": "better f1", "rows": {"feedback": 12}}
    payload = tracking.run_payload("v0001", manifest, decision)
    assert payload["run_name"] == "v0001"
    assert payload["tags"] == {
        "mindpulse_version": "v0001",
        "data_source": "synthetic",
        "decision": "promoted",
        "decision_reason": "better f1",
    }
    assert payload["params"]["algorithm"] == manifest["algorithm"]
    assert payload["params"]["data_hash"] == manifest["data_hash"]
    assert payload["metrics"]["accuracy"] == manifest["metrics"]["accuracy"]
    assert payload["metrics"]["logistic_regression.f1"] == manifest["metrics"]["f1"]
    assert payload["metrics"]["bayes_accuracy"] == 0.81
    assert payload["metrics"]["rows.feedback"] == 12
    assert all(isinstance(v, str) for v in payload["params"].values())
    json.dumps(payload)  # it travels to the child process as JSON


def test_run_for_version_reads_the_note_and_survives_a_broken_one(
    trained_settings: Settings,
) -> None:
    settings = msgspec.structs.replace(trained_settings, mlflow_tracking_uri="http://mlflow:5000")
    note = {
        "tracking_uri": "http://mlflow:5000",
        "runs": {"v0001": {"run_id": "abc", "url": "http://mlflow:5000/#/experiments/1/runs/abc"}},
        "pending": {},
    }
    path = settings.artifacts_dir / tracking.NOTE_FILE
    path.write_text(json.dumps(note))
    assert tracking.run_for_version(settings, "v0001") == {
        "run_id": "abc",
        "url": "http://mlflow:5000/#/experiments/1/runs/abc",
    }
    assert tracking.run_for_version(settings, "v0002") is None
    other = msgspec.structs.replace(settings, mlflow_tracking_uri="http://elsewhere:5000")
    assert tracking.run_for_version(other, "v0001") is None  # noted for another server
    path.write_text("{not json")
    assert tracking.run_for_version(settings, "v0001") is None


@pytest.mark.parametrize(("raw", "expected"), [("12", 12.0), ("0", 5.0), ("nan", 5.0), ("x", 5.0)])
def test_the_timeout_comes_from_the_environment(tmp_path: Path, raw: str, expected: float) -> None:
    settings = Settings(artifacts_dir=tmp_path, mlflow_tracking_uri="http://127.0.0.1:1")
    config = tracking.TrackingConfig.from_settings(
        settings, {"MLFLOW_TIMEOUT": raw, "MLFLOW_EXPERIMENT": "exp"}
    )
    assert config.timeout == expected
    assert config.experiment == "exp"


def test_importing_tracking_loads_no_mlflow() -> None:
    import subprocess
    import sys

    code = "import sys, mp_core.tracking; print(any(m.startswith('mlflow') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_mlflow_child_and_the_hooks_do_not_import_each_other() -> None:
    """The hooks import the child only when `sync-mlflow` runs; the child imports config only."""
    import ast
    from pathlib import Path

    import mp_core.tracking as hooks

    def imported(path: Path, top_level_only: bool) -> set[str]:
        tree = ast.parse(path.read_text())
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        return {n.module for n in nodes if isinstance(n, ast.ImportFrom) and n.module}

    folder = Path(hooks.__file__).parent
    assert "mp_core.tracking" not in imported(folder / "mlflow_child.py", top_level_only=False)
    assert "mp_core.tracking.mlflow_child" not in imported(folder / "__init__.py", True)
