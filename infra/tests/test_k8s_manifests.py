"""infra/k8s rendered by ``kubectl kustomize`` and checked by kubernetes-validate (strict) against
KUBERNETES_VERSION, then read as a whole: the API, trainer, page, reports and database as the
deployment docs describe them. No cluster is needed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from infra.tests.deployments import K8S_DIR, image_problem, member_images
from infra.tests.kubernetes import (
    KUBERNETES_VERSION,
    OVERLAYS,
    kustomize_version,
    pod_labels,
    pod_spec,
    render,
)
from infra.tests.network_policies import selector_matches

Resources = list[dict[str, Any]]


@pytest.fixture
def rendered(k8s_rendered: dict[str, Resources]) -> dict[str, Resources]:
    return k8s_rendered


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, rendered: dict[str, Resources]) -> Resources:
    return rendered[request.param]


def _one(resources: Resources, kind: str, name: str) -> dict[str, Any]:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _container(resource: dict[str, Any], name: str) -> dict[str, Any]:
    spec = pod_spec(resource)
    assert spec is not None
    return next(c for c in spec["containers"] if c["name"] == name)


def test_kubectl_renders_with_kustomize_v5() -> None:
    assert kustomize_version().startswith("v5."), kustomize_version()


def test_render_fails_on_a_broken_overlay(tmp_path: Path) -> None:
    """The renderer is a real check: a resource that does not exist stops it."""
    shutil.copytree(K8S_DIR, tmp_path / "k8s")
    kustomization = tmp_path / "k8s" / "overlays" / "dev" / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    kustomization.write_text(text.replace("postgresql.yaml", "missing.yaml"), encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"missing\.yaml"):
        render(tmp_path / "k8s" / "overlays" / "dev")


def test_every_resource_is_valid_in_strict_mode(overlay: Resources) -> None:
    problems = []
    for resource in overlay:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(map(str, error.absolute_path))
            problems.append(
                f"{resource['kind']}/{resource['metadata']['name']} {where}: {error.message}"
            )
    assert problems == []


def test_strict_validation_refuses_an_unknown_field(rendered: dict[str, Resources]) -> None:
    deployment = _one(rendered["dev"], "Deployment", "serving-api")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(("name", "namespace"), [("dev", "mindpulse-dev"), ("prod", "mindpulse")])
def test_each_overlay_has_its_own_namespace(
    rendered: dict[str, Resources], name: str, namespace: str
) -> None:
    resources = rendered[name]
    assert _one(resources, "Namespace", namespace)
    assert {r["metadata"].get("namespace") for r in resources if r["kind"] != "Namespace"} == {
        namespace
    }


def test_images_are_the_members_at_their_versions(overlay: Resources) -> None:
    members = member_images()
    used = {
        container["image"]
        for resource in overlay
        if (spec := pod_spec(resource)) is not None
        for container in spec["containers"]
    }
    assert {image_problem(image, members) for image in used} == {None}
    assert set(members.values()) <= used


def test_the_api_runs_three_replicas_with_its_probes(overlay: Resources) -> None:
    deployment = _one(overlay, "Deployment", "serving-api")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    api = _container(deployment, "api")
    assert api["readinessProbe"]["httpGet"]["path"] == "/health"
    assert api["livenessProbe"]["httpGet"]["path"] == "/live"
    assert api["startupProbe"]["httpGet"]["path"] == "/live"
    env = {e["name"]: e.get("value") for e in api["env"]}
    # Secrets reach the process as files, never as environment values.
    assert env["ADMIN_TOKEN_FILE"].startswith("/run/secrets/")
    assert env["DATABASE_URL_FILE"].startswith("/run/secrets/")
    assert not {"ADMIN_TOKEN", "DATABASE_URL"} & set(env)


def test_the_api_scales_on_cpu_and_keeps_two_through_a_drain(overlay: Resources) -> None:
    deployment = _one(overlay, "Deployment", "serving-api")
    hpa = _one(overlay, "HorizontalPodAutoscaler", "serving-api")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "serving-api")
    assert hpa["spec"]["minReplicas"] >= deployment["spec"]["replicas"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    pdb = _one(overlay, "PodDisruptionBudget", "serving-api")
    assert selector_matches(pdb["spec"]["selector"], pod_labels(deployment))
    assert 0 < pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_the_trainer_is_one_worker_replaced_not_rolled(overlay: Resources) -> None:
    trainer = _one(overlay, "Deployment", "trainer")
    assert trainer["spec"]["replicas"] == 1
    assert trainer["spec"]["strategy"] == {"type": "Recreate"}
    assert _container(trainer, "trainer")["args"] == ["worker"]


def test_reports_run_every_six_hours_one_at_a_time(overlay: Resources) -> None:
    cronjob = _one(overlay, "CronJob", "reporting")
    assert cronjob["spec"]["schedule"] == "0 */6 * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod_spec(cronjob)["volumes"]  # type: ignore[index]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"mindpulse-reports"}
    assert _one(overlay, "PersistentVolumeClaim", "mindpulse-reports")


def test_services_and_ingress_reach_serving_ports(overlay: Resources) -> None:
    workloads = [r for r in overlay if pod_spec(r) is not None]
    services = {r["metadata"]["name"]: r for r in overlay if r["kind"] == "Service"}
    for name, service in services.items():
        backing = [w for w in workloads if selector_matches(
            {"matchLabels": service["spec"]["selector"]}, pod_labels(w)
        )]  # fmt: skip
        assert backing, f"Service {name} selects no workload"
        ports = {
            p["name"]
            for w in backing
            for c in pod_spec(w)["containers"]  # type: ignore[index]
            for p in c.get("ports", [])
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports, name
    backends = {
        (path["backend"]["service"]["name"], path["backend"]["service"]["port"]["name"])
        for ingress in (r for r in overlay if r["kind"] == "Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {("webapp", "http"), ("serving-api", "http")}
    for name, port in backends:
        assert port in {p["name"] for p in services[name]["spec"]["ports"]}


def test_prometheus_scrapes_the_api_on_its_port(overlay: Resources) -> None:
    deployment = _one(overlay, "Deployment", "serving-api")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    ports = {p["containerPort"] for p in _container(deployment, "api")["ports"]}
    assert int(annotations["prometheus.io/port"]) in ports


def test_dev_runs_postgresql_and_prod_does_not(rendered: dict[str, Resources]) -> None:
    statefulset = _one(rendered["dev"], "StatefulSet", "postgresql")
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert _one(rendered["dev"], "Service", "postgresql")["spec"]["clusterIP"] == "None"
    assert not [r for r in rendered["prod"] if r["kind"] == "StatefulSet"]


def test_a_page_session_stays_on_one_pod(overlay: Resources) -> None:
    page = _one(overlay, "Ingress", "mindpulse-page")["metadata"]["annotations"]
    assert page["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert "annotations" not in _one(overlay, "Ingress", "mindpulse-api")["metadata"]


def test_feedback_is_limited_per_client_at_the_ingress(overlay: Resources) -> None:
    """Behind the controller every pod sees its address: the per-client limit moves to the
    Ingress of /feedback alone, and the API's own is off."""
    feedback = _one(overlay, "Ingress", "mindpulse-api-feedback")
    annotations = feedback["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/limit-rpm"] == "60"
    assert annotations["nginx.ingress.kubernetes.io/limit-burst-multiplier"] == "1"
    (rule,) = feedback["spec"]["rules"]
    assert rule["host"] == _one(overlay, "Ingress", "mindpulse-api")["spec"]["rules"][0]["host"]
    assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [("/feedback", "Exact")]
    env = {e["name"]: e.get("value") for e in _container(
        _one(overlay, "Deployment", "serving-api"), "api")["env"]}  # fmt: skip
    assert env["FEEDBACK_RATE_PER_MINUTE"] == "0"


def test_prod_uses_its_own_host_names(rendered: dict[str, Resources]) -> None:
    hosts = {
        rule["host"]
        for r in rendered["prod"]
        if r["kind"] == "Ingress"
        for rule in r["spec"]["rules"]
    }
    assert hosts == {"mindpulse.example.com", "api.mindpulse.example.com"}


def test_prod_shares_reports_between_nodes(rendered: dict[str, Resources]) -> None:
    claim = _one(rendered["prod"], "PersistentVolumeClaim", "mindpulse-reports")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def _secret_keys(resources: Resources) -> set[tuple[str, str]]:
    keys = set()
    for resource in resources:
        spec = pod_spec(resource)
        for volume in spec["volumes"] if spec else []:
            for source in volume.get("projected", {}).get("sources", []):
                if "secret" in source:
                    secret = source["secret"]
                    keys |= {(secret["name"], item["key"]) for item in secret["items"]}
            if "secret" in volume:
                keys |= {(volume["secret"]["secretName"], "*")}
    return keys


def test_every_secret_used_is_created_by_the_readme(rendered: dict[str, Resources]) -> None:
    """The repo holds no secret: the README's commands create each one the pods mount."""
    readme = (K8S_DIR / "README.md").read_text(encoding="utf-8")
    created = {
        (name, key)
        for name, keys in re.findall(
            r"create secret generic (\S+)((?: \\\n\s+--from-\S+)+)", readme
        )
        for key in re.findall(r"--from-(?:literal|file)=([\w-]+)=", keys)
    }
    used = _secret_keys(rendered["dev"]) | _secret_keys(rendered["prod"])
    assert used
    assert used <= created, used - created
    assert not [r for o in rendered.values() for r in o if r["kind"] == "Secret"]
