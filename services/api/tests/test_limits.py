"""Hostile clients on real sockets against both ASGI servers: huge heads, slow heads and bodies,
idle connections, too many requests at once, foreign Host headers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mp_core.web.guard import API_CSP, DOCS_CSP, HttpLimits
from testsupport.api import EXAMPLE, ApiServer, ApiServers
from testsupport.sockets import (
    MIB,
    check_base_headers,
    huge_head,
    idle,
    open_slow_body,
    rss_kib,
    slow_body_head,
    slow_head_start,
    trickle,
)

LIMITS = HttpLimits()
SERVERS = ["uvicorn", "granian"]
# What a deadline may overrun by on a busy 2-core machine.
SLACK = 4.0


@pytest.fixture(scope="module", params=SERVERS)
def api(request: pytest.FixtureRequest, module_api: ApiServers) -> Iterator[ApiServer]:
    server = module_api.start(api_server=request.param)
    yield server
    server.stop()


def _rss(api: ApiServer) -> int:
    return sum(rss_kib(pid) for pid in api.serving_pids())


def test_a_200_mib_head_is_cut_and_memory_stays_flat(api: ApiServer) -> None:
    httpx.get(api.url + "/health", timeout=10)  # everything a request touches is loaded
    before = _rss(api)
    outcomes = [huge_head(api.port, path="/health", line=line) for line in (MIB, 100, MIB)]
    after = _rss(api)
    for outcome in outcomes:
        assert outcome.sent < 8 * MIB, outcome  # cut long before 200 MiB
        assert outcome.status in (431, None), outcome.raw[:200]
    assert outcomes[0].status == 431
    # Before the cap, one such stream took the worker from 77 MB to 280 MB.
    assert after - before < 16 * 1024, (before, after)
    assert httpx.get(api.url + "/health", timeout=10).status_code == 200


def test_slow_and_idle_clients_are_dropped_in_time(api: ApiServer) -> None:
    body_limit = LIMITS.body_seconds + SLACK
    head_limit = LIMITS.header_seconds + SLACK
    request = b"GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with ThreadPoolExecutor(6) as pool:
        slow_predict = pool.submit(
            trickle, api.port, slow_body_head("/predict"), b"{", limit=body_limit + 5
        )
        slow_feedback = pool.submit(
            trickle, api.port, slow_body_head("/feedback"), b"{", limit=body_limit + 5
        )
        slow_head = pool.submit(
            trickle, api.port, slow_head_start("/live"), b"X-Line: 1\r\n", limit=head_limit + 5
        )
        silent = pool.submit(idle, api.port, limit=head_limit + 5)
        kept_alive = pool.submit(idle, api.port, limit=head_limit + 5, first=request)
        # Meanwhile the server serves everyone else.
        answer = httpx.post(api.url + "/predict", json={"features": EXAMPLE}, timeout=10)
        assert answer.status_code == 200
    for slow in (slow_predict.result(), slow_feedback.result()):
        assert slow.status == 408, slow.raw[:300]
        assert LIMITS.body_seconds - 1 <= slow.seconds <= body_limit, slow.seconds
    head = slow_head.result()
    assert head.status in (408, None) and head.seconds <= head_limit, head
    assert silent.result().seconds <= head_limit, silent.result()
    after_answer = kept_alive.result()
    assert after_answer.status == 200 and after_answer.seconds <= head_limit, after_answer


@pytest.mark.parametrize("server", SERVERS)
def test_past_the_concurrency_cap_the_answer_is_503_with_retry_after(
    start_api: ApiServers, server: str
) -> None:
    api = start_api.start(api_server=server, api_max_concurrent="2")
    held = [open_slow_body(api.port, "/predict") for _ in range(2)]
    try:
        answer = httpx.get(api.url + "/health", timeout=10)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["rule"] == "at most 2 requests at once"
    finally:
        for sock in held:
            sock.close()
    # The held requests end with their clients; the worker serves again.
    for _ in range(50):
        if httpx.get(api.url + "/health", timeout=10).status_code == 200:
            break
    else:
        pytest.fail("the worker kept refusing after the slow clients left")


def test_a_foreign_host_is_refused_and_local_names_are_served(api: ApiServer) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as http:
        refused = http.get("/health", headers={"Host": "evil.example"})
        assert refused.status_code == 400
        assert refused.json()["field"] == "Host"
        assert "evil.example" in refused.json()["detail"]
        for host in ("127.0.0.1", f"127.0.0.1:{api.port}", f"localhost:{api.port}"):
            assert http.get("/health", headers={"Host": host}).status_code == 200, host


def test_the_allowlist_comes_from_api_allowed_hosts(start_api: ApiServers) -> None:
    api = start_api.start(api_allowed_hosts="serving-api, api.example:8443", wait="no")
    with httpx.Client(base_url=api.url, timeout=10) as http:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                http.get("/live", headers={"Host": "serving-api"})
                break
            time.sleep(0.1)
        assert http.get("/live", headers={"Host": "serving-api:8080"}).status_code == 200
        assert http.get("/live", headers={"Host": "api.example:8443"}).status_code == 200
        assert http.get("/live", headers={"Host": "api.example"}).status_code == 400
        assert http.get("/live").status_code == 400  # 127.0.0.1 is no longer listed


def test_every_answer_carries_the_security_headers(api: ApiServer) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as http:
        answers = {
            "predict": http.post("/predict", json={"features": EXAMPLE}),
            "error": http.post("/predict", json={"features": {}}),
            "health": http.get("/health"),
            "docs": http.get("/schema"),
            "swagger": http.get("/schema/swagger"),
        }
    check_base_headers(answers)
    for name in ("predict", "error", "health"):
        assert answers[name].headers["content-security-policy"] == API_CSP
    for name in ("docs", "swagger"):
        assert answers[name].status_code == 200
        assert answers[name].headers["content-security-policy"] == DOCS_CSP
