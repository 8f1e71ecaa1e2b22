import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from mp_core.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_the_event_and_its_fields(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("json")
    logging.getLogger("mp.test").info("model_loaded", extra={"version": "v0002"})
    record = json.loads(stream.getvalue())
    assert (record["event"], record["version"], record["level"]) == (
        "model_loaded",
        "v0002",
        "info",
    )


def test_text_lines_are_key_value(restore_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("text")
    logging.getLogger("mp.test").warning("retrain_failed", extra={"error": "disk full"})
    assert 'retrain_failed error="disk full"' in stream.getvalue()


def test_records_follow_stderr_when_it_is_replaced(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream closed after set-up (captured output, a redirect) must not break logging."""
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("text")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("mp.test").warning("still_heard")
    assert "still_heard" in second.getvalue()
    assert "Logging error" not in second.getvalue()
