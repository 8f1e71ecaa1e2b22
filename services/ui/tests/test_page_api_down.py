"""The page when the API is down: the UI starts anyway, says so in words, and recovers.

Real processes only: the UI is started before the API exists, the API is then started on the
port the UI was told about, and stopped again while a person is about to submit, or about to
send feedback on an estimate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from testsupport.api import ApiServer, prepare_root
from testsupport.browser import DESKTOP
from testsupport.reporting import read_feedback

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def go_to_review(page: Any) -> None:
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Age (years)").fill("23")
    page.get_by_label("Department").click()
    page.get_by_role("option", name="Law").click()
    page.locator("#mp-next-0").click()
    page.get_by_label("CGPA").fill("2.8")
    page.get_by_label("Study hours (hours/day)").fill("3")
    page.locator("#mp-next-1").click()
    page.get_by_label("Sleep (hours/day)").fill("8")
    page.get_by_label("Social media (hours/day)").fill("1")
    page.get_by_label("Physical activity (minutes/week)").fill("200")
    page.locator("#mp-next-2").click()
    expect(page.locator("#mp-step h2")).to_have_text("Review and submit")


def test_ui_starts_before_the_api_waits_for_it_and_says_when_it_stops(
    tmp_path: Path,
    _trained_template: Path,
    ui_server: Any,
    new_page: Any,
    screenshot_dir: Path,
) -> None:
    root = prepare_root(tmp_path / "api", "logistic", {"logistic": _trained_template})
    api = ApiServer(root)
    ui = ui_server(api.url)  # nothing listens on the API's port yet
    page, record = new_page(DESKTOP)
    page.goto(ui.url + "/")
    banner = page.locator("#mp-status")
    expect(banner).to_contain_text("cannot be reached", timeout=30_000)
    expect(banner).to_contain_text("checks again")
    page.screenshot(path=str(screenshot_dir / "api-down-1-at-start.png"), full_page=True)
    try:
        api.start(wait="ready")
        expect(banner).to_contain_text("Prediction service ready", timeout=30_000)
        page.get_by_role("tab", name="Model").click()
        expect(page.locator("#mp-model")).to_contain_text("v0001", timeout=30_000)
        page.get_by_role("tab", name="Check-in").click()
        go_to_review(page)

        api.stop()
        expect(banner).to_contain_text("cannot be reached", timeout=30_000)
        page.get_by_role("button", name="Get my estimate").click()
        result = page.locator("#mp-result")
        expect(result).to_contain_text("cannot be reached", timeout=30_000)
        expect(result).to_contain_text("your answers are kept")
        page.screenshot(path=str(screenshot_dir / "api-down-2-submit.png"), full_page=True)
        assert "Traceback" not in page.content()
        assert "Error" not in page.locator("body").inner_text()

        # Back up: the same answers go through without reloading the page.
        api.start(wait="ready")
        expect(banner).to_contain_text("Prediction service ready", timeout=30_000)
        page.get_by_role("button", name="Get my estimate").click()
        expect(result).to_contain_text("Result:", timeout=30_000)
    finally:
        api.stop()
    assert record.foreign_hosts() == set()
    assert "Traceback" not in ui.log()


def test_feedback_and_the_model_tab_while_the_api_is_down_say_so_and_nothing_is_lost(
    tmp_path: Path, _trained_template: Path, ui_server: Any, new_page: Any
) -> None:
    root = prepare_root(tmp_path / "api", "logistic", {"logistic": _trained_template})
    api = ApiServer(root).start(wait="ready")
    try:
        ui = ui_server(api.url)
        page, record = new_page(DESKTOP)
        page.goto(ui.url + "/")
        banner = page.locator("#mp-status")
        expect(banner).to_contain_text("Prediction service ready", timeout=30_000)
        go_to_review(page)
        page.get_by_role("button", name="Get my estimate").click()
        expect(page.locator("#mp-result .mp-result")).to_contain_text("Result:", timeout=30_000)
        page.get_by_label("Yes", exact=True).check()

        api.stop()
        page.get_by_role("button", name="Send feedback").click()
        out = page.locator("#mp-feedback-out")
        expect(out).to_contain_text("cannot be reached", timeout=30_000)
        expect(out).to_contain_text("Your feedback was not sent yet; try again shortly.")
        expect(banner).to_contain_text("cannot be reached")
        send = page.get_by_role("button", name="Send feedback")
        expect(send).to_be_enabled()  # the person can try again
        page.get_by_role("tab", name="Model").click()
        model = page.locator("#mp-model")
        expect(model).to_contain_text("The model details are not available right now.")
        expect(model).to_contain_text("cannot be reached")
        assert read_feedback(api.settings.prod_data_path) == []

        # Back up: the same feedback goes through, once.
        api.start(wait="ready")
        expect(banner).to_contain_text("Prediction service ready", timeout=30_000)
        page.get_by_role("button", name="Refresh model details").click()
        expect(model).to_contain_text("v0001", timeout=30_000)
        page.get_by_role("tab", name="Check-in").click()
        send.click()
        expect(page.get_by_role("button", name="Feedback sent")).to_be_disabled()
        expect(out).to_contain_text("Answers received so far: 1")
    finally:
        api.stop()
    rows = read_feedback(api.settings.prod_data_path)
    assert [(row["Age"], row["Department"], row["actual"]) for row in rows] == [("23", "Law", "1")]
    assert record.foreign_hosts() == set()
    assert "Traceback" not in ui.log()
