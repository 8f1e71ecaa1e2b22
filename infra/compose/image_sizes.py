"""Print each MindPulse image's size, its base, and what our layers add: ``just image-sizes``.

Reads the images the engine holds for every service of compose.yaml (build them first, e.g.
``just up-docker`` or ``docker compose -f infra/compose/compose.yaml --profile tracking
--profile orchestration --profile reporting build``), next to the figures of the platform's
original guide. The output is a Markdown table (MB = 10^6 bytes, as ``docker images`` counts).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "infra" / "compose" / "compose.yaml"
PROFILES = ("reporting", "tracking", "orchestration")
# The original guide's per-image figures: python:3.10 full, slim, and its optimised image.
GUIDE = (
    "original guide, per image: python:3.10 ~900 MB, python:3.10-slim ~150 MB, optimised ~115 MB"
)


def _docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout


def service_images() -> dict[str, tuple[str, str]]:
    """``service -> (image, Dockerfile)`` for every service that builds an image."""
    every_profile = [arg for name in PROFILES for arg in ("--profile", name)]
    config = json.loads(
        _docker("compose", "-f", str(COMPOSE_FILE), *every_profile, "config", "--format", "json")
    )
    return {
        name: (service["image"], service["build"]["dockerfile"])
        for name, service in config["services"].items()
        if "build" in service
    }


def base_image(dockerfile: str) -> str:
    """The runtime stage's base: the Dockerfile's ``PYTHON_IMAGE`` default."""
    text = (REPO_ROOT / dockerfile).read_text(encoding="utf-8")
    found = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"image-sizes: {dockerfile} has no ARG PYTHON_IMAGE default")
    return found.group(1)


def size_mb(image: str) -> float | None:
    try:
        return int(_docker("image", "inspect", "--format", "{{.Size}}", image)) / 1e6
    except subprocess.CalledProcessError:
        return None


def is_stand_in(image: str) -> bool:
    """Whether ``image`` is a stand-in built by base-images.sh rather than the pulled image."""
    labels = _docker("image", "inspect", "--format", "{{json .Config.Labels}}", image)
    description = (json.loads(labels) or {}).get("org.opencontainers.image.description", "")
    return str(description).startswith("Stand-in")


def main() -> int:
    rows = [
        "| service | image | total | base | base size | our layers |",
        "|---|---|---|---|---|---|",
    ]
    missing = []
    for service, (image, dockerfile) in service_images().items():
        base = base_image(dockerfile)
        total, base_size = size_mb(image), size_mb(base)
        if total is None or base_size is None:
            missing.append(image if total is None else base)
            continue
        kind = " (stand-in)" if is_stand_in(base) else ""
        rows.append(
            f"| {service} | `{image}` | {total:.0f} MB | `{base}`{kind} | {base_size:.0f} MB "
            f"| {total - base_size:.0f} MB |"
        )
    print("\n".join(rows))
    print(f"\n({GUIDE})")
    if missing:
        print(f"image-sizes: not built yet: {', '.join(sorted(set(missing)))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
