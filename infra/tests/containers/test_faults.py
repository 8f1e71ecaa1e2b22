"""Faults in the running stack: the API killed mid-stream, and a corrupted current bundle."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from infra.tests.containers.conftest import wait_for
from infra.tests.containers.traffic import (
    PROFILE,
    feedback_rows,
    rows_with_marker,
    send_feedback,
)
from mp_core.client import ApiError, MindPulseClient
from testsupport.browser import PageRecord
from testsupport.docker import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.browser]

ACKS_BEFORE_KILL = 10
ACKS_AFTER_KILL = 10
RESTART_TIMEOUT = 180.0
FIRST_MARKER = 8000


def _healthy(api: str) -> bool:
    return httpx.get(api + "/health", timeout=5).status_code == 200


class FeedbackStream(threading.Thread):
    """Sends marked feedbacks one after another; after a failure, waits for the API again."""

    def __init__(self, api: str) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.acked: list[int] = []
        self.failed: list[int] = []
        self.killed = threading.Event()
        self.acked_after_kill = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        marker = FIRST_MARKER
        try:
            with MindPulseClient(self.api, timeout=10, retries=0) as client:
                while self.acked_after_kill < ACKS_AFTER_KILL:
                    marker += 1
                    try:
                        send_feedback(client, marker)
                    except (ApiError, httpx.HTTPError):
                        self.failed.append(marker)
                        wait_for(lambda: _healthy(self.api), RESTART_TIMEOUT, "API back")
                        continue
                    self.acked.append(marker)
                    if self.killed.is_set():
                        self.acked_after_kill += 1
        except BaseException as exc:
            self.error = exc


def test_killed_api_comes_back_and_every_acknowledged_feedback_is_stored(
    core_stack: ComposeStack,
) -> None:
    api = core_stack.url("API_PORT")
    restarts = core_stack.inspect("serving-api")["RestartCount"]
    stream = FeedbackStream(api)
    stream.start()
    wait_for(lambda: len(stream.acked) >= ACKS_BEFORE_KILL or stream.error, 120, "first acks")
    # SIGKILL to the service's main process, as a crash or the kernel's OOM killer would send it.
    # (`docker kill` counts as stopping it by hand, after which Docker ignores the restart policy.)
    os.kill(core_stack.inspect("serving-api")["State"]["Pid"], signal.SIGKILL)
    stream.killed.set()
    stream.join(RESTART_TIMEOUT + 120)
    assert not stream.is_alive() and stream.error is None, stream.error
    assert core_stack.inspect("serving-api")["RestartCount"] == restarts + 1
    counts = rows_with_marker(feedback_rows(core_stack.folder("data")), set(stream.acked))
    missing = sorted(marker for marker, count in counts.items() if count != 1)
    assert not missing, f"acknowledged feedback missing or doubled: {missing}"
    assert len(stream.acked) >= ACKS_BEFORE_KILL + ACKS_AFTER_KILL


def _current_bundle(stack: ComposeStack) -> Path:
    artifacts = stack.folder("artifacts")
    version = json.loads((artifacts / "current.json").read_text())["version"]
    files = [p for p in (artifacts / "versions" / version).iterdir() if p.name != "manifest.json"]
    return max(files, key=lambda p: p.stat().st_size)


def _trainer_idle(api: str) -> bool:
    info = httpx.get(api + "/model", timeout=10).json()
    return not info["retrain_running"] and info["retrain_waiting"] == 0


def _health(api: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(api + "/health", timeout=5)
    return response.status_code, response.json()


def _unhealthy_body(api: str) -> dict[str, Any] | None:
    status, body = _health(api)
    return body if status == 503 else None


def test_corrupt_current_bundle_is_reported_and_restoring_it_heals_without_restart(
    core_stack: ComposeStack, new_page: Callable[..., tuple[Any, PageRecord]]
) -> None:
    api = core_stack.url("API_PORT")
    # A retrain that earlier feedback asked for would promote a new version, which heals the API
    # by itself: corrupt the current bundle only once the trainer has nothing left to do.
    wait_for(lambda: _trainer_idle(api), 600, "the trainer with no retrain to run")
    target = _current_bundle(core_stack)
    original = target.read_bytes()
    target.write_bytes(bytes(b ^ 0xFF for b in original[:64]) + original[64:])
    try:
        # A running API keeps the model it verified; a started one must refuse the bundle.
        core_stack.restart("serving-api")
        body = wait_for(lambda: _unhealthy_body(api), 120, "503 from /health")
        assert body["status"] == "unavailable"
        assert "cannot be loaded" in body["reason"] and target.name in body["reason"]
        refused = httpx.post(api + "/predict", json={"features": PROFILE}, timeout=10)
        assert refused.status_code == 503
        page, _ = new_page()
        page.goto(core_stack.url("UI_PORT") + "/")
        banner = page.locator("#mp-status")
        expect(banner).to_contain_text("has no model yet", timeout=60_000)
        expect(banner).to_contain_text("cannot be loaded")
        started = core_stack.inspect("serving-api")["State"]["StartedAt"]
    finally:
        target.write_bytes(original)
    wait_for(lambda: _health(api)[0] == 200, 60, "healthy again after the restore")
    expect(banner).to_contain_text("Prediction service ready", timeout=60_000)
    assert core_stack.inspect("serving-api")["State"]["StartedAt"] == started
