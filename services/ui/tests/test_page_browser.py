"""The page in real headless Chromium against the real API and UI on free loopback ports.

One API (tiny logistic model) and one UI serve the whole module. A person goes through the four
steps at desktop width, by mouse and by keyboard, gets an estimate, sends feedback, reads the
Model and Reports tabs; changes an answer after a result; does it all again at phone width.
Every state passes the accessibility gate (axe-core: no serious or critical violation).
Screenshots land where CI keeps them ($MP_TEST_ARTIFACTS/screenshots).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from mp_core.client import MindPulseClient
from mp_core.ml.synthetic import Drift
from testsupport.accessibility import serious_violations, text_below, text_contrasts
from testsupport.api import ADMIN_TOKEN, ApiServer, ApiServers, client_feedback
from testsupport.browser import DESKTOP, PHONE, PageRecord, UiServer
from testsupport.reporting import feedback_lines, read_feedback, write_feedback

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A step change is a round trip to the page's server; on a busy two-core machine it can take
# longer than playwright's default 5 s.
expect.set_options(timeout=15_000)

RETRAIN_EVERY = 4
SCHEDULE_HOURS = "6"

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
# Every piece of text a student reads is at least this far from its background (WCAG AA).
MIN_CONTRAST = 4.5
SMALL_TEXT = ".info-text, .mp-step-count, .mp-muted, .mp-tip, .mp-steps li, .mp-field-error"


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    # A retrain every 3 feedbacks, so the phone journey's feedback starts one.
    return module_api.start(model="logistic", trainer=True, RETRAIN_THRESHOLD=str(RETRAIN_EVERY))


@pytest.fixture(scope="module")
def ui(api: ApiServer, module_ui_server: Callable[..., UiServer]) -> UiServer:
    return module_ui_server(
        api.url,
        REPORTS_DIR=str(api.settings.reports_dir),
        ADMIN_TOKEN=ADMIN_TOKEN,
        REPORT_SCHEDULE_HOURS=SCHEDULE_HOURS,
    )


# The page's delayed focus move after a step change, with the focus moved before it runs.
FOCUS_MOVED_MEANWHILE = """async () => {
    const pending = window.mpFocusStep();
    document.querySelector('#mp-next-2').focus();
    return [await pending, document.activeElement.id];
}"""


def open_page(
    new_page: Callable[..., tuple[Any, PageRecord]], ui: UiServer, viewport: dict[str, int]
) -> tuple[Any, PageRecord]:
    page, record = new_page(viewport)
    page.goto(ui.url + "/")
    expect(page.locator("#mp-status")).to_contain_text("ready", timeout=30_000)
    return page, record


def gate(page: Any, shots: Path, name: str) -> None:
    """The accessibility gate of one state, and its screenshot."""
    # Gradio fades updated blocks in; judge the colours once the transitions have ended.
    page.wait_for_function(
        "() => document.getAnimations().every((a) => a.playState !== 'running')",
        timeout=15_000,
    )
    assert serious_violations(page) == [], name
    assert text_below(page, MIN_CONTRAST) == [], f"{name}: text below {MIN_CONTRAST}:1"
    low = [(t, r) for t, r in text_contrasts(page, SMALL_TEXT) if r < MIN_CONTRAST]
    assert low == [], f"{name}: text below {MIN_CONTRAST}:1"
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def step_title(page: Any) -> Any:
    return page.locator("#mp-step h2")


def fill_step_one(page: Any) -> None:
    page.get_by_label("Female").check()
    page.get_by_label("Age (years)").fill(str(ANSWERS["Age"]))
    page.get_by_label("Department").click()
    page.get_by_role("option", name="Science").click()


def fill_step_two(page: Any) -> None:
    page.get_by_label("CGPA").fill("3,1")  # a decimal comma is accepted
    page.get_by_label("Study hours (hours/day)").fill("5")


def fill_step_three(page: Any, sleep: str = "5.5", stress: str = "9") -> None:
    page.get_by_label("Sleep (hours/day)").fill(sleep)
    page.get_by_label("Social media (hours/day)").fill("4")
    page.get_by_label("Physical activity (minutes/week)").fill("60")
    box = page.locator("#mp-field-Stress_Level input[type='number']")
    box.fill(stress)
    box.press("Tab")


def to_review(page: Any, shots: Path | None = None, prefix: str = "") -> None:
    """Steps one to three filled, each step's title awaited before the next is filled."""
    fill_step_one(page)
    page.locator("#mp-next-0").click()
    expect(step_title(page)).to_have_text("Your studies")
    if shots:
        gate(page, shots, f"{prefix}2-studies")
    fill_step_two(page)
    page.locator("#mp-next-1").click()
    expect(step_title(page)).to_have_text("Your daily life")
    if shots:
        gate(page, shots, f"{prefix}3-daily-life")
    fill_step_three(page)
    page.locator("#mp-next-2").click()
    expect(step_title(page)).to_have_text("Review and submit")


def estimate(page: Any) -> Any:
    page.get_by_role("button", name="Get my estimate").click()
    result = page.locator("#mp-result")
    expect(result.locator(".mp-result")).to_contain_text("Result:", timeout=30_000)
    return result


def feedback_rows(api: ApiServer) -> list[dict[str, str]]:
    return read_feedback(api.settings.prod_data_path)


def api_prediction(api: ApiServer, answers: dict[str, Any]) -> tuple[int, float]:
    with MindPulseClient(api.url) as client:
        result = client.predict(answers)
    return result.prediction, result.probability


def test_desktop_journey_passes_the_accessibility_gate_at_every_state(
    api: ApiServer, ui: UiServer, new_page: Any, screenshot_dir: Path
) -> None:
    page, record = open_page(new_page, ui, DESKTOP)
    check = expect
    check(step_title(page)).to_have_text("About you")
    # The gate can fail: the old hint grey (1.91:1 on white) is caught by both checks.
    page.evaluate(
        """() => { const probe = document.createElement('p'); probe.id = 'mp-probe';
                   probe.style.color = 'rgb(187, 187, 194)'; probe.textContent = 'Step 1 of 4';
                   document.querySelector('#mp-header').appendChild(probe); }"""
    )
    assert any("1.91" in line for line in text_below(page, MIN_CONTRAST))
    assert any(line.startswith("color-contrast") for line in serious_violations(page))
    page.evaluate("() => document.getElementById('mp-probe').remove()")
    gate(page, screenshot_dir, "desktop-1-about-you")

    # Nothing entered: every error in one style under its field, tied to it, focus on the first.
    page.locator("#mp-next-0").click()
    check(page.locator("#mp-error-Age")).to_have_text("! Please enter a value for Age.")
    check(page.locator("#mp-error-Gender")).to_contain_text("Please choose a value for Gender.")
    check(page.locator("#mp-error-Department")).to_contain_text("Please choose")
    gender = page.locator("#mp-field-Gender")
    check(gender).to_have_attribute("role", "radiogroup")
    check(gender).to_have_attribute("aria-invalid", "true")
    check(gender).to_have_attribute("aria-describedby", re.compile(r"mp-error-Gender"))
    age = page.get_by_label("Age (years)")
    check(age).to_have_attribute("aria-invalid", "true")
    check(age).to_have_attribute("aria-describedby", "mp-error-Age mp-hint-Age")
    check(age).to_have_attribute("inputmode", "numeric")  # whole numbers: no decimal keypad
    check(page.get_by_label("Male", exact=True)).to_be_focused()
    check(step_title(page)).to_have_text("About you")
    gate(page, screenshot_dir, "desktop-1-errors")

    # The radio group is one tab stop and takes the arrow keys.
    page.keyboard.press("ArrowRight")
    check(page.get_by_label("Female")).to_be_checked()
    check(page.get_by_label("Female")).to_be_focused()
    page.keyboard.press("Tab")
    check(age).to_be_focused()
    page.keyboard.press("Shift+Tab")
    check(page.get_by_label("Female")).to_be_focused()

    to_review(page, screenshot_dir, "desktop-")
    check(page.locator("#mp-error-Gender")).to_have_count(0)  # fixed: the errors are gone
    review = page.locator("#mp-review")
    check(review).to_contain_text("3.1 / 4")
    check(review).to_contain_text("5.5 hours/day")
    check(review).to_contain_text("9 / 10")
    gate(page, screenshot_dir, "desktop-4-review")

    result = estimate(page)
    _, probability = api_prediction(api, ANSWERS)
    percent = round(probability * 100)
    check(result.locator(".mp-percent")).to_have_text(f"{percent}%")
    check(result.locator("[role='meter']")).to_have_attribute("aria-valuenow", str(percent))
    article = "an" if str(percent).startswith("8") or percent in (11, 18) else "a"
    check(result).to_contain_text(f"{article} {percent}% chance")
    check(result).to_contain_text("5.5 hours")  # the explanation quotes the person's sleep
    check(result).to_contain_text("not a diagnosis")
    check(page.locator("#mp-result h2")).to_be_focused()
    gate(page, screenshot_dir, "desktop-5-result")

    before = len(feedback_rows(api))
    page.get_by_label("Yes", exact=True).check()
    page.get_by_role("button", name="Send feedback").click()
    out = page.locator("#mp-feedback-out")
    check(out).to_contain_text("Answers received so far: ")
    check(page.get_by_role("button", name="Feedback sent")).to_be_disabled()
    rows = feedback_rows(api)
    assert len(rows) == before + 1 and rows[-1]["actual"] == "1"
    gate(page, screenshot_dir, "desktop-6-feedback")
    words = page.locator("#mp-result").inner_text() + out.inner_text()
    assert not re.search(r"\((0|1)\)|retrain|hours/day|feedbacks", words), words

    # The tabs take the arrow keys; the Model tab refreshes as it opens.
    page.get_by_role("tab", name="Check-in").focus()
    page.keyboard.press("ArrowRight")
    check(page.get_by_role("tab", name="Model")).to_have_attribute("aria-selected", "true")
    check(page.get_by_role("tab", name="Model")).to_be_focused()
    check(page.get_by_role("tab", name="Check-in")).to_have_attribute("tabindex", "-1")
    model = page.locator("#mp-model")
    with MindPulseClient(api.url) as client:
        since = client.model_info()["feedback_since_training"]
    check(model.locator(".mp-model-summary")).to_contain_text(f"Feedback since training{since}")
    check(model).to_contain_text("Logistic regression")
    chart = model.locator("svg.mp-chart[role='img']")
    check(chart).to_have_count(1)
    check(chart.locator("desc")).to_contain_text("v0001: Accuracy (held out)")
    check(model).to_contain_text("Of 100 students the model had not seen")
    gate(page, screenshot_dir, "desktop-7-model")

    page.keyboard.press("ArrowRight")
    check(page.get_by_role("tab", name="Reports")).to_have_attribute("aria-selected", "true")
    reports = page.locator("#mp-reports")
    check(reports).to_contain_text("No reports yet")
    check(reports).to_contain_text("every 6 hours")
    check(reports).to_contain_text("Make reports now")
    assert "just report" not in reports.inner_text()
    gate(page, screenshot_dir, "desktop-8-reports-empty")

    assert record.foreign_hosts() == set(), "the page must not fetch anything from outside"
    assert "Traceback" not in page.content()


def test_answers_changed_after_a_result_never_reach_the_stored_row(
    api: ApiServer, ui: UiServer, new_page: Any, screenshot_dir: Path
) -> None:
    page, record = open_page(new_page, ui, DESKTOP)
    check = expect
    to_review(page)
    result = estimate(page)
    check(result).to_contain_text("You sleep about 5.5 hours")

    # Back to the daily life step: less sleep, more stress, then to the review again.
    page.locator("#mp-back-3").click()
    check(step_title(page)).to_have_text("Your daily life")
    page.get_by_label("Sleep (hours/day)").fill("4")
    check(result).to_contain_text("out of date")
    send = page.locator("#mp-send")
    check(send).to_be_disabled()
    check(send).to_have_text("Get a new estimate first")
    box = page.locator("#mp-field-Stress_Level input[type='number']")
    box.fill("10")
    box.press("Tab")
    page.locator("#mp-next-2").click()
    check(step_title(page)).to_have_text("Review and submit")
    check(page.locator("#mp-review")).to_contain_text("4 hours/day")
    check(result).to_contain_text("You sleep about 5.5 hours")  # the old card, marked
    check(result.locator(".mp-stale-note")).to_be_visible()
    gate(page, screenshot_dir, "desktop-9-out-of-date")

    # Trying to send feedback now stores nothing.
    before = len(feedback_rows(api))
    send.click(force=True)
    page.wait_for_timeout(1500)
    assert len(feedback_rows(api)) == before

    # A new estimate, then feedback: the row holds exactly the answers of that estimate.
    page.get_by_role("button", name="Get my estimate").click()
    check(result).to_contain_text("You sleep about 4 hours", timeout=30_000)
    check(result.locator(".mp-stale-note")).to_have_count(0)
    # The estimate's last step moves the focus to the result's title: every update it makes
    # (re-enabling and clearing the choice among them) is on the page by then.
    check(result.locator("h2")).to_be_focused()
    no = page.get_by_label("No", exact=True)
    check(no).to_be_enabled()
    check(no).not_to_be_checked()
    no.check()
    page.get_by_role("button", name="Send feedback").click()
    check(page.get_by_role("button", name="Feedback sent")).to_be_disabled()
    rows = feedback_rows(api)
    assert len(rows) == before + 1
    shown = {**ANSWERS, "Sleep_Duration": 4.0, "Stress_Level": 10}
    row = rows[-1]
    for name, value in shown.items():
        kept = row[name] if isinstance(value, str) else float(row[name])
        assert kept == value, (name, row[name], value)
    prediction, _ = api_prediction(api, shown)
    assert int(row["prediction"]) == prediction and row["actual"] == "0"

    # A change sent in the same instant as the feedback (before the page can mark the
    # result): whatever arrives first, a stored row only ever holds the estimate's answers.
    page.get_by_role("button", name="Get my estimate").click()
    check(send).to_have_text("Send feedback", timeout=30_000)
    page.locator("#mp-back-3").click()
    check(step_title(page)).to_have_text("Your daily life")
    page.evaluate(
        """() => {
            const sleep = document.querySelector('#mp-field-Sleep_Duration input');
            sleep.value = '9';
            sleep.dispatchEvent(new Event('input', {bubbles: true}));
            document.querySelector('#mp-send').click();
        }"""
    )
    check(result).to_contain_text("out of date")
    page.wait_for_timeout(1500)
    for extra in feedback_rows(api)[before + 1 :]:
        assert float(extra["Sleep_Duration"]) == 4.0, extra

    # Start over: step one, empty answers, no result.
    page.get_by_role("button", name="Start over").click()
    check(step_title(page)).to_have_text("About you")
    check(step_title(page)).to_be_focused()
    check(page.get_by_label("Age (years)")).to_have_value("")
    check(page.get_by_label("Female")).not_to_be_checked()
    check(page.locator("#mp-result .mp-result")).to_have_count(0)
    check(page.locator("#mp-feedback")).to_be_hidden()
    assert record.foreign_hosts() == set()


def test_out_of_range_value_is_refused_at_the_field_before_anything_is_sent(
    api: ApiServer, ui: UiServer, new_page: Any, screenshot_dir: Path
) -> None:
    page, record = open_page(new_page, ui, DESKTOP)
    check = expect
    fill_step_one(page)
    page.locator("#mp-next-0").click()
    check(step_title(page)).to_have_text("Your studies")
    fill_step_two(page)
    page.locator("#mp-next-1").click()
    check(step_title(page)).to_have_text("Your daily life")
    fill_step_three(page, sleep="30")
    sent_before = len(record.requests)
    page.locator("#mp-next-2").click()
    error = page.locator("#mp-error-Sleep_Duration")
    check(error).to_contain_text("Sleep must be a number from 0 to 24; you entered 30 hours/day.")
    check(page.get_by_label("Sleep (hours/day)")).to_be_focused()
    check(step_title(page)).to_have_text("Your daily life")
    gate(page, screenshot_dir, "desktop-3-out-of-range")
    assert not [u for u in record.requests[sent_before:] if str(api.port) in u]

    page.get_by_label("Sleep (hours/day)").fill("7")
    page.locator("#mp-next-2").click()
    check(step_title(page)).to_have_text("Review and submit")
    check(page.locator("#mp-review")).to_contain_text("7 hours/day")


def test_phone_width_by_keyboard_passes_the_gate_and_the_total_goes_up(
    api: ApiServer, ui: UiServer, new_page: Any, screenshot_dir: Path
) -> None:
    # Whatever ran before (or not), the page's feedback is the one that asks for a retrain: the
    # client sends feedback until one more reaches a multiple of RETRAIN_EVERY.
    before = len(feedback_rows(api))
    with MindPulseClient(api.url) as client:
        while (before + 1) % RETRAIN_EVERY:
            before = client_feedback(client, ANSWERS, 0).total_feedbacks
    page, record = open_page(new_page, ui, PHONE)
    check = expect
    gate(page, screenshot_dir, "phone-1-about-you")
    # Nothing entered: the errors pass the gate at this width too, focus on the first.
    page.locator("#mp-next-0").press("Enter")
    check(page.locator("#mp-error-Age")).to_have_text("! Please enter a value for Age.")
    check(page.get_by_label("Male", exact=True)).to_be_focused()
    gate(page, screenshot_dir, "phone-1-errors")
    page.keyboard.press("ArrowRight")  # Male -> Female, by keyboard only
    check(page.get_by_label("Female")).to_be_checked()
    page.keyboard.press("Tab")
    check(page.get_by_label("Age (years)")).to_be_focused()
    page.keyboard.type("21")
    page.get_by_label("Department").click()
    page.get_by_role("option", name="Science").click()
    page.locator("#mp-next-0").press("Enter")
    check(step_title(page)).to_have_text("Your studies")
    check(step_title(page)).to_be_focused()  # keyboard focus follows the step
    gate(page, screenshot_dir, "phone-2-studies")
    fill_step_two(page)
    page.locator("#mp-next-1").press("Enter")
    check(step_title(page)).to_have_text("Your daily life")
    gate(page, screenshot_dir, "phone-3-daily-life")
    fill_step_three(page, sleep="30")
    page.locator("#mp-next-2").press("Enter")
    check(page.locator("#mp-error-Sleep_Duration")).to_contain_text("from 0 to 24")
    check(page.get_by_label("Sleep (hours/day)")).to_be_focused()
    gate(page, screenshot_dir, "phone-3-out-of-range")
    page.get_by_label("Sleep (hours/day)").fill("5.5")
    page.locator("#mp-next-2").press("Enter")
    check(step_title(page)).to_have_text("Review and submit")
    gate(page, screenshot_dir, "phone-4-review")
    page.get_by_role("button", name="Get my estimate").press("Enter")
    check(page.locator("#mp-result .mp-result")).to_contain_text("Result:", timeout=30_000)
    check(page.locator("#mp-result h2")).to_be_focused()
    gate(page, screenshot_dir, "phone-5-result")
    # A changed answer marks the result out of date; the new estimate clears the mark.
    page.locator("#mp-back-3").press("Enter")
    check(step_title(page)).to_have_text("Your daily life")
    # The focus follows a step once it is drawn, but not away from where the person moved it
    # meanwhile: a fast keyboard user's Enter on Next lands on Next, not on the step's title.
    assert page.evaluate(FOCUS_MOVED_MEANWHILE) == [None, "mp-next-2"]
    page.get_by_label("Sleep (hours/day)").fill("6")
    result = page.locator("#mp-result")
    check(result).to_contain_text("out of date")
    check(page.locator("#mp-send")).to_be_disabled()
    page.locator("#mp-next-2").press("Enter")
    check(step_title(page)).to_have_text("Review and submit")
    check(result.locator(".mp-stale-note")).to_be_visible()
    gate(page, screenshot_dir, "phone-5-out-of-date")
    page.get_by_role("button", name="Get my estimate").press("Enter")
    check(result).to_contain_text("You sleep about 6 hours", timeout=30_000)
    check(result.locator(".mp-stale-note")).to_have_count(0)
    page.get_by_label("No", exact=True).focus()
    page.keyboard.press("Space")
    check(page.get_by_label("No", exact=True)).to_be_checked()
    page.get_by_role("button", name="Send feedback").press("Enter")
    feedback = page.locator("#mp-feedback-out")
    check(feedback).to_contain_text(f"Answers received so far: {before + 1}")
    check(feedback).to_contain_text("the model is now being updated")
    gate(page, screenshot_dir, "phone-6-feedback")

    page.get_by_role("tab", name="Model").click()
    model = page.locator("#mp-model")
    check(model).to_contain_text("v0001")
    # The decision of the retrain is told in words that match its figures.
    deadline = time.monotonic() + 120
    while "Finished" not in model.inner_text() and time.monotonic() < deadline:
        page.get_by_role("button", name="Refresh model details").press("Enter")
        page.wait_for_timeout(2000)
    check(model.locator(".mp-retrain")).to_contain_text(re.compile(r"model was kept|replaced"))
    gate(page, screenshot_dir, "phone-7-model")
    page.get_by_role("tab", name="Reports").click()
    check(page.locator("#mp-reports")).to_contain_text("Monitoring reports")
    gate(page, screenshot_dir, "phone-8-reports")

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert record.foreign_hosts() == set()


def test_make_reports_now_is_served_by_the_reporting_job_and_shown_in_words(
    api: ApiServer, ui: UiServer, new_page: Any, screenshot_dir: Path
) -> None:
    # Answers that drifted (much less sleep), then a first report made the ordinary way.
    settings = api.settings
    drift = Drift(
        sleep_hours=-2.5, social_media_hours=3.0, stress_levels=3.0, activity_minutes=-100.0
    )
    lines = feedback_lines(settings, 300, seed=11, drift=drift)
    write_feedback(settings.prod_data_path, lines)
    environment = {
        "DATA_DIR": str(settings.data_dir),
        "ARTIFACTS_DIR": str(settings.artifacts_dir),
        "REPORTS_DIR": str(settings.reports_dir),
        "PATH": str(Path(sys.executable).parent),
    }
    report = str(Path(sys.executable).parent / "mindpulse-report")
    first = subprocess.run([report], env=environment, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr

    page, record = open_page(new_page, ui, DESKTOP)
    check = expect
    page.get_by_role("tab", name="Reports").click()
    reports = page.locator("#mp-reports")
    check(reports).to_contain_text("Drift share")
    page.get_by_role("button", name="Make reports now").click()
    check(page.locator("#mp-report-request")).to_contain_text("Asked for new reports")
    assert (settings.data_dir / "report_request.json").exists()

    # Another process makes them: the reporting job, told to serve the pending request.
    second = subprocess.run(
        [report, "--if-requested"], env=environment, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr
    assert not (settings.data_dir / "report_request.json").exists()
    page.get_by_role("button", name="Check for new reports").click()
    check(reports.locator("svg.mp-chart")).to_have_count(1)
    check(reports).to_contain_text("Made on")
    check(reports).to_contain_text("Sleep went down")
    check(reports).to_contain_text("above the alarm level")
    check(reports).to_contain_text("the next run is due around")
    for name in ("Data quality", "Data drift", "Model performance"):
        check(reports.get_by_role("link", name=name)).to_have_attribute(
            "href", re.compile("/reports/")
        )
    check(reports.locator("desc")).to_contain_text("Drift share over the last 2 reports")
    gate(page, screenshot_dir, "desktop-10-reports")

    # The Model tab now shows each version's accuracy on the answers it received.
    page.get_by_role("tab", name="Model").click()
    check(page.locator("#mp-model")).to_contain_text("answers)")
    gate(page, screenshot_dir, "desktop-11-model-in-use")
    assert record.foreign_hosts() == set()
