"""500 concurrent feedbacks against two workers leave exactly 500 intact rows, on both backends."""

from __future__ import annotations

import asyncio

import httpx

from mp_api.config import DEFAULT_MAX_CONCURRENT
from mp_core.stores import feedback_store
from testsupport.api import EXAMPLE, ApiServers, apredict_and_feed_back

N = 500


async def _send_all(url: str) -> list[httpx.Response]:
    # As many connections as one worker admits at once (API_MAX_CONCURRENT, 64): however the
    # kernel spreads them over the workers, none is refused by the concurrency cap, whose 503
    # has its own test; this one is about the stores under concurrent appends.
    limits = httpx.Limits(max_connections=DEFAULT_MAX_CONCURRENT)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                apredict_and_feed_back(
                    client, {**EXAMPLE, "Physical_Activity": float(i)}, (i // 2) % 2
                )
                for i in range(N)
            )
        )


def test_concurrent_feedbacks_are_all_stored_once(
    start_api: ApiServers, store_url: str | None
) -> None:
    api = start_api.start(workers=2, retrain_threshold="100000", database_url=store_url)
    answers = asyncio.run(_send_all(api.url))
    refused = [a.text for a in answers if a.status_code != 200]
    assert refused == [], refused[:3]
    totals = sorted(a.json()["total_feedbacks"] for a in answers)
    assert totals == list(range(1, N + 1))  # every append saw a distinct count
    loaded = feedback_store(api.settings).read()
    assert loaded.bad_lines == {}
    frame = loaded.frame
    assert len(frame) == N
    assert sorted(frame["Physical_Activity"].astype(int)) == list(range(N))
    expected = {(i, (i // 2) % 2) for i in range(N)}
    got = set(
        zip(
            frame["Physical_Activity"].astype(int),
            frame["actual"],
            strict=True,
        )
    )
    assert got == expected
