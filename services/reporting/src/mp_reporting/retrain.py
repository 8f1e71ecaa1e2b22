"""Ask the API to retrain: ``POST /retrain`` with the admin token, through ``mp_core.client``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from mp_core.client import ApiError, ApiUnavailable, MindPulseClient
from mp_core.errors import MindPulseError

DEFAULT_TIMEOUT: Final = 10.0


class RetrainRequestFailed(MindPulseError):
    """The API could not be reached or refused the retrain request."""


@dataclass(frozen=True, slots=True)
class RetrainAnswer:
    status: Literal["accepted", "already_running"]
    body: Any


def request_retrain(
    api_url: str, admin_token: str | None, *, timeout: float = DEFAULT_TIMEOUT
) -> RetrainAnswer:
    """``accepted`` when the API starts a retrain, ``already_running`` on 409; else raises."""
    if not admin_token:
        raise RetrainRequestFailed("ADMIN_TOKEN is not set: the API refuses retrain requests")
    try:
        with MindPulseClient(api_url, timeout=timeout, admin_token=admin_token) as client:
            return RetrainAnswer("accepted", client.retrain())
    except ApiUnavailable as exc:
        raise RetrainRequestFailed(f"cannot request a retrain: {exc}") from None
    except ApiError as exc:
        if exc.status == 409:
            return RetrainAnswer("already_running", exc.body)
        if exc.status in (401, 403):
            raise RetrainRequestFailed(
                f"the API at {api_url} refused the admin token (HTTP {exc.status}): "
                "check ADMIN_TOKEN"
            ) from None
        raise RetrainRequestFailed(f"the API at {api_url} refused the retrain: {exc}") from None
