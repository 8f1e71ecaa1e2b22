"""The model servers MindPulse is compared with, each from its own locked uv project.

Every peer lives in ``peers/<name>/`` (``pyproject.toml`` + ``uv.lock``, outside the workspace's
resolution) next to the script that serves the benchmark pipeline the way its docs show. The
benchmark installs a peer with ``uv sync --frozen`` into ``<bench dir>/peers/<name>`` (never
into the source tree), starts it pinned to the server CPU and measures it like the API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PEERS_DIR: Final = Path(__file__).resolve().parent / "peers"
INSTALL_TIMEOUT: Final = 900.0


class PeerInstallError(RuntimeError):
    """``uv sync`` of a peer's project failed."""


@dataclass(frozen=True, slots=True)
class Peer:
    """One peer: its project, how it is started, which bodies and paths it takes."""

    name: str
    label: str
    predict_path: str
    batch_path: str
    bodies: str  # Workload.bodies kind: "ours", "mlserver" or "v1"
    health_path: str
    configuration: str  # what the peer needed, in words (printed and kept in the JSON)
    package: str  # the distribution whose locked version is reported
    #: Start on every CPU and pin the whole process tree to the server CPU once it serves.
    pin_after_start: bool = False

    @property
    def project(self) -> Path:
        return PEERS_DIR / self.name

    def command(self, python: Path, port: int) -> list[str]:
        if self.name == "bentoml":
            bentoml = str(python.with_name("bentoml"))
            return [bentoml, "serve", "service:MindPulse", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        return [str(python), str(self.project / "serve.py")]

    def locked_version(self) -> str:
        """The peer's version as its ``uv.lock`` pins it."""
        lines = (self.project / "uv.lock").read_text().splitlines()
        for i, line in enumerate(lines):
            if line == f'name = "{self.package}"' and i + 1 < len(lines):
                return lines[i + 1].split('"')[1]
        return "?"


PEERS: Final = (
    Peer(
        name="mlserver",
        label="MLServer + mlserver-sklearn (V2)",
        predict_path="/v2/models/mindpulse/infer",
        batch_path="/v2/models/mindpulse/infer",
        bodies="mlserver",
        health_path="/v2/models/mindpulse/ready",
        configuration=(
            "model-settings.json (mlserver_sklearn.SKLearnModel, joblib URI), settings.json "
            "with parallel_workers 0 (inference in the server process: one core); requests: "
            "V2 named tensors, content_type pd, str for the text columns, output predict_proba"
        ),
        package="mlserver",
    ),
    Peer(
        name="bentoml",
        label="BentoML",
        predict_path="/predict",
        batch_path="/predict/batch",
        bodies="ours",
        health_path="/readyz",
        configuration=(
            "@bentoml.service(workers=1, resources cpu 1), pydantic-typed @bentoml.api "
            "methods, bentoml serve; the same bodies as MindPulse"
        ),
        package="bentoml",
    ),
    Peer(
        name="kserve",
        label="KServe model server (custom Model, v1)",
        predict_path="/v1/models/mindpulse:predict",
        batch_path="/v1/models/mindpulse:predict",
        bodies="v1",
        health_path="/v1/models/mindpulse",
        configuration=(
            "kserve.Model subclass (load, predict on a DataFrame), ModelServer(workers=1, "
            "enable_grpc=False, enable_latency_logging=False); v1 protocol {instances: [...]}"
        ),
        package="kserve",
    ),
    Peer(
        name="rayserve",
        label="Ray Serve (1 replica)",
        predict_path="/predict",
        batch_path="/predict/batch",
        bodies="ours",
        health_path="/predict",
        configuration=(
            "ray.init(num_cpus=1, no dashboard, 100 MB object store), @serve.deployment("
            "num_replicas=1, num_cpus=1), Starlette request in __call__; the same bodies; "
            "started on both CPUs (on one busy core its raylet misses Ray's fixed 30 s "
            "registration deadline), then every process pinned to the server CPU"
        ),
        package="ray",
        pin_after_start=True,
    ),
)
PEER_NAMES: Final = tuple(peer.name for peer in PEERS)


@dataclass(frozen=True, slots=True)
class Installed:
    python: Path
    seconds: float
    environment_mb: float


def install(peer: Peer, bench_dir: Path) -> Installed:
    """``uv sync --frozen`` the peer's project into ``bench_dir/peers/<name>``."""
    environment = bench_dir / "peers" / peer.name
    uv = shutil.which("uv") or os.environ.get("UV") or "uv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(environment)}
    env.pop("VIRTUAL_ENV", None)
    started = time.monotonic()
    try:
        done = subprocess.run(
            [uv, "sync", "--frozen", "--no-dev", "--project", str(peer.project), "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerInstallError(f"uv sync of {peer.name} did not finish: {exc}") from exc
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip())[-1500:]
        raise PeerInstallError(f"uv sync of {peer.name} failed ({done.returncode}): {message}")
    python = environment / "bin" / "python"
    if not python.exists():
        raise PeerInstallError(f"uv sync of {peer.name} left no interpreter at {python}")
    return Installed(
        python=python,
        seconds=round(time.monotonic() - started, 1),
        environment_mb=round(_size(environment) / 1e6, 1),
    )


def _size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def peer_environment(
    base: dict[str, str], model: Path, port: int, work: Path, temp: Path
) -> dict[str, str]:
    """What every peer reads: the joblib pipeline, its port, a folder of its own and a short
    temporary folder (Ray's unix sockets live there; their paths are limited in length)."""
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in base.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        {
            "PEER_MODEL": str(model),
            "PEER_PORT": str(port),
            "PEER_WORK_DIR": str(work),
            "PEER_TEMP_DIR": str(temp),
            "PYTHONUNBUFFERED": "1",
            # Telemetry some peers send by default: nothing leaves 127.0.0.1.
            "BENTOML_DO_NOT_TRACK": "True",
            "RAY_USAGE_STATS_ENABLED": "0",
            "DO_NOT_TRACK": "1",
            # Ray's workers would otherwise re-run the parent's `uv run --group bench` command
            # in the peer's project (Ray's uv integration follows the parent process).
            "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
            # One core: numeric libraries get one thread, as Ray gives its actors by default.
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    )
    return env


def parse_peers(text: str) -> tuple[str, ...]:
    """``--peers all|none|a,b``: the chosen peer names, in the order of :data:`PEERS`."""
    value = text.strip().lower()
    if value == "all":
        return PEER_NAMES
    if value in ("", "none"):
        return ()
    chosen = {name.strip() for name in value.split(",") if name.strip()}
    unknown = sorted(chosen - set(PEER_NAMES))
    if unknown:
        raise ValueError(f"unknown peers {unknown}; choose from {', '.join(PEER_NAMES)}")
    return tuple(name for name in PEER_NAMES if name in chosen)


def by_name(name: str) -> Peer:
    return next(peer for peer in PEERS if peer.name == name)
