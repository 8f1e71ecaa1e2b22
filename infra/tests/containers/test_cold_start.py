"""A cold start from a fresh copy of the repo with the guide's plain command, no wrapper.

The stack came up with ``docker compose -f infra/compose/compose.yaml up --build`` (detached,
waiting for health) from a copy with no ``data/``, ``artifacts/`` or ``reports/``: Docker created
those folders as root, ``prepare-folders`` handed them to uid 1000, the trainer made the first
model, then the API turned healthy, then the page.
"""

from __future__ import annotations

import os
from datetime import datetime

import httpx
import pytest

from infra.tests.containers.conftest import FIGURES, first_model_version
from testsupport.docker import ComposeStack, fresh_copy

pytestmark = [pytest.mark.containers, pytest.mark.slow]


def _instant(text: str) -> datetime:
    # Docker prints nanoseconds; Python parses at most microseconds.
    head, _, rest = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(rest + '000000')[:6]}+00:00")


def _health_log_first_ok(state: dict[str, object]) -> datetime:
    health = state["Health"]
    assert isinstance(health, dict)
    passes = [entry for entry in health["Log"] if entry["ExitCode"] == 0]
    assert passes, f"no passing health check: {health}"
    return _instant(passes[0]["Start"])


def test_trainer_then_api_healthy_then_page_healthy(core_stack: ComposeStack) -> None:
    version, created_at = first_model_version(core_stack)
    assert version == "v0001"
    trained = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    api = core_stack.inspect("serving-api")["State"]
    page = core_stack.inspect("webapp")["State"]
    api_started, page_started = _instant(api["StartedAt"]), _instant(page["StartedAt"])
    assert api["Health"]["Status"] == "healthy"
    assert page["Health"]["Status"] == "healthy"
    assert trained <= api_started, "the API started before the first model existed"
    api_healthy = _health_log_first_ok(api)
    assert api_healthy <= page_started, "the page started before the API was healthy"
    FIGURES["core_api_healthy_after_model_seconds"] = round(
        (api_healthy - trained).total_seconds(), 1
    )
    FIGURES["core_page_healthy_after_api_seconds"] = round(
        (_health_log_first_ok(page) - api_healthy).total_seconds(), 1
    )
    trainer = core_stack.inspect("trainer")["State"]
    if trainer["Status"] == "exited":  # a one-shot trainer: how long the first training took
        FIGURES["core_trainer_seconds"] = round(
            (_instant(trainer["FinishedAt"]) - _instant(trainer["StartedAt"])).total_seconds(), 1
        )
    health = httpx.get(core_stack.url("API_PORT") + "/health", timeout=10).json()
    assert health["model_version"] == "v0001"
    assert httpx.get(core_stack.url("UI_PORT") + "/healthz", timeout=10).status_code == 200


def test_docker_created_folders_were_handed_to_the_containers_user(
    core_stack: ComposeStack,
) -> None:
    for name in ("data", "artifacts", "reports", "data/mlflow"):
        assert core_stack.folder(name).stat().st_uid == 1000, name
    assert (core_stack.folder("data") / "ref_data.csv").stat().st_uid == 1000
    prepare = core_stack.inspect("prepare-folders")["State"]
    assert prepare["Status"] == "exited" and prepare["ExitCode"] == 0


def test_a_folder_the_containers_cannot_write_is_told_in_one_line(
    core_stack: ComposeStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A user's own folder that uid 1000 cannot write: nothing starts, one line says why."""
    root = fresh_copy(tmp_path_factory.mktemp("unwritable") / "repo")
    for name in ("data", "artifacts", "reports"):
        (root / name).mkdir(mode=0o755)
        (root / name / "keep.txt").write_text("the user's own file\n")  # not Docker's
    stack = ComposeStack(root, core_stack.project + "-unwritable")
    try:
        failed = stack.compose("up", "--detach", "--wait", timeout=300, check=False)
        assert failed.returncode != 0
        logs = stack.logs("prepare-folders").splitlines()
        lines = [line for line in logs if "mindpulse:" in line]
        assert len(lines) == 1, logs
        assert f"data/ is owned by uid {os.geteuid()}" in lines[0]
        assert "sudo chown -R 1000:1000 data artifacts reports" in lines[0]
        assert stack.resources("container") and not [
            c for c in stack.compose("ps", "--quiet").stdout.split() if c
        ], "no service may run after the failure"
        owner = (root / "data" / "keep.txt").stat().st_uid
        assert owner == os.geteuid(), "a user's folder is never chowned"
    finally:
        stack.down()
