"""OpenAPI pieces shared by the route modules: error responses and request examples."""

from __future__ import annotations

from typing import Any, Final

from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from mp_api.wire import ErrorBody
from mp_core.contract import EXAMPLE_PROFILE

_ERROR_TEXT: Final = {
    400: "Invalid request: the body names the field and the rule it breaks.",
    401: "Missing or wrong admin token.",
    403: "Admin routes are disabled (ADMIN_TOKEN is not set).",
    409: "Conflict (a retrain request is already waiting, or nothing to roll back to).",
    413: "Body or batch too large.",
    415: "The body must be application/json.",
    422: "The Idempotency-Key was used before with a different body (the field is named).",
    503: "No model is loaded, or a store (files, PostgreSQL) is unavailable; the reason is given.",
}


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=_ERROR_TEXT[code], generate_examples=False
        )
        for code in codes
    }


def example(summary: str, value: Any) -> Example:
    return Example(summary=summary, value=value)


PROFILE_EXAMPLE: Final = EXAMPLE_PROFILE
