"""The page's HTML fragments: wording in each API state, escaping, the gauge, support block."""

from __future__ import annotations

from mp_core.client import ApiError, ApiUnavailable, Health
from mp_core.contract import FeedbackAck
from mp_core.schema import StudentProfile
from mp_core.support import FRANCE, Resource, SupportResources
from mp_ui.explain import explain
from mp_ui.views import (
    DISCLAIMER,
    checking_html,
    feedback_html,
    field_error_html,
    gauge_html,
    header_html,
    result_html,
    review_html,
    stale_result_html,
    status_html,
    step_header_html,
    support_html,
)

PROFILE = StudentProfile(
    Age=21,
    Gender="Female",
    Department="Science",
    CGPA=3.4,
    Sleep_Duration=5.0,
    Study_Hours=4.0,
    Social_Media_Hours=1.5,
    Physical_Activity=200.0,
    Stress_Level=3,
)


def test_status_says_ready_starting_unreachable_or_slow_in_words() -> None:
    assert "ready" in status_html(Health(ready=True, model_version="v0003"))
    assert "v0003" in status_html(Health(ready=True, model_version="v0003"))
    starting = status_html(Health(ready=False, reason="no model <yet>"))
    assert "starting" in starting and "no model &lt;yet&gt;" in starting
    down = status_html(None, ApiUnavailable("unavailable: cannot connect", reason="connect"))
    assert "cannot be reached" in down and "checks again" in down
    slow = status_html(None, ApiUnavailable("unavailable: timed out", reason="timeout"))
    assert "slow to answer" in slow
    assert "Traceback" not in down + slow + starting
    assert "could not answer" in status_html(None, ApiError("boom", status=500))


def test_the_first_banner_claims_nothing_until_a_health_check_answers() -> None:
    checking = checking_html()
    assert "Checking the prediction service" in checking and 'role="status"' in checking
    assert "cannot be reached" not in checking and "ready" not in checking


def test_step_header_marks_the_current_step() -> None:
    html = step_header_html(1)
    assert "Step 2 of 4" in html
    assert 'aria-current="step">Your studies' in html


def test_review_lists_every_answer_with_units() -> None:
    html = review_html({"Sleep_Duration": 6.5, "Age": 21, "Gender": "<b>"})
    assert "6.5 hours/day" in html and "21 years" in html
    assert "&lt;b&gt;" in html and "<b>" not in html


def test_gauge_is_a_labelled_meter_filled_to_the_probability() -> None:
    html = gauge_html(0.734)
    assert 'role="meter"' in html and 'aria-valuenow="73"' in html
    assert "width: 73.4%" in html and "mp-higher" in html
    assert "width: 0.0%" in gauge_html(-0.5) and "width: 100.0%" in gauge_html(1.5)


def test_result_shows_class_probability_explanation_and_disclaimer() -> None:
    html = result_html(explain(PROFILE, 1, 0.8), 1, 0.8, "v0002")
    assert "Higher risk pattern" in html and "(1)" not in html
    assert "80%" in html
    assert "5 hours" in html
    assert DISCLAIMER in html
    assert "v0002" in html


def test_feedback_thanks_and_counts_in_plain_words() -> None:
    html = feedback_html(FeedbackAck(status="ok", total_feedbacks=50, retrain_triggered=True))
    assert "<strong class='mp-total'>50</strong>" in html
    assert "the model is now being updated" in html
    quiet = feedback_html(FeedbackAck(status="ok", total_feedbacks=3, retrain_triggered=False))
    assert "Answers received so far" in quiet and "updated" not in quiet
    assert "retrain" not in html + quiet and "feedbacks" not in html + quiet


def test_errors_and_out_of_date_results() -> None:
    assert field_error_html("Age", None) == ""
    error = field_error_html("Age", "Age must be <16>")
    assert 'id="mp-error-Age"' in error and "&lt;16&gt;" in error
    stale = stale_result_html("<section>old</section>")
    assert "out of date" in stale and "<section>old</section>" in stale


def test_support_block_lists_the_lines_with_tap_to_call_links() -> None:
    html = support_html(FRANCE)
    assert "href='tel:3114'" in html
    assert "href='tel:0972394050'" in html
    assert "09 72 39 40 50" in html and "0 800 235 236" in html and "Nightline" in html
    emergency = "<p><strong>In an emergency, call 112 (or 15 for medical help).</strong></p>"
    assert html.endswith(emergency + "</aside>")


def test_support_block_escapes_configured_text() -> None:
    custom = SupportResources(
        country="<X>", resources=(Resource(name="A&B", description="<script>"),)
    )
    html = support_html(custom)
    assert "&lt;script&gt;" in html and "A&amp;B" in html and "<script>" not in html


def test_header_carries_the_disclaimer() -> None:
    assert "not a diagnosis" in header_html()
