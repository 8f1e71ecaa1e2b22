"""The three pages render in headless Chromium: a non-blank screenshot with the report title.

Screenshots go to ``$MP_TEST_ARTIFACTS/reporting/`` (CI keeps them) or the test's tmp folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, sync_playwright

from mp_core.ml.synthetic import SLEEP_LOSS_DRIFT
from mp_core.web.guard import REPORT_CSP
from mp_reporting.render import DRIFT_TITLE, PERFORMANCE_TITLE, QUALITY_TITLE
from mp_reporting.reports import ReportRun, build_reports
from testsupport.browser import CHROMIUM, CHROMIUM_ARGS
from testsupport.data import settings_for
from testsupport.reporting import feedback_lines, write_feedback

# What Evidently's own part of each page shows once its scripts have run.
PAGES = {
    "data_quality.html": (QUALITY_TITLE, "Dataset Summary"),
    "data_drift.html": (DRIFT_TITLE, "Dataset Drift"),
    "classification_performance.html": (PERFORMANCE_TITLE, "Confusion Matrix"),
}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def run(reporting_template: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    root = tmp_path_factory.mktemp("browser-run")
    for name in ("data", "artifacts"):
        shutil.copytree(reporting_template / name, root / name)
    settings = settings_for(root)
    write_feedback(
        settings.prod_data_path,
        feedback_lines(settings, 300, seed=31, drift=SLEEP_LOSS_DRIFT),
    )
    return build_reports(settings)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = os.environ.get("MP_TEST_ARTIFACTS")
    folder = Path(base) / "reporting" if base else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_with_its_title(
    name: str, run: ReportRun, browser: Browser, shots: Path
) -> None:
    title, evidently_text = PAGES[name]
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    try:
        page.goto((run.reports_dir / name).as_uri(), wait_until="load", timeout=60_000)
        # Evidently draws with JavaScript: wait for its section, then for its charts to settle.
        page.get_by_text(evidently_text, exact=True).first.wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        assert page.title() == title
        heading = page.locator("header.mp-header h1")
        assert heading.inner_text() == title
        assert heading.is_visible()
        assert page.get_by_text("not a diagnosis", exact=False).first.is_visible()
        shot = shots / name.replace(".html", ".png")
        page.screenshot(path=str(shot))
    finally:
        page.close()
    with Image.open(shot) as image:
        grey = np.asarray(image.convert("L"))
    assert grey.std() > 10, "the screenshot is (nearly) one flat colour"
    assert len(np.unique(grey)) > 20


def test_pages_render_under_the_page_servers_content_security_policy(
    run: ReportRun, browser: Browser, ui_server: Any
) -> None:
    """Served by the page's server, each report gets its CSP (inline only, no network) and
    still draws: Evidently's section appears and the browser reports no blocked resource."""
    ui = ui_server("http://127.0.0.1:9", REPORTS_DIR=str(run.reports_dir))
    for name, (_title, evidently_text) in PAGES.items():
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        blocked: list[str] = []
        page.on("console", lambda msg, seen=blocked: seen.append(msg.text))
        try:
            answer = page.goto(f"{ui.url}/reports/{name}", wait_until="load", timeout=60_000)
            assert answer is not None
            assert answer.headers["content-security-policy"] == REPORT_CSP
            page.get_by_text(evidently_text, exact=True).first.wait_for(timeout=60_000)
            page.wait_for_timeout(500)
        finally:
            page.close()
        assert not [m for m in blocked if "Content Security Policy" in m], (name, blocked)
