"""Policy for the compose stack, read from compose.yaml and .env.example (no Docker engine needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from infra.compose import stack
from infra.tests.dockerfiles import COMPOSE_DIR, REPO_ROOT
from infra.tests.images import EXPECTED_MOUNTS, IMAGE_IDS, IMAGES, ImageSpec
from mp_core.settings import Settings

# The configuration section of the design: every one of these is documented in .env.example.
DESIGN_VARIABLES = (
    "DATA_DIR",
    "ARTIFACTS_DIR",
    "REPORTS_DIR",
    "RETRAIN_THRESHOLD",
    "DRIFT_THRESHOLD",
    "API_HOST",
    "API_PORT",
    "UI_PORT",
    "API_URL",
    "API_WORKERS",
    "ADMIN_TOKEN",
    "LOG_FORMAT",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_PORT",
    "AIRFLOW_PORT",
    "RETRAIN_MIN_ROWS",
)
SERVICES = {spec.service: spec for spec in IMAGES}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    return loaded


@pytest.fixture(params=IMAGES, ids=[spec.service for spec in IMAGES])
def service(request: pytest.FixtureRequest, compose: dict[str, Any]) -> tuple[ImageSpec, Any]:
    spec: ImageSpec = request.param
    return spec, compose["services"][spec.service]


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (COMPOSE_DIR / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            values[key.strip()] = value.strip()
    return values


def test_services_are_exactly_the_images(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == set(SERVICES)


def test_each_service_builds_its_own_dockerfile(service: tuple[ImageSpec, Any]) -> None:
    spec, definition = service
    build = definition["build"]
    assert (COMPOSE_DIR / build["context"]).resolve() == REPO_ROOT
    assert build["dockerfile"] == f"infra/compose/{spec.dockerfile}"
    assert spec.dockerfile in IMAGE_IDS


def test_command_matches_the_image(service: tuple[ImageSpec, Any]) -> None:
    spec, definition = service
    assert tuple(definition.get("command", ())) == spec.command


def test_build_versions_come_from_the_members(service: tuple[ImageSpec, Any]) -> None:
    spec, definition = service
    variable = definition["build"]["args"]["VERSION"].removeprefix("${").split(":-")[0]
    assert stack.MEMBER_VERSIONS[variable] == spec.member_dir


def test_only_the_api_and_the_page_are_published(service: tuple[ImageSpec, Any]) -> None:
    spec, definition = service
    ports = definition.get("ports", [])
    container_ports = [int(str(p).rsplit(":", 1)[1]) for p in ports]
    assert container_ports == ([spec.published_port] if spec.published_port else [])
    for published in ports:
        assert str(published).startswith("127.0.0.1:"), f"{published}: not loopback-only"


def test_every_service_is_read_only_with_tmp_scratch(service: tuple[ImageSpec, Any]) -> None:
    _, definition = service
    assert definition["read_only"] is True
    assert any(entry.split(":")[0] == "/tmp" for entry in definition["tmpfs"])
    assert definition["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in definition["security_opt"]


def test_every_service_has_a_memory_limit(service: tuple[ImageSpec, Any]) -> None:
    _, definition = service
    limit = str(definition["deploy"]["resources"]["limits"]["memory"])
    assert limit[:-1].isdigit() and limit[-1] in "mg"


def test_every_service_is_on_prod_net_only(
    compose: dict[str, Any], service: tuple[ImageSpec, Any]
) -> None:
    _, definition = service
    assert definition["networks"] == ["prod_net"]
    assert compose["networks"] == {"prod_net": {"driver": "bridge"}}


def test_settings_come_from_an_optional_env_file(service: tuple[ImageSpec, Any]) -> None:
    _, definition = service
    assert definition["env_file"] == [{"path": ".env", "required": False}]


def test_mounts_are_the_documented_repo_folders(service: tuple[ImageSpec, Any]) -> None:
    spec, definition = service
    mounts: dict[str, tuple[str, bool]] = {}
    for volume in definition.get("volumes", []):
        source, target, *mode = volume.split(":")
        folder = (COMPOSE_DIR / source).resolve()
        assert folder.parent == REPO_ROOT, f"{volume}: not a folder of the repo"
        mounts[target] = (folder.name, mode == ["ro"])
    assert mounts == EXPECTED_MOUNTS[spec.service]
    # A writable mount must be a folder the image hands to uid 1000.
    assert {t for t, (_, ro) in mounts.items() if not ro} == set(spec.writable)


def test_container_paths_are_fixed_in_compose(service: tuple[ImageSpec, Any]) -> None:
    spec, definition = service
    environment = definition["environment"]
    for target in EXPECTED_MOUNTS[spec.service]:
        variable = f"{Path(target).name.upper()}_DIR"
        assert environment[variable] == target


def test_api_health_gates_the_page_and_the_trainer_gates_the_api(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    api = services["serving-api"]
    assert "/health" in " ".join(api["healthcheck"]["test"])
    assert api["healthcheck"]["test"][:2] == ["CMD", "python"]
    assert api["restart"] == "unless-stopped"
    assert api["environment"]["API_HOST"] == "0.0.0.0"
    assert api["depends_on"] == {"trainer": {"condition": "service_completed_successfully"}}
    assert services["webapp"]["depends_on"] == {"serving-api": {"condition": "service_healthy"}}
    assert services["webapp"]["environment"]["API_URL"] == "http://serving-api:8080"
    assert services["webapp"]["environment"]["UI_HOST"] == "0.0.0.0"


def test_trainer_and_reports_run_once(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["trainer"]["restart"] == "no"
    assert services["reporting"]["restart"] == "no"
    assert services["reporting"]["profiles"] == ["reporting"]
    assert [name for name, s in services.items() if "profiles" in s] == ["reporting"]


def test_gradio_stays_offline_with_a_writable_temp_dir(compose: dict[str, Any]) -> None:
    environment = compose["services"]["webapp"]["environment"]
    assert environment["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert environment["GRADIO_TEMP_DIR"].startswith("/tmp/")
    assert environment["HOME"] == "/tmp"


def test_env_example_documents_every_setting() -> None:
    documented = set(_env_example())
    settings_variables = {f.name.upper() for f in msgspec.structs.fields(Settings)}
    assert set(DESIGN_VARIABLES) - documented == set()
    assert settings_variables - documented == set()


def test_env_example_holds_valid_values_and_no_secret() -> None:
    values = _env_example()
    settings = Settings.from_env(values)
    assert values["ADMIN_TOKEN"] == ""
    assert settings.admin_token is None
    assert settings.api_url == "http://serving-api:8080"
    assert (settings.api_port, settings.ui_port) == (8080, 8081)
