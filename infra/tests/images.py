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


# The serving plane: no training stack, one ASGI server, and nothing slim_env.py leaves out
# (Litestar's CLI and test client, FastAPI).
SERVING_LEAVES_OUT = (
    *("gradio", "evidently", "scikit-learn", "scipy", "pandas", "skops", "mlflow"),
    *("mlflow-skinny", "granian", "fastapi", "pydantic", "faker", "rich", "httpx"),
)

IMAGES = (
    ImageSpec(
        dockerfile="Dockerfile.trainer",
        service="trainer",
        member="mp-core",
        member_dir="packages/mp-core",
        extras=("ml", "tracking", "postgres"),
        console_script="mindpulse",
        command=("worker", "--train-if-missing"),
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
        forbidden=SERVING_LEAVES_OUT,
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


@dataclass(frozen=True)
class OptionalImageSpec:
    """An optional service's image: a tool from its own pinned project (infra/<tool>, apart from
    the workspace lock), started only with its compose profile."""

    dockerfile: str  # repo-relative
    service: str
    profile: str
    project_dir: str
    # Where the tool's own environment lives in the image.
    venv: str
    # The launcher the ENTRYPOINT runs with that environment's python, and every file the runtime
    # stage copies from the build context (context path -> image path).
    launcher: str
    copied: dict[str, str]
    # Workspace members installed beside the tool: member -> its environment in the image.
    members: dict[str, str]
    writable: tuple[str, ...]
    published_port: int
    # In-container port variable and the health endpoint the healthchecks call.
    port_variable: str
    health_path: str

    @property
    def path(self) -> Path:
        return REPO_ROOT / self.dockerfile

    @property
    def pyproject(self) -> Path:
        return REPO_ROOT / self.project_dir / "pyproject.toml"


OPTIONAL_IMAGES = (
    OptionalImageSpec(
        dockerfile="infra/mlflow/Dockerfile",
        service="mlflow",
        profile="tracking",
        project_dir="infra/mlflow",
        venv="/opt/mlflow/.venv",
        launcher="/opt/mlflow/serve.py",
        copied={"infra/mlflow/serve.py": "/opt/mlflow/serve.py"},
        members={},
        writable=("/mlflow",),
        published_port=5000,
        port_variable="MLFLOW_PORT",
        health_path="/health",
    ),
    OptionalImageSpec(
        dockerfile="infra/airflow/Dockerfile",
        service="airflow",
        profile="orchestration",
        project_dir="infra/airflow",
        venv="/opt/airflow/.venv",
        # standalone.py finds its DAGs beside itself (<root>/infra/airflow/dags).
        launcher="/opt/airflow/infra/airflow/standalone.py",
        copied={
            "infra/airflow/dags/": "/opt/airflow/infra/airflow/dags/",
            "infra/airflow/standalone.py": "/opt/airflow/infra/airflow/standalone.py",
        },
        # The reporting DAG runs mindpulse-report (MINDPULSE_REPORT_CMD) from this environment.
        members={"mp-reporting": "/app/.venv"},
        writable=("/opt/airflow/home", "/app/reports"),
        published_port=8083,
        port_variable="AIRFLOW_PORT",
        health_path="/api/v2/monitor/health",
    ),
)

OPTIONAL_IDS = [spec.service for spec in OPTIONAL_IMAGES]

# Mounts per service: container path -> (source, read-only?). A source is a repo-relative folder
# for a bind mount, or ``volume:<name>`` for a named volume.
EXPECTED_MOUNTS: dict[str, dict[str, tuple[str, bool]]] = {
    "trainer": {"/app/data": ("data", False), "/app/artifacts": ("artifacts", False)},
    "serving-api": {"/app/data": ("data", False), "/app/artifacts": ("artifacts", False)},
    "webapp": {"/app/reports": ("reports", True)},
    "reporting": {
        "/app/data": ("data", True),
        "/app/artifacts": ("artifacts", True),
        "/app/reports": ("reports", False),
    },
    # The same store as the native `just mlflow`.
    "mlflow": {"/mlflow": ("data/mlflow", False)},
    # The reporting DAG mounts what `reporting` does; Airflow's state stays in its own volume.
    "airflow": {
        "/app/data": ("data", True),
        "/app/artifacts": ("artifacts", True),
        "/app/reports": ("reports", False),
        "/opt/airflow/home": ("volume:airflow_home", False),
    },
}
