"""Read-only model history and report requests, on a real server."""

from __future__ import annotations

import json

import httpx
import pytest

from mp_core.stores.report_requests_files import REQUEST_FILE
from testsupport.api import ADMIN_TOKEN, ApiServer, ApiServers


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    return module_api.start()


def test_model_versions_lists_each_kept_version_with_its_held_out_metrics(api: ApiServer) -> None:
    body = httpx.get(api.url + "/model/versions", timeout=10).json()
    assert body["current"] == "v0001"
    (only,) = body["versions"]
    assert only["version"] == "v0001" and only["current"] is True
    assert only["algorithm"] == "logistic_regression"
    assert 0.0 < only["metrics"]["accuracy"] <= 1.0
    manifest = json.loads(
        (api.settings.artifacts_dir / "versions" / "v0001" / "manifest.json").read_text()
    )
    assert only["metrics"]["f1"] == manifest["metrics"]["f1"]


def test_a_report_request_is_recorded_for_the_reporting_job(api: ApiServer) -> None:
    path = api.settings.data_dir / REQUEST_FILE
    refused = httpx.post(api.url + "/reports/request", timeout=10)
    assert refused.status_code == 401 and refused.json()["field"] == "Authorization"
    assert not path.exists()
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = httpx.post(api.url + "/reports/request", headers=auth, timeout=10)
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "recorded"
    assert json.loads(path.read_text())["requested_at"] == body["requested_at"]


def test_report_requests_are_refused_without_an_admin_token(module_api: ApiServers) -> None:
    closed = module_api.start(admin_token=None)
    answer = httpx.post(closed.url + "/reports/request", timeout=10)
    assert answer.status_code == 403
    assert not (closed.settings.data_dir / REQUEST_FILE).exists()
