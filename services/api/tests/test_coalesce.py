"""Requests of one event-loop turn answered together: each still gets exactly its own answer."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from mp_api.coalesce import Coalescer
from mp_core.receipts import ReceiptSigner
from mp_core.schema import profile_from_mapping
from mp_core.settings import Settings
from mp_core.stores import model_store
from testsupport.api import EXAMPLE, ApiServer, ApiServers


class Recorder:
    """An answer function that keeps every turn it was given."""

    def __init__(self) -> None:
        self.turns: list[list[bytes]] = []

    def __call__(self, bodies: Sequence[bytes]) -> list[bytes | Exception]:
        self.turns.append(list(bodies))
        return [ValueError(b.decode()) if b.startswith(b"bad") else b.upper() for b in bodies]


async def _hand_over(coalescer: Coalescer, bodies: list[bytes]) -> list[Any]:
    return await asyncio.gather(*(coalescer(b) for b in bodies), return_exceptions=True)


def test_bodies_handed_over_in_one_turn_are_answered_in_one_call_each_its_own() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder)

    async def scenario() -> tuple[list[Any], list[Any]]:
        first = await _hand_over(coalescer, [b"a", b"bad-b", b"c"])
        second = await _hand_over(coalescer, [b"d"])  # a later turn: a call of its own
        return first, second

    first, second = asyncio.run(scenario())
    assert first[0] == b"A" and first[2] == b"C"
    assert isinstance(first[1], ValueError) and str(first[1]) == "bad-b"
    assert second == [b"D"]
    assert recorder.turns == [[b"a", b"bad-b", b"c"], [b"d"]]


def test_a_failing_turn_fails_every_request_of_it_and_none_waits_forever() -> None:
    def broken(bodies: Sequence[bytes]) -> list[bytes | Exception]:
        raise RuntimeError("no model")

    def miscounted(bodies: Sequence[bytes]) -> list[bytes | Exception]:
        return [b"only one"]

    async def scenario() -> tuple[list[Any], list[Any]]:
        failed = await asyncio.wait_for(_hand_over(Coalescer(broken), [b"a", b"b"]), 5)
        short = await asyncio.wait_for(_hand_over(Coalescer(miscounted), [b"a", b"b"]), 5)
        return failed, short

    failed, short = asyncio.run(scenario())
    assert [str(e) for e in failed] == ["no model", "no model"]
    assert all(isinstance(e, RuntimeError) for e in short)
    assert str(short[0]) == "1 answers for 2 request bodies"


def test_a_request_cancelled_while_it_waits_leaves_the_others_answered() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder)

    async def scenario() -> list[Any]:
        tasks = [asyncio.ensure_future(coalescer(b)) for b in (b"a", b"b", b"c")]
        await asyncio.sleep(0)  # every task has handed its body over and waits
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    answers = asyncio.run(scenario())
    assert answers[0] == b"A" and answers[2] == b"C"
    assert isinstance(answers[1], asyncio.CancelledError)


def test_each_event_loop_gets_its_own_turns() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder)
    assert asyncio.run(_hand_over(coalescer, [b"x"])) == [b"X"]
    assert asyncio.run(_hand_over(coalescer, [b"y", b"z"])) == [b"Y", b"Z"]
    assert recorder.turns == [[b"x"], [b"y", b"z"]]


def _profile(i: int) -> dict[str, Any]:
    return {
        **EXAMPLE,
        "Physical_Activity": float(i),
        "Sleep_Duration": 4.0 + (i % 50) / 10,
        "Gender": ("Male", "Female", "Other")[i % 3],
    }


N_CONCURRENT = 60


async def _predict_all(url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        return await asyncio.gather(*(client.post("/predict", json=b) for b in bodies))


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    return module_api.start()


def test_concurrent_predictions_each_get_their_own_answer_and_receipt(api: ApiServer) -> None:
    """Many clients at once, some with bad bodies: no answer, error or receipt is swapped."""
    bodies: list[dict[str, Any]] = []
    for i in range(N_CONCURRENT):
        if i % 7 == 3:
            bodies.append({"features": {**_profile(i), "Age": 200 + i}})  # out of range
        else:
            bodies.append({"features": _profile(i)})
    answers = asyncio.run(_predict_all(api.url, bodies))
    scorer = model_store(api.settings).load_scorer()
    signer = ReceiptSigner.from_settings(api.settings)
    for body, answer in zip(bodies, answers, strict=True):
        features = body["features"]
        if features["Age"] >= 200:
            assert answer.status_code == 400, answer.text
            problem = answer.json()
            assert problem["field"] == "Age"
            assert problem["errors"][0]["path"] == "$.features.Age"
            continue
        assert answer.status_code == 200, answer.text
        got = answer.json()
        expected = scorer.scorer.score_profile(profile_from_mapping(features))
        assert got["probability"] == pytest.approx(expected, rel=1e-12)
        assert got["prediction"] == int(expected > 0.5)
        receipt = signer.redeem(got["prediction_id"], time.time())
        assert receipt.profile == profile_from_mapping(features)
        assert receipt.probability == got["probability"]
    ids = [a.json()["prediction_id"] for a in answers if a.status_code == 200]
    assert len(set(ids)) == len(ids)


def test_a_started_worker_keeps_its_startup_heap_out_of_garbage_collections(
    trained_settings: Settings,
) -> None:
    """Its last start step freezes the heap: full collections then skip the app and the model
    (one every few seconds under load, ~50 ms each, was /predict's p99 before)."""
    code = f"""
import gc
from pathlib import Path
from litestar.testing import TestClient
from mp_api.app import create_app
from mp_core.settings import Settings
settings = Settings(data_dir=Path({str(trained_settings.data_dir)!r}),
                    artifacts_dir=Path({str(trained_settings.artifacts_dir)!r}))
app = create_app(settings)
before = gc.get_freeze_count()
with TestClient(app) as client:
    answer = client.post("/predict", json={{"features": {EXAMPLE!r}}})
    print(before, gc.get_freeze_count(), answer.status_code)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    before, frozen, status = (int(x) for x in done.stdout.split())
    assert before == 0
    assert frozen > 10_000  # the modules, the routes and the model, not a handful
    assert status == 200
