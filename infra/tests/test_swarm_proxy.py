"""The Swarm stack's HAProxy configuration, run by HAProxy in front of stand-in replicas found by
DNS, as Swarm's dnsrr services are: it spreads requests, follows replicas that come and go, and
replays a request on another replica only when repeating it changes nothing.

All traffic stays on loopback addresses (127.0.0.x); see testsupport/proxy.py for the rig.
"""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest

from testsupport.proxy import ProxyRig, wait_for

pytestmark = pytest.mark.slow
REQUESTS = 60


def _replica(response: httpx.Response) -> str | None:
    return response.headers.get("X-Replica")


def _outcome(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> int | str:
    """The answer's status, or ``closed``: on a kept-alive connection HAProxy answers a request it
    will not replay by closing the connection, as the replica did, and the client decides."""
    try:
        return client.post(path, content=b"{}", headers=headers).status_code
    except httpx.RemoteProtocolError:
        return "closed"


def test_requests_spread_over_every_replica(proxy_rig: ProxyRig) -> None:
    with httpx.Client(base_url=proxy_rig.api_url, timeout=5) as client:
        served = Counter(_replica(client.post("/predict", content=b"{}")) for _ in range(REQUESTS))
    assert set(served) == {r.name for r in proxy_rig.api}
    # leastconn over idle replicas takes turns: no replica gets fewer than half its share.
    assert min(served.values()) >= REQUESTS // len(proxy_rig.api) // 2, served


def test_a_replica_that_is_gone_costs_no_request(proxy_rig: ProxyRig) -> None:
    """Its address still in DNS, its socket closed (a killed task): every request, writes without
    a key included, is made again on another replica, since none ever reached the gone one."""
    gone = proxy_rig.api[1]
    gone.stop()
    with httpx.Client(base_url=proxy_rig.api_url, timeout=5) as client:
        statuses = Counter(client.post("/feedback", content=b"{}").status_code for _ in range(30))
    assert statuses == {200: 30}
    assert proxy_rig.retried_requests() > 0
    assert sum(r.served("/feedback") for r in proxy_rig.api) == 30


def test_a_request_lost_inside_a_replica_is_replayed_only_when_idempotent(
    proxy_rig: ProxyRig,
) -> None:
    dropper = proxy_rig.api[0]
    dropper.mode = "drop"
    with httpx.Client(base_url=proxy_rig.api_url, timeout=5) as client:
        predictions = Counter(_outcome(client, "/predict") for _ in range(REQUESTS))
        keyed = Counter(
            _outcome(client, "/feedback", {"Idempotency-Key": str(uuid.uuid4())})
            for _ in range(REQUESTS)
        )
        dropped_before = dropper.served("/feedback")
        unkeyed = Counter(_outcome(client, "/feedback") for _ in range(REQUESTS))
    # Predictions and keyed feedback that the dropping replica swallowed were answered elsewhere.
    assert predictions == {200: REQUESTS}
    assert keyed == {200: REQUESTS}
    assert dropper.served("/predict") > 0
    assert dropped_before > 0
    # A write without a key is never sent twice: the client gets the error and decides.
    swallowed = dropper.served("/feedback") - dropped_before
    assert swallowed > 0
    assert unkeyed[200] == REQUESTS - swallowed
    assert unkeyed[502] + unkeyed["closed"] == swallowed
    served_unkeyed = [
        h for r in proxy_rig.api if r is not dropper for h in r.hits
        if h.path == "/feedback" and h.idempotency_key is None
    ]  # fmt: skip
    assert len(served_unkeyed) == REQUESTS - swallowed


def test_replicas_follow_dns_as_tasks_come_and_go(proxy_rig: ProxyRig) -> None:
    client = httpx.Client(base_url=proxy_rig.api_url, timeout=5)

    def served_by(count: int) -> set[str | None]:
        return {_replica(client.post("/predict", content=b"{}")) for _ in range(count)}

    with client:
        leaving = proxy_rig.api[2]
        proxy_rig.dns.set(
            "tasks.serving-api", [r.address for r in proxy_rig.api if r is not leaving]
        )
        wait_for(lambda: leaving.name not in served_by(12), 20, f"{leaving.name} leaves")
        assert leaving.name not in served_by(30)

        joining = proxy_rig.add_api_replica("127.0.0.5")
        proxy_rig.dns.set("tasks.serving-api", [proxy_rig.api[0].address, "127.0.0.5"])
        # The new task is taken in at once; the one left out of the answer goes when HAProxy's
        # hold on an obsolete address (5 s) runs out.
        expected = {proxy_rig.api[0].name, joining.name}
        wait_for(lambda: served_by(12) == expected, 20, f"{joining.name} joins, api-2 leaves")
        assert served_by(30) == expected


def test_a_page_session_stays_on_one_replica(proxy_rig: ProxyRig) -> None:
    with httpx.Client(base_url=proxy_rig.page_url, timeout=5) as fresh:
        anonymous = {_replica(fresh.get("/", headers={"Cookie": ""})) for _ in range(10)}
    assert anonymous == {r.name for r in proxy_rig.pages}
    with httpx.Client(base_url=proxy_rig.page_url, timeout=5) as browser:
        first = browser.get("/")
        assert "mindpulse_page" in browser.cookies
        replicas = {_replica(browser.get("/")) for _ in range(20)}
    assert replicas == {_replica(first)}


@pytest.mark.parametrize("proxy_rig", [5], indirect=True)
def test_feedback_is_limited_per_client_address_at_the_proxy(proxy_rig: ProxyRig) -> None:
    """Replicas see only the proxy's address, so the proxy counts feedback per client: past the
    rate, its 429 is the API's problem JSON, and the refused requests never reach a replica."""
    with httpx.Client(base_url=proxy_rig.api_url, timeout=5) as client:
        answers = [client.post("/feedback", content=b"{}") for _ in range(8)]
        predictions = Counter(client.post("/predict", content=b"{}").status_code for _ in range(20))
    assert [answer.status_code for answer in answers] == [200] * 5 + [429] * 3
    refused = answers[-1]
    assert refused.headers["Retry-After"] == "60"
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json() == {
        "error": "too_many_requests",
        "detail": "too many feedbacks from this address: at most 5 a minute "
        "(FEEDBACK_RATE_PER_MINUTE of the proxy)",
        "field": "client",
        "rule": "at most 5 feedbacks a minute",
    }
    assert sum(replica.served("/feedback") for replica in proxy_rig.api) == 5
    assert predictions == {200: 20}  # predictions are never limited
