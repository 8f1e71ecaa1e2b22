"""What the deployment files (infra/k8s, infra/swarm) share with the compose stack: the images.

Both deploy the images compose.yaml builds, each tagged with its member's own version, so the
expected references are read from compose.yaml's ``image:`` names and the members' pyproject.toml.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from infra.tests.dockerfiles import COMPOSE_DIR, PINNED_TAG, REPO_ROOT
from infra.tests.images import IMAGES

K8S_DIR = REPO_ROOT / "infra" / "k8s"
SWARM_DIR = REPO_ROOT / "infra" / "swarm"
MONITORING_DIR = REPO_ROOT / "infra" / "monitoring"


def member_images() -> dict[str, str]:
    """``compose service -> "mindpulse/api:0.1.0"``: the image compose builds, at its member's version."""
    compose = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text(encoding="utf-8"))
    images: dict[str, str] = {}
    for spec in IMAGES:
        repository = str(compose["services"][spec.service]["image"]).split(":", 1)[0]
        with spec.pyproject.open("rb") as manifest:
            version = str(tomllib.load(manifest)["project"]["version"])
        images[spec.service] = f"{repository}:{version}"
    return images


def image_problem(reference: str, members: dict[str, str]) -> str | None:
    """Why an image reference is not acceptable in a deployment file, or None when it is.

    A MindPulse image must be the one compose builds at its member's version; any other image
    (PostgreSQL, the proxy) must carry a version tag, never ``latest`` or a bare major.
    """
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        return f"{reference}: no tag"
    by_repository = {ref.rpartition(":")[0]: ref for ref in members.values()}
    if repository in by_repository:
        expected = by_repository[repository]
        return None if reference == expected else f"{reference}: expected {expected}"
    return None if PINNED_TAG.match(tag) else f"{reference}: tag {tag!r} is not a version"


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def tool(name: str, hint: str) -> str:
    """The path of a command-line tool the checks need; its absence fails, saying how to get it."""
    found = shutil.which(name)
    assert found is not None, f"{name} is not on PATH: {hint}"
    return found


def run_tool(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def output_of(command: list[str]) -> str:
    """A tool's standard output; a failure raises with what the tool said."""
    completed = run_tool(command)
    if completed.returncode:
        said = (completed.stderr or completed.stdout).strip()
        raise RuntimeError(f"{Path(command[0]).name} {' '.join(command[1:3])}: {said}")
    return completed.stdout
