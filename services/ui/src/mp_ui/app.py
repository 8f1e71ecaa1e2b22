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
from mp_ui.views import (
    checking_html,
    field_error_html,
    header_html,
    review_html,
    stale_result_html,
    status_html,
    step_header_html,
    support_html,
)

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

# Moves keyboard focus (and the viewport on a phone) to what just appeared, once Gradio has
# drawn it, unless the person has moved the focus in the meantime (page.js).
FOCUS_JS: Final = "() => { if (window.mpFocusOn) window.mpFocusOn('{selector}'); }"


# After a step change: focus the first field with an error, or the new step's title (page.js).
FOCUS_STEP_JS: Final = "() => { if (window.mpFocusStep) window.mpFocusStep(); }"


def theme() -> gr.themes.Base:
    # Hints, step counts and tips use the "subdued" text colour: Gradio's default grey is
    # 1.9:1 on white; gray-600 is 7.6:1 (and gray-300 on the dark background).
    base = gr.themes.Default(
        primary_hue="teal", font=list(SYSTEM_FONTS), font_mono=list(MONO_FONTS)
    )
    themed: gr.themes.Base = base.set(
        body_text_color_subdued="*neutral_600",
        body_text_color_subdued_dark="*neutral_300",
        block_info_text_color="*neutral_600",
        block_info_text_color_dark="*neutral_300",
        input_placeholder_color="*neutral_500",
        input_placeholder_color_dark="*neutral_400",
        # White on teal-500 is 2.5:1; teal-700 is 5.5:1.
        button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800",
        button_primary_background_fill_dark="*primary_700",
        button_primary_background_fill_hover_dark="*primary_800",
        button_primary_text_color="white",
        button_primary_text_color_dark="white",
        color_accent="*primary_700",
    )
    return themed


def page_css() -> str:
    return resources.files("mp_ui").joinpath("page.css").read_text(encoding="utf-8")


def page_js() -> str:
    """Keyboard and screen-reader fixes for Gradio's widgets, run on load (``page.js``)."""
    return resources.files("mp_ui").joinpath("page.js").read_text(encoding="utf-8")


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
        return gr.Slider(
            minimum=spec.minimum, maximum=spec.maximum, step=1, value=_reset_value(spec), **common
        )
    # A text box rather than gr.Number: Gradio 6 shows an empty Number as 0, which would pass
    # for a real answer (0 hours of sleep); a text box stays empty until the person types, and
    # accepts a decimal comma. page.js asks phones for a numeric keypad.
    return gr.Textbox(
        value="",
        lines=1,
        max_lines=1,
        placeholder=f"{spec.minimum:g} to {spec.maximum:g}",
        elem_classes=["mp-numeric", "mp-integer"] if spec.kind == "int" else ["mp-numeric"],
        **common,
    )


def _reset_value(spec: FeatureSpec) -> Any:
    """What a field shows before anyone answers (the slider's middle, otherwise empty)."""
    if widget_for(spec) == "slider":
        assert spec.minimum is not None and spec.maximum is not None
        return int(spec.minimum + (spec.maximum - spec.minimum) // 2)
    return "" if widget_for(spec) == "number" else None


def build_page(actions: PageActions, support: SupportResources) -> gr.Blocks:
    """The whole page, wired to ``actions``."""
    config = actions.config
    with gr.Blocks(title="MindPulse - student wellbeing check-in (not a diagnosis)") as page:
        gr.HTML(header_html(), elem_id="mp-header")
        banner = gr.HTML(checking_html(), elem_id="mp-status")
        status_timer = gr.Timer(config.status_interval_down)
        was_ready = gr.State(False)
        # The estimate shown and the answers that produced it; None once they no longer match.
        memory = gr.State(None)

        with gr.Tabs():
            with gr.Tab("Check-in", id="checkin"):
                step_header = gr.HTML(step_header_html(0), elem_id="mp-step")
                inputs: dict[str, gr.components.Component] = {}
                errors: dict[str, gr.HTML] = {}
                columns = []
                nav: list[tuple[gr.Button | None, gr.Button]] = []
                for index, step in enumerate(STEPS):
                    with gr.Column(visible=index == 0, elem_classes=["mp-step-body"]) as column:
                        for name in step.features:
                            inputs[name] = build_input(SPECS_BY_NAME[name])
                            errors[name] = gr.HTML(
                                "", elem_id=f"mp-errorslot-{name}", elem_classes=["mp-error-slot"]
                            )
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
                        choices=[("No", 0), ("Yes", 1)],
                        value=None,
                        label="Looking back at the last weeks, have you been feeling depressed?",
                        info="Optional. Sends your answers and this choice, with no name or "
                        "contact details, to help check and improve the model.",
                        elem_id="mp-actual",
                    )
                    send = gr.Button("Send feedback", variant="secondary", elem_id="mp-send")
                    feedback_out = gr.HTML("", elem_id="mp-feedback-out")
                    start_over = gr.Button(
                        "Start over", variant="secondary", elem_id="mp-start-over"
                    )
            with gr.Tab("Model", id="model") as model_tab:
                model_panel = gr.HTML(
                    "<p class='mp-muted'>Loading the model details...</p>", elem_id="mp-model"
                )
                refresh_model = gr.Button("Refresh model details", elem_id="mp-refresh-model")
                model_timer = gr.Timer(config.model_refresh_interval)
            with gr.Tab("Reports", id="reports") as reports_tab:
                reports_panel = gr.HTML("", elem_id="mp-reports")
                with gr.Row(elem_classes=["mp-nav", "mp-report-actions"]):
                    refresh_reports = gr.Button(
                        "Check for new reports", elem_id="mp-refresh-reports"
                    )
                    make_reports = gr.Button(
                        "Make reports now",
                        variant="primary",
                        elem_id="mp-make-reports",
                        visible=actions.can_request_reports,
                    )
                report_request_out = gr.HTML("", elem_id="mp-report-request")
        gr.HTML(support_html(support), elem_id="mp-support")

        fields = [inputs[name] for name in FIELD_NAMES]
        error_slots = [errors[name] for name in FIELD_NAMES]

        def show(index: int, checked: tuple[str, ...], *values: FormValue) -> list[Any]:
            """Go to step ``index`` unless a field of ``checked`` has an error (shown at it)."""
            by_name = dict(zip(FIELD_NAMES, values, strict=True))
            _, problems = check_fields(checked, [by_name[n] for n in checked])
            error_parts = [field_error_html(n, problems.get(n)) for n in FIELD_NAMES]
            if problems:
                return [*(gr.skip() for _ in columns), gr.skip(), gr.skip(), *error_parts]
            review_part: Any = gr.skip()
            if index == len(STEPS) - 1:
                clean, _ = check_fields(FIELD_NAMES, values)
                review_part = review_html({**by_name, **clean})
            return [
                *(gr.Column(visible=i == index) for i in range(len(STEPS))),
                step_header_html(index),
                review_part,
                *error_parts,
            ]

        step_outputs = [*columns, step_header, review, *error_slots]
        for index, (to_previous, to_next) in enumerate(nav):
            if to_previous is not None:
                to_previous.click(
                    lambda *v, i=index - 1: show(i, (), *v),
                    fields,
                    step_outputs,
                    queue=False,
                    show_progress="hidden",
                ).then(None, js=FOCUS_STEP_JS)
            if index < len(STEPS) - 1:
                to_next.click(
                    lambda *v, i=index: show(i + 1, STEPS[i].features, *v),
                    fields,
                    step_outputs,
                    show_progress="hidden",
                ).then(None, js=FOCUS_STEP_JS)

        def submit(*values: FormValue) -> list[Any]:
            outcome = actions.predict(dict(zip(FIELD_NAMES, values, strict=True)))
            return [
                outcome.html,
                outcome.memory if outcome.ok else gr.skip(),
                gr.Column(visible=True) if outcome.ok else gr.skip(),
                gr.Radio(value=None, interactive=True) if outcome.ok else gr.skip(),
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

        def out_of_date(last: dict[str, Any] | None) -> list[Any]:
            """An answer changed after the estimate: say so and hold the feedback back."""
            if not last:
                return [gr.skip()] * 5
            return [
                stale_result_html(str(last.get("html", ""))),
                None,
                gr.Radio(interactive=False),
                gr.Button(value="Get a new estimate first", interactive=False),
                "",
            ]

        # Any change counts, typed, pasted or set by a script (Start over clears ``memory``
        # first, so its own changes find nothing to mark).
        for field in fields:
            field.change(  # type: ignore[attr-defined]
                out_of_date,
                memory,
                [result, memory, actual, send, feedback_out],
                show_progress="hidden",
                queue=False,
            )

        def give_feedback(
            last: dict[str, Any] | None, value: int | None, *values: FormValue
        ) -> list[Any]:
            current = dict(zip(FIELD_NAMES, values, strict=True))
            outcome = actions.feedback(last, value, current)
            return [
                outcome.html,
                gr.Button(value="Feedback sent", interactive=False) if outcome.ok else gr.skip(),
                status_html(None) if outcome.api_down else gr.skip(),
            ]

        send.click(give_feedback, [memory, actual, *fields], [feedback_out, send, banner])

        def reset() -> list[Any]:
            return [
                *(_reset_value(SPECS_BY_NAME[name]) for name in FIELD_NAMES),
                *(gr.Column(visible=i == 0) for i in range(len(STEPS))),
                step_header_html(0),
                "",
                *("" for _ in FIELD_NAMES),
                "",
                None,
                gr.Column(visible=False),
                gr.Radio(value=None, interactive=True),
                gr.Button(value="Send feedback", interactive=True),
                "",
            ]

        start_over.click(
            reset,
            None,
            [*fields, *step_outputs, result, memory, feedback_box, actual, send, feedback_out],
            queue=False,
        ).then(None, js=FOCUS_STEP_JS)

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
        model_tab.select(actions.model_panel, None, model_panel, show_progress="hidden")
        model_timer.tick(actions.model_panel, None, model_panel, show_progress="hidden")
        refresh_reports.click(actions.reports_panel, None, reports_panel)
        reports_tab.select(actions.reports_panel, None, reports_panel, show_progress="hidden")
        make_reports.click(actions.request_reports, None, report_request_out).then(
            actions.reports_panel, None, reports_panel, show_progress="hidden"
        )
    # Gradio runs one call per event at a time by default: one visitor's slow API call would
    # hold every other visitor's. The calls are short HTTP requests; the thread pool bounds them.
    page.queue(default_concurrency_limit=None)
    built: gr.Blocks = page
    return built
