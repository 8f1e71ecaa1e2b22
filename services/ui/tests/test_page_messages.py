"""What the page tells a person when something is not right, in real headless Chromium.

One real API (tiny logistic model) and one real UI serve the module. The UI is set up the way
an operator could leave it: another country's helplines in ``SUPPORT_RESOURCES_FILE``, a reports
folder its process may not read (mode 000, and no root override: see
``testsupport.browser.file_permissions_enforced``), and an admin token the API does not accept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from testsupport.api import ApiServer, ApiServers
from testsupport.browser import DESKTOP, PageRecord, UiServer, file_permissions_enforced
from testsupport.reporting import read_feedback

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect.set_options(timeout=15_000)

IRELAND = {
    "country": "Ireland",
    "emergency": "112 or 999",
    "intro": "Free, confidential, any time.",
    "resources": [
        {
            "name": "Samaritans Ireland",
            "description": "Listening line for anyone going through a hard time.",
            "phone": "116 123",
            "url": "https://www.samaritans.org/ireland",
        },
        {"name": "Pieta", "description": "Suicide and self-harm crisis line.", "phone": "1800 247 247"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    return module_api.start(model="logistic")


@pytest.fixture(scope="module")
def locked_reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A reports folder holding a report, that nobody but its owner's override may read."""
    folder = tmp_path_factory.mktemp("locked") / "reports"
    folder.mkdir()
    (folder / "data_quality.html").write_text("<html>quality</html>")
    folder.chmod(0)
    yield folder
    folder.chmod(0o700)  # so the temporary folder can be cleaned up


@pytest.fixture(scope="module")
def ui(
    api: ApiServer,
    locked_reports: Path,
    tmp_path_factory: pytest.TempPathFactory,
    module_ui_server: Callable[..., UiServer],
) -> UiServer:
    support = tmp_path_factory.mktemp("operator") / "ireland.json"
    support.write_text(json.dumps(IRELAND))
    return module_ui_server(
        api.url,
        launcher=file_permissions_enforced(),
        REPORTS_DIR=str(locked_reports),
        SUPPORT_RESOURCES_FILE=str(support),
        ADMIN_TOKEN="not-the-api-token",
    )


def open_page(new_page: Callable[..., tuple[Any, PageRecord]], ui: UiServer) -> Any:
    page, _ = new_page(DESKTOP)
    page.goto(ui.url + "/")
    expect(page.locator("#mp-status")).to_contain_text("ready", timeout=30_000)
    return page


def feedback_rows(api: ApiServer) -> list[dict[str, str]]:
    return read_feedback(api.settings.prod_data_path)


def estimate(page: Any) -> None:
    page.get_by_label("Female").check()
    page.get_by_label("Age (years)").fill("22")
    page.get_by_label("Department").click()
    page.get_by_role("option", name="Arts").click()
    page.locator("#mp-next-0").click()
    expect(page.locator("#mp-step h2")).to_have_text("Your studies")
    page.get_by_label("CGPA").fill("3.0")
    page.get_by_label("Study hours (hours/day)").fill("4")
    page.locator("#mp-next-1").click()
    expect(page.locator("#mp-step h2")).to_have_text("Your daily life")
    page.get_by_label("Sleep (hours/day)").fill("7")
    page.get_by_label("Social media (hours/day)").fill("2")
    page.get_by_label("Physical activity (minutes/week)").fill("120")
    page.locator("#mp-next-2").click()
    expect(page.locator("#mp-step h2")).to_have_text("Review and submit")
    page.get_by_role("button", name="Get my estimate").click()
    expect(page.locator("#mp-result .mp-result")).to_contain_text("Result:", timeout=30_000)


def test_the_operator_support_file_replaces_france_on_the_page(ui: UiServer, new_page: Any) -> None:
    page = open_page(new_page, ui)
    support = page.locator("#mp-support")
    expect(support.get_by_role("heading")).to_have_text("Need to talk? Support in Ireland")
    expect(support.locator("li")).to_have_count(2)
    expect(support.get_by_role("link", name="116 123")).to_have_attribute("href", "tel:116123")
    expect(support.get_by_role("link", name="1800 247 247")).to_have_attribute(
        "href", "tel:1800247247"
    )
    expect(support).to_contain_text("Pieta: Suicide and self-harm crisis line.")
    expect(support).to_contain_text("In an emergency, call 112 or 999.")
    assert "3114" not in support.inner_text() and "France" not in support.inner_text()


def test_feedback_without_a_choice_asks_for_one_and_sends_nothing(
    api: ApiServer, ui: UiServer, new_page: Any
) -> None:
    page = open_page(new_page, ui)
    estimate(page)
    before = len(feedback_rows(api))
    page.get_by_role("button", name="Send feedback").click()
    out = page.locator("#mp-feedback-out")
    expect(out).to_have_text("Please choose one of the two answers first.")
    expect(page.get_by_role("button", name="Send feedback")).to_be_enabled()
    assert len(feedback_rows(api)) == before

    page.get_by_label("No", exact=True).check()
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_role("button", name="Feedback sent")).to_be_disabled()
    expect(out).to_contain_text("Answers received so far")
    rows = feedback_rows(api)
    assert len(rows) == before + 1 and rows[-1]["actual"] == "0"


def test_an_unreadable_reports_folder_is_said_in_words_and_never_a_500(
    ui: UiServer, new_page: Any
) -> None:
    page = open_page(new_page, ui)
    page.get_by_role("tab", name="Reports").click()
    expect(page.locator("#mp-reports")).to_have_text("The reports folder cannot be read right now.")
    # The link route says the same instead of failing with a server error.
    answer = httpx.get(ui.url + "/reports/data_quality.html", timeout=10)
    assert answer.status_code == 503, answer.text
    assert "cannot be read right now" in answer.text and "quality" not in answer.text
    # The Model tab reads accuracy in use from the same folder, and still shows the model.
    page.get_by_role("tab", name="Model").click()
    expect(page.locator("#mp-model")).to_contain_text("v0001")


def test_the_apis_refusal_of_the_admin_token_reaches_the_person_in_its_words(
    ui: UiServer, new_page: Any
) -> None:
    page = open_page(new_page, ui)
    page.get_by_role("tab", name="Reports").click()
    page.get_by_role("button", name="Make reports now").click()
    expect(page.locator("#mp-report-request")).to_have_text(
        "The request for new reports did not go through: must equal ADMIN_TOKEN"
    )
