"""Drift over the threshold asks the real API to retrain; the exit code says what happened.

The API is the real ``mindpulse-api serve`` process (``testsupport.api``) with a small trained
model in temporary folders; the drifted feedback file is written into its data folder in the
feedback store's own format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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
    """A running API whose production data drifted (less sleep, more social media)."""
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
    # The API started it: a second request right away finds it running (409).
    assert request_retrain(api.url, ADMIN_TOKEN).status == "already_running"
    model = httpx.get(f"{api.url}/model", timeout=10).json()
    assert model["retrain"]["trigger"] == "api"


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


@pytest.fixture
def busy_api() -> Iterator[str]:
    """An HTTP server answering ``POST /retrain`` with 409, as the API does while one runs.

    Used only for the exit code of that case: with the real API the answer depends on how fast
    its retrain job finishes.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.dumps({"detail": "a retrain is already running"}).encode()
            self.send_response(409)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_retrain_already_running_is_exit_11(
    drifted: Settings,
    busy_api: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environment_for(monkeypatch, drifted, ADMIN_TOKEN, busy_api)

    assert main(["--drift-check"]) == EXIT_RETRAIN_RUNNING
    assert "already running" in capsys.readouterr().out
