"""500 concurrent feedbacks against two workers leave exactly 500 intact rows, on both backends."""

from __future__ import annotations

import asyncio

import httpx

from mp_core.stores import feedback_store
from testsupport.api import EXAMPLE, ApiServers, apredict_and_feed_back

N = 500


async def _send_all(url: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=100)
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
    assert [a.status_code for a in answers] == [200] * N
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
