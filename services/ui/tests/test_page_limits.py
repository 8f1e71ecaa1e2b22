"""The page's server against hostile clients: no uploads, Host allowlist, security headers,
head and body limits, the concurrency cap. Real ``mindpulse-ui`` processes, raw sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mp_core.http_guard import PAGE_CSP, REPORT_CSP, HttpLimits
from testsupport.browser import UiServer
from testsupport.sockets import (
    MIB,
    huge_head,
    idle,
    open_slow_body,
    rss_kib,
    slow_body_head,
    trickle,
)

pytestmark = pytest.mark.slow

LIMITS = HttpLimits()
SLACK = 4.0


@pytest.fixture(scope="module")
def ui(
    tmp_path_factory: pytest.TempPathFactory, module_ui_server: Callable[..., UiServer]
) -> UiServer:
    reports = tmp_path_factory.mktemp("reports")
    (reports / "data_quality.html").write_text("<html>quality</html>")
    return module_ui_server("http://127.0.0.1:9", REPORTS_DIR=str(reports))


@pytest.fixture
def client(ui: UiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui.url, timeout=10) as http:
        yield http


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
    for name, answer in answers.items():
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["x-frame-options"] == "DENY", name
        assert answer.headers["referrer-policy"] == "no-referrer", name
    assert answers["/"].headers["content-security-policy"] == PAGE_CSP
    assert answers["/config"].headers["content-security-policy"] == PAGE_CSP
    assert answers["report"].headers["content-security-policy"] == REPORT_CSP
    assert answers["missing report"].headers["content-security-policy"] == REPORT_CSP


def test_a_200_mib_head_is_cut_and_memory_stays_flat(client: httpx.Client, ui: UiServer) -> None:
    assert ui.process is not None
    client.get("/healthz")
    before = rss_kib(ui.process.pid)
    outcomes = [huge_head(ui.port, path="/healthz", line=line) for line in (MIB, 100)]
    after = rss_kib(ui.process.pid)
    assert outcomes[0].status == 431
    assert all(o.sent < 8 * MIB for o in outcomes), outcomes
    assert after - before < 16 * 1024, (before, after)
    assert client.get("/healthz").status_code == 200


def test_slow_and_idle_clients_are_dropped_in_time(ui: UiServer) -> None:
    with ThreadPoolExecutor(3) as pool:
        body = pool.submit(
            trickle, ui.port, slow_body_head("/gradio_api/queue/join"), b"{",
            limit=LIMITS.body_seconds + SLACK + 5,
        )  # fmt: skip
        silent = pool.submit(idle, ui.port, limit=LIMITS.header_seconds + SLACK + 5)
    slow = body.result()
    assert slow.status == 408 and slow.seconds <= LIMITS.body_seconds + SLACK, slow
    assert silent.result().seconds <= LIMITS.header_seconds + SLACK, silent.result()


def test_past_the_concurrency_cap_the_answer_is_503_with_retry_after(
    ui_server: Callable[..., UiServer],
) -> None:
    ui = ui_server("http://127.0.0.1:9", UI_MAX_CONCURRENT="2")
    held = [open_slow_body(ui.port, "/gradio_api/queue/join") for _ in range(2)]
    try:
        answer = httpx.get(ui.url + "/healthz", timeout=10)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    finally:
        for sock in held:
            sock.close()
