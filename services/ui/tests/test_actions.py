"""The page's actions against the real API: what the API refuses reaches the person in its words.

The form checks every answer before anything is sent, so a refusal cannot be provoked from the
browser; here the action is handed answers the form would never let through, and the real
``mindpulse-api serve`` on a free loopback port refuses them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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


@pytest.mark.parametrize(
    ("features", "words"),
    [
        (
            {**EXAMPLE, "Age": 200},
            "The service did not accept Age: Expected `int` &lt;= 100 (must be a whole number "
            "from 16 to 100). Please go back and check it.",
        ),
        (
            {**EXAMPLE, "Mood": 3},
            "The service did not accept Mood: unknown field: the features are Age, Gender, "
            "Department, CGPA, Sleep_Duration, Study_Hours, Social_Media_Hours, "
            "Physical_Activity, Stress_Level. Please go back and check it.",
        ),
    ],
)
def test_a_refused_feedback_names_the_field_and_the_apis_rule(
    api: ApiServer, actions: PageActions, features: dict[str, Any], words: str
) -> None:
    before = stored_lines(api)
    outcome = actions.feedback({"features": features, "prediction": 1}, 1)
    assert not outcome.ok and not outcome.api_down
    assert words in outcome.html
    assert stored_lines(api) == before


def test_the_same_feedback_the_form_allows_is_stored(api: ApiServer, actions: PageActions) -> None:
    before = stored_lines(api)
    outcome = actions.feedback({"features": dict(EXAMPLE), "prediction": 1}, 0)
    assert outcome.ok, outcome.html
    assert "Answers received so far" in outcome.html
    assert len(stored_lines(api)) == max(len(before), 1) + 1  # the header comes with the first


def stored_lines(api: ApiServer) -> list[str]:
    path = api.settings.prod_data_path
    return path.read_text().splitlines() if path.exists() else []
