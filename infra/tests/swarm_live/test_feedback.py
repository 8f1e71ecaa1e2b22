"""Concurrent feedbacks through the proxy, spread over every API replica, all in one PostgreSQL."""

from __future__ import annotations

import pytest

from infra.swarm.swarm_stack import SwarmStack
from infra.tests.swarm_live.conftest import FIGURES, RETRAIN_THRESHOLD
from infra.tests.swarm_live.fleet import feedback_rows, psql, receipts_for, send_feedbacks

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

FEEDBACKS = 2000
IN_FLIGHT = 200


def test_2000_concurrent_feedbacks_leave_2000_rows_and_one_retrain_per_threshold(
    swarm_stack: SwarmStack,
) -> None:
    rows_before, _ = feedback_rows(swarm_stack)
    counter_before = int(psql(swarm_stack, "SELECT rows FROM feedback_counter"))

    receipts = receipts_for(swarm_stack.api_url, range(FEEDBACKS), concurrency=IN_FLIGHT)
    answers = send_feedbacks(swarm_stack.api_url, receipts, concurrency=IN_FLIGHT)
    seconds = max(a.at for a in answers) - min(a.at for a in answers)
    FIGURES["feedbacks_2000_seconds"] = round(seconds, 2)

    rows_after, _ = feedback_rows(swarm_stack)
    assert rows_after - rows_before == FEEDBACKS
    # Every answer got its own number, whichever replica wrote it: one counter for the fleet.
    numbers = range(counter_before + 1, counter_before + FEEDBACKS + 1)
    assert sorted(a.body["total_feedbacks"] for a in answers) == list(numbers)
    replicas = {a.served_by.split("/")[-1] for a in answers}
    assert len(replicas) == 3, f"answered by {sorted(replicas)}"
    # A retrain is asked for once per RETRAIN_THRESHOLD rows of the fleet, not once per replica.
    triggered = sorted(a.body["total_feedbacks"] for a in answers if a.body["retrain_triggered"])
    assert triggered == [n for n in numbers if n % RETRAIN_THRESHOLD == 0]
    assert len(triggered) == FEEDBACKS // RETRAIN_THRESHOLD
    # The trainer is stopped in these tests: the requests wait, recorded once, not once per ask.
    waiting = psql(swarm_stack, "SELECT count(*) FROM retrain_requests WHERE taken_at IS NULL")
    assert waiting == "1"
