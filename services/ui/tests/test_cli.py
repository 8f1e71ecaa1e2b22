"""``mindpulse-ui`` as a process: a bad configuration is one line naming it, and exit code 2.

The console script runs with a clean environment and an unused port.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from testsupport.api import console_script, free_port
from testsupport.browser import UI_CLEARED

BAD_SUPPORT = {
    "country": "Nowhere",
    "resources": [{"name": "Trap", "description": "A link that runs code.", "url": "javascript:x"}],
}


def run_ui(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in UI_CLEARED}
    base.update(
        GRADIO_ANALYTICS_ENABLED="False",
        UI_HOST="127.0.0.1",
        UI_PORT=str(free_port()),
        API_URL="http://127.0.0.1:9",
        REPORTS_DIR=str(tmp_path / "reports"),
    )
    base.update(env)
    return subprocess.run(
        [console_script("mindpulse-ui")],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"UI_STATUS_INTERVAL": "soon"},
            "environment variable UI_STATUS_INTERVAL: expected seconds, got 'soon'",
        ),
        ({"UI_STATUS_INTERVAL": "0"}, "environment variable UI_STATUS_INTERVAL: must be above 0"),
        (
            {"REPORT_SCHEDULE_HOURS": "-6"},
            "environment variable REPORT_SCHEDULE_HOURS: expected hours above 0, got '-6'",
        ),
        (
            {"UI_MAX_CONCURRENT": "0"},
            "environment variable UI_MAX_CONCURRENT: a whole number of at least 1",
        ),
        ({"UI_PORT": "eighty"}, "environment variable UI_PORT: Expected `int`, got `str`"),
        ({"UI_PORT": "99999"}, "environment variable UI_PORT: Expected `int` <= 65535"),
        ({"LOG_FORMAT": "xml"}, "environment variable LOG_FORMAT: Invalid enum value 'xml'"),
    ],
)
def test_a_bad_variable_is_named_and_the_exit_code_is_2(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    done = run_ui(tmp_path, **env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == f"mindpulse-ui: {message}\n"
    assert done.stdout == ""


def test_a_missing_support_file_is_named_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "uk.json"
    done = run_ui(tmp_path, SUPPORT_RESOURCES_FILE=str(missing))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"mindpulse-ui: SUPPORT_RESOURCES_FILE {missing}: cannot read it (No such file or "
        "directory)\n"
    )


def test_a_support_file_with_a_script_link_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "support.json"
    path.write_text(json.dumps(BAD_SUPPORT))
    done = run_ui(tmp_path, SUPPORT_RESOURCES_FILE=str(path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"mindpulse-ui: SUPPORT_RESOURCES_FILE {path}: resources[0] ('Trap'): url "
        "'javascript:x' must start with https://, tel:, mailto:\n"
    )
