"""Policy for the compose stack, read from compose.yaml and .env.example (no Docker engine needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from infra.compose import stack
from infra.tests.dockerfiles import COMPOSE_DIR, REPO_ROOT
from infra.tests.images import (
    EXPECTED_MOUNTS,
    IMAGE_IDS,
    IMAGES,
    OPTIONAL_IMAGES,
    ImageSpec,
    OptionalImageSpec,
)
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
OPTIONAL = {spec.service: spec for spec in OPTIONAL_IMAGES}
EVERY_IMAGE: tuple[ImageSpec | OptionalImageSpec, ...] = (*IMAGES, *OPTIONAL_IMAGES)
# The ports the default stack publishes; each optional service adds its own, only in its profile.
DEFAULT_PORTS = {8080, 8081}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    return loaded


@pytest.fixture(params=IMAGES, ids=[spec.service for spec in IMAGES])
def service(request: pytest.FixtureRequest, compose: dict[str, Any]) -> tuple[ImageSpec, Any]:
    spec: ImageSpec = request.param
    return spec, compose["services"][spec.service]


@pytest.fixture(params=EVERY_IMAGE, ids=[spec.service for spec in EVERY_IMAGE])
def any_service(
    request: pytest.FixtureRequest, compose: dict[str, Any]
) -> tuple[ImageSpec | OptionalImageSpec, Any]:
    """Every service, the members' and the optional ones: the rules all of them follow."""
    spec: ImageSpec | OptionalImageSpec = request.param
    return spec, compose["services"][spec.service]


@pytest.fixture(params=OPTIONAL_IMAGES, ids=[spec.service for spec in OPTIONAL_IMAGES])
def optional(
    request: pytest.FixtureRequest, compose: dict[str, Any]
) -> tuple[OptionalImageSpec, Any]:
    spec: OptionalImageSpec = request.param
    return spec, compose["services"][spec.service]


def _published(definition: Any) -> list[tuple[str, int]]:
    """``(host part, container port)`` of each published port."""
    found = []
    for entry in definition.get("ports", []):
        host, _, container = str(entry).rpartition(":")
        found.append((host, int(container)))
    return found


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (COMPOSE_DIR / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            values[key.strip()] = value.strip()
    return values


# The one service without an image of its own: it runs prepare_folders.py before the others.
PREPARE = "prepare-folders"


def test_services_are_exactly_the_images(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == set(SERVICES) | set(OPTIONAL) | {PREPARE}


def test_prepare_folders_is_root_with_only_chown_and_no_network(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prepare = services[PREPARE]
    assert prepare["image"] == services["trainer"]["image"] and "build" not in prepare
    assert prepare["pull_policy"] == "never"
    assert prepare["user"] == "0:0" and prepare["restart"] == "no"
    assert prepare["cap_drop"] == ["ALL"] and prepare["cap_add"] == ["CHOWN"]
    assert prepare["read_only"] is True and prepare["network_mode"] == "none"
    assert "no-new-privileges:true" in prepare["security_opt"]
    assert "ports" not in prepare and "profiles" not in prepare
    sources = {volume.split(":")[0] for volume in prepare["volumes"]}
    assert sources == {
        "./prepare_folders.py", "../../data", "../../artifacts", "../../reports",
        "../../data/mlflow", "./secrets",
    }  # fmt: skip
    # Every service that starts first and writes a mounted folder waits for it.
    for name in ("trainer", "reporting", "mlflow"):
        assert services[name]["depends_on"][PREPARE] == {
            "condition": "service_completed_successfully"
        }, name


def test_each_service_builds_its_own_dockerfile(service: tuple[ImageSpec, Any]) -> None:
    spec, definition = service
    build = definition["build"]
    assert (COMPOSE_DIR / build["context"]).resolve() == REPO_ROOT
    assert build["dockerfile"] == f"infra/compose/{spec.dockerfile}"
    assert spec.dockerfile in IMAGE_IDS


def test_command_matches_the_image(service: tuple[ImageSpec, Any]) -> None:
    spec, definition = service
    assert tuple(definition.get("command", ())) == spec.command


def test_build_versions_come_from_the_projects(
    any_service: tuple[ImageSpec | OptionalImageSpec, Any],
) -> None:
    spec, definition = any_service
    variable = definition["build"]["args"]["VERSION"].removeprefix("${").split(":-")[0]
    project = spec.member_dir if isinstance(spec, ImageSpec) else spec.project_dir
    assert stack.MEMBER_VERSIONS[variable] == project
    # The image is tagged with the version it is labelled with.
    assert definition["image"].endswith(f":${{{variable}:-dev}}")


def test_each_service_publishes_only_its_own_port_on_loopback(
    any_service: tuple[ImageSpec | OptionalImageSpec, Any],
) -> None:
    spec, definition = any_service
    ports = definition.get("ports", [])
    container_ports = [port for _, port in _published(definition)]
    assert container_ports == ([spec.published_port] if spec.published_port else [])
    for published in ports:
        assert str(published).startswith("127.0.0.1:"), f"{published}: not loopback-only"


def test_only_expected_ports_are_published(compose: dict[str, Any]) -> None:
    # Without a profile only the API and the page; 5000 and 8083 only with their profiles.
    by_profile: dict[str, set[int]] = {}
    for definition in compose["services"].values():
        for profile in definition.get("profiles", [""]):
            by_profile.setdefault(profile, set()).update(p for _, p in _published(definition))
    assert by_profile[""] == DEFAULT_PORTS
    assert {k: v for k, v in by_profile.items() if k and v} == {
        spec.profile: {spec.published_port} for spec in OPTIONAL_IMAGES
    }


def test_every_service_is_read_only_with_tmp_scratch(
    any_service: tuple[ImageSpec | OptionalImageSpec, Any],
) -> None:
    _, definition = any_service
    assert definition["read_only"] is True
    assert any(entry.split(":")[0] == "/tmp" for entry in definition["tmpfs"])
    assert definition["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in definition["security_opt"]


def test_every_service_has_a_memory_limit(
    any_service: tuple[ImageSpec | OptionalImageSpec, Any],
) -> None:
    _, definition = any_service
    limit = str(definition["deploy"]["resources"]["limits"]["memory"])
    assert limit[:-1].isdigit() and limit[-1] in "mg"


def test_every_service_is_on_prod_net_only(
    compose: dict[str, Any], any_service: tuple[ImageSpec | OptionalImageSpec, Any]
) -> None:
    _, definition = any_service
    assert definition["networks"] == ["prod_net"]
    assert compose["networks"] == {"prod_net": {"driver": "bridge"}}


def test_settings_come_from_an_optional_env_file(
    any_service: tuple[ImageSpec | OptionalImageSpec, Any],
) -> None:
    _, definition = any_service
    assert definition["env_file"] == [{"path": ".env", "required": False}]


def test_mounts_are_the_documented_repo_folders(
    compose: dict[str, Any], any_service: tuple[ImageSpec | OptionalImageSpec, Any]
) -> None:
    spec, definition = any_service
    mounts: dict[str, tuple[str, bool]] = {}
    for volume in definition.get("volumes", []):
        source, target, *mode = volume.split(":")
        if target.startswith("/run/secrets/"):
            continue  # test_compose_secrets.py
        if source.startswith("."):
            folder = (COMPOSE_DIR / source).resolve()
            relative = folder.relative_to(REPO_ROOT).as_posix()
            # Only the repo's data/, artifacts/ and reports/ (or a folder inside one) are mounted.
            assert relative.split("/")[0] in stack.MOUNTED_DIRS, f"{volume}: not a data folder"
            mounts[target] = (relative, mode == ["ro"])
        else:
            assert source in compose["volumes"], f"{volume}: named volume not declared"
            mounts[target] = (f"volume:{source}", mode == ["ro"])
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
    # The trainer is healthy once a model is current (it trains first when none is).
    assert api["depends_on"] == {"trainer": {"condition": "service_healthy"}}
    assert "model-info" in services["trainer"]["healthcheck"]["test"]
    assert services["webapp"]["depends_on"] == {"serving-api": {"condition": "service_healthy"}}
    assert services["webapp"]["environment"]["API_URL"] == "http://serving-api:8080"
    assert services["webapp"]["environment"]["UI_HOST"] == "0.0.0.0"


def test_the_trainer_keeps_serving_requests_and_reports_run_once(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert services["trainer"]["command"] == ["worker", "--train-if-missing"]
    assert services["trainer"]["restart"] == "unless-stopped"
    assert services["reporting"]["restart"] == "no"
    profiles = {name: s["profiles"] for name, s in services.items() if "profiles" in s}
    assert profiles == {
        "reporting": ["reporting"],
        **{spec.service: [spec.profile] for spec in OPTIONAL_IMAGES},
    }


def test_optional_services_build_their_own_dockerfile(
    optional: tuple[OptionalImageSpec, Any],
) -> None:
    spec, definition = optional
    assert (COMPOSE_DIR / definition["build"]["context"]).resolve() == REPO_ROOT
    assert definition["build"]["dockerfile"] == spec.dockerfile
    assert spec.path.is_file()
    # The image's own ENTRYPOINT runs the launcher: compose adds no command.
    assert "command" not in definition
    assert definition["restart"] == "unless-stopped"


def test_optional_services_listen_on_fixed_ports_and_check_health(
    optional: tuple[OptionalImageSpec, Any],
) -> None:
    spec, definition = optional
    environment = definition["environment"]
    # Host and in-container port are fixed whatever .env says (.env's MLFLOW_PORT/AIRFLOW_PORT
    # choose the host port only).
    host_variable = spec.port_variable.replace("_PORT", "_HOST")
    assert environment[host_variable] == "0.0.0.0"
    assert environment[spec.port_variable] == str(spec.published_port)
    ((host, _),) = _published(definition)
    assert host == f"127.0.0.1:${{{spec.port_variable}:-{spec.published_port}}}"
    test = definition["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "the image's own python, no curl or wget"
    assert "urllib.request" in test[3]
    assert f"http://127.0.0.1:{spec.published_port}{spec.health_path}'" in test[3]
    # Slow starters (migrations on first start) get room before failures count.
    assert definition["healthcheck"]["start_period"].endswith("s")


def test_optional_container_paths_are_fixed_in_compose(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["mlflow"]["environment"]["MLFLOW_DIR"] == "/mlflow"
    airflow = services["airflow"]["environment"]
    assert airflow["AIRFLOW_HOME"] == "/opt/airflow/home"
    for target in ("/app/data", "/app/artifacts", "/app/reports"):
        assert airflow[f"{Path(target).name.upper()}_DIR"] == target


def test_mlflow_accepts_its_name_on_prod_net(compose: dict[str, Any]) -> None:
    # The API reaches the server as http://mlflow:5000; MLflow refuses unknown Host headers.
    allowed = compose["services"]["mlflow"]["environment"]["MLFLOW_ALLOWED_HOSTS"].split(",")
    assert {"mlflow:5000", "127.0.0.1:5000", "localhost:5000"} <= set(allowed)


def test_airflow_waits_for_the_api_and_runs_the_images_report_script(
    compose: dict[str, Any],
) -> None:
    airflow = compose["services"]["airflow"]
    assert airflow["depends_on"] == {"serving-api": {"condition": "service_healthy"}}
    environment = airflow["environment"]
    assert environment["API_URL"] == "http://serving-api:8080"
    assert environment["DO_NOT_TRACK"] == "1"
    # The console script of the member environment the image installs (checked against the
    # Dockerfile in test_optional_image_policy).
    (venv,) = OPTIONAL["airflow"].members.values()
    assert environment["MINDPULSE_REPORT_CMD"] == f"{venv}/bin/mindpulse-report"
    assert compose["volumes"] == {"airflow_home": None}


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
