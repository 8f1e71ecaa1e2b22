"""The feedback file fails under a running server: 503 naming the store, nothing torn left
behind, predictions served all along, and feedback stored again once the fault is gone."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from mp_core.schema import StudentProfile
from mp_core.stores.feedback_files import FeedbackRecord, FeedbackStore, format_row
from testsupport.api import EXAMPLE, ApiServer, ApiServers, predict_receipt

#: Rows already stored: the file is then larger than the server's log, which the file size
#: limit below must leave writable.
STORED_ROWS = 2000


@pytest.fixture
def api(start_api: ApiServers) -> ApiServer:
    server = start_api.start(workers=2, api_worker_header="1")
    record = FeedbackRecord(
        profile=msgspec.convert(EXAMPLE, StudentProfile),
        prediction=1,
        probability=0.25,
        actual=0,
        model_version="v0001",
        timestamp="2026-01-01T00:00:00.000+00:00",
    )
    path = server.settings.prod_data_path
    FeedbackStore(path).append(record)  # the header and one row, as the store writes them
    path.write_bytes(path.read_bytes() + format_row(record) * (STORED_ROWS - 1))
    return server


@pytest.fixture
def feedback(api: ApiServer) -> dict[str, object]:
    """One receipt's feedback. A failed write cuts the receipt's key with its row, so the same
    body is refused while the fault lasts and stored as a new row once it is gone."""
    with httpx.Client(base_url=api.url, timeout=10) as http:
        return {"prediction_id": predict_receipt(http, EXAMPLE), "actual": 0}


def _refused_by_every_worker(api: ApiServer, body: dict[str, object], cause: str) -> None:
    answers = api.from_every_worker("POST", "/feedback", json=body)
    assert len(answers) == 2
    for answer in answers.values():
        assert answer.status_code == 503, answer.text + api.log()[-4000:]
        body = answer.json()
        assert body["error"] == "unavailable"
        assert body["detail"].startswith("feedback store unavailable: ")
        assert cause in body["detail"]
        assert str(api.root) not in body["detail"]  # where the files live is not told


def _predictions_still_served(api: ApiServer) -> None:
    for answer in api.from_every_worker("POST", "/predict", json={"features": EXAMPLE}).values():
        assert answer.status_code == 200


def _stored_again(api: ApiServer, body: dict[str, object], expected_total: int) -> None:
    answer = httpx.post(api.url + "/feedback", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["total_feedbacks"] == expected_total
    loaded = FeedbackStore(api.settings.prod_data_path).read()
    assert len(loaded.frame) == expected_total and loaded.bad_lines == {}


def test_a_write_cut_short_is_undone_and_answered_503(
    api: ApiServer, feedback: dict[str, object]
) -> None:
    path = api.settings.prod_data_path
    before = path.read_bytes()
    # Room for a part of one more row only: the write stops there, then fails (EFBIG).
    with api.file_size_limit(len(before) + 40):
        _refused_by_every_worker(api, feedback, "cannot write prod_data.csv: File too large")
        assert path.read_bytes() == before  # the part that reached the file was cut off
        _predictions_still_served(api)
    _stored_again(api, feedback, STORED_ROWS + 1)
    assert path.read_bytes().startswith(before)
    assert "feedback_store_error" in api.log()


def test_the_receipt_key_written_for_a_failed_row_is_cut_too(
    api: ApiServer, feedback: dict[str, object]
) -> None:
    path = api.settings.prod_data_path
    keys_path = path.with_name(path.stem + ".keys.jsonl")
    before = path.read_bytes()
    with api.file_size_limit(len(before) + 40):
        _refused_by_every_worker(api, feedback, "File too large")
        assert path.read_bytes() == before
    assert keys_path.read_bytes() == b""  # the key went first (it fit) and was cut with the row
    # The retry is a new row, not a replay of the failed one, and later retries replay it.
    _stored_again(api, feedback, STORED_ROWS + 1)
    _stored_again(api, feedback, STORED_ROWS + 1)
    assert keys_path.read_bytes().count(b"\n") == 1


def test_a_store_file_that_cannot_be_opened_is_answered_503(
    api: ApiServer, feedback: dict[str, object]
) -> None:
    path = api.settings.prod_data_path
    aside = path.with_name("prod_data.aside")
    path.replace(aside)
    path.mkdir()  # a directory where the file should be: open() fails (even for root)
    try:
        _refused_by_every_worker(api, feedback, "cannot open prod_data.csv: Is a directory")
        _predictions_still_served(api)
        assert httpx.get(api.url + "/health", timeout=10).status_code == 200
    finally:
        path.rmdir()
        aside.replace(path)
    _stored_again(api, feedback, STORED_ROWS + 1)
