"""The page in real headless Chromium against the real API and UI on free loopback ports.

One API (tiny logistic model) and one UI serve the whole module: a person goes through the four
steps at desktop width, gets a prediction with its probability, sends feedback, reads the model
and reports panels; then again at phone width with the keyboard, and the feedback total goes up.
Screenshots land where CI keeps them ($MP_TEST_ARTIFACTS/screenshots).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from mp_core.client import MindPulseClient
from testsupport.api import ApiServer, ApiServers
from testsupport.browser import DESKTOP, PHONE, PageRecord, UiServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A step change is a round trip to the page's server; on a busy two-core machine it can take
# longer than playwright's default 5 s.
expect.set_options(timeout=15_000)

RETRAIN_EVERY = 3

ANSWERS = {
    "Gender": "Female",
    "Age": 21,
    "Department": "Science",
    "CGPA": 3.1,
    "Study_Hours": 5.0,
    "Sleep_Duration": 5.5,
    "Social_Media_Hours": 4.0,
    "Physical_Activity": 60.0,
    "Stress_Level": 9,
}


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    # A retrain every 3 feedbacks, so the phone journey's feedback starts one.
    return module_api.start(model="logistic", trainer=True, RETRAIN_THRESHOLD=str(RETRAIN_EVERY))


@pytest.fixture(scope="module")
def ui(api: ApiServer, module_ui_server: Callable[..., UiServer]) -> UiServer:
    return module_ui_server(api.url, REPORTS_DIR=str(api.settings.reports_dir))


def open_page(
    new_page: Callable[..., tuple[Any, PageRecord]], ui: UiServer, viewport: dict[str, int]
) -> tuple[Any, PageRecord]:
    page, record = new_page(viewport)
    page.goto(ui.url + "/")
    expect(page.locator("#mp-status")).to_contain_text("ready", timeout=30_000)
    return page, record


def fill_step_one(page: Any) -> None:
    page.get_by_label("Female").check()
    page.get_by_label("Age (years)").fill(str(ANSWERS["Age"]))
    page.get_by_label("Department").click()
    page.get_by_role("option", name="Science").click()


def fill_step_two(page: Any) -> None:
    page.get_by_label("CGPA").fill("3,1")  # a decimal comma is accepted
    page.get_by_label("Study hours (hours/day)").fill("5")


def fill_step_three(page: Any, sleep: str = "5.5") -> None:
    page.get_by_label("Sleep (hours/day)").fill(sleep)
    page.get_by_label("Social media (hours/day)").fill("4")
    page.get_by_label("Physical activity (minutes/week)").fill("60")
    stress = page.locator("#mp-field-Stress_Level input[type='number']")
    stress.fill("9")
    stress.press("Tab")


def step_title(page: Any) -> Any:
    return page.locator("#mp-step h2")


def api_probability(api: ApiServer) -> float:
    with MindPulseClient(api.url) as client:
        return client.predict(ANSWERS).probability


def test_four_steps_prediction_feedback_and_panels_at_desktop_width(
    api: ApiServer, ui: UiServer, new_page: Any, screenshot_dir: Path
) -> None:
    page, record = open_page(new_page, ui, DESKTOP)
    check = expect
    check(step_title(page)).to_have_text("About you")
    page.screenshot(path=str(screenshot_dir / "desktop-1-step-one.png"), full_page=True)

    # Nothing entered yet: Next explains each missing answer at its field.
    page.locator("#mp-next-0").click()
    check(page.locator("#mp-field-Age")).to_contain_text("Please enter a value for Age.")
    check(step_title(page)).to_have_text("About you")

    fill_step_one(page)
    page.locator("#mp-next-0").click()
    check(step_title(page)).to_have_text("Your studies")
    fill_step_two(page)
    page.locator("#mp-next-1").click()
    check(step_title(page)).to_have_text("Your daily life")

    # Back and Next keep what was entered.
    fill_step_three(page)
    page.locator("#mp-back-2").click()
    check(step_title(page)).to_have_text("Your studies")
    check(page.get_by_label("CGPA")).to_have_value("3,1")
    page.locator("#mp-next-1").click()
    check(step_title(page)).to_have_text("Your daily life")
    check(page.get_by_label("Sleep (hours/day)")).to_have_value("5.5")

    page.locator("#mp-next-2").click()
    check(step_title(page)).to_have_text("Review and submit")
    review = page.locator("#mp-review")
    check(review).to_contain_text("3.1 / 4")
    check(review).to_contain_text("5.5 hours/day")
    check(review).to_contain_text("9 / 10")

    page.get_by_role("button", name="Get my estimate").click()
    result = page.locator("#mp-result")
    check(result).to_contain_text("Result:", timeout=30_000)
    expected = round(api_probability(api) * 100)
    check(result.locator(".mp-percent")).to_have_text(f"{expected}%")
    check(result.locator("[role='meter']")).to_have_attribute("aria-valuenow", str(expected))
    check(result).to_contain_text("5.5 hours")  # the explanation quotes the person's sleep
    check(result).to_contain_text("9 out of 10")
    check(result).to_contain_text("not a diagnosis")
    page.screenshot(path=str(screenshot_dir / "desktop-2-result.png"), full_page=True)

    page.get_by_label("Yes (1)").check()
    page.get_by_role("button", name="Send feedback").click()
    check(page.locator("#mp-feedback-out")).to_contain_text("Total feedbacks: 1")
    check(page.locator("#mp-feedback-out")).to_contain_text("No retrain")
    check(page.get_by_role("button", name="Feedback sent")).to_be_disabled()
    rows = api.settings.prod_data_path.read_text().strip().splitlines()
    assert len(rows) == 2 and rows[-1].endswith(",1")  # header + the row, actual = 1
    page.screenshot(path=str(screenshot_dir / "desktop-3-feedback.png"), full_page=True)

    page.get_by_role("tab", name="Model").click()
    model = page.locator("#mp-model")
    check(model).to_contain_text("v0001")
    check(model).to_contain_text("Logistic regression")
    check(model).to_contain_text("Accuracy")
    page.get_by_role("button", name="Refresh model details").click()
    check(model).to_contain_text("Checked at")
    page.screenshot(path=str(screenshot_dir / "desktop-4-model.png"), full_page=True)

    page.get_by_role("tab", name="Reports").click()
    reports = page.locator("#mp-reports")
    check(reports).to_contain_text("just report")
    reports_dir = api.settings.reports_dir
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "data_drift.html").write_text("<html><body>drift report</body></html>")
    page.get_by_role("button", name="Check for new reports").click()
    link = reports.get_by_role("link", name="Data drift")
    check(link).to_have_attribute("href", "/reports/data_drift.html")
    assert httpx.get(ui.url + "/reports/data_drift.html").text.endswith(
        "drift report</body></html>"
    )
    page.screenshot(path=str(screenshot_dir / "desktop-5-reports.png"), full_page=True)

    assert record.foreign_hosts() == set(), "the page must not fetch anything from outside"
    assert "Traceback" not in page.content()


def test_out_of_range_value_is_refused_at_the_field_before_anything_is_sent(
    api: ApiServer, ui: UiServer, new_page: Any, screenshot_dir: Path
) -> None:
    page, record = open_page(new_page, ui, DESKTOP)
    check = expect
    fill_step_one(page)
    page.locator("#mp-next-0").click()
    # Each step's answer comes back from the server: wait for it before filling the next one.
    check(step_title(page)).to_have_text("Your studies")
    fill_step_two(page)
    page.locator("#mp-next-1").click()
    check(step_title(page)).to_have_text("Your daily life")
    fill_step_three(page, sleep="30")
    sent_before = len(record.requests)
    page.locator("#mp-next-2").click()
    field = page.locator("#mp-field-Sleep_Duration")
    check(field).to_contain_text("Sleep must be a number from 0 to 24; you entered 30 hours/day.")
    check(step_title(page)).to_have_text("Your daily life")
    page.screenshot(path=str(screenshot_dir / "desktop-6-out-of-range.png"), full_page=True)
    assert not [u for u in record.requests[sent_before:] if str(api.port) in u]

    # Fixed at the field, the step goes through and the message is gone.
    page.get_by_label("Sleep (hours/day)").fill("7")
    page.locator("#mp-next-2").click()
    check(step_title(page)).to_have_text("Review and submit")
    check(page.locator("#mp-review")).to_contain_text("7 hours/day")


def test_phone_width_with_the_keyboard_and_the_total_goes_up(
    api: ApiServer, ui: UiServer, new_page: Any, screenshot_dir: Path
) -> None:
    with MindPulseClient(api.url) as client:
        before = client.feedback(ANSWERS, 1, 0).total_feedbacks
    page, record = open_page(new_page, ui, PHONE)
    check = expect
    page.screenshot(path=str(screenshot_dir / "phone-1-step-one.png"), full_page=True)
    fill_step_one(page)
    page.locator("#mp-next-0").press("Enter")
    check(step_title(page)).to_have_text("Your studies")
    check(step_title(page)).to_be_focused()  # keyboard focus follows the step
    fill_step_two(page)
    page.locator("#mp-next-1").press("Enter")
    check(step_title(page)).to_have_text("Your daily life")
    fill_step_three(page)
    page.locator("#mp-next-2").press("Enter")
    check(step_title(page)).to_have_text("Review and submit")
    page.get_by_role("button", name="Get my estimate").press("Enter")
    check(page.locator("#mp-result")).to_contain_text("Result:", timeout=30_000)
    check(page.locator("#mp-result h2")).to_be_focused()
    page.get_by_label("No (0)").check()
    page.get_by_role("button", name="Send feedback").press("Enter")
    feedback = page.locator("#mp-feedback-out")
    check(feedback).to_contain_text(f"Total feedbacks: {before + 1}")
    retrained = (before + 1) % RETRAIN_EVERY == 0
    check(feedback).to_contain_text(
        "retrain of the model has started" if retrained else "No retrain"
    )
    page.screenshot(path=str(screenshot_dir / "phone-2-result.png"), full_page=True)
    if retrained:
        # The model panel reports the retrain's decision once it has finished.
        page.get_by_role("tab", name="Model").click()
        model = page.locator("#mp-model")
        deadline = time.monotonic() + 120
        while "Finished" not in model.inner_text() and time.monotonic() < deadline:
            page.get_by_role("button", name="Refresh model details").press("Enter")
            page.wait_for_timeout(2000)
        check(model).to_contain_text("Last retrain")
        check(model).to_contain_text("Trigger")
        check(model.locator(".mp-retrain")).to_contain_text(re.compile(r"model was kept|replaced"))
        page.screenshot(path=str(screenshot_dir / "phone-3-model.png"), full_page=True)

    # Nothing is wider than the phone's screen.
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= PHONE["width"]
    assert record.foreign_hosts() == set()


def test_every_input_has_a_label(ui: UiServer, new_page: Any) -> None:
    page, _ = open_page(new_page, ui, DESKTOP)
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                            && !el.getAttribute('aria-labelledby'))
            .map((el) => el.outerHTML.slice(0, 120))"""
    )
    assert unlabelled == []
    assert re.search(r"not a diagnosis", page.locator("#mp-header").inner_text())
    check = expect
    check(page.locator("#mp-support")).to_contain_text("3114")
    check(page.locator("#mp-support")).to_contain_text("SOS Amitié")
