"""Typed httpx client for the MindPulse API (sync and async), used by the UI and the scripts.

Connection errors are retried by the transport, and a 429 is waited out (its ``Retry-After``,
a few times); every other failure becomes an exception:

    ApiError                 the API answered with an error status (status, field, rule, detail)
     └── ApiUnavailable      the API cannot be reached, timed out, or has no model (503)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import httpx
import msgspec

from mp_core.contract import BatchPrediction, FeedbackAck, Prediction
from mp_core.errors import MindPulseError
from mp_core.receipts import receipt_mac
from mp_core.schema import StudentProfile, profile_to_dict

DEFAULT_BASE_URL: Final = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_RETRIES: Final = 2
#: On 429, wait the answer's Retry-After (at most MAX_RATE_WAIT seconds) this many times.
DEFAULT_RATE_LIMIT_WAITS: Final = 3
MAX_RATE_WAIT: Final = 60.0

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
    """The API cannot be reached, timed out, or is up without a model.

    ``reason`` is ``"timeout"``, ``"connect"`` or ``"not_ready"`` (a 503 from the API).
    """

    def __init__(self, message: str, *, reason: str = "not_ready", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


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


def _rate_wait(response: httpx.Response) -> float | None:
    """Seconds a 429 asks to wait (None for any other answer)."""
    if response.status_code != 429:
        return None
    try:
        seconds = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RATE_WAIT)


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _unavailable(base_url: str, exc: httpx.TransportError) -> ApiUnavailable:
    timed_out = isinstance(exc, httpx.TimeoutException)
    words = "timed out" if timed_out else "cannot connect"
    return ApiUnavailable(
        f"MindPulse API at {base_url} is unavailable: {words} ({exc})",
        reason="timeout" if timed_out else "connect",
    )


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """One API call: the request to send and how to read its answer (shared by both clients)."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    headers: dict[str, str] | None = None


def _decoder(kind: type[T]) -> Callable[[httpx.Response], T]:
    return lambda response: _decode(response, kind)


class _Calls:
    """The endpoints, described once; each client only sends them."""

    @staticmethod
    def health() -> _Call[Health]:
        return _Call("GET", "/health", _health)

    @staticmethod
    def predict(profile: ProfileLike) -> _Call[Prediction]:
        return _Call(
            "POST", "/predict", _decoder(Prediction), json={"features": _features(profile)}
        )

    @staticmethod
    def predict_batch(profiles: Iterable[ProfileLike]) -> _Call[BatchPrediction]:
        body = {"instances": [_features(p) for p in profiles]}
        return _Call("POST", "/predict/batch", _decoder(BatchPrediction), json=body)

    @staticmethod
    def feedback(prediction_id: str, actual: int) -> _Call[FeedbackAck]:
        body = {"prediction_id": prediction_id, "actual": actual}
        # The server keys the row on the receipt itself; the header (its mac) tells a proxy
        # in front that sending this request again is safe.
        key = {"Idempotency-Key": receipt_mac(prediction_id)[:200] or "receipt"}
        return _Call("POST", "/feedback", _decoder(FeedbackAck), json=body, headers=key)

    @staticmethod
    def model_info() -> _Call[dict[str, Any]]:
        return _Call("GET", "/model", _decoder(dict[str, Any]))

    @staticmethod
    def model_versions() -> _Call[dict[str, Any]]:
        return _Call("GET", "/model/versions", _decoder(dict[str, Any]))

    @staticmethod
    def admin(path: str, token: str | None) -> _Call[dict[str, Any]]:
        return _Call("POST", path, _decoder(dict[str, Any]), headers=_auth(token))


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
        rate_limit_waits: int = DEFAULT_RATE_LIMIT_WAITS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        self.rate_limit_waits = rate_limit_waits
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

    def _run(self, call: _Call[T]) -> T:
        for attempt in range(self.rate_limit_waits + 1):
            try:
                response = self._http.request(
                    call.method, call.path, json=call.json, headers=call.headers
                )
            except httpx.TransportError as exc:
                raise _unavailable(self.base_url, exc) from None
            wait = _rate_wait(response)
            if wait is None or attempt == self.rate_limit_waits:
                break
            time.sleep(wait)
        return call.parse(response)

    def health(self) -> Health:
        """Never raises for a 503: ``ready`` is False and ``reason`` says why."""
        return self._run(_Calls.health())

    def predict(self, profile: ProfileLike) -> Prediction:
        return self._run(_Calls.predict(profile))

    def predict_batch(self, profiles: Iterable[ProfileLike]) -> BatchPrediction:
        return self._run(_Calls.predict_batch(profiles))

    def feedback(self, prediction_id: str, actual: int) -> FeedbackAck:
        """Redeem the receipt of an estimate (``Prediction.prediction_id``) with the true class.

        Sending it again is safe: the server stores it once and answers as the first time.
        """
        return self._run(_Calls.feedback(prediction_id, actual))

    def model_info(self) -> dict[str, Any]:
        return self._run(_Calls.model_info())

    def model_versions(self) -> dict[str, Any]:
        """Every kept model version, oldest first, with its held-out metrics."""
        return self._run(_Calls.model_versions())

    def retrain(self, token: str | None = None) -> dict[str, Any]:
        return self._run(_Calls.admin("/retrain", token or self.admin_token))

    def request_reports(self, token: str | None = None) -> dict[str, Any]:
        """Ask for the monitoring reports to be made again (admin)."""
        return self._run(_Calls.admin("/reports/request", token or self.admin_token))

    def rollback(self, token: str | None = None) -> dict[str, Any]:
        return self._run(_Calls.admin("/model/rollback", token or self.admin_token))


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
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limit_waits: int = DEFAULT_RATE_LIMIT_WAITS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        self.rate_limit_waits = rate_limit_waits
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport
            or httpx.AsyncHTTPTransport(
                retries=retries, limits=httpx.Limits(max_connections=max_connections)
            ),
        )

    async def __aenter__(self) -> AsyncMindPulseClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, call: _Call[T]) -> T:
        for attempt in range(self.rate_limit_waits + 1):
            try:
                response = await self._http.request(
                    call.method, call.path, json=call.json, headers=call.headers
                )
            except httpx.TransportError as exc:
                raise _unavailable(self.base_url, exc) from None
            wait = _rate_wait(response)
            if wait is None or attempt == self.rate_limit_waits:
                break
            await asyncio.sleep(wait)
        return call.parse(response)

    async def health(self) -> Health:
        return await self._run(_Calls.health())

    async def predict(self, profile: ProfileLike) -> Prediction:
        return await self._run(_Calls.predict(profile))

    async def predict_batch(self, profiles: Iterable[ProfileLike]) -> BatchPrediction:
        return await self._run(_Calls.predict_batch(profiles))

    async def feedback(self, prediction_id: str, actual: int) -> FeedbackAck:
        return await self._run(_Calls.feedback(prediction_id, actual))

    async def model_info(self) -> dict[str, Any]:
        return await self._run(_Calls.model_info())

    async def model_versions(self) -> dict[str, Any]:
        return await self._run(_Calls.model_versions())

    async def retrain(self, token: str | None = None) -> dict[str, Any]:
        return await self._run(_Calls.admin("/retrain", token or self.admin_token))

    async def request_reports(self, token: str | None = None) -> dict[str, Any]:
        return await self._run(_Calls.admin("/reports/request", token or self.admin_token))

    async def rollback(self, token: str | None = None) -> dict[str, Any]:
        return await self._run(_Calls.admin("/model/rollback", token or self.admin_token))
