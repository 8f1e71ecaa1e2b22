"""Run an image's command the way its container would, with no Docker engine.

The command is the image's ENTRYPOINT + CMD, from the environment its builder stage makes (replayed,
see replay.py), with the image's ENV and then compose.yaml's ``environment``, as uid 1000 when the
tests run as root (as in CI). Only the folders compose.yaml mounts read-write for that service are
owned by uid 1000; read-only mounts and everything else are root's, so any other write fails as it
would on the container's read-only root filesystem. A scratch folder stands in for the /tmp tmpfs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.compose.prepare_folders import prepare_secrets
from infra.tests.dockerfiles import parse_dockerfile
from infra.tests.images import EXPECTED_MOUNTS, ImageSpec
from infra.tests.replay import as_user

FOLDERS = ("data", "artifacts", "reports")
START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chown_tree(path: Path, uid: int) -> None:
    for folder, _, files in os.walk(path):
        os.chown(folder, uid, uid)
        for name in files:
            os.chown(Path(folder) / name, uid, uid)


@dataclass
class Sandbox:
    """A stand-in for the containers' filesystem: /app with its three folders, and the venvs."""

    root: Path
    uid: int | None  # None: not root, so the services run as whoever runs the tests
    venvs: dict[str, Path]
    compose: dict[str, Any]
    # The images ship bytecode precompiled; here it is compiled once, into a cache outside the
    # (read-only) environments that every run shares, instead of on every start.
    pycache: Path

    @property
    def app(self) -> Path:
        return self.root / "app"

    @property
    def secrets(self) -> Path:
        """Stands in for /run/secrets and the host's infra/compose/secrets/, which compose.yaml
        mounts there folder by folder: made as the prepare-folders service makes them."""
        return self.root / "secrets"

    def prepare(self) -> None:
        for name in FOLDERS:
            (self.app / name).mkdir(parents=True, exist_ok=True)
        problem = prepare_secrets(self.secrets)
        if problem is not None:
            raise RuntimeError(problem)
        self.pycache.mkdir(exist_ok=True)
        self.pycache.chmod(0o1777)

    def mount_for(self, spec: ImageSpec) -> Path:
        """Own the folders as compose.yaml mounts them for ``spec`` (read-write: uid 1000,
        read-only: root); return the service's stand-in for its /tmp tmpfs."""
        if self.uid is not None:
            for name, read_only in EXPECTED_MOUNTS[spec.service].values():
                _chown_tree(self.app / name, 0 if read_only else self.uid)
        scratch = self.root / "scratch" / spec.service
        scratch.mkdir(parents=True, exist_ok=True)
        scratch.chmod(0o1777)
        return scratch

    def environment(self, spec: ImageSpec, scratch: Path, **overrides: str) -> dict[str, str]:
        """The image's ENV, then compose.yaml's environment, with /app and /tmp mapped here."""

        def mapped(value: str) -> str:
            if value == "/tmp" or value.startswith("/tmp/"):
                return str(scratch) + value.removeprefix("/tmp")
            if value.startswith("/app/"):
                return str(self.app) + value.removeprefix("/app")
            if value.startswith("/run/secrets/"):
                return str(self.secrets) + value.removeprefix("/run/secrets")
            return value

        image_env = parse_dockerfile(spec.path).runtime.env()
        compose_env = self.compose["services"][spec.service].get("environment", {})
        env = {"LANG": "C.UTF-8", "TMPDIR": str(scratch)}
        env.update({k: mapped(str(v)) for k, v in image_env.items() if k != "PATH"})
        env.update({k: mapped(str(v)) for k, v in compose_env.items()})
        env["PATH"] = f"{self.venvs[spec.service]}/bin:/usr/bin:/bin"
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        env.update(overrides)
        return env

    def command(self, spec: ImageSpec, *args: str) -> list[str]:
        script = str(self.venvs[spec.service] / "bin" / spec.console_script)
        return [*as_user(self.uid), script, *(args or spec.command)]

    def run(
        self, spec: ImageSpec, *args: str, **overrides: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the image's command (or ``args`` in its place) to completion."""
        scratch = self.mount_for(spec)
        return subprocess.run(
            self.command(spec, *args),
            cwd=self.app,
            env=self.environment(spec, scratch, **overrides),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def log(self, spec: ImageSpec) -> str:
        path = self.root / f"{spec.service}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @contextlib.contextmanager
    def serving(self, spec: ImageSpec, **overrides: str) -> Iterator[subprocess.Popen[str]]:
        """Start the image's command; stop its whole process group on exit."""
        scratch = self.mount_for(spec)
        with (self.root / f"{spec.service}.log").open("w") as out:
            process = subprocess.Popen(
                self.command(spec),
                cwd=self.app,
                env=self.environment(spec, scratch, **overrides),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                start_new_session=True,  # its own process group: workers die with it
            )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def healthcheck(self, spec: ImageSpec, **env: str) -> int:
        """Run the image's own HEALTHCHECK command; its exit code."""
        (healthcheck,) = parse_dockerfile(spec.path).runtime.all("HEALTHCHECK")
        command = json.loads(healthcheck.args[healthcheck.args.index("CMD") + 3 :])
        assert command[0] == "python", "the healthcheck must use the image's own Python"
        python = str(self.venvs[spec.service] / "bin" / "python")
        done = subprocess.run(
            [*as_user(self.uid), python, *command[1:]],
            env={"PATH": "/usr/bin:/bin", "PYTHONPYCACHEPREFIX": str(self.pycache), **env},
            capture_output=True,
            timeout=30,
            check=False,
        )
        return done.returncode

    def wait_healthy(self, spec: ImageSpec, process: subprocess.Popen[str], **env: str) -> None:
        """Wait until the HEALTHCHECK passes; fail with the service's log if it exits or times out."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{spec.service} exited:\n{self.log(spec)}"
            if self.healthcheck(spec, **env) == 0:
                return
            time.sleep(0.5)
        raise AssertionError(f"{spec.service} never became healthy:\n{self.log(spec)}")
