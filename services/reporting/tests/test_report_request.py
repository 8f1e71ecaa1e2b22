"""``mindpulse-report --if-requested``: nothing without a request; with one, reports and clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from mp_core.settings import Settings
from mp_core.stores.report_requests_files import pending_request, record_request
from mp_reporting.cli import EXIT_BAD_INPUT, EXIT_OK, main


def _environment(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ARTIFACTS_DIR", str(settings.artifacts_dir))
    monkeypatch.setenv("REPORTS_DIR", str(settings.reports_dir))


def test_no_request_means_no_run(
    trained_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, trained_settings)
    assert main(["--if-requested"]) == EXIT_OK
    assert "No report request pending" in capsys.readouterr().out
    assert not Path(trained_settings.reports_dir / "summary.json").exists()


def test_a_pending_request_is_served_and_cleared(
    trained_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _environment(monkeypatch, trained_settings)
    record_request(trained_settings.data_dir)
    assert main(["--if-requested", "--keep", "0"]) == EXIT_OK
    assert (trained_settings.reports_dir / "summary.json").exists()
    assert pending_request(trained_settings.data_dir) is None


def test_watch_needs_a_positive_interval(
    trained_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _environment(monkeypatch, trained_settings)
    assert main(["--watch-requests", "0"]) == EXIT_BAD_INPUT
