"""The optional services' images, replayed with no Docker engine (replay.py): each builder stage's
``uv sync`` steps install into a stand-in of the image's filesystem, the runtime stage's COPY
steps copy the launcher (and DAGs) from the Dockerfile's own build context, and the image's
commands then run from there as uid 1000 (when the tests run as root), with the image's and
compose's environment, where only the folders compose mounts read-write belong to uid 1000.

MLflow's server starts and answers its healthcheck; Airflow's image holds Airflow, the launcher's
DAG folder and the console script its reporting DAG runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.tests.dockerfiles import COMPOSE_DIR, REPO_ROOT, ignore_file_for, parse_dockerfile
from infra.tests.images import OPTIONAL_IMAGES, OptionalImageSpec
from infra.tests.replay import (
    CONTAINER_UID,
    as_user,
    build_context,
    interpreter_for,
    replay_dockerfile,
)
from infra.tests.sandbox import free_port
from testsupport.ci import running_as_root

pytestmark = pytest.mark.slow

SPECS = {spec.service: spec for spec in OPTIONAL_IMAGES}
# MLflow migrates a new SQLite store on its first start (the compose start_period is 90 s).
START_TIMEOUT_S = 150.0


class ImageTree:
    """A stand-in for one image's filesystem: image path ``/x/y`` is ``<root>/x/y``."""

    def __init__(self, root: Path, spec: OptionalImageSpec, uid: int | None) -> None:
        self.root = root
        self.spec = spec
        self.uid = uid

    def path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def mapped(self, value: str) -> str:
        """An environment value with its image paths moved into the stand-in."""
        if value.startswith("/") and value.split("/")[1] in ("opt", "app", "mlflow", "tmp"):
            return str(self.path(value))
        return value

    def environment(self, service: dict[str, Any], **overrides: str) -> dict[str, str]:
        image_env = parse_dockerfile(self.spec.path).runtime.env()
        env = {"LANG": "C.UTF-8", "TMPDIR": str(self.path("/tmp"))}
        env.update({k: self.mapped(v) for k, v in image_env.items() if k != "PATH"})
        env.update({k: self.mapped(str(v)) for k, v in service.get("environment", {}).items()})
        env["PATH"] = f"{self.path(self.spec.venv)}/bin:/usr/bin:/bin"
        env.update(overrides)
        return env

    def command(self, *args: str) -> list[str]:
        """``args`` as uid 1000; a bare ``python`` is the tool environment's, as on the image's PATH."""
        resolved = [str(self.path(self.spec.venv) / "bin" / "python"), *args[1:]]
        return [*as_user(self.uid), *(resolved if args[0] == "python" else args)]


def _build(spec: OptionalImageSpec, root: Path, uid: int | None) -> ImageTree:
    tree = ImageTree(root / "image", spec, uid)
    environments = {path: tree.path(path) for path in (spec.venv, *spec.members.values())}
    context = build_context(ignore_file_for(spec.path))
    replay_dockerfile(spec.path, context, root / "build", environments, python=interpreter_for(uid))
    # The runtime stage's own COPY steps, from the same build context.
    for source, destination in spec.copied.items():
        files = [f for f in context if f == source.rstrip("/") or f.startswith(source)]
        for relative in files:
            inside = relative.removeprefix(source) if source.endswith("/") else ""
            target = tree.path(destination + inside) if inside else tree.path(destination)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / relative, target)
    # Writable: only the folders compose mounts read-write (and the /tmp tmpfs); the rest is
    # root's, as on the read-only root filesystem.
    for image_path in (*spec.writable, "/tmp"):
        tree.path(image_path).mkdir(parents=True, exist_ok=True)
    tree.path("/tmp").chmod(0o1777)
    if uid is not None:
        for image_path in spec.writable:
            os.chown(tree.path(image_path), uid, uid)
    for image_path in ("/app/data", "/app/artifacts"):
        tree.path(image_path).mkdir(parents=True, exist_ok=True)
    return tree


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ImageTree]]:
    uid = CONTAINER_UID if running_as_root() else None
    # Outside pytest's private temporary folder, so that uid 1000 can reach it.
    root = Path(tempfile.mkdtemp(prefix="mindpulse-optional-images-"))
    root.chmod(0o755)
    try:
        yield {name: _build(spec, root / name, uid) for name, spec in SPECS.items()}
    finally:
        parked = tmp_path_factory.getbasetemp() / "optional-images"
        try:
            root.rename(parked)
        except OSError:
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _running(
    command: list[str], env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the server's workers stop with it
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _healthy(url: str, process: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=4) as response:
                return bool(response.status == 200)
        except OSError:
            time.sleep(1.0)
    return False


def test_mlflow_image_serves_its_store_as_uid_1000(
    trees: dict[str, ImageTree], compose: dict[str, Any], tmp_path: Path
) -> None:
    tree = trees["mlflow"]
    spec = tree.spec
    port = free_port()
    # The healthcheck's own request, on a free port instead of 5000 (shared machine).
    env = tree.environment(
        compose["services"]["mlflow"],
        MLFLOW_PORT=str(port),
        MLFLOW_HOST="127.0.0.1",
        MLFLOW_ALLOWED_HOSTS=f"127.0.0.1,127.0.0.1:{port}",
    )
    (entrypoint,) = parse_dockerfile(spec.path).runtime.all("ENTRYPOINT")
    launcher = tree.command("python", str(tree.path(spec.launcher)))
    assert entrypoint.args == f'["python", "{spec.launcher}"]'
    log = tmp_path / "mlflow.log"
    with _running(launcher, env, tree.path("/mlflow"), log) as server:
        url = f"http://127.0.0.1:{port}{spec.health_path}"
        healthy = _healthy(url, server, time.monotonic() + START_TIMEOUT_S)
        assert healthy, log.read_text(errors="replace")[-3000:]
    # Its store is where compose mounts data/mlflow (any other write would have failed: the rest
    # of the tree is root's).
    assert (tree.path("/mlflow") / "mlflow.db").is_file()
    assert (tree.path("/mlflow") / "artifacts").is_dir()


def test_airflow_image_holds_airflow_its_dags_and_the_report_script(
    trees: dict[str, ImageTree], compose: dict[str, Any], tmp_path: Path
) -> None:
    tree = trees["airflow"]
    spec = tree.spec
    env = tree.environment(compose["services"]["airflow"], HOME=str(tree.path("/tmp")))
    # The launcher's configuration, computed from the image's and compose's environment.
    probe = (
        "import json, os, runpy, sys; launcher = runpy.run_path(sys.argv[1]);"
        "print(json.dumps(launcher['airflow_environment'](dict(os.environ))))"
    )
    configured = subprocess.run(
        tree.command("python", "-c", probe, str(tree.path(spec.launcher))),
        cwd=tree.path("/opt/airflow"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert configured.returncode == 0, configured.stderr
    airflow_env = json.loads(configured.stdout.strip().splitlines()[-1])
    dags = Path(airflow_env["AIRFLOW__CORE__DAGS_FOLDER"])
    assert dags == tree.path("/opt/airflow/infra/airflow/dags")
    assert {p.name for p in dags.glob("mindpulse_*.py")} >= {
        "mindpulse_retrain.py",
        "mindpulse_reporting.py",
    }
    assert airflow_env["AIRFLOW_HOME"] == str(tree.path("/opt/airflow/home"))
    # Airflow itself runs from its environment, as uid 1000.
    version = subprocess.run(
        [*as_user(tree.uid), str(tree.path(spec.venv) / "bin" / "airflow"), "version"],
        cwd=tree.path("/opt/airflow"),
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert version.returncode == 0, version.stderr[-3000:]
    assert version.stdout.strip().splitlines()[-1].startswith("3.")
    # The reporting DAG's command: the mp-reporting environment the image builds beside Airflow.
    report = airflow_env["MINDPULSE_REPORT_CMD"]
    assert report == str(tree.path("/app/.venv/bin/mindpulse-report"))
    usage = subprocess.run(
        [*as_user(tree.uid), report, "--help"],
        cwd=tree.path("/opt/airflow"),
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert usage.returncode == 0, usage.stderr[-3000:]
    assert "--drift-check" in usage.stdout
