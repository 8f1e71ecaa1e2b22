"""Secrets reach only the containers that use them, as files; every container is bounded in
processes and CPU; the API and the page know which Host names they serve."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.compose import stack
from infra.tests.dockerfiles import REPO_ROOT

COMPOSE = REPO_ROOT / "infra" / "compose" / "compose.yaml"
#: Who needs what: the API checks the token and bundles (and signs retrains), the trainer signs,
#: reporting and Airflow check bundles and call POST /retrain.
NEEDS = {
    "prepare-folders": set(),  # hands bind-mount folders to uid 1000, reads no secret
    "trainer": {"model_signing_key"},
    "serving-api": {"admin_token", "model_signing_key"},
    "webapp": set(),
    "reporting": {"admin_token", "model_signing_key"},
    "mlflow": set(),
    "airflow": {"admin_token", "model_signing_key"},
}
VARIABLES = {"admin_token": "ADMIN_TOKEN_FILE", "model_signing_key": "MODEL_SIGNING_KEY_FILE"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_each_service_gets_only_the_secrets_it_needs_as_files(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == set(NEEDS)
    for name, service in compose["services"].items():
        assert set(service.get("secrets", [])) == NEEDS[name], name
        environment = service.get("environment", {})
        for secret, variable in VARIABLES.items():
            if secret in NEEDS[name]:
                assert environment[variable] == f"/run/secrets/{secret}", name
            else:
                assert variable not in environment, name
        assert "ADMIN_TOKEN" not in environment and "MODEL_SIGNING_KEY" not in environment
    declared = compose["secrets"]
    assert declared == {
        "admin_token": {"file": "./secrets/admin_token"},
        "model_signing_key": {"file": "./secrets/model_signing_key"},
    }


def test_every_service_has_a_process_and_cpu_limit(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert 0 < int(limits["pids"]) <= 1024, name
        assert 0 < float(limits["cpus"]) <= 2, name


def test_the_api_and_the_page_list_the_hosts_they_serve(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api_hosts = services["serving-api"]["environment"]["API_ALLOWED_HOSTS"].split(",")
    assert "serving-api" in api_hosts and "127.0.0.1" in api_hosts  # prod_net, healthcheck
    assert services["webapp"]["environment"]["API_URL"] == "http://serving-api:8080"
    assert "127.0.0.1" in services["webapp"]["environment"]["UI_ALLOWED_HOSTS"].split(",")


def test_secret_files_are_made_once_private_and_readable_by_the_containers(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "secrets"
    warnings = stack.prepare_secrets(folder, environ={})
    values = {}
    for name in stack.SECRET_VARIABLES:
        path = folder / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        values[name] = path.read_text().strip()
        assert len(values[name]) >= 32
    if os.geteuid() == 0:
        assert warnings == []
        assert all((folder / n).stat().st_uid == stack.CONTAINER_UID for n in values)
    stack.prepare_secrets(folder, environ={})
    assert {n: (folder / n).read_text().strip() for n in values} == values  # kept, not redone
    assert values["admin_token"] != values["model_signing_key"]


@pytest.mark.parametrize("variable", ["ADMIN_TOKEN", "MODEL_SIGNING_KEY"])
def test_a_secret_in_the_shared_environment_is_refused(tmp_path: Path, variable: str) -> None:
    with pytest.raises(stack.StackError, match=f"{variable} is set .*secrets/"):
        stack.prepare_secrets(tmp_path / "secrets", environ={variable: "x" * 40})
    assert not (tmp_path / "secrets").exists()


def test_secrets_never_reach_an_image() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored  # everything is out unless re-included
    assert not any(line.startswith("!infra") for line in ignored)
    assert "/infra/compose/secrets/" in (REPO_ROOT / ".gitignore").read_text().splitlines()
