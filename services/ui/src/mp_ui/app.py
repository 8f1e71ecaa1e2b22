"""The Gradio page: a four-step form, the result, feedback, the model and reports panels.

Layout and wiring only; what a button does lives in :mod:`mp_ui.actions`, what the page says in
:mod:`mp_ui.views` and :mod:`mp_ui.panels`, and every input is drawn from mp-core's specs.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Final

import gradio as gr

from mp_core.schema import SPECS_BY_NAME, FeatureSpec
from mp_core.support import SupportResources
from mp_ui.actions import PageActions
from mp_ui.form import STEPS, FormValue, check_fields, field_hint, field_label, widget_for
from mp_ui.views import header_html, review_html, status_html, step_header_html, support_html

FIELD_NAMES: Final = tuple(name for step in STEPS for name in step.features)

# System fonts only: the page must not fetch anything from outside (no Google Fonts, no CDN).
SYSTEM_FONTS: Final = (
    "system-ui",
    "-apple-system",
    "Segoe UI",
    "Roboto",
    "Helvetica Neue",
    "Arial",
    "sans-serif",
)
MONO_FONTS: Final = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")

# Moves keyboard focus (and the viewport on a phone) to what just appeared. The small delay
# lets Gradio draw the new step before focusing it.
FOCUS_JS: Final = (
    "() => { setTimeout(() => { const el = document.querySelector('{selector}');"
    " if (el) { el.focus(); el.scrollIntoView({block: 'start'}); } }, 80); }"
)


# Numeric keypad on phones for the number fields, including those drawn later by Gradio.
NUMERIC_JS: Final = """
() => {
  const mark = () => document.querySelectorAll('.mp-numeric input').forEach((el) => {
    el.setAttribute('inputmode', 'decimal');
    el.setAttribute('autocomplete', 'off');
  });
  mark();
  new MutationObserver(mark).observe(document.body, {childList: true, subtree: true});
}
"""


def theme() -> gr.themes.Base:
    return gr.themes.Default(
        primary_hue="teal", font=list(SYSTEM_FONTS), font_mono=list(MONO_FONTS)
    )


def page_css() -> str:
    return resources.files("mp_ui").joinpath("page.css").read_text(encoding="utf-8")


def _focus(selector: str) -> str:
    return FOCUS_JS.replace("{selector}", selector)


def build_input(spec: FeatureSpec) -> gr.components.Component:
    """One input drawn from its spec: label with unit, hint with the range, suitable widget."""
    common: dict[str, Any] = {
        "label": field_label(spec),
        "info": field_hint(spec),
        "elem_id": f"mp-field-{spec.name}",
    }
    widget = widget_for(spec)
    if widget == "radio":
        return gr.Radio(choices=list(spec.choices), value=None, **common)
    if widget == "dropdown":
        return gr.Dropdown(choices=list(spec.choices), value=None, **common)
    assert spec.minimum is not None and spec.maximum is not None
    if widget == "slider":
        middle = int(spec.minimum + (spec.maximum - spec.minimum) // 2)
        return gr.Slider(minimum=spec.minimum, maximum=spec.maximum, step=1, value=middle, **common)
    # A text box rather than gr.Number: Gradio 6 shows an empty Number as 0, which would pass
    # for a real answer (0 hours of sleep); a text box stays empty until the person types, and
    # accepts a decimal comma. NUMERIC_JS asks phones for a numeric keypad.
    return gr.Textbox(
        value="",
        lines=1,
        max_lines=1,
        placeholder=f"{spec.minimum:g} to {spec.maximum:g}",
        elem_classes=["mp-numeric"],
        **common,
    )


def _step_validator(step_fields: tuple[str, ...]) -> Any:
    def validate(*values: FormValue) -> list[dict[str, Any]]:
        by_name = dict(zip(FIELD_NAMES, values, strict=True))
        _, errors = check_fields(step_fields, [by_name[n] for n in step_fields])
        return [gr.validate(name not in errors, errors.get(name, "")) for name in FIELD_NAMES]

    return validate


def build_page(actions: PageActions, support: SupportResources) -> gr.Blocks:
    """The whole page, wired to ``actions``."""
    config = actions.config
    with gr.Blocks(title="MindPulse - student wellbeing check-in (not a diagnosis)") as page:
        gr.HTML(header_html(), elem_id="mp-header")
        banner = gr.HTML(status_html(None), elem_id="mp-status")
        status_timer = gr.Timer(config.status_interval_down)
        was_ready = gr.State(False)
        memory = gr.State(None)

        with gr.Tabs():
            with gr.Tab("Check-in", id="checkin"):
                step_header = gr.HTML(step_header_html(0), elem_id="mp-step")
                inputs: dict[str, gr.components.Component] = {}
                columns = []
                nav: list[tuple[gr.Button | None, gr.Button]] = []
                for index, step in enumerate(STEPS):
                    with gr.Column(visible=index == 0, elem_classes=["mp-step-body"]) as column:
                        for name in step.features:
                            inputs[name] = build_input(SPECS_BY_NAME[name])
                        if index == len(STEPS) - 1:
                            review = gr.HTML("", elem_id="mp-review")
                        with gr.Row(elem_classes=["mp-nav"]):
                            back: gr.Button | None = (
                                gr.Button("Back", variant="secondary", elem_id=f"mp-back-{index}")
                                if index > 0
                                else None
                            )
                            label = "Get my estimate" if index == len(STEPS) - 1 else "Next"
                            forward = gr.Button(
                                label, variant="primary", elem_id=f"mp-next-{index}"
                            )
                    columns.append(column)
                    nav.append((back, forward))
                result = gr.HTML("", elem_id="mp-result")
                with gr.Column(visible=False, elem_id="mp-feedback") as feedback_box:
                    actual = gr.Radio(
                        choices=[("No (0)", 0), ("Yes (1)", 1)],
                        value=None,
                        label="Looking back at the last weeks, have you been feeling depressed?",
                        info="Optional. Sends your answers and this choice, with no name or "
                        "contact details, to help check and improve the model.",
                        elem_id="mp-actual",
                    )
                    send = gr.Button("Send feedback", variant="secondary", elem_id="mp-send")
                    feedback_out = gr.HTML("", elem_id="mp-feedback-out")
            with gr.Tab("Model", id="model"):
                model_panel = gr.HTML(
                    "<p class='mp-muted'>Loading the model details...</p>", elem_id="mp-model"
                )
                refresh_model = gr.Button("Refresh model details", elem_id="mp-refresh-model")
                model_timer = gr.Timer(config.model_refresh_interval)
            with gr.Tab("Reports", id="reports"):
                reports_panel = gr.HTML("", elem_id="mp-reports")
                refresh_reports = gr.Button("Check for new reports", elem_id="mp-refresh-reports")
        gr.HTML(support_html(support), elem_id="mp-support")

        fields = [inputs[name] for name in FIELD_NAMES]

        def show(index: int, *values: FormValue) -> list[Any]:
            review_part: Any = gr.skip()
            if index == len(STEPS) - 1:
                raw = dict(zip(FIELD_NAMES, values, strict=True))
                clean, _ = check_fields(FIELD_NAMES, values)
                review_part = review_html({**raw, **clean})
            return [
                *(gr.Column(visible=i == index) for i in range(len(STEPS))),
                step_header_html(index),
                review_part,
            ]

        step_outputs = [*columns, step_header, review]
        focus_step = _focus("#mp-step h2")
        for index, (to_previous, to_next) in enumerate(nav):
            if to_previous is not None:
                to_previous.click(
                    lambda *v, i=index - 1: show(i, *v), fields, step_outputs, queue=False
                ).then(None, js=focus_step)
            if index < len(STEPS) - 1:
                to_next.click(
                    lambda *v, i=index + 1: show(i, *v),
                    fields,
                    step_outputs,
                    validator=_step_validator(STEPS[index].features),
                ).then(None, js=focus_step)

        def submit(*values: FormValue) -> list[Any]:
            outcome = actions.predict(dict(zip(FIELD_NAMES, values, strict=True)))
            return [
                outcome.html,
                outcome.memory if outcome.ok else gr.skip(),
                gr.Column(visible=True) if outcome.ok else gr.skip(),
                gr.Radio(value=None) if outcome.ok else gr.skip(),
                gr.Button(value="Send feedback", interactive=True) if outcome.ok else gr.skip(),
                "" if outcome.ok else gr.skip(),
                status_html(None) if outcome.api_down else gr.skip(),
            ]

        submit_button = nav[-1][1]
        submit_button.click(
            submit,
            fields,
            [result, memory, feedback_box, actual, send, feedback_out, banner],
        ).then(None, js=_focus("#mp-result h2"))

        def give_feedback(last: dict[str, Any] | None, value: int | None) -> list[Any]:
            outcome = actions.feedback(last, value)
            return [
                outcome.html,
                gr.Button(value="Feedback sent", interactive=False) if outcome.ok else gr.skip(),
                status_html(None) if outcome.api_down else gr.skip(),
            ]

        send.click(give_feedback, [memory, actual], [feedback_out, send, banner])

        def refresh_status(ready_before: bool) -> list[Any]:
            html, ready = actions.status()
            interval = config.status_interval_up if ready else config.status_interval_down
            # The model panel fills in as soon as the API comes up, without waiting for its timer.
            model = actions.model_panel() if ready and not ready_before else gr.skip()
            return [html, gr.Timer(interval), ready, model]

        status_outputs = [banner, status_timer, was_ready, model_panel]
        status_timer.tick(refresh_status, was_ready, status_outputs, show_progress="hidden")
        page.load(refresh_status, was_ready, status_outputs, show_progress="hidden")
        page.load(actions.reports_panel, None, reports_panel, show_progress="hidden")
        refresh_model.click(actions.model_panel, None, model_panel)
        model_timer.tick(actions.model_panel, None, model_panel, show_progress="hidden")
        refresh_reports.click(actions.reports_panel, None, reports_panel)
    # Gradio runs one call per event at a time by default: one visitor's slow API call would
    # hold every other visitor's. The calls are short HTTP requests; the thread pool bounds them.
    page.queue(default_concurrency_limit=None)
    built: gr.Blocks = page
    return built
