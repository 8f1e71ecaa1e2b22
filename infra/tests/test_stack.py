"""The compose front door (infra/compose/stack.py): clear failures when Docker is missing, and the
commands and build arguments it would hand to ``docker compose``."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from infra.compose import stack
from infra.tests.dockerfiles import REPO_ROOT

SCRIPT = REPO_ROOT / "infra" / "compose" / "stack.py"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _unreachable_engine(tmp_path: Path) -> dict[str, str]:
    # A socket path nothing listens on: the real docker client answers "cannot connect", whatever
    # engine the machine running the tests may have.
    env = dict(os.environ)
    env["DOCKER_HOST"] = f"unix://{tmp_path / 'no-engine.sock'}"
    env.pop("DOCKER_CONTEXT", None)
    return env


@pytest.mark.parametrize("action", ["up", "down", "logs", "report"])
def test_missing_docker_client_is_explained(action: str, tmp_path: Path) -> None:
    env = dict(os.environ, DOCKER=str(tmp_path / "docker-not-installed"))
    result = _run([action], env)
    assert result.returncode == 1
    assert "no docker client found" in result.stderr
    assert "just up" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("action", ["up", "down", "logs", "report"])
def test_unreachable_engine_is_explained(action: str, tmp_path: Path) -> None:
    # The real client is needed to meet a missing engine (a missing client is the test above).
    if shutil.which("docker") is None:
        pytest.fail("the docker client is not installed (`.ci/container-tools` installs it)")
    result = _run([action], _unreachable_engine(tmp_path))
    assert result.returncode == 1
    assert "no Docker engine is reachable" in result.stderr
    assert "no-engine.sock" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was prepared for a stack that cannot start.
    assert result.stdout == ""


def test_unknown_action_names_the_valid_ones() -> None:
    result = _run(["start"], dict(os.environ))
    assert result.returncode == 1
    assert "unknown action 'start'" in result.stderr
    assert "up, down, logs [service] or report" in result.stderr


def test_compose_commands() -> None:
    compose = ["compose", "-f", str(stack.COMPOSE_FILE)]
    assert stack.compose_args("up", [])[: len(compose)] == compose
    assert stack.compose_args("up", [])[len(compose) :][:3] == ["up", "--detach", "--build"]
    assert "--wait" in stack.compose_args("up", [])
    assert stack.compose_args("logs", ["serving-api"])[-1] == "serving-api"
    report = stack.compose_args("report", [])
    assert report[len(compose) :] == [
        "--profile",
        "reporting",
        "run",
        "--rm",
        "--build",
        "reporting",
    ]
    # down and logs reach the optional services whatever COMPOSE_PROFILES says.
    every_profile = [
        "--profile",
        "reporting",
        "--profile",
        "tracking",
        "--profile",
        "orchestration",
    ]
    down = stack.compose_args("down", [])[len(compose) :]
    assert down[: len(every_profile) + 1] == [*every_profile, "down"]
    logs = stack.compose_args("logs", [])[len(compose) :]
    assert logs[: len(every_profile) + 1] == [*every_profile, "logs"]


def test_profiles_are_the_compose_files() -> None:
    document = yaml.safe_load(stack.COMPOSE_FILE.read_text(encoding="utf-8"))
    declared = {p for s in document["services"].values() for p in s.get("profiles", [])}
    assert set(stack.ALL_PROFILES) == declared
    # A profile's bind-mounted folder is one of its services' mount sources.
    sources = {
        volume.split(":")[0].removeprefix("../../")
        for service in document["services"].values()
        for volume in service.get("volumes", [])
    }
    for profile, folders in stack.PROFILE_DIRS.items():
        assert profile in declared
        assert set(folders) <= sources


def test_profiles_come_from_compose_profiles(tmp_path: Path) -> None:
    assert stack.active_profiles({"COMPOSE_PROFILES": " tracking,orchestration ,"}) == {
        "tracking",
        "orchestration",
    }
    (tmp_path / "data" / "mlflow").mkdir(parents=True, mode=0o700)
    (tmp_path / "data" / "mlflow" / "mlflow.db").write_text("")
    warnings = stack.prepare_mounts(tmp_path, profiles={"tracking"})
    flagged = [w for w in warnings if w.startswith("data/mlflow/")]
    assert len(flagged) == (0 if os.getuid() == stack.CONTAINER_UID else 1)


def test_member_versions_are_read_from_the_manifests() -> None:
    versions = stack.member_versions()
    for variable, member in stack.MEMBER_VERSIONS.items():
        with (REPO_ROOT / member / "pyproject.toml").open("rb") as manifest:
            assert versions[variable] == tomllib.load(manifest)["project"]["version"]


def test_prepare_mounts_leaves_missing_folders_to_compose_and_flags_ownership(
    tmp_path: Path,
) -> None:
    # Missing folders are not created: Docker creates them, prepare-folders hands them over.
    (tmp_path / "data").mkdir()
    (tmp_path / "data").chmod(0o777)
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "current.json").write_text("{}")
    warnings = stack.prepare_mounts(tmp_path)
    assert not (tmp_path / "reports").exists()
    if os.getuid() == stack.CONTAINER_UID:
        assert warnings == []
    else:
        # data/ is world-writable; artifacts/ holds files of whoever runs the tests.
        assert len(warnings) == 1 and warnings[0].startswith("artifacts/")
        assert "chown -R 1000:1000 data artifacts reports" in warnings[0]
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o777
