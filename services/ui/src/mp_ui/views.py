"""HTML fragments of the page: status banner, review, result, feedback, support and disclaimer.

Plain functions from data to escaped HTML, styled by ``page.css``; no Gradio here, so the wording
and the escaping are tested without a browser. Every text that comes from a person or from the
API goes through :func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Final

from mp_core.client import ApiError, ApiUnavailable, Health
from mp_core.contract import FeedbackAck
from mp_core.schema import SPECS_BY_NAME, StudentProfile, profile_to_dict
from mp_core.support import SupportResources
from mp_ui.explain import Explanation, class_label, risk_level
from mp_ui.form import STEPS, FormValue, format_value

DISCLAIMER: Final = (
    "MindPulse is an educational tool. It estimates a statistical pattern from a few answers; "
    "it is not a diagnosis and does not replace a doctor or a psychologist."
)

RETRY_NOTE: Final = "This page checks again every few seconds; your answers are kept."


def checking_html() -> str:
    """The banner before the first health check answers: it claims nothing about the API."""
    return _banner("wait", "Checking the prediction service…", role="status")


def status_html(health: Health | None, error: ApiError | None = None) -> str:
    """The banner at the top: ready, starting, unreachable or slow, always in words."""
    if health is not None and health.ready:
        version = f" · model {escape(health.model_version)}" if health.model_version else ""
        return _banner("ok", f"Prediction service ready{version}.")
    if health is not None:
        reason = f" ({escape(health.reason)})" if health.reason else ""
        return _banner(
            "wait",
            f"The prediction service is starting and has no model yet{reason}. {RETRY_NOTE}",
        )
    return _banner("down", unavailable_text(error))


def unavailable_text(error: ApiError | None) -> str:
    """Why a call failed, for a person: never a traceback, never an internal error text."""
    if isinstance(error, ApiUnavailable) and error.reason == "timeout":
        return f"The prediction service is slow to answer right now. {RETRY_NOTE}"
    if isinstance(error, ApiUnavailable) and error.status == 503:
        return f"The prediction service is starting and has no model yet. {RETRY_NOTE}"
    if error is None or isinstance(error, ApiUnavailable):
        return (
            "The prediction service cannot be reached right now: it may be starting or "
            f"stopped. {RETRY_NOTE}"
        )
    return "The prediction service could not answer this request. Please try again in a moment."


def _banner(level: str, text: str, role: str | None = None) -> str:
    role = role or ("status" if level == "ok" else "alert")
    return f'<div class="mp-banner mp-{level}" role="{role}">{text}</div>'


def step_header_html(index: int) -> str:
    """``Step 2 of 4 · Your studies`` with a progress bar, for screen readers too."""
    step = STEPS[index]
    total = len(STEPS)
    items = []
    for i, s in enumerate(STEPS):
        state = "mp-done" if i < index else "mp-now" if i == index else ""
        current = ' aria-current="step"' if i == index else ""
        items.append(f'<li class="{state}"{current}>{escape(s.title)}</li>')
    dots = "".join(items)
    return (
        f'<div class="mp-step"><p class="mp-step-count">Step {index + 1} of {total}</p>'
        f'<h2 class="mp-step-title" tabindex="-1">{escape(step.title)}</h2>'
        f'<p class="mp-step-intro">{escape(step.intro)}</p>'
        f'<ol class="mp-steps" aria-label="Progress">{dots}</ol></div>'
    )


def review_html(values: Mapping[str, FormValue]) -> str:
    """The answers as a table, grouped by step, before they are sent."""
    rows = []
    for step in STEPS:
        for name in step.features:
            spec = SPECS_BY_NAME[name]
            rows.append(
                f"<tr><th scope='row'>{escape(spec.label)}</th>"
                f"<td>{escape(format_value(spec, values.get(name)))}</td></tr>"
            )
    return (
        '<table class="mp-review"><caption>Your answers</caption><tbody>'
        + "".join(rows)
        + "</tbody></table>"
        "<p class='mp-muted'>Nothing is stored until you choose to give feedback below.</p>"
    )


def gauge_html(probability: float) -> str:
    """A bar from 0 to 100 % filled to the probability, coloured by level; a meter for AT."""
    percent = max(0.0, min(100.0, probability * 100))
    level = risk_level(probability)
    return (
        f'<div class="mp-gauge" role="meter" aria-valuemin="0" aria-valuemax="100" '
        f'aria-valuenow="{percent:.0f}" '
        f'aria-label="Estimated chance of the higher-risk pattern: {percent:.0f} percent">'
        f'<div class="mp-gauge-value"><span class="mp-percent">{percent:.0f}%</span> '
        "<span class='mp-level'>chance of the higher-risk pattern</span></div>"
        f'<div class="mp-gauge-track"><div class="mp-gauge-fill mp-{level}" '
        f'style="width: {percent:.1f}%"></div></div>'
        '<div class="mp-gauge-scale" aria-hidden="true"><span>0%</span><span>50%</span>'
        "<span>100%</span></div></div>"
    )


def result_html(
    explanation: Explanation, prediction: int, probability: float, model_version: str
) -> str:
    """The result card: class, gauge, explanation tied to the answers, suggestions."""
    concerns = "".join(
        f"<li><strong>{escape(o.topic)}.</strong> {escape(o.finding)} "
        f"<span class='mp-tip'>{escape(o.suggestion)}</span></li>"
        for o in explanation.concerns
    )
    strengths = "".join(f"<li>{escape(s)}</li>" for s in explanation.strengths)
    parts = [
        '<section class="mp-result" aria-labelledby="mp-result-title">',
        f'<h2 id="mp-result-title" tabindex="-1">Result: <span class="mp-class">{escape(class_label(prediction))}</span></h2>',
        gauge_html(probability),
        f"<p class='mp-headline'>{escape(explanation.headline)}</p>",
        f"<p>{escape(explanation.summary)}</p>",
    ]
    if concerns:
        parts.append(f"<h3>In your answers</h3><ul class='mp-concerns'>{concerns}</ul>")
    if strengths:
        parts.append(f"<h3>Going well</h3><ul class='mp-strengths'>{strengths}</ul>")
    parts += [
        f"<p>{escape(explanation.closing)}</p>",
        f"<p class='mp-disclaimer' role='note'>{escape(DISCLAIMER)}</p>",
        f"<p class='mp-muted'>Model version {escape(model_version)}.</p>",
        "</section>",
    ]
    return "".join(parts)


def field_error_html(name: str, message: str | None) -> str:
    """The error under a field, or nothing; page.js ties it to the field's input."""
    if not message:
        return ""
    return (
        f'<p class="mp-field-error" id="mp-error-{escape(name)}">'
        f'<span aria-hidden="true">! </span>{escape(message)}</p>'
    )


STALE_NOTE: Final = (
    "Your answers changed after this estimate, so it is out of date. "
    "Press “Get my estimate” for an estimate of your new answers."
)


def stale_result_html(result: str) -> str:
    """The last result, kept in view but marked out of date above it."""
    return (
        f'<div class="mp-banner mp-wait mp-stale-note" role="status">{escape(STALE_NOTE)}</div>'
        f'<div class="mp-stale" aria-label="Out of date estimate">{result}</div>'
    )


def message_html(text: str, level: str = "down") -> str:
    """A short message in the result or feedback area (errors, hints)."""
    return _banner(level, escape(text))


def feedback_html(ack: FeedbackAck) -> str:
    """Thanks, how many answers the model has had, and whether it is learning from them now."""
    learning = (
        " Yours completes a batch: the model is now being updated with the latest answers."
        if ack.retrain_triggered
        else ""
    )
    return _banner(
        "ok",
        "Thank you, your answer is saved. It helps check how well the model does. "
        f"Answers received so far: <strong class='mp-total'>{ack.total_feedbacks}</strong>."
        f"{learning}",
    )


def profile_values(profile: StudentProfile) -> dict[str, FormValue]:
    """The profile's values keyed by feature, as the review table takes them."""
    return dict(profile_to_dict(profile))


def support_html(support: SupportResources) -> str:
    """The support block: always visible, phone numbers as tap-to-call links."""
    items = []
    for r in support.resources:
        contact = []
        if r.phone:
            tel = "".join(ch for ch in r.phone if ch.isdigit() or ch == "+")
            contact.append(f"<span><a href='tel:{escape(tel)}'>{escape(r.phone)}</a></span>")
        if r.url:
            shown = r.url.removeprefix("https://").removeprefix("http://").rstrip("/")
            contact.append(
                f"<span><a href='{escape(r.url)}' target='_blank' rel='noopener noreferrer'>"
                f"{escape(shown)}</a></span>"
            )
        if r.hours:
            contact.append(f"<span class='mp-muted'>{escape(r.hours)}</span>")
        items.append(
            f"<li><strong>{escape(r.name)}</strong>: {escape(r.description)}"
            f"<span class='mp-contact'>{''.join(contact)}</span></li>"
        )
    intro = f"<p>{escape(support.intro)}</p>" if support.intro else ""
    emergency = (
        f"<p><strong>In an emergency, call {escape(support.emergency)}.</strong></p>"
        if support.emergency
        else ""
    )
    return (
        '<aside class="mp-support" aria-labelledby="mp-support-title">'
        f"<h2 id='mp-support-title'>Need to talk? Support in {escape(support.country)}</h2>"
        f"{intro}<ul>{''.join(items)}</ul>{emergency}</aside>"
    )


def header_html() -> str:
    """Title and the disclaimer every page carries."""
    return (
        '<header class="mp-header"><h1>MindPulse</h1>'
        "<p>A short check-in about student life, with an estimate from a statistical model.</p>"
        f"<p class='mp-disclaimer' role='note'><strong>Educational tool, not a diagnosis.</strong> "
        f"{escape(DISCLAIMER)}</p></header>"
    )
