"""The page's actions against the real API: what the API refuses reaches the person in its words.

The form checks every answer before anything is sent and feedback carries the receipt the API
signed, so a refusal cannot be provoked from the browser; here the action is handed a receipt
with a forged signature, and the real ``mindpulse-api serve`` on a free loopback port refuses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import httpx
import pytest

from mp_core.client import MindPulseClient
from mp_core.settings import Settings
from mp_ui.actions import PageActions
from mp_ui.config import UiConfig
from testsupport.api import EXAMPLE, ApiServer, ApiServers


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    return module_api.start(model="logistic")


@pytest.fixture
def actions(api: ApiServer, tmp_path: Path) -> Iterator[PageActions]:
    page = PageActions(UiConfig(settings=Settings(api_url=api.url, reports_dir=tmp_path)))
    yield page
    page.close()


def _memory(api: ApiServer, features: dict[str, Any]) -> dict[str, Any]:
    """What the page remembers of an estimate: its answers, prediction and receipt."""
    with MindPulseClient(api.url) as client:
        result = client.predict(features)
    return {"features": features, "prediction": result.prediction,
            "prediction_id": result.prediction_id}  # fmt: skip


def _forged(receipt: str) -> str:
    """The receipt with one character of its signature changed."""
    head, _, mac = receipt.rpartition(".")
    return f"{head}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"


def test_a_refused_receipt_reaches_the_person_in_the_apis_words(
    api: ApiServer, actions: PageActions
) -> None:
    memory = _memory(api, dict(EXAMPLE))
    memory["prediction_id"] = _forged(memory["prediction_id"])
    before = stored_lines(api)
    with httpx.Client(base_url=api.url, timeout=10) as http:
        body = {"prediction_id": memory["prediction_id"], "actual": 1}
        refusal = http.post("/feedback", json=body).json()
    assert refusal["field"] == "prediction_id"
    outcome = actions.feedback(memory, 1)
    assert not outcome.ok and not outcome.api_down
    assert f"This estimate can no longer take an answer ({escape(refusal['rule'])})" in outcome.html
    assert "get a new estimate" in outcome.html
    assert stored_lines(api) == before


def test_the_same_feedback_the_form_allows_is_stored(api: ApiServer, actions: PageActions) -> None:
    memory = _memory(api, dict(EXAMPLE))
    before = stored_lines(api)
    outcome = actions.feedback(memory, 0)
    assert outcome.ok, outcome.html
    assert "Answers received so far" in outcome.html
    assert len(stored_lines(api)) == max(len(before), 1) + 1  # the header comes with the first


def stored_lines(api: ApiServer) -> list[str]:
    path = api.settings.prod_data_path
    return path.read_text().splitlines() if path.exists() else []
