"""Predictions and feedback through the published loopback port; 50 feedbacks retrain in the
containers and the new version is served without restarting the API."""

from __future__ import annotations

import httpx
import pytest

from infra.tests.containers.traffic import (
    PROFILE,
    feedback_rows,
    rows_with_marker,
    send_feedback,
    served_version,
    wait_for_new_version,
)
from mp_core.client import MindPulseClient
from testsupport.docker import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.slow]

RETRAIN_THRESHOLD = 50
MARKERS = range(7000, 7000 + RETRAIN_THRESHOLD)


def test_predict_and_invalid_input_through_the_published_port(core_stack: ComposeStack) -> None:
    api = core_stack.url("API_PORT")
    answer = httpx.post(api + "/predict", json={"features": PROFILE}, timeout=10).json()
    assert answer["prediction"] in (0, 1) and 0.0 <= answer["probability"] <= 1.0
    assert answer["model_version"] == served_version(api)
    bad = httpx.post(api + "/predict", json={"features": {**PROFILE, "Age": 7}}, timeout=10)
    assert bad.status_code == 400 and "Age" in bad.text


def test_fifty_feedbacks_retrain_inside_the_stack_and_the_new_version_is_served(
    core_stack: ComposeStack,
) -> None:
    api = core_stack.url("API_PORT")
    before = core_stack.inspect("serving-api")
    old = served_version(api)
    with MindPulseClient(api, timeout=30) as client:
        acks = [send_feedback(client, marker) for marker in MARKERS]
    triggered = [ack for ack in acks if ack.retrain_triggered]
    # Whatever feedback came before, one retrain starts within any run of 50 feedbacks.
    assert len(triggered) == 1 and triggered[0].total_feedbacks % RETRAIN_THRESHOLD == 0
    new = wait_for_new_version(api, old)
    assert new > old
    with MindPulseClient(api) as client:
        assert client.predict(PROFILE).model_version == new
    after = core_stack.inspect("serving-api")
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"], "the API was restarted"
    assert after["RestartCount"] == before["RestartCount"]
    counts = rows_with_marker(feedback_rows(core_stack.folder("data")), set(MARKERS))
    assert set(counts.values()) == {1}, "every acknowledged feedback is stored once"
    assert (core_stack.folder("artifacts") / "versions" / new / "manifest.json").is_file()
