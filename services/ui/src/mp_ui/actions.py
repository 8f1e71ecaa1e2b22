"""What the page's buttons and timers do, without Gradio: call the API, return HTML.

Each action catches every failure and turns it into words for the person (the log keeps the
details), so no traceback ever reaches the page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mp_core.client import ApiError, ApiUnavailable, MindPulseClient
from mp_core.errors import InvalidProfile
from mp_core.schema import SPECS_BY_NAME, profile_to_dict
from mp_ui.config import UiConfig
from mp_ui.explain import explain
from mp_ui.form import FormValue, check_fields, profile_from_form
from mp_ui.history import drift_history, feedback_accuracy
from mp_ui.panels import model_html, report_requested_html
from mp_ui.reports import find_reports
from mp_ui.reports_panel import RefreshPlan, reports_html
from mp_ui.versions import versions_html
from mp_ui.views import (
    STALE_NOTE,
    feedback_html,
    message_html,
    result_html,
    status_html,
    unavailable_text,
)

log = logging.getLogger("mp_ui")

UNEXPECTED = "Something went wrong on our side. Please try again in a moment."


@dataclass(frozen=True, slots=True)
class Outcome:
    """HTML for the page, whether the call worked, and what to remember for the next step."""

    html: str
    ok: bool
    memory: dict[str, Any] | None = None
    api_down: bool = False


class PageActions:
    """The page's calls to the API; one instance serves every visitor (httpx is thread-safe)."""

    def __init__(self, config: UiConfig) -> None:
        self.config = config
        self.api = MindPulseClient(config.api_url, timeout=config.api_timeout)
        # Health checks must be quick and must not pile up retries while the API is down. Each
        # opens its own connection: one check every few seconds gains nothing from keep-alive,
        # and a connection kept across an API restart can only fail the next check.
        fresh = httpx.HTTPTransport(retries=0, limits=httpx.Limits(max_keepalive_connections=0))
        self.probe = MindPulseClient(config.api_url, timeout=config.health_timeout, transport=fresh)

    def close(self) -> None:
        self.api.close()
        self.probe.close()

    def status(self) -> tuple[str, bool]:
        """The banner and whether the API is ready to predict."""
        try:
            health = self.probe.health()
        except ApiError as exc:
            log.info("api not reachable", extra={"reason": str(exc)})
            return status_html(None, exc), False
        except Exception:
            log.exception("health check failed")
            return status_html(None, None), False
        return status_html(health), health.ready

    def predict(self, values: Mapping[str, FormValue]) -> Outcome:
        """Validate the answers, ask for a prediction and explain it."""
        try:
            profile = profile_from_form(values)
        except InvalidProfile as exc:
            label = SPECS_BY_NAME[exc.field].label if exc.field in SPECS_BY_NAME else exc.field
            return Outcome(message_html(f"{label}: {exc.rule} Please go back and fix it."), False)
        try:
            result = self.api.predict(profile)
        except ApiUnavailable as exc:
            log.warning("prediction failed: api unavailable", extra={"reason": str(exc)})
            return Outcome(message_html(unavailable_text(exc)), False, api_down=True)
        except ApiError as exc:
            log.warning("prediction refused", extra={"status": exc.status, "reason": str(exc)})
            return Outcome(message_html(_refusal(exc)), False)
        except Exception:
            log.exception("prediction failed")
            return Outcome(message_html(UNEXPECTED), False)
        explanation = explain(profile, result.prediction, result.probability)
        html = result_html(explanation, result.prediction, result.probability, result.model_version)
        memory = {
            "features": profile_to_dict(profile),
            "prediction": result.prediction,
            # The receipt of this estimate: feedback names it, so the server stores the
            # answers and the prediction it gave, never what the page (or anyone) claims.
            "prediction_id": result.prediction_id,
            "html": html,
        }
        return Outcome(html, True, memory)

    def feedback(
        self,
        memory: Mapping[str, Any] | None,
        actual: int | None,
        current: Mapping[str, FormValue] | None = None,
    ) -> Outcome:
        """Send what is actually true for the estimate shown, with that estimate's receipt.

        ``current`` is what the form holds now: when it no longer matches those answers (the
        person changed one after the estimate), nothing is sent.
        """
        if not memory:
            return Outcome(
                message_html("Get an estimate of your answers first, then tell us.", "wait"),
                False,
            )
        if current is not None and not _same_answers(memory["features"], current):
            return Outcome(message_html(STALE_NOTE, "wait"), False)
        if actual not in (0, 1):
            return Outcome(
                message_html("Please choose one of the two answers first.", "wait"), False
            )
        try:
            ack = self.api.feedback(str(memory["prediction_id"]), int(actual))
        except ApiUnavailable as exc:
            log.warning("feedback failed: api unavailable", extra={"reason": str(exc)})
            text = unavailable_text(exc) + " Your feedback was not sent yet; try again shortly."
            return Outcome(message_html(text), False, api_down=True)
        except ApiError as exc:
            log.warning("feedback refused", extra={"status": exc.status, "reason": str(exc)})
            return Outcome(message_html(_refusal(exc)), False)
        except Exception:
            log.exception("feedback failed")
            return Outcome(message_html(UNEXPECTED), False)
        return Outcome(feedback_html(ack), True)

    @property
    def can_request_reports(self) -> bool:
        """Whether this page may ask for new reports (an admin token is configured)."""
        return bool(self.config.settings.admin_token)

    def request_reports(self) -> str:
        """Ask the API to record a report request; the reporting job makes them."""
        try:
            answer = self.api.request_reports(self.config.settings.admin_token)
        except ApiError as exc:
            log.warning("report request refused", extra={"status": exc.status, "reason": str(exc)})
            return message_html(
                "The request for new reports did not go through: "
                + (exc.rule or unavailable_text(exc if isinstance(exc, ApiUnavailable) else None)),
                "down",
            )
        except Exception:
            log.exception("report request failed")
            return message_html(UNEXPECTED)
        return report_requested_html(answer)

    def model_panel(self) -> str:
        """The current model as ``GET /model`` describes it, every kept version charted."""
        try:
            info = self.api.model_info()
            try:
                versions = self.api.model_versions().get("versions") or []
            except ApiError as exc:  # an older API without the route: the current model only
                log.info("model versions unavailable", extra={"reason": str(exc)})
                versions = []
            served = feedback_accuracy(self.config.reports_dir)
            return model_html(info) + versions_html(versions, served)
        except ApiError as exc:
            log.info("model info unavailable", extra={"reason": str(exc)})
            return message_html(
                "The model details are not available right now. "
                + unavailable_text(exc if isinstance(exc, ApiUnavailable) else None),
                "wait",
            )
        except Exception:
            log.exception("model info failed")
            return message_html(UNEXPECTED)

    def reports_panel(self) -> str:
        """The latest reports in words and charts, and how to refresh them."""
        try:
            return reports_html(
                find_reports(self.config.reports_dir),
                drift_history(self.config.reports_dir),
                self.refresh_plan(),
            )
        except Exception:
            log.exception("reading the reports folder failed")
            return message_html("The reports folder cannot be read right now.")

    def refresh_plan(self) -> RefreshPlan:
        """How reports get made here: a schedule, a button, or a person running the job."""
        return RefreshPlan(self.config.report_schedule_hours, self.can_request_reports)


def _same_answers(sent: Mapping[str, Any], current: Mapping[str, FormValue]) -> bool:
    clean, errors = check_fields(list(current), list(current.values()))
    return not errors and all(clean.get(name) == value for name, value in sent.items())


def _refusal(exc: ApiError) -> str:
    if exc.field == "prediction_id":  # the estimate's receipt: expired, or not this service's
        rule = f" ({exc.rule})" if exc.rule else ""
        return (
            f"This estimate can no longer take an answer{rule}. "
            "Please get a new estimate, then tell us."
        )
    if exc.field:
        label = SPECS_BY_NAME[exc.field].label if exc.field in SPECS_BY_NAME else exc.field
        rule = f": {exc.rule}" if exc.rule else ""
        return f"The service did not accept {label}{rule}. Please go back and check it."
    return "The service could not handle this request. Please try again in a moment."
