"""Request bodies framed badly or too large, on raw sockets against both ASGI servers: a bad
``Content-Length``, a body shorter than announced, chunked bodies past the limit, the byte
limit of each route to the byte, and JSON with a charset. Never a 500, nothing stored."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from mp_api.problems import ApiProblem
from mp_api.raw import read_body
from testsupport.api import EXAMPLE, ApiServer, ApiServers, predict_receipt

MAX_BODY = 2048  # API_MAX_BODY_BYTES: /predict and /feedback
MAX_BATCH = 10
BATCH_LIMIT = 5120  # MAX_BATCH x 512 bytes, above MAX_BODY
PREDICT = msgspec.json.encode({"features": EXAMPLE})
BATCH = msgspec.json.encode({"instances": [EXAMPLE] * MAX_BATCH})
LIMITS = {"/predict": MAX_BODY, "/feedback": MAX_BODY, "/predict/batch": BATCH_LIMIT}


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def api(request: pytest.FixtureRequest, module_api: ApiServers) -> Iterator[ApiServer]:
    server = module_api.start(
        api_server=request.param, api_max_body_bytes=str(MAX_BODY), max_batch=str(MAX_BATCH)
    )
    yield server
    server.stop()


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the connection closed without an answer
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


def exchange(port: int, raw: bytes, *, half_close: bool = False) -> Answer:
    """Send ``raw`` on a fresh connection (then close our side if asked); read to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    if not received:
        return Answer(None, b"")
    head, _, body = received.partition(b"\r\n\r\n")
    return Answer(int(head.split(b" ", 2)[1]), body)


def request_head(
    path: str, *headers: str, content_type: str = "application/json", length: int | None = None
) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"Content-Type: {content_type}", *headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes, size: int = 1024) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def padded(body: bytes, size: int) -> bytes:
    """``body`` with trailing JSON whitespace up to exactly ``size`` bytes."""
    assert len(body) <= size
    return body + b" " * (size - len(body))


def _stored(api: ApiServer) -> bytes | None:
    path = api.settings.prod_data_path
    return path.read_bytes() if path.exists() else None


def _no_500_counted(api: ApiServer) -> None:
    """Every answer of the module so far, as counted by the workers: none was a 500."""
    text = httpx.get(api.url + "/metrics", timeout=10).text
    assert 'status="500"' not in text, [line for line in text.splitlines() if "500" in line]


def _check_too_large(answer: Answer, limit: int) -> None:
    assert answer.status == 413, answer
    assert answer.json() == {
        "error": "too_large",
        "detail": f"request body too large: at most {limit} bytes",
        "field": "body",
        "rule": f"at most {limit} bytes",
    }


@pytest.mark.parametrize("length", ["abc", "-5", "+40", "1_0", "40, 41", " "])
@pytest.mark.parametrize("path", ["/predict", "/feedback"])
def test_a_content_length_that_is_not_a_number_is_400(
    api: ApiServer, path: str, length: str
) -> None:
    before = _stored(api)
    body = _body(api, path)
    answer = exchange(api.port, request_head(path, f"Content-Length: {length}") + body)
    # The servers' HTTP parsers refuse these before the app sees them (plain 400s).
    assert answer.status == 400, answer
    assert _stored(api) == before
    assert (
        httpx.post(api.url + "/predict", json={"features": EXAMPLE}, timeout=10).status_code == 200
    )


@pytest.mark.parametrize("length", [b"abc", b"-5", b"+40", b"1_0", b" 40"])
def test_the_raw_body_reader_refuses_what_the_servers_let_through(length: bytes) -> None:
    """The same values straight at the reader: it does not rely on the server's parser."""
    scope = {"headers": [(b"content-type", b"application/json"), (b"content-length", length)]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": PREDICT, "more_body": False}

    with pytest.raises(ApiProblem) as refused:
        asyncio.run(read_body(scope, receive, MAX_BODY))
    assert refused.value.status == 400
    assert refused.value.body.field == "Content-Length"
    assert refused.value.body.rule == "a whole number of bytes"


@pytest.mark.parametrize("path", ["/predict", "/feedback", "/v2/models/mindpulse/infer"])
def test_a_body_shorter_than_its_content_length_is_refused_not_a_500(
    api: ApiServer, path: str
) -> None:
    before = _stored(api)
    body = _body(api, path)
    # The client sends less than it announced, then closes its side (and still listens).
    head = request_head(path, length=len(body) + 100)
    answer = exchange(api.port, head + body, half_close=True)
    if answer.status is None:  # uvicorn: a closed side is a client gone; nothing is answered
        assert api.extra_env["API_SERVER"] == "uvicorn"
    else:
        assert answer.status == 400, answer
        problem = answer.json()
        assert problem["field"] == "body"
        assert "ended before it was complete" in problem["detail"]
    assert _stored(api) == before
    _no_500_counted(api)


@pytest.mark.parametrize("path", list(LIMITS))
def test_an_announced_length_past_the_limit_is_413_before_any_body(
    api: ApiServer, path: str
) -> None:
    limit = LIMITS[path]
    answer = exchange(api.port, request_head(path, length=limit + 1))  # and no body at all
    _check_too_large(answer, limit)


@pytest.mark.parametrize("path", list(LIMITS))
def test_a_kept_alive_connection_is_closed_after_a_413_for_size(api: ApiServer, path: str) -> None:
    """The rest of a refused body must not be read as the next request (it was: a 431)."""
    limit = LIMITS[path]
    head = request_head(path, length=limit + 1).replace(b"Connection: close", b"X-Kept: alive")
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as sock:
        sock.sendall(head + b" " * 1000)  # the start of the body, the rest still to come
        received = b""
        while chunk := sock.recv(65536):  # ends when the server closes
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line.split(b" ")[1] == b"413", received[:300]
    assert b"connection: close" in rest.lower()
    assert received.count(b"HTTP/1.1") == 1  # one answer, no 431 for the unread body


@pytest.mark.parametrize("path", list(LIMITS))
def test_a_chunked_body_past_the_limit_is_413_and_one_at_it_is_served(
    api: ApiServer, path: str
) -> None:
    body, limit = _body(api, path), LIMITS[path]
    before = _stored(api)

    def send_chunked(size: int) -> Answer:
        head = request_head(path, "Transfer-Encoding: chunked")
        return exchange(api.port, head + chunked(padded(body, size)))

    _check_too_large(send_chunked(limit + 1), limit)
    assert _stored(api) == before
    at = send_chunked(limit)
    assert at.status == 200, at


@pytest.mark.parametrize("path", list(LIMITS))
def test_each_route_takes_its_limit_to_the_byte_and_stores_nothing_past_it(
    api: ApiServer, path: str
) -> None:
    body, limit = _body(api, path), LIMITS[path]
    before = _stored(api)
    with httpx.Client(base_url=api.url, timeout=10) as http:
        headers = {"Content-Type": "application/json"}
        over = http.post(path, content=padded(body, limit + 1), headers=headers)
        assert over.status_code == 413, over.text
        assert over.json()["rule"] == f"at most {limit} bytes"
        assert _stored(api) == before
        at = http.post(path, content=padded(body, limit), headers=headers)
        assert at.status_code == 200, at.text
    if path == "/feedback":  # the one at the limit is stored, alone
        after = _stored(api)
        assert after is not None and after.count(b"\n") == (before or b"x\n").count(b"\n") + 1


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8", "application/json "],
)
@pytest.mark.parametrize("path", [*LIMITS, "/v2/models/mindpulse/infer"])
def test_json_with_a_charset_is_accepted(api: ApiServer, path: str, content_type: str) -> None:
    body = _body(api, path)
    answer = exchange(
        api.port, request_head(path, content_type=content_type, length=len(body)) + body
    )
    assert answer.status == 200, answer


def _body(api: ApiServer, path: str) -> bytes:
    """A valid body for ``path``; for ``/feedback`` one with a receipt not used yet."""
    if path == "/feedback":
        with httpx.Client(base_url=api.url, timeout=10) as http:
            receipt = predict_receipt(http, EXAMPLE)
        return msgspec.json.encode({"prediction_id": receipt, "actual": 0})
    bodies = {"/predict": PREDICT, "/predict/batch": BATCH}
    return bodies[path] if path in bodies else _v2_body()


def _v2_body() -> bytes:
    from mp_core.schema import FEATURE_NAMES

    inputs = [
        {"name": name, "shape": [1], "datatype": "BYTES" if isinstance(value, str) else "FP64",
         "data": [value]}
        for name in FEATURE_NAMES
        for value in [EXAMPLE[name]]
    ]  # fmt: skip
    return msgspec.json.encode({"inputs": inputs})
