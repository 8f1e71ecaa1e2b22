"""Render the kustomize overlays the way ``kubectl apply -k`` would, with no cluster.

kubectl comes from Debian's trixie suite (``.ci/apt-trixie kubectl``, run by .ci/run): 1.32.3 with
kustomize v5.5.0. ``kubectl kustomize`` needs no API server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from infra.tests.deployments import K8S_DIR, output_of, tool

#: The Kubernetes version the manifests are validated against (kubernetes-validate's schemas):
#: the minor of the kubectl used to render them.
KUBERNETES_VERSION = "1.32"
OVERLAYS = ("dev", "prod")


def kubectl() -> str:
    return tool("kubectl", "install it with `.ci/apt-trixie kubectl` (as .ci/run does)")


def kustomize_version() -> str:
    printed = output_of([kubectl(), "version", "--client", "--output=json"])
    return str(json.loads(printed)["kustomizeVersion"])


def render(directory: Path) -> list[dict[str, Any]]:
    """The resources ``kubectl kustomize DIR`` prints; a failure raises with kubectl's message."""
    printed = output_of([kubectl(), "kustomize", str(directory)])
    return [doc for doc in yaml.safe_load_all(printed) if doc is not None]


def overlay_dir(name: str) -> Path:
    return K8S_DIR / "overlays" / name


def pod_spec(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template's spec of a workload (Deployment, StatefulSet, CronJob), else None."""
    kind = resource["kind"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return dict(resource["spec"]["template"]["spec"])
    if kind == "CronJob":
        return dict(resource["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return None


def pod_labels(resource: dict[str, Any]) -> dict[str, str]:
    kind = resource["kind"]
    template = (
        resource["spec"]["jobTemplate"]["spec"]["template"]
        if kind == "CronJob"
        else resource["spec"]["template"]
    )
    return dict(template["metadata"].get("labels", {}))
