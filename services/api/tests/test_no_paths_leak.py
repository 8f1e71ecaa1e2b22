"""Unauthenticated error bodies say what went wrong without saying where the files are."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from mp_api.problems import public_text
from testsupport.api import EXAMPLE, ApiServers, predict_and_feed_back


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("cannot open /srv/mp/data/prod_data.csv: Is a directory", "cannot open prod_data.csv: Is a directory"),
        ("[Errno 21] Is a directory: '/app/artifacts/versions/v0002/manifest.json'",
         "[Errno 21] Is a directory: 'manifest.json'"),
        ("folder /tmp/x/artifacts/ is gone", "folder (folder) is gone"),
        ("see http://127.0.0.1:8080/health and just train", "see http://127.0.0.1:8080/health and just train"),
        ("v0002: model.skops does not match its sha256", "v0002: model.skops does not match its sha256"),
    ],
)  # fmt: skip
def test_public_text_cuts_absolute_paths_only(text: str, shown: str) -> None:
    assert public_text(text) == shown


def test_health_model_and_feedback_errors_carry_no_absolute_path(start_api: ApiServers) -> None:
    api = start_api.start()
    root = str(api.root)
    artifacts = api.settings.artifacts_dir
    # A newer pointer whose bundle cannot be read (its manifest is a folder), and a feedback
    # file that cannot be opened: both errors name absolute paths in the server's log.
    shutil.copytree(artifacts / "versions" / "v0001", artifacts / "versions" / "v0002")
    manifest = artifacts / "versions" / "v0002" / "manifest.json"
    manifest.unlink()
    manifest.mkdir()
    pointer = artifacts / "current.json"
    text = pointer.read_text().replace('"v0001"', '"v0002"', 1)
    pointer.unlink()
    pointer.write_text(text)
    prod = api.settings.prod_data_path
    if prod.exists():
        prod.unlink()
    prod.mkdir(parents=True)
    with httpx.Client(base_url=api.url, timeout=10) as http:
        for _ in range(100):
            health = http.get("/health")
            if health.json().get("reason"):
                break
            time.sleep(0.1)
        bodies = {
            "health": health.text,
            "model": http.get("/model").text,
            "feedback": predict_and_feed_back(http, EXAMPLE, 1).text,
        }
    assert "manifest.json" in bodies["health"], bodies["health"]
    assert "prod_data.csv" in bodies["feedback"], bodies["feedback"]
    for name, body in bodies.items():
        assert root not in body and "/tmp/" not in body, (name, body)
    api.stop()
    assert f"{root}" in api.log()  # the log keeps the whole path
    shutil.rmtree(prod)
