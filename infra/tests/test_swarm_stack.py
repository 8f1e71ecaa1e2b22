"""infra/swarm/stack.yaml parsed by Docker's own loader and held to the stack's rules, and its
HAProxy configuration checked by HAProxy; nothing is deployed (no engine, no swarm needed)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from infra.tests.deployments import image_problem, load_yaml_documents, member_images
from infra.tests.swarm import (
    IGNORED_BY_SWARM,
    PROXY_CONFIG,
    STACK_FILE,
    haproxy_check,
    stack_config,
)

SERVICES = {"postgresql", "serving-api", "trainer", "webapp", "proxy", "reporting"}
MINDPULSE = ("serving-api", "trainer", "webapp", "reporting")
# Replicated behind the proxy: reached through tasks.<service>, one address per task.
BEHIND_PROXY = {"serving-api": 8080, "webapp": 8081}


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return stack_config(STACK_FILE)


@pytest.fixture(scope="module")
def services(stack: dict[str, Any]) -> dict[str, Any]:
    return dict(stack["services"])


def test_docker_reads_the_legacy_v3_format(stack: dict[str, Any]) -> None:
    raw = load_yaml_documents(STACK_FILE)[0]
    assert re.fullmatch(r"3\.\d+", raw["version"])
    assert set(stack["services"]) == SERVICES


def test_docker_refuses_a_broken_copy(tmp_path: Path) -> None:
    broken = tmp_path / "stack.yaml"
    text = STACK_FILE.read_text(encoding="utf-8").replace("replicas: 3", "replica: 3")
    broken.write_text(text, encoding="utf-8")
    shutil.copy(PROXY_CONFIG, tmp_path / PROXY_CONFIG.name)
    with pytest.raises(RuntimeError, match="replica"):
        stack_config(broken)


def test_nothing_swarm_would_ignore(services: dict[str, Any]) -> None:
    raw = load_yaml_documents(STACK_FILE)[0]["services"]
    for name, definition in raw.items():
        assert not IGNORED_BY_SWARM & set(definition), name
    assert not [name for name, s in services.items() if "build" in s]


def test_images_are_the_members_at_their_versions(services: dict[str, Any]) -> None:
    members = member_images()
    assert {image_problem(s["image"], members) for s in services.values()} == {None}
    assert {services[name]["image"] for name in MINDPULSE} == set(members.values())


def test_the_api_is_three_dnsrr_replicas_updated_start_first(services: dict[str, Any]) -> None:
    deploy = services["serving-api"]["deploy"]
    assert deploy["replicas"] == 3
    assert deploy["endpoint_mode"] == "dnsrr"
    update = deploy["update_config"]
    assert update["order"] == "start-first"
    assert update["failure_action"] == "rollback"
    assert update["parallelism"] == 1
    assert deploy["rollback_config"]["order"] == "start-first"
    health = " ".join(services["serving-api"]["healthcheck"]["test"])
    assert "127.0.0.1:8080/health'" in health


def test_the_trainer_is_one_worker_stopped_before_replaced(services: dict[str, Any]) -> None:
    trainer = services["trainer"]
    assert trainer["command"] == ["worker", "--train-if-missing"]
    assert trainer["deploy"]["replicas"] == 1
    assert trainer["deploy"]["update_config"]["order"] == "stop-first"


def test_the_page_is_two_replicas_calling_the_api_through_the_proxy(
    services: dict[str, Any],
) -> None:
    webapp = services["webapp"]
    assert webapp["deploy"]["replicas"] == 2
    assert webapp["deploy"]["endpoint_mode"] == "dnsrr"
    assert webapp["environment"]["API_URL"] == "http://proxy:8080"


def test_the_proxy_publishes_8080_and_8081_in_host_mode(services: dict[str, Any]) -> None:
    proxy = services["proxy"]
    published = {(p["published"], p["target"], p["mode"]) for p in proxy["ports"]}
    assert published == {(8080, 8080, "host"), (8081, 8081, "host")}
    assert not [n for n, s in services.items() if n != "proxy" and s.get("ports")]
    # Host ports cannot be held by an old and a new task at once.
    assert proxy["deploy"]["update_config"]["order"] == "stop-first"
    (mounted,) = proxy["configs"]
    assert mounted["target"] == "/usr/local/etc/haproxy/haproxy.cfg"
    raw_configs = load_yaml_documents(STACK_FILE)[0]["configs"]
    assert raw_configs[mounted["source"]]["file"] == "./haproxy.cfg"


def test_reporting_runs_only_on_demand(services: dict[str, Any]) -> None:
    deploy = services["reporting"]["deploy"]
    assert deploy["replicas"] == 0
    assert deploy["restart_policy"]["condition"] == "none"


def test_every_replicated_service_avoids_the_routing_mesh(services: dict[str, Any]) -> None:
    """No IPVS here: a virtual IP would not answer, so every service resolves to its tasks."""
    for name, service in services.items():
        if service["deploy"].get("replicas", 1) != 1 or service["deploy"].get("mode") == "global":
            assert service["deploy"]["endpoint_mode"] == "dnsrr", name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_container_is_hardened_and_bounded(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert not service.get("cap_add")
    tmp = [v for v in service["volumes"] if v.get("target") == "/tmp"]
    assert [v["type"] for v in tmp] == ["tmpfs"]
    limits = service["deploy"]["resources"]["limits"]
    assert set(limits) >= {"cpus", "memory"}
    assert set(service["deploy"]["resources"]["reservations"]) >= {"cpus", "memory"}
    assert set(service["networks"]) == {"mindpulse"}


@pytest.mark.parametrize("name", MINDPULSE)
def test_mindpulse_runs_as_uid_1000(services: dict[str, Any], name: str) -> None:
    assert services[name]["user"] == "1000:1000"


@pytest.mark.parametrize("name", ["postgresql", "serving-api", "webapp"])
def test_serving_services_have_a_healthcheck(services: dict[str, Any], name: str) -> None:
    check = services[name]["healthcheck"]
    assert check["test"][0] == "CMD"
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)


def test_secrets_are_swarm_secrets_never_environment(services: dict[str, Any]) -> None:
    raw = load_yaml_documents(STACK_FILE)[0]
    assert {s.get("external") for s in raw["secrets"].values()} == {True}
    for name, service in services.items():
        environment = service.get("environment", {})
        mounted = {f"/run/secrets/{s['source']}" for s in service.get("secrets", [])}
        for key, value in environment.items():
            assert not re.search(r"TOKEN$|PASSWORD$|^DATABASE_URL$", key), f"{name}: {key}"
            if key.endswith("_FILE"):
                assert value in mounted, f"{name}: {key}={value} is not a mounted secret"
    assert services["serving-api"]["environment"]["ADMIN_TOKEN_FILE"] == "/run/secrets/admin_token"
    assert services["postgresql"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/db_password"
    )
    for name in ("serving-api", "trainer", "reporting"):
        assert services[name]["environment"]["DATABASE_URL_FILE"] == "/run/secrets/database_url"


def test_the_database_stays_on_its_labelled_node(services: dict[str, Any]) -> None:
    constraints = services["postgresql"]["deploy"]["placement"]["constraints"]
    assert constraints == ["node.labels.mindpulse.database == true"]
    volumes = {v["target"]: v for v in services["postgresql"]["volumes"]}
    assert volumes["/var/lib/postgresql/data"]["type"] == "volume"


def test_haproxy_accepts_its_configuration() -> None:
    status, findings = haproxy_check(PROXY_CONFIG)
    assert status == 0, findings
    assert findings == []


def test_haproxy_refuses_a_broken_configuration(tmp_path: Path) -> None:
    broken = tmp_path / "haproxy.cfg"
    text = PROXY_CONFIG.read_text(encoding="utf-8").replace("balance leastconn", "balance fastest")
    broken.write_text(text, encoding="utf-8")
    status, findings = haproxy_check(broken)
    assert status != 0
    assert any("balance only supports" in f for f in findings)


def test_the_proxy_fronts_each_replicated_service_by_its_tasks(services: dict[str, Any]) -> None:
    text = PROXY_CONFIG.read_text(encoding="utf-8")
    templates = dict(re.findall(r"server-template \S+ \d+ tasks\.([\w-]+):(\d+)", text))
    assert {name: int(port) for name, port in templates.items()} == BEHIND_PROXY
    for name in BEHIND_PROXY:
        assert services[name]["deploy"]["endpoint_mode"] == "dnsrr"
    binds = {int(port) for port in re.findall(r"^\s*bind :(\d+)$", text, re.MULTILINE)}
    assert binds == {p["target"] for p in services["proxy"]["ports"]}
    assert "nameserver docker 127.0.0.11:53" in text


def test_the_proxy_queues_what_a_replica_would_refuse(services: dict[str, Any]) -> None:
    """Each API replica refuses requests past API_MAX_CONCURRENT with a 503; the proxy must hold
    a burst in its queue instead of forwarding it, so it sends each replica fewer than that."""
    from mp_api.config import DEFAULT_MAX_CONCURRENT

    text = PROXY_CONFIG.read_text(encoding="utf-8")
    backend = text.split("\nbackend serving-api\n", 1)[1].split("\nbackend ", 1)[0]
    per_server = re.search(
        r"server-template api- \d+ tasks\.serving-api:\d+ .*maxconn (\d+)", backend
    )
    assert per_server, "the API servers have no maxconn: a burst would be refused, not queued"
    environment = services["serving-api"]["environment"]
    limit = int(environment.get("API_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT))
    workers = int(environment.get("API_WORKERS", 1))
    assert int(per_server.group(1)) < limit * workers
    assert re.search(r"^\s*timeout queue \d+s$", backend, re.MULTILINE)
