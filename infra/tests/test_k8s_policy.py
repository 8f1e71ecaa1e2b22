"""Policy on every container of every rendered overlay, and the network the policies allow.

Each container: non-root, read-only root filesystem with a writable /tmp volume, no privilege
escalation, every capability dropped, CPU and memory requests and limits, no service account token;
a container that listens has startup, readiness and liveness probes. The network: the full matrix
of who may reach whom equals the one the deployment docs state, nothing more.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.tests.kubernetes import OVERLAYS, pod_labels, pod_spec
from infra.tests.network_policies import Peer, allowed

Rendered = dict[str, list[dict[str, Any]]]
_SHARED = [
    ("Deployment", "serving-api", "api"),
    ("Deployment", "trainer", "trainer"),
    ("Deployment", "webapp", "webapp"),
    ("CronJob", "reporting", "reporting"),
]
#: Every container of every overlay (a test checks the rendered ones are exactly these), so that
#: each gets its own policy test without rendering at collection time.
CONTAINERS = [
    *(("dev", *entry) for entry in [*_SHARED, ("StatefulSet", "postgresql", "postgresql")]),
    *(("prod", *entry) for entry in _SHARED),
]


def _containers(resources: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
    return {
        (resource["kind"], resource["metadata"]["name"], container["name"]): (resource, container)
        for resource in resources
        if (spec := pod_spec(resource)) is not None
        for container in spec["containers"]
    }


@pytest.fixture(params=CONTAINERS, ids=["-".join(entry) for entry in CONTAINERS])
def workload(
    request: pytest.FixtureRequest, k8s_rendered: Rendered
) -> tuple[dict[str, Any], dict[str, Any]]:
    overlay, *key = request.param
    resource, container = _containers(k8s_rendered[overlay])[tuple(key)]
    return resource, container


def test_the_inventory_is_every_rendered_container(k8s_rendered: Rendered) -> None:
    rendered = {
        (overlay, *key) for overlay in OVERLAYS for key in _containers(k8s_rendered[overlay])
    }
    assert rendered == set(CONTAINERS)


def test_runs_as_non_root(workload: tuple[dict[str, Any], dict[str, Any]]) -> None:
    resource, container = workload
    pod = pod_spec(resource)["securityContext"]  # type: ignore[index]
    own = container.get("securityContext", {})
    assert own.get("runAsNonRoot", pod.get("runAsNonRoot")) is True
    assert own.get("runAsUser", pod.get("runAsUser", 0)) != 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"


def test_root_filesystem_is_read_only_and_tmp_is_a_volume(
    workload: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    resource, container = workload
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(resource)["volumes"]}  # type: ignore[index]
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_drops_every_capability(workload: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, container = workload
    capabilities = container["securityContext"]["capabilities"]
    assert capabilities["drop"] == ["ALL"]
    assert not capabilities.get("add")


def test_has_requests_and_limits(workload: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, container = workload
    resources = container["resources"]
    for bound in ("requests", "limits"):
        assert set(resources[bound]) == {"cpu", "memory"}, bound


def test_mounts_no_service_account_token(workload: tuple[dict[str, Any], dict[str, Any]]) -> None:
    resource, _ = workload
    assert pod_spec(resource)["automountServiceAccountToken"] is False  # type: ignore[index]


def test_a_container_that_listens_has_all_three_probes(
    workload: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    resource, container = workload
    if resource["kind"] == "CronJob" or resource["metadata"]["name"] == "trainer":
        # A job runs to its end and the worker listens on no port: their state is their exit.
        assert not container.get("ports")
        return
    assert container.get("ports"), "a long-running service that listens"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe in container, probe


# The network, as docs/several-machines.md states it: who may open a connection to whom.
INGRESS_CONTROLLER = Peer("ingress", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
PROMETHEUS = Peer("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
DNS = Peer("dns", "kube-system", {"k8s-app": "kube-dns"})
INTERNET = Peer("internet", ip="203.0.113.7")
EXTERNAL_DATABASE = Peer("database", ip="192.0.2.10")

EXPECTED = {
    ("ingress", "webapp", 8081),
    ("ingress", "serving-api", 8080),
    ("prometheus", "serving-api", 8080),
    ("webapp", "serving-api", 8080),
    ("serving-api", "database", 5432),
    ("trainer", "database", 5432),
    ("reporting", "database", 5432),
}


def _pods(resources: list[dict[str, Any]]) -> list[Peer]:
    pods = []
    for resource in resources:
        if pod_spec(resource) is None:
            continue
        name = resource["metadata"]["name"]
        name = "database" if name == "postgresql" else name
        pods.append(Peer(name, resource["metadata"]["namespace"], pod_labels(resource)))
    return pods


def _ports(peer: Peer, resources: list[dict[str, Any]]) -> set[int]:
    if peer is INTERNET:
        return {443}
    if peer.ip is not None:
        return {5432}
    ports = {8080, 8081, 5432, 9090}
    for resource in resources:
        spec = pod_spec(resource)
        for container in spec["containers"] if spec else []:
            ports |= {p["containerPort"] for p in container.get("ports", [])}
    return ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_network_allows_exactly_the_documented_paths(
    overlay: str, k8s_rendered: Rendered
) -> None:
    resources = k8s_rendered[overlay]
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    for policy in policies:
        for direction in ("ingress", "egress"):
            for rule in policy["spec"].get(direction, []):
                assert all(isinstance(p["port"], int) for p in rule.get("ports", [])), "numbers"
    pods = _pods(resources)
    sources = [*pods, INGRESS_CONTROLLER, PROMETHEUS]
    targets = [*pods, INGRESS_CONTROLLER, PROMETHEUS, INTERNET]
    if overlay == "prod":
        targets.append(EXTERNAL_DATABASE)
    reachable = {
        (source.name, target.name, port)
        for source in sources
        for target in targets
        if source != target
        for port in _ports(target, resources)
        if allowed(policies, source, target, port)
        # The outside peers are unrestricted by these policies; what they may reach is the point.
        and not (source.namespace in ("ingress-nginx", "monitoring") and target.namespace in (
            "ingress-nginx", "monitoring", ""
        ))
    }  # fmt: skip
    assert reachable == EXPECTED


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_may_resolve_names(overlay: str, k8s_rendered: Rendered) -> None:
    policies = [r for r in k8s_rendered[overlay] if r["kind"] == "NetworkPolicy"]
    for pod in _pods(k8s_rendered[overlay]):
        assert allowed(policies, pod, DNS, 53, "UDP"), pod.name
        assert not allowed(policies, pod, DNS, 80), pod.name


#: Who reads which secret file: the signing key signs (trainer) and checks (API, reporting) the
#: model bundles, and keys the API's prediction receipts, so every replica shares it.
SECRET_FILES = {
    "api": {"MODEL_SIGNING_KEY_FILE", "DATABASE_URL_FILE", "ADMIN_TOKEN_FILE"},
    "trainer": {"MODEL_SIGNING_KEY_FILE", "DATABASE_URL_FILE"},
    "reporting": {"MODEL_SIGNING_KEY_FILE", "DATABASE_URL_FILE"},
    "webapp": set(),
    "postgresql": {"POSTGRES_PASSWORD_FILE"},
}


def test_each_container_reads_exactly_its_secrets_from_mounted_files(
    workload: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    resource, container = workload
    files = {e["name"]: e["value"] for e in container.get("env", []) if e["name"].endswith("_FILE")}
    assert set(files) == SECRET_FILES[container["name"]]
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod_spec(resource)["volumes"]}  # type: ignore[index]
    for path in files.values():
        folder, _, name = path.rpartition("/")
        (volume,) = [volumes[v] for v, mounted in mounts.items() if mounted == folder]
        sources = volume.get("projected", {}).get("sources", []) or [{"secret": volume["secret"]}]
        paths = {item["path"] for s in sources for item in s["secret"].get("items", [])}
        assert name in paths, f"{container['name']}: {path} is not a mounted secret file"
    assert not [e for e in container.get("env", []) if "valueFrom" in e], "secrets as env values"
