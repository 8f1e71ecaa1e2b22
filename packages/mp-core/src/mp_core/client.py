"""Typed httpx client for the MindPulse API (sync and async), used by the UI and the scripts.

Connection errors are retried by the transport; every other failure becomes an exception:

    ApiError                 the API answered with an error status (status, field, rule, detail)
     └── ApiUnavailable      the API cannot be reached, timed out, or has no model (503)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

import httpx
import msgspec

from mp_core.errors import MindPulseError
from mp_core.schema import StudentProfile, profile_to_dict

DEFAULT_BASE_URL: Final = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_RETRIES: Final = 2

T = TypeVar("T")
ProfileLike = StudentProfile | Mapping[str, Any]


class ApiError(MindPulseError):
    """The API answered with an error; ``field`` and ``rule`` say what was wrong, if known."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        field: str | None = None,
        rule: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.rule = rule
        self.body = body


class ApiUnavailable(ApiError):
    """The API cannot be reached, timed out, or is up without a model."""


class Prediction(msgspec.Struct, frozen=True):
    prediction: int
    probability: float
    model_version: str


class BatchPrediction(msgspec.Struct, frozen=True):
    predictions: list[int]
    probabilities: list[float]
    model_version: str


class FeedbackAck(msgspec.Struct, frozen=True):
    status: str
    total_feedbacks: int
    retrain_triggered: bool


class Health(msgspec.Struct, frozen=True):
    """``ready`` is True when the API serves a model; ``reason`` says why not otherwise."""

    ready: bool
    status: str = ""
    model_version: str | None = None
    reason: str | None = None


def _features(profile: ProfileLike) -> dict[str, Any]:
    return profile_to_dict(profile) if isinstance(profile, StudentProfile) else dict(profile)


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    field = rule = None
    detail = response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        field = body.get("field")
        rule = body.get("rule")
        detail = str(body.get("detail") or body.get("message") or body.get("error") or detail)
    message = f"{detail} (HTTP {response.status_code})"
    kind = ApiUnavailable if response.status_code == 503 else ApiError
    raise kind(message, status=response.status_code, field=field, rule=rule, body=body)


def _decode(response: httpx.Response, kind: type[T]) -> T:
    _raise_for(response)
    try:
        return msgspec.json.decode(response.content, type=kind)
    except msgspec.ValidationError as exc:
        raise ApiError(
            f"unexpected response from the API: {exc}", status=response.status_code
        ) from None


def _health(response: httpx.Response) -> Health:
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    return Health(
        ready=response.status_code == 200,
        status=str(body.get("status", "")),
        model_version=body.get("model_version"),
        reason=body.get("reason") or body.get("detail"),
    )


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _unavailable(base_url: str, exc: httpx.TransportError) -> ApiUnavailable:
    reason = "timed out" if isinstance(exc, httpx.TimeoutException) else "cannot connect"
    return ApiUnavailable(f"MindPulse API at {base_url} is unavailable: {reason} ({exc})")


class MindPulseClient:
    """Blocking client. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        admin_token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport or httpx.HTTPTransport(retries=retries),
        )

    def __enter__(self) -> MindPulseClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _unavailable(self.base_url, exc) from None

    def health(self) -> Health:
        """Never raises for a 503: ``ready`` is False and ``reason`` says why."""
        return _health(self._send("GET", "/health"))

    def predict(self, profile: ProfileLike) -> Prediction:
        response = self._send("POST", "/predict", json={"features": _features(profile)})
        return _decode(response, Prediction)

    def predict_batch(self, profiles: Iterable[ProfileLike]) -> BatchPrediction:
        body = {"instances": [_features(p) for p in profiles]}
        return _decode(self._send("POST", "/predict/batch", json=body), BatchPrediction)

    def feedback(self, profile: ProfileLike, prediction: int, actual: int) -> FeedbackAck:
        body = {"features": _features(profile), "prediction": prediction, "actual": actual}
        return _decode(self._send("POST", "/feedback", json=body), FeedbackAck)

    def model_info(self) -> dict[str, Any]:
        return _decode(self._send("GET", "/model"), dict[str, Any])

    def retrain(self, token: str | None = None) -> dict[str, Any]:
        headers = _auth(token or self.admin_token)
        return _decode(self._send("POST", "/retrain", headers=headers), dict[str, Any])

    def rollback(self, token: str | None = None) -> dict[str, Any]:
        headers = _auth(token or self.admin_token)
        return _decode(self._send("POST", "/model/rollback", headers=headers), dict[str, Any])


class AsyncMindPulseClient:
    """The same calls for asyncio code (traffic simulation, concurrent tests)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        admin_token: str | None = None,
        max_connections: int = 100,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=httpx.AsyncHTTPTransport(
                retries=retries, limits=httpx.Limits(max_connections=max_connections)
            ),
        )

    async def __aenter__(self) -> AsyncMindPulseClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _unavailable(self.base_url, exc) from None

    async def health(self) -> Health:
        return _health(await self._send("GET", "/health"))

    async def predict(self, profile: ProfileLike) -> Prediction:
        response = await self._send("POST", "/predict", json={"features": _features(profile)})
        return _decode(response, Prediction)

    async def predict_batch(self, profiles: Iterable[ProfileLike]) -> BatchPrediction:
        body = {"instances": [_features(p) for p in profiles]}
        return _decode(await self._send("POST", "/predict/batch", json=body), BatchPrediction)

    async def feedback(self, profile: ProfileLike, prediction: int, actual: int) -> FeedbackAck:
        body = {"features": _features(profile), "prediction": prediction, "actual": actual}
        return _decode(await self._send("POST", "/feedback", json=body), FeedbackAck)

    async def model_info(self) -> dict[str, Any]:
        return _decode(await self._send("GET", "/model"), dict[str, Any])

    async def retrain(self, token: str | None = None) -> dict[str, Any]:
        headers = _auth(token or self.admin_token)
        return _decode(await self._send("POST", "/retrain", headers=headers), dict[str, Any])

    async def rollback(self, token: str | None = None) -> dict[str, Any]:
        headers = _auth(token or self.admin_token)
        return _decode(await self._send("POST", "/model/rollback", headers=headers), dict[str, Any])
