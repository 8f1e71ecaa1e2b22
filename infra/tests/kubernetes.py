"""Render the kustomize overlays the way ``kubectl apply -k`` would, with no cluster.

kubectl comes from Debian's trixie suite (``.ci/apt-trixie kubectl``, run by .ci/run): 1.32.3 with
kustomize v5.5.0. ``kubectl kustomize`` needs no API server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from infra.tests.deployments import K8S_DIR

#: The Kubernetes version the manifests are validated against (kubernetes-validate's schemas):
#: the minor of the kubectl used to render them.
KUBERNETES_VERSION = "1.32"
OVERLAYS = ("dev", "prod")
INSTALL_HINT = "install it with `.ci/apt-trixie kubectl` (as .ci/run does)"


def kubectl() -> str:
    found = shutil.which("kubectl")
    assert found is not None, f"kubectl is not on PATH: {INSTALL_HINT}"
    return found


def kustomize_version() -> str:
    completed = subprocess.run(
        [kubectl(), "version", "--client", "--output=json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(json.loads(completed.stdout)["kustomizeVersion"])


def render(directory: Path) -> list[dict[str, Any]]:
    """The resources ``kubectl kustomize DIR`` prints; a failure raises with kubectl's message."""
    completed = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode:
        raise RuntimeError(f"kubectl kustomize {directory}: {completed.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc is not None]


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
