"""The ``reporting`` profile against the running stack: the reports land in reports/ on the host."""

from __future__ import annotations

import json

import pytest

from infra.tests.containers.test_hardening import PROBE, check_probe
from infra.tests.containers.traffic import feedback_rows, send_feedback
from mp_core.client import MindPulseClient
from testsupport.docker import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.slow]

REPORTS = ("data_quality.html", "data_drift.html", "classification_performance.html")
#: Enough production rows for every report to be computed (drift needs 30), whatever ran before.
PRODUCTION_ROWS = 40


def test_reporting_profile_writes_three_reports_and_summary_on_the_host(
    core_stack: ComposeStack,
) -> None:
    reports = core_stack.folder("reports")
    assert not any(reports.glob("*.html"))
    prod_data = core_stack.folder("data") / "prod_data.csv"
    missing = PRODUCTION_ROWS - (
        len(feedback_rows(core_stack.folder("data"))) if prod_data.exists() else 0
    )
    with MindPulseClient(core_stack.url("API_PORT"), timeout=30) as client:
        for marker in range(9000, 9000 + max(missing, 0)):
            send_feedback(client, marker)
    core_stack.compose("--profile", "reporting", "run", "--rm", "reporting", timeout=600)
    for name in REPORTS:
        page = reports / name
        assert page.stat().st_size > 10_000, name
        assert page.stat().st_uid == 1000
        assert "<html" in page.read_text(errors="replace")[:2000].lower(), name
    summary = json.loads((reports / "summary.json").read_text())
    assert summary, "summary.json is empty"
    # The one-shot container follows the same rules as the long-running ones.
    seen = core_stack.compose(
        "--profile", "reporting", "run", "--rm", "--no-deps", "--entrypoint", "python",
        "reporting", "-c", PROBE,
    ).stdout  # fmt: skip
    check_probe(json.loads(seen.strip().splitlines()[-1]))
