"""Drift over the threshold asks the API to retrain; the exit code says what happened.

The API here is a small real HTTP server on a free loopback port that records what it receives
and answers like ``POST /retrain`` does (202 started, then 409 while one runs, 401 on a wrong
token).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mp_core.settings import Settings
from mp_core.synthetic import SLEEP_LOSS_DRIFT
from mp_reporting.cli import (
    EXIT_FAILURE,
    EXIT_RETRAIN_REQUESTED,
    EXIT_RETRAIN_RUNNING,
    main,
)
from testsupport.reporting import feedback_lines, write_feedback

TOKEN = "test-admin-token"


@dataclass
class RecordingApi:
    url: str
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)


@pytest.fixture
def recording_api() -> Iterator[RecordingApi]:
    api = RecordingApi(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            auth = self.headers.get("Authorization")
            api.requests.append(("POST", self.path, auth))
            if self.path != "/retrain":
                self._answer(404, {"detail": "not found"})
            elif auth != f"Bearer {TOKEN}":
                self._answer(401, {"detail": "missing or wrong admin token"})
            elif sum(1 for r in api.requests if r[1] == "/retrain" and r[2] == auth) == 1:
                self._answer(202, {"status": "started", "pid": 4242})
            else:
                self._answer(409, {"detail": "a retrain is already running"})

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def drifted(make_settings: Callable[..., Settings]) -> Settings:
    settings = make_settings()
    lines = feedback_lines(settings, 600, seed=11, drift=SLEEP_LOSS_DRIFT)
    write_feedback(settings.prod_data_path, lines)
    return settings


def _environment(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, api_url: str, token: str | None
) -> None:
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ARTIFACTS_DIR", str(settings.artifacts_dir))
    monkeypatch.setenv("REPORTS_DIR", str(settings.reports_dir))
    monkeypatch.setenv("API_URL", api_url)
    if token is None:
        monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    else:
        monkeypatch.setenv("ADMIN_TOKEN", token)


def test_drift_requests_a_retrain_then_reports_one_running(
    drifted: Settings,
    recording_api: RecordingApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _environment(monkeypatch, drifted, recording_api.url, TOKEN)

    assert main(["--drift-check"]) == EXIT_RETRAIN_REQUESTED
    out = capsys.readouterr().out
    assert "Drift detected" in out and "Sleep went down" in out and "accepted" in out
    assert recording_api.requests == [("POST", "/retrain", f"Bearer {TOKEN}")]

    assert main(["--drift-check"]) == EXIT_RETRAIN_RUNNING
    assert "already running" in capsys.readouterr().out


def test_console_script_exit_code_in_its_own_process(
    drifted: Settings, recording_api: RecordingApi, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "mindpulse-report"
    env = {
        **os.environ,
        "DATA_DIR": str(drifted.data_dir),
        "ARTIFACTS_DIR": str(drifted.artifacts_dir),
        "REPORTS_DIR": str(tmp_path / "reports"),
        "API_URL": recording_api.url,
        "ADMIN_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [str(script), "--drift-check"], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == EXIT_RETRAIN_REQUESTED, done.stderr
    assert recording_api.requests == [("POST", "/retrain", f"Bearer {TOKEN}")]
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("verdict") == "drift" for entry in logs)
    assert not (tmp_path / "reports").exists()  # the drift check writes no report


def test_wrong_token_is_a_failure_naming_admin_token(
    drifted: Settings,
    recording_api: RecordingApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _environment(monkeypatch, drifted, recording_api.url, "not-the-token")

    assert main(["--drift-check"]) == EXIT_FAILURE
    assert "ADMIN_TOKEN" in capsys.readouterr().err


def test_missing_token_fails_without_calling_the_api(
    drifted: Settings,
    recording_api: RecordingApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _environment(monkeypatch, drifted, recording_api.url, None)

    assert main(["--drift-check"]) == EXIT_FAILURE
    assert "ADMIN_TOKEN is not set" in capsys.readouterr().err
    assert recording_api.requests == []


def test_unreachable_api_is_a_failure(
    drifted: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, drifted, "http://127.0.0.1:9", TOKEN)

    assert main(["--drift-check"]) == EXIT_FAILURE
    assert "cannot request a retrain" in capsys.readouterr().err
