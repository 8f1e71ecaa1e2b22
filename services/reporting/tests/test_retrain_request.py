"""Drift over the threshold asks the real API to retrain; the exit code says what happened.

The API is the real ``mindpulse-api serve`` process (``testsupport.api``) with a small trained
model in temporary folders; the drifted feedback file is written into its data folder in the
feedback store's own format. No trainer runs next to it, so a recorded retrain request stays
"waiting" until the test ends: the state in which the API refuses another one (409).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from mp_core.ml.synthetic import SLEEP_LOSS_DRIFT
from mp_core.settings import Settings
from mp_reporting.cli import (
    EXIT_FAILURE,
    EXIT_RETRAIN_REQUESTED,
    EXIT_RETRAIN_RUNNING,
    main,
)
from mp_reporting.retrain import request_retrain
from testsupport.api import ADMIN_TOKEN, ApiServer, ApiServers
from testsupport.reporting import environment_for, feedback_lines, write_feedback


@pytest.fixture
def api(start_api: ApiServers) -> ApiServer:
    """A running API whose production data drifted (less sleep, more social media), with no
    trainer: a retrain request it records waits, and is never taken, while the test runs."""
    server = start_api.start(retrain_threshold="100000")
    lines = feedback_lines(server.settings, 600, seed=11, drift=SLEEP_LOSS_DRIFT)
    write_feedback(server.settings.prod_data_path, lines)
    return server


@pytest.fixture
def drifted(make_settings: Callable[..., Settings]) -> Settings:
    """The same drifted data without a server, for cases that never reach the API."""
    settings = make_settings()
    lines = feedback_lines(settings, 600, seed=11, drift=SLEEP_LOSS_DRIFT)
    write_feedback(settings.prod_data_path, lines)
    return settings


def test_drift_requests_a_retrain_from_the_api(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment_for(monkeypatch, api.settings, ADMIN_TOKEN, api.url)

    assert main(["--drift-check"]) == EXIT_RETRAIN_REQUESTED

    out = capsys.readouterr().out
    assert "Drift detected" in out and "Sleep went down" in out and "accepted" in out
    # The API recorded it: it waits for a trainer, and none runs here, so it keeps waiting.
    retrain = waiting_retrain(api)
    assert retrain["trigger"] == "api"
    # While it waits, a second request is refused (409), whenever it is sent.
    second = request_retrain(api.url, ADMIN_TOKEN)
    assert second.status == "already_running"
    assert second.body["rule"] == "one waiting request at a time"
    assert waiting_retrain(api)["requested_at"] == retrain["requested_at"]


def waiting_retrain(api: ApiServer) -> dict[str, Any]:
    """The last retrain in GET /model, which must be a request waiting for a trainer."""
    model = httpx.get(f"{api.url}/model", timeout=10).json()
    retrain: dict[str, Any] = model["retrain"]
    assert retrain["state"] == "waiting" and not model["retrain_running"], model
    return retrain


@pytest.mark.slow
def test_console_script_in_its_own_process(api: ApiServer, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mindpulse-report"
    env = {
        **os.environ,
        "DATA_DIR": str(api.settings.data_dir),
        "ARTIFACTS_DIR": str(api.settings.artifacts_dir),
        "REPORTS_DIR": str(tmp_path / "reports"),
        "API_URL": api.url,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [str(script), "--drift-check"], env=env, capture_output=True, text=True, timeout=180
    )

    assert done.returncode == EXIT_RETRAIN_REQUESTED, done.stderr
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("verdict") == "drift" for entry in logs)
    assert httpx.get(f"{api.url}/model", timeout=10).json()["retrain"]["trigger"] == "api"
    assert not (tmp_path / "reports").exists()  # the drift check writes no report


def test_wrong_token_is_a_failure_naming_admin_token(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment_for(monkeypatch, api.settings, "not-the-token", api.url)

    assert main(["--drift-check"]) == EXIT_FAILURE
    assert "ADMIN_TOKEN" in capsys.readouterr().err
    assert httpx.get(f"{api.url}/model", timeout=10).json()["retrain"] is None


def test_missing_token_fails_before_calling_the_api(
    drifted: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment_for(monkeypatch, drifted, None)

    assert main(["--drift-check"]) == EXIT_FAILURE
    assert "ADMIN_TOKEN is not set" in capsys.readouterr().err


def test_unreachable_api_is_a_failure(
    drifted: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment_for(monkeypatch, drifted, ADMIN_TOKEN)

    assert main(["--drift-check"]) == EXIT_FAILURE
    assert "cannot request a retrain" in capsys.readouterr().err


def test_retrain_already_waiting_is_exit_11(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An operator asked first: the request is recorded and waits (no trainer takes it).
    assert request_retrain(api.url, ADMIN_TOKEN).status == "accepted"
    first = waiting_retrain(api)
    environment_for(monkeypatch, api.settings, ADMIN_TOKEN, api.url)

    assert main(["--drift-check"]) == EXIT_RETRAIN_RUNNING

    out = capsys.readouterr().out
    assert "Drift detected" in out and "already running" in out
    assert waiting_retrain(api) == first  # the API kept the one request it had
