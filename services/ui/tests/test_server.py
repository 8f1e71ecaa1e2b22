"""The UI's server as a real process: health route, report files by known name only, offline;
and against hostile clients: no uploads, Host allowlist, security headers, head and body limits,
the concurrency cap (raw sockets).

Nothing listens on the API URL it is given (port 9): the page must start and serve without it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mp_core.web.guard import PAGE_CSP, REPORT_CSP, HttpLimits
from testsupport import sockets
from testsupport.browser import UiServer

pytestmark = pytest.mark.slow

LIMITS = HttpLimits()
SLACK = 4.0  # what a deadline may overrun by on a busy 2-core machine


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
        "or m in ('mp_core.ml.training', 'mp_core.ml.pipeline', 'mp_core.stores.artifacts_files', "
        "'mp_core.ml.dataset', 'mp_core.scoring.fastpath')]; print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=180, check=True
    )
    assert result.stdout.strip() == "[]"


def test_uploads_are_not_served(client: httpx.Client, tmp_path: Path) -> None:
    files = {"files": ("x.txt", b"hello", "text/plain")}
    answer = client.post("/gradio_api/upload", files=files)
    assert answer.status_code == 404
    assert "/tmp" not in answer.text and str(tmp_path) not in answer.text
    assert client.get("/gradio_api/upload_progress?upload_id=x").status_code == 404


def test_a_foreign_host_is_refused_and_never_reflected(client: httpx.Client, ui: UiServer) -> None:
    for path in ("/", "/config", "/healthz"):
        answer = client.get(path, headers={"Host": "evil.example"})
        assert answer.status_code == 400, path
        assert answer.json()["field"] == "Host"
    config = client.get("/config", headers={"Host": f"localhost:{ui.port}"})
    assert config.status_code == 200 and "evil.example" not in config.text


def test_the_page_and_the_reports_carry_security_headers(client: httpx.Client) -> None:
    answers = {
        "/": client.get("/"),
        "/config": client.get("/config"),
        "report": client.get("/reports/data_quality.html"),
        "missing report": client.get("/reports/nothing.html"),
    }
    sockets.check_base_headers(answers)
    assert answers["/"].headers["content-security-policy"] == PAGE_CSP
    assert answers["/config"].headers["content-security-policy"] == PAGE_CSP
    assert answers["report"].headers["content-security-policy"] == REPORT_CSP
    assert answers["missing report"].headers["content-security-policy"] == REPORT_CSP


def test_a_200_mib_head_is_cut_and_memory_stays_flat(client: httpx.Client, ui: UiServer) -> None:
    assert ui.process is not None
    client.get("/healthz")
    before = sockets.rss_kib(ui.process.pid)
    outcomes = [
        sockets.huge_head(ui.port, path="/healthz", line=line) for line in (sockets.MIB, 100)
    ]
    after = sockets.rss_kib(ui.process.pid)
    assert outcomes[0].status == 431
    assert all(o.sent < 8 * sockets.MIB for o in outcomes), outcomes
    assert after - before < 16 * 1024, (before, after)
    assert client.get("/healthz").status_code == 200


def test_slow_and_idle_clients_are_dropped_in_time(ui: UiServer) -> None:
    with ThreadPoolExecutor(3) as pool:
        body = pool.submit(
            sockets.trickle, ui.port, sockets.slow_body_head("/gradio_api/queue/join"), b"{",
            limit=LIMITS.body_seconds + SLACK + 5,
        )  # fmt: skip
        silent = pool.submit(sockets.idle, ui.port, limit=LIMITS.header_seconds + SLACK + 5)
    slow = body.result()
    assert slow.status == 408 and slow.seconds <= LIMITS.body_seconds + SLACK, slow
    assert silent.result().seconds <= LIMITS.header_seconds + SLACK, silent.result()


def test_past_the_concurrency_cap_the_answer_is_503_with_retry_after(
    ui_server: Callable[..., UiServer],
) -> None:
    ui = ui_server("http://127.0.0.1:9", UI_MAX_CONCURRENT="2")
    held = [sockets.open_slow_body(ui.port, "/gradio_api/queue/join") for _ in range(2)]
    try:
        answer = httpx.get(ui.url + "/healthz", timeout=10)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    finally:
        for sock in held:
            sock.close()
