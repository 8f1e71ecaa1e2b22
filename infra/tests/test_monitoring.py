"""The fleet's dashboard and Prometheus configurations: the dashboard loads, every query parses
(promtool) and names only metrics and labels the API exports (read from mp_api.metrics now), and
each scrape configuration finds the API replicas where the stack and the manifests put them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.tests.deployments import MONITORING_DIR, run_tool, tool
from infra.tests.kubernetes import OVERLAYS
from infra.tests.promql import TARGET_LABELS, exported_series, parse_query
from infra.tests.swarm import STACK_FILE, stack_config
from mp_api import metrics

DASHBOARD = MONITORING_DIR / "grafana-dashboard.json"
SWARM_CONFIG = MONITORING_DIR / "prometheus-swarm.yml"
KUBERNETES_CONFIG = MONITORING_DIR / "prometheus-kubernetes.yml"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(panel["title"], t["expr"]) for panel in dashboard["panels"] for t in panel["targets"]]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = tool("promtool", "`.ci/apt-trixie promtool` (as .ci/run does)")
    return run_tool([promtool, *args])


def test_the_dashboard_loads_with_a_prometheus_datasource(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "mindpulse-fleet"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (Grafana's interval variables set to 1m)."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": re.sub(r"\$\{?__\w+\}?", "1m", expr)}
        for i, (_, expr) in enumerate(_queries(dashboard))
    ]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    completed = _promtool("check", "rules", str(path))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    broken = tmp_path / "broken.yml"
    rules[0]["expr"] = "sum by (instance (rate(x[1m]))"
    broken.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert _promtool("check", "rules", str(broken)).returncode != 0


def test_every_query_names_metrics_and_labels_the_api_exports(dashboard: dict[str, Any]) -> None:
    exported = exported_series(metrics)
    assert exported, "mp_api.metrics defines no metric"
    for title, expr in _queries(dashboard):
        query = parse_query(expr)
        assert query.metrics, f"{title}: names no metric"
        assert query.metrics <= set(exported), f"{title}: {set(query.metrics) - set(exported)}"
        labels = frozenset().union(*(exported[name].labels for name in query.metrics))
        known = labels | TARGET_LABELS
        for metric, used in query.matcher_labels.items():
            assert used <= exported[metric].labels | TARGET_LABELS, f"{title}: {metric} {used}"
        assert query.grouping_labels <= known, f"{title}: {query.grouping_labels - known}"


def test_the_name_check_catches_an_unknown_metric() -> None:
    exported = exported_series(metrics)
    query = parse_query("sum by (instance) (rate(mindpulse_http_request_total[1m]))")
    assert not query.metrics <= set(exported)


def test_the_dashboard_shows_the_fleet(dashboard: dict[str, Any]) -> None:
    """req/s and p99 per replica, feedback/s, model version per replica, retrain state."""
    parsed = [(expr, parse_query(expr)) for _, expr in _queries(dashboard)]

    def shown(metric: str, grouping: set[str]) -> list[str]:
        return [e for e, q in parsed if metric in q.metrics and grouping <= q.grouping_labels]

    assert shown("mindpulse_http_requests_total", {"instance"})
    assert any("histogram_quantile(0.99" in e for e in shown(
        "mindpulse_http_request_duration_seconds_bucket", {"instance", "le"}
    ))  # fmt: skip
    assert shown("mindpulse_feedback_total", set())
    assert shown("mindpulse_model_info", {"instance", "version"})
    assert shown("mindpulse_retrains_total", {"outcome"})


@pytest.mark.parametrize("path", [SWARM_CONFIG, KUBERNETES_CONFIG], ids=lambda p: p.name)
def test_promtool_accepts_the_scrape_configuration(path: Path) -> None:
    completed = _promtool("check", "config", str(path))
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_swarm_scrapes_each_api_task_by_dns() -> None:
    config = yaml.safe_load(SWARM_CONFIG.read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]
    services = stack_config(STACK_FILE)["services"]
    api = services["serving-api"]
    assert discovery["names"] == ["tasks.serving-api"]
    assert discovery["type"] == "A"
    assert api["deploy"]["endpoint_mode"] == "dnsrr"
    assert discovery["port"] == int(api["environment"]["API_PORT"])
    assert job["metrics_path"] == "/metrics"


def _relabel(rules: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus' relabelling (keep and replace, the actions used here); None when dropped."""
    labels = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        action = rule.get("action", "replace")
        if action == "keep":
            if match is None:
                return None
        elif action == "replace" and match is not None:
            replacement = re.sub(r"\$(\d+)", r"\\\1", rule.get("replacement", "$1"))
            labels[rule["target_label"]] = match.expand(replacement)
    return labels


def _discovered(resource: dict[str, Any]) -> list[dict[str, str]]:
    """The targets Kubernetes pod discovery gives for one pod of a workload (one per port)."""
    template = resource["spec"]["template"]
    meta = {
        "__meta_kubernetes_namespace": resource["metadata"]["namespace"],
        "__meta_kubernetes_pod_name": f"{resource['metadata']['name']}-7d9c-x2x4q",
    }
    for key, value in template["metadata"].get("annotations", {}).items():
        meta["__meta_kubernetes_pod_annotation_" + re.sub(r"[^A-Za-z0-9_]", "_", key)] = value
    ports = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
    return [{**meta, "__address__": f"10.0.0.5:{p['containerPort']}"} for p in ports]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_scrapes_the_annotated_api_pods_only(
    overlay: str, k8s_rendered: dict[str, list[dict[str, Any]]]
) -> None:
    config = yaml.safe_load(KUBERNETES_CONFIG.read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    namespaces = job["kubernetes_sd_configs"][0]["namespaces"]["names"]
    targets = {}
    for resource in k8s_rendered[overlay]:
        if resource["kind"] not in ("Deployment", "StatefulSet"):
            continue
        assert resource["metadata"]["namespace"] in namespaces
        for labels in _discovered(resource):
            kept = _relabel(job["relabel_configs"], labels)
            if kept is not None:
                targets[resource["metadata"]["name"]] = kept
    assert set(targets) == {"serving-api"}
    api = targets["serving-api"]
    assert api["__address__"] == "10.0.0.5:8080"
    assert api["__metrics_path__"] == "/metrics"
    assert api["instance"].startswith("serving-api-")
