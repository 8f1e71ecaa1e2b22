"""A report request: recorded, read, and cleared only by the run that served it."""

from __future__ import annotations

from pathlib import Path

from mp_core.stores.report_requests_files import (
    clear_request,
    pending_request,
    record_request,
    request_path,
)


def test_a_request_is_cleared_by_the_run_that_served_it(tmp_path: Path) -> None:
    assert pending_request(tmp_path) is None
    first = record_request(tmp_path / "data")
    assert pending_request(tmp_path / "data") == first
    assert clear_request(tmp_path / "data", first)
    assert pending_request(tmp_path / "data") is None


def test_a_newer_request_survives_the_run_of_an_older_one(tmp_path: Path) -> None:
    record_request(tmp_path)
    request_path(tmp_path).write_text('{"requested_at": "newer"}')
    assert not clear_request(tmp_path, "older")
    assert pending_request(tmp_path) == "newer"


def test_an_unreadable_request_still_counts(tmp_path: Path) -> None:
    request_path(tmp_path).write_text("{not json")
    assert pending_request(tmp_path) == "unknown"
    assert clear_request(tmp_path, "unknown")
