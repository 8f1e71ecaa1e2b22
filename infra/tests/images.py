"""What each image and compose service is meant to be: the expectations the container tests check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.tests.dockerfiles import COMPOSE_DIR, REPO_ROOT


@dataclass(frozen=True)
class ImageSpec:
    """One image: the workspace member it installs and what its environment must (not) hold."""

    dockerfile: str
    service: str
    member: str
    member_dir: str
    extras: tuple[str, ...]
    console_script: str
    # Arguments the image passes to it (Dockerfile CMD and compose command).
    command: tuple[str, ...]
    # Distributions the member must never pull in (normalised names, as in the lock).
    forbidden: tuple[str, ...]
    # Folders the image makes writable for uid 1000; everything else is read-only at run time.
    writable: tuple[str, ...]
    published_port: int | None

    @property
    def path(self) -> Path:
        return COMPOSE_DIR / self.dockerfile

    @property
    def pyproject(self) -> Path:
        return REPO_ROOT / self.member_dir / "pyproject.toml"


IMAGES = (
    ImageSpec(
        dockerfile="Dockerfile.trainer",
        service="trainer",
        member="mp-core",
        member_dir="packages/mp-core",
        extras=("ml",),
        console_script="mindpulse",
        command=("train", "--if-missing"),
        forbidden=("gradio", "evidently", "litestar"),
        writable=("/app/data", "/app/artifacts"),
        published_port=None,
    ),
    ImageSpec(
        dockerfile="Dockerfile.api",
        service="serving-api",
        member="mp-api",
        member_dir="services/api",
        extras=(),
        console_script="mindpulse-api",
        command=("serve",),
        forbidden=("gradio", "evidently"),
        writable=("/app/data", "/app/artifacts"),
        published_port=8080,
    ),
    ImageSpec(
        dockerfile="Dockerfile.ui",
        service="webapp",
        member="mp-ui",
        member_dir="services/ui",
        extras=(),
        console_script="mindpulse-ui",
        command=(),
        forbidden=("scikit-learn", "scipy", "evidently", "litestar"),
        writable=(),
        published_port=8081,
    ),
    ImageSpec(
        dockerfile="Dockerfile.reporting",
        service="reporting",
        member="mp-reporting",
        member_dir="services/reporting",
        extras=(),
        console_script="mindpulse-report",
        command=(),
        forbidden=("gradio",),
        writable=("/app/reports",),
        published_port=None,
    ),
)

IMAGE_IDS = [spec.dockerfile for spec in IMAGES]

# Bind mounts per service: container path -> (repo folder, read-only?).
EXPECTED_MOUNTS: dict[str, dict[str, tuple[str, bool]]] = {
    "trainer": {"/app/data": ("data", False), "/app/artifacts": ("artifacts", False)},
    "serving-api": {"/app/data": ("data", False), "/app/artifacts": ("artifacts", False)},
    "webapp": {"/app/reports": ("reports", True)},
    "reporting": {
        "/app/data": ("data", True),
        "/app/artifacts": ("artifacts", True),
        "/app/reports": ("reports", False),
    },
}
