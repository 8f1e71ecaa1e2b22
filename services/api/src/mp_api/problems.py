"""Errors at the HTTP edge: readable bodies naming the field and the rule, one handler for all.

Every error body is an :class:`~mp_api.wire.ErrorBody`. Domain errors from mp-core are mapped
to status codes here and nowhere else; anything unexpected becomes a logged 500 without a
traceback in the body (and the fuzz tests make sure no client input gets there).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from mp_api.invalid import Malformed, field_messages
from mp_api.wire import ErrorBody, FieldError
from mp_core.errors import (
    FeedbackStoreError,
    IdempotencyConflict,
    InvalidProfile,
    InvalidReceipt,
    ModelUnavailable,
    StoreUnavailable,
)
from mp_core.schema import FEATURE_NAMES, SPECS_BY_NAME

log = logging.getLogger("mp_api")

ERROR_CODES: Final[dict[int, str]] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "unprocessable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
_LABEL_FIELDS: Final = frozenset({"prediction", "actual"})
# An absolute path: a slash not following a word character, a dot, a colon or another slash
# (so URLs and relative names stay), then folders; the last part is kept.
_ABSOLUTE_PATH: Final = re.compile(r"(?<![\w.:/~])/(?:[\w.@+-]+/)*([\w.@+-]*)")


def public_text(text: str) -> str:
    """``text`` for an unauthenticated client: absolute paths cut to their last part (the logs
    keep them whole). Where the server keeps its files is nobody else's business."""
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1) or "(folder)", text)


class ApiProblem(Exception):
    """An error answered as-is: status code and body."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        path: str | None = None,
        error: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.headers = headers or {}
        self.body = ErrorBody(
            error=error or ERROR_CODES.get(status, "error"),
            detail=detail,
            field=field,
            rule=rule,
            path=path,
            errors=errors,
        )


def describe_invalid_body(
    exc: msgspec.ValidationError | msgspec.DecodeError,
    body: bytes | None = None,
    kind: type[Any] | None = None,
) -> ApiProblem:
    """A 400 naming every bad field and its rule; the first one in the top-level fields.

    With the ``body`` and the ``kind`` it was decoded as, every bad field is found (see
    :mod:`mp_api.invalid`); without them, only the one msgspec stopped at.
    """
    messages = [str(exc)]
    if body is not None and kind is not None:
        try:
            messages = field_messages(body, kind) or messages
        except Malformed as malformed:
            return ApiProblem(
                400,
                f"the body is not valid JSON: {malformed.where}",
                field="body",
                rule=f"must be valid JSON ({malformed.where})",
                path="$",
            )
    elif isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return ApiProblem(
            400, f"the body is not valid JSON: {exc}", field="body", rule="must be a JSON object"
        )
    errors = [word_field_error(m) for m in messages]
    if not isinstance(exc, msgspec.DecodeError) or isinstance(exc, msgspec.ValidationError):
        # The error msgspec stopped at stays first: it is the one answered before the list.
        stopped = word_field_error(str(exc))
        errors = [stopped, *(e for e in errors if e.path != stopped.path)]
    first = errors[0]
    shown = first.path.removeprefix("$.") if first.path != "$" else "body"
    more = f" (and {len(errors) - 1} more, listed in errors)" if len(errors) > 1 else ""
    return ApiProblem(
        400,
        f"{shown}: {first.rule}{more}",
        field=first.field,
        rule=first.rule,
        path=first.path,
        errors=errors,
    )


def word_field_error(message: str) -> FieldError:
    """msgspec's ``<rule> - at `<path>``` as the field, the rule in words, and the path."""
    rule, sep, where = message.rpartition(" - at `")
    path = where.rstrip("`") if sep else "$"
    if not sep:
        rule = message
    field = _last_name(path)
    quoted = rule.split("`")[1] if rule.count("`") >= 2 else ""
    spec = SPECS_BY_NAME.get(field) if _is_profile_path(path.rsplit(".", 1)[0]) else None
    if rule.startswith("Object missing required field"):
        field, path = quoted, f"{path}.{quoted}"
        rule = "required field is missing"
    elif rule.startswith("Object contains unknown field"):
        allowed = FEATURE_NAMES if _is_profile_path(path) else ()
        field, path = quoted, f"{path}.{quoted}"
        rule = "unknown field: " + (
            f"the features are {', '.join(allowed)}"
            if allowed
            else "not part of this request's schema (see /schema)"
        )
    elif rule.startswith("Expected a finite number"):
        shown = rule.rsplit(" ", 1)[-1]
        expected = spec.rule() if spec else "0 or 1" if field in _LABEL_FIELDS else "a number"
        rule = f"{shown} is not allowed: JSON numbers must be finite (must be {expected})"
    elif spec is not None:
        rule = f"{rule} (must be {spec.rule()})"
    elif field in _LABEL_FIELDS:
        rule = f"{rule} (must be 0 or 1)"
    elif field == "instances" and "length" in rule:
        rule = f"{rule} (send at least one profile)"
    return FieldError(field=field or "body", rule=rule, path=path)


def _last_name(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    return "" if last == "$" else last.split("[")[0]


def _is_profile_path(path: str) -> bool:
    return path.endswith(".features") or (path.startswith("$.instances[") and path.endswith("]"))


def invalid_profile(exc: InvalidProfile) -> ApiProblem:
    return ApiProblem(400, str(exc), field=exc.field or "features", rule=exc.rule)


def unavailable(reason: str) -> ApiProblem:
    return ApiProblem(503, public_text(reason), error="model_unavailable")


def to_response(problem: ApiProblem) -> Response[Any]:
    return Response(
        content=msgspec.json.encode(problem.body),
        status_code=problem.status,
        media_type=MediaType.JSON,
        headers=problem.headers,
    )


def problem_for(exc: Exception) -> ApiProblem | None:
    """The answer to a known error (None for anything else: a 500 for the caller to log)."""
    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, ModelUnavailable):
        return unavailable(str(exc))
    if isinstance(exc, InvalidProfile):
        return invalid_profile(exc)
    if isinstance(exc, msgspec.ValidationError | msgspec.DecodeError):
        return describe_invalid_body(exc)
    if isinstance(exc, FeedbackStoreError):
        log.error("feedback_store_error", extra={"error": str(exc)})
        return ApiProblem(503, public_text(f"feedback store unavailable: {exc}"))
    if isinstance(exc, StoreUnavailable):
        log.error("store_unavailable", extra={"error": str(exc)})
        return ApiProblem(503, public_text(f"store unavailable: {exc}"), error="store_unavailable")
    if isinstance(exc, InvalidReceipt):
        return ApiProblem(400, str(exc), field=exc.field, rule=exc.rule, path="$.prediction_id")
    if isinstance(exc, IdempotencyConflict):
        return ApiProblem(
            422, str(exc), field=exc.field, rule=exc.rule, error="idempotency_key_reused"
        )
    return None


def internal_error(path: str, exc: Exception) -> ApiProblem:
    """A logged 500 whose body shows no traceback."""
    log.exception("unhandled_error", extra={"path": path, "error": type(exc).__name__})
    return ApiProblem(HTTP_500_INTERNAL_SERVER_ERROR, "internal error (logged)")


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The single exception handler of the app."""
    problem = problem_for(exc)
    if problem is not None:
        return to_response(problem)
    if isinstance(exc, ValidationException):
        return to_response(_from_litestar_validation(exc))
    if isinstance(exc, HTTPException):
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else str(exc)
        headers = dict(exc.headers or {})
        if status == 413:
            return to_response(_body_too_large(request))
        if status == 500 and detail == _LITESTAR_DISCONNECT:
            return to_response(body_ended_early())
        return to_response(ApiProblem(status, detail, headers=headers))
    return to_response(internal_error(request.url.path, exc))


#: What Litestar raises (as a 500) when the body ends early: its words are all that tell it apart.
_LITESTAR_DISCONNECT: Final = "client disconnected prematurely"


def body_ended_early() -> ApiProblem:
    """The client closed its side before the whole body (per Content-Length or chunks) came."""
    return ApiProblem(
        400,
        "the request body ended before it was complete",
        field="body",
        rule="send the whole body (as many bytes as Content-Length says) before closing",
    )


def body_too_large(limit: int | None) -> ApiProblem:
    """413, and the connection closed after it: the rest of the body may still be on its way,
    and read as the next request's head it would be refused (431) or wasted on."""
    rule = f"at most {limit} bytes" if limit else "smaller body required"
    return ApiProblem(
        413,
        f"request body too large: {rule}",
        field="body",
        rule=rule,
        headers={"Connection": "close"},
    )


def _body_too_large(request: Request[Any, Any, Any]) -> ApiProblem:
    try:
        limit = request.route_handler.resolve_request_max_body_size()
    except Exception:  # the route is not resolved for every request
        limit = None
    return body_too_large(limit)


def _from_litestar_validation(exc: ValidationException) -> ApiProblem:
    extra = exc.extra if isinstance(exc.extra, list) else []
    first = extra[0] if extra and isinstance(extra[0], dict) else {}
    key = str(first.get("key") or "")
    message = str(first.get("message") or exc.detail or "invalid request")
    if key in ("", "data"):
        return ApiProblem(
            400, "a JSON body is required", field="body", rule="must be a non-empty JSON object"
        )
    return ApiProblem(400, f"{key}: {message}", field=key, rule=message)
