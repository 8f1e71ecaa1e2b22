"""An API task killed under feedback load: Swarm replaces it and no acknowledged feedback is lost."""

from __future__ import annotations

import threading
import time

import pytest

from infra.swarm.swarm_stack import SwarmStack, docker
from infra.tests.swarm_live.conftest import FIGURES
from infra.tests.swarm_live.fleet import (
    Answer,
    feedback_rows,
    receipts_for,
    send_feedbacks,
    wait_until,
)

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

FEEDBACKS = 2000
IN_FLIGHT = 20
ATTEMPTS = 10
REPLACED_WITHIN_S = 120


def overlay_address(container: str) -> str:
    out = docker(
        "inspect", "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container,
    ).stdout  # fmt: skip
    (address,) = out.split()
    return address


def test_a_killed_api_task_is_replaced_and_no_acknowledged_feedback_is_lost(
    swarm_stack: SwarmStack,
) -> None:
    # The receipts come first: this test is about feedback through a lost task.
    receipts = receipts_for(swarm_stack.api_url, range(FEEDBACKS), concurrency=IN_FLIGHT)
    victim = sorted(swarm_stack.containers("serving-api"))[0]
    victim_address = overlay_address(victim)
    results: list[Answer] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            results.extend(
                send_feedbacks(
                    swarm_stack.api_url, receipts, concurrency=IN_FLIGHT, attempts=ATTEMPTS
                )
            )  # fmt: skip
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    sender = threading.Thread(target=load)
    sender.start()
    time.sleep(1.0)
    killed_at = time.monotonic()
    docker("kill", victim)
    sender.join(timeout=300)
    assert not sender.is_alive()
    assert errors == []

    # The load ran across the kill, and the victim had its share of it before.
    assert min(a.at for a in results) < killed_at < max(a.at for a in results)
    assert any(a.served_by.endswith("/" + victim_address) for a in results)
    # Every acknowledged feedback is a row, each once, however often it was sent.
    assert len(results) == FEEDBACKS
    assert feedback_rows(swarm_stack, receipts.values()) == (FEEDBACKS, FEEDBACKS)

    def replaced() -> bool:
        running = swarm_stack.containers("serving-api")
        return len(running) == 3 and victim not in running

    wait_until(replaced, REPLACED_WITHIN_S, "a new task in place of the killed one")
    FIGURES["killed_task_replaced_seconds"] = round(time.monotonic() - killed_at, 1)
    wait_until(lambda: swarm_stack.replicas()["serving-api"] == (3, 3), 120, "3 of 3 healthy")

    # A client sending the same feedbacks again with the same receipts gets the same answers.
    first_hundred = {marker: receipts[marker] for marker in range(100)}
    again = send_feedbacks(swarm_stack.api_url, first_hundred, concurrency=10)
    first = {a.body["total_feedbacks"] for a in results}
    assert {a.body["total_feedbacks"] for a in again} <= first
    assert feedback_rows(swarm_stack, receipts.values()) == (FEEDBACKS, FEEDBACKS)
