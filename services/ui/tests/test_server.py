"""The UI's server as a real process: health route, report files by known name only, offline.

Nothing listens on the API URL it is given (port 9): the page must start and serve without it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest

from testsupport.browser import UiServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ui(
    tmp_path_factory: pytest.TempPathFactory, module_ui_server: Callable[..., UiServer]
) -> UiServer:
    reports = tmp_path_factory.mktemp("reports")
    (reports / "data_quality.html").write_text("<html>quality</html>")
    (reports / "summary.json").write_text('{"drift_share": 0.1}')
    (reports / "notes.txt").write_text("private")
    return module_ui_server("http://127.0.0.1:9", REPORTS_DIR=str(reports))


@pytest.fixture
def client(ui: UiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui.url, timeout=10) as http:
        yield http


def test_health_route_answers_without_the_api(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_known_reports_are_served_fresh(client: httpx.Client) -> None:
    page = client.get("/reports/data_quality.html")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/reports/summary.json").json() == {"drift_share": 0.1}


@pytest.mark.parametrize("name", ["notes.txt", "data_drift.html", "%2E%2E"])
def test_anything_else_is_a_friendly_404(client: httpx.Client, name: str) -> None:
    response = client.get(f"/reports/{name}")
    assert response.status_code == 404
    assert "does not exist yet" in response.text and "just report" not in response.text


def test_no_path_leads_out_of_the_reports_folder(client: httpx.Client) -> None:
    for path in ("/reports/..%2F..%2Fetc%2Fpasswd", "/reports/../../etc/passwd"):
        response = client.get(path)
        assert response.status_code == 404
        assert "root:" not in response.text


def test_the_page_uses_system_fonts_and_no_outside_assets(client: httpx.Client) -> None:
    config = client.get("/config").json()
    css = client.get("/theme.css").text
    assert "fonts.googleapis" not in css and "IBM Plex" not in css
    assert "system-ui" in css
    assert "https://" not in (config.get("css") or "")
    html = client.get("/").text
    assert "googleapis" not in html and "cdn." not in html


def test_the_ui_imports_no_ml_code_and_nothing_from_the_api() -> None:
    probe = (
        "import sys, mp_ui.cli, mp_ui.server; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skops', 'mp_api') "
        "or m in ('mp_core.training', 'mp_core.pipeline', 'mp_core.artifacts', "
        "'mp_core.dataset', 'mp_core.fastpath')]; print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=180, check=True
    )
    assert result.stdout.strip() == "[]"
