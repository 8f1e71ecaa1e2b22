"""Both ASGI servers serve the same app; logs are one JSON object per line when asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from testsupport.api import EXAMPLE, ApiServers


def test_granian_with_json_logs(start_api: ApiServers) -> None:
    """The default server is uvicorn; granian stays a supported choice."""
    api = start_api.start(workers=2, api_server="granian", log_format="json")
    with httpx.Client(base_url=api.url, timeout=10) as http:
        answer = http.post("/predict", json={"features": EXAMPLE})
        assert answer.status_code == 200 and answer.json()["model_version"] == "v0001"
        assert http.post("/predict", json={"features": {}}).status_code == 400
        metrics = http.get("/metrics").text
        assert (
            'mindpulse_http_requests_total{method="POST",route="/predict",status="200"}' in metrics
        )
    api.stop()
    events = [json.loads(line) for line in api.log().splitlines() if line.startswith("{")]
    names = {event["event"] for event in events}
    assert {"api_starting", "model_loaded", "worker_ready"} <= names
    loaded = next(event for event in events if event["event"] == "model_loaded")
    assert loaded["version"] == "v0001" and loaded["level"] == "info"


def test_ceiling_route_only_when_asked(start_api: ApiServers) -> None:
    api = start_api.start(mp_bench_ceiling="1")
    with httpx.Client(base_url=api.url, timeout=10) as http:
        for method in ("GET", "POST"):
            answer = http.request(
                method,
                "/bench/ceiling",
                content=b'{"features": {}}',
                headers={"Content-Type": "application/json"},
            )
            assert answer.status_code == 200
            assert answer.json() == {
                "prediction": 0,
                "probability": 0.5,
                "model_version": "ceiling",
            }
        assert "/bench/ceiling" not in http.get("/schema/openapi.json").json()["paths"]


def test_granian_without_its_extra_is_refused_in_one_line(tmp_path: Path) -> None:
    """The image ships uvicorn only: asking it for granian names the extra, and starts nothing."""
    blocked = (
        "import sys; sys.modules['granian'] = None; from mp_api.cli import main; "
        "raise SystemExit(main(['serve', '--server', 'granian']))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", blocked],
        env={**os.environ, "ARTIFACTS_DIR": str(tmp_path), "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert ran.stdout.strip() == (
        "mindpulse-api: API_SERVER=granian needs the granian extra "
        "(pip install 'mp-api[granian]'); uvicorn is the server installed"
    )
    assert not (tmp_path / "prod_data.csv").exists()  # nothing was started or repaired
