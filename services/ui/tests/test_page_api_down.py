"""The page when the API is down: the UI starts anyway, says so in words, and recovers.

Real processes only: the UI is started before the API exists, the API is then started on the
port the UI was told about, and stopped again while a person is about to submit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from testsupport.api import ApiServer, prepare_root
from testsupport.browser import DESKTOP

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
