"""The CI guard (testsupport/ci.py) against the repository's own record: with ``CI`` set, a run in
which a recorded test did not run fails and names the file; without ``CI`` nothing is checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testsupport.ci import MAIN_SUITE, load_expected

REPO = Path(__file__).resolve().parents[1]
TARGET = "infra/tests/test_compose_schema.py"
#: Its two tests that run ``docker compose config`` (one per parametrized validator).
COMPOSE_CONFIG = "docker-compose-config"


def pytest_run(*args: str, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TARGET, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_a_recorded_test_that_does_not_run_fails_the_ci_run() -> None:
    expected = load_expected()[MAIN_SUITE][TARGET]

    complete = pytest_run(ci=True)
    assert complete.returncode == 0, complete.stdout + complete.stderr
    assert "did not run as recorded" not in complete.stdout

    # The compose-config checks drop out, as they did when the plugin was missing.
    shrunk = pytest_run("-k", f"not {COMPOSE_CONFIG}", ci=True)
    assert shrunk.returncode == 1, shrunk.stdout + shrunk.stderr
    assert f"{TARGET}: {expected - 2} ran, {expected} expected" in shrunk.stdout
    assert "just expected-tests" in shrunk.stdout

    outside_ci = pytest_run("-k", f"not {COMPOSE_CONFIG}", ci=False)
    assert outside_ci.returncode == 0, outside_ci.stdout + outside_ci.stderr
    assert "did not run as recorded" not in outside_ci.stdout
