"""The page in headless Chromium against the webapp container: the four steps and a result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from infra.tests.containers.traffic import PROFILE
from testsupport.browser import PageRecord
from testsupport.docker import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.browser]

STEPS = ("About you", "Your studies", "Your daily life", "Review and submit")


def test_four_steps_and_a_result_from_the_containers(
    core_stack: ComposeStack,
    new_page: Callable[..., tuple[Any, PageRecord]],
    screenshot_dir: Path,
) -> None:
    page, record = new_page()
    page.goto(core_stack.url("UI_PORT") + "/")
    title = page.locator("#mp-step h2")
    expect(page.locator("#mp-status")).to_contain_text("ready", timeout=60_000)
    expect(title).to_have_text(STEPS[0], timeout=30_000)
    page.get_by_label(PROFILE["Gender"]).check()
    page.get_by_label("Age (years)").fill(str(PROFILE["Age"]))
    page.get_by_label("Department").click()
    page.get_by_role("option", name=PROFILE["Department"]).click()
    page.locator("#mp-next-0").click()
    expect(title).to_have_text(STEPS[1], timeout=30_000)
    page.get_by_label("CGPA").fill(str(PROFILE["CGPA"]))
    page.get_by_label("Study hours (hours/day)").fill(str(PROFILE["Study_Hours"]))
    page.locator("#mp-next-1").click()
    expect(title).to_have_text(STEPS[2], timeout=30_000)
    page.get_by_label("Sleep (hours/day)").fill(str(PROFILE["Sleep_Duration"]))
    page.get_by_label("Social media (hours/day)").fill(str(PROFILE["Social_Media_Hours"]))
    page.get_by_label("Physical activity (minutes/week)").fill(str(PROFILE["Physical_Activity"]))
    stress = page.locator("#mp-field-Stress_Level input[type='number']")
    stress.fill(str(PROFILE["Stress_Level"]))
    stress.press("Tab")
    page.locator("#mp-next-2").click()
    expect(title).to_have_text(STEPS[3], timeout=30_000)
    page.get_by_role("button", name="Get my estimate").click()
    result = page.locator("#mp-result")
    expect(result).to_contain_text("Result:", timeout=60_000)
    served = httpx.post(
        core_stack.url("API_PORT") + "/predict", json={"features": PROFILE}, timeout=10
    ).json()
    expect(result.locator(".mp-percent")).to_have_text(f"{round(served['probability'] * 100)}%")
    expect(result).to_contain_text("not a diagnosis")
    page.screenshot(path=str(screenshot_dir / "containers-result.png"), full_page=True)
    assert record.foreign_hosts() == set(), "the page reached beyond the loopback"
