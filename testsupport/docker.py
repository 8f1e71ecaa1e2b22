"""A Docker engine for the container tests, the stack's images built once, and compose stacks.

``docker_engine`` (session) uses the engine that answers ``docker info``, and leaves it as it was;
when none answers and ``dockerd`` is installed and we are root, it starts one and stops it after
the session. ``compose_images`` (session) gets the base images (``infra/compose/base-images.sh``:
pull, or stand-ins built from Debian packages) and builds every image of ``compose.yaml``, every
profile included, once. ``ComposeStack`` runs the plain ``docker compose -f
infra/compose/compose.yaml ...`` in a fresh copy of the repo under a dedicated project name, with
its own free loopback ports, so the repo's own ``data/``, ``artifacts/`` and ``reports/`` are
never touched.

In CI (``CI`` set) a machine that cannot run the engine fails the tests; elsewhere the run ends
with one line saying why.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from testsupport.api import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = "infra/compose/compose.yaml"
CA_OVERRIDE = "infra/compose/compose.ca.yaml"
PROFILES = ("reporting", "tracking", "orchestration")
ENGINE_START_TIMEOUT = 90.0
BUILD_TIMEOUT = 1800.0
UP_TIMEOUT = 900
# How long the host's interfaces must stay unchanged before a browser may load a page (see below).
NETWORK_QUIET_SECONDS = 3.0
NETWORK_SETTLE_TIMEOUT = 60.0
# Where the machine keeps its CA bundle (TLS may be intercepted on the way to the package index).
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def _interfaces() -> tuple[str, ...]:
    """The host's links with their state, and its IPv6 addresses with their flags (tentative...)."""
    links = []
    for link in sorted(Path("/sys/class/net").iterdir()):
        try:
            links.append(f"{link.name}:{(link / 'operstate').read_text().strip()}")
        except OSError:  # the link went away while we looked: a change all the same
            links.append(f"{link.name}:gone")
    inet6 = Path("/proc/net/if_inet6")
    addresses = sorted(inet6.read_text().splitlines()) if inet6.exists() else []
    return (*links, *addresses)


def wait_for_quiet_network() -> None:
    """Return once the host's interfaces have stayed unchanged for a few seconds.

    A container's start adds a veth pair whose IPv6 link-local address settles a second or two
    after the container already answers. Chromium watches the host's addresses and aborts every
    load in flight on such a change (``net::ERR_NETWORK_CHANGED``), so a page opened in that
    window loses its scripts."""
    deadline = time.monotonic() + NETWORK_SETTLE_TIMEOUT
    last, since = _interfaces(), time.monotonic()
    while time.monotonic() - since < NETWORK_QUIET_SECONDS:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the host's interfaces kept changing for {NETWORK_SETTLE_TIMEOUT} s"
            )
        time.sleep(0.25)
        now = _interfaces()
        if now != last:
            last, since = now, time.monotonic()


def unavailable(reason: str) -> None:
    """Fail in CI; elsewhere end the run with ``reason`` as the one line (and exit status 0)."""
    message = f"container tests cannot run: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.exit(message, returncode=0)


def run(
    command: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; a failure raises with the command's last output."""
    completed = subprocess.run(
        list(command),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and completed.returncode != 0:
        tail = (completed.stdout + completed.stderr)[-4000:]
        raise RuntimeError(f"{' '.join(command)} exited {completed.returncode}:\n{tail}")
    return completed


def engine_answers() -> bool:
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        return run(["docker", "info"], timeout=20, check=False).returncode == 0
    return False


@dataclass
class DockerEngine:
    """The engine the tests use; ``process`` is set only when the tests started it."""

    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    created_bridge: bool = False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        # dockerd leaves its default bridge behind; remove it when it was not there before.
        if self.created_bridge and shutil.which("ip"):
            subprocess.run(["ip", "link", "delete", "docker0"], capture_output=True, check=False)
        self.process = None


def _bridge_exists() -> bool:
    return Path("/sys/class/net/docker0").exists()


def start_engine(log_dir: Path) -> DockerEngine:
    """Use the running engine, or start ``dockerd``; explain in one line when neither works."""
    if shutil.which("docker") is None:
        unavailable("the docker client is not installed (`.ci/container-tools` installs it)")
    if engine_answers():
        return DockerEngine()
    if shutil.which("dockerd") is None:
        unavailable("no Docker engine answers and dockerd is not installed")
    if os.geteuid() != 0:
        unavailable("no Docker engine answers, and only root may start dockerd here")
    log_path = log_dir / "dockerd.log"
    bridge_before = _bridge_exists()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            ["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    engine = DockerEngine(process, log_path, created_bridge=not bridge_before)
    deadline = time.monotonic() + ENGINE_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-1:]
            unavailable(f"dockerd exited ({process.returncode}): {' '.join(tail)}")
        if engine_answers():
            return engine
        time.sleep(1)
    engine.stop()
    unavailable(f"dockerd did not answer in {ENGINE_START_TIMEOUT:.0f} s (log: {log_path})")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """A Docker engine for the session; one the tests started is stopped afterwards."""
    engine = start_engine(tmp_path_factory.mktemp("dockerd"))
    try:
        compose = run(["docker", "compose", "version"], timeout=30, check=False)
        if compose.returncode != 0:
            unavailable("the docker compose plugin is missing (`.ci/container-tools`)")
        yield engine
    finally:
        engine.stop()


def ca_bundle() -> Path | None:
    """The CA bundle image builds trust: ``MP_CA_BUNDLE``, else the machine's, when present."""
    chosen = os.environ.get("MP_CA_BUNDLE")
    if chosen:
        return Path(chosen)
    return SYSTEM_CA_BUNDLE if SYSTEM_CA_BUNDLE.is_file() else None


def compose_files() -> list[str]:
    """``-f`` arguments for builds: compose.yaml, plus the CA secret when there is a bundle."""
    files = ["-f", COMPOSE_FILE]
    if ca_bundle() is not None:
        files += ["-f", CA_OVERRIDE]
    return files


def build_environment() -> dict[str, str]:
    env = dict(os.environ)
    bundle = ca_bundle()
    if bundle is not None:
        env["MP_CA_BUNDLE"] = str(bundle)
    return env


#: The label every MindPulse Dockerfile sets (checked by infra/tests/test_dockerfile_policy.py).
OUR_IMAGES_LABEL: Final = "org.opencontainers.image.vendor=MindPulse"


@dataclass(frozen=True)
class BuiltImages:
    """Every image of compose.yaml, built once; ``seconds`` is the build's wall time."""

    seconds: float


@pytest.fixture(scope="session")
def compose_images(docker_engine: DockerEngine) -> Iterator[BuiltImages]:
    """The base images (pulled or stood in), then every service image, all profiles. Afterwards
    the builds this replaced (untagged MindPulse images no container uses) are removed, so
    repeated runs do not pile up image layers on the engine."""
    env = build_environment()
    started = time.monotonic()
    base = [str(REPO_ROOT / "infra" / "compose" / "base-images.sh")]
    if "MP_CA_BUNDLE" in env:
        base += ["--ca-bundle", env["MP_CA_BUNDLE"]]
    run(base, timeout=BUILD_TIMEOUT, env=env, cwd=REPO_ROOT)
    every_profile = [arg for name in PROFILES for arg in ("--profile", name)]
    run(
        ["docker", "compose", *compose_files(), *every_profile, "build"],
        timeout=BUILD_TIMEOUT,
        env=env,
        cwd=REPO_ROOT,
    )
    yield BuiltImages(seconds=time.monotonic() - started)
    run(
        ["docker", "image", "prune", "--force", "--filter", f"label={OUR_IMAGES_LABEL}"],
        timeout=300,
        check=False,
    )


def fresh_copy(destination: Path) -> Path:
    """The repo's tracked (and new, unignored) files copied to ``destination``, as a clone has."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        timeout=60,
        cwd=REPO_ROOT,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


@dataclass
class ComposeStack:
    """One compose project in its own copy of the repo, with free loopback ports."""

    root: Path
    project: str
    profiles: tuple[str, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("API_PORT", "UI_PORT", "MLFLOW_PORT", "AIRFLOW_PORT"):
            self.ports.setdefault(name, free_port())
        # Settings the services read, as a user writes them: infra/compose/.env.
        lines = [f"{key}={value}" for key, value in self.settings.items()]
        (self.root / "infra" / "compose" / ".env").write_text("\n".join(lines) + "\n")

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        env.update({name: str(port) for name, port in self.ports.items()})
        env["COMPOSE_PROJECT_NAME"] = self.project
        if self.profiles:
            env["COMPOSE_PROFILES"] = ",".join(self.profiles)
        return env

    def url(self, port_name: str) -> str:
        return f"http://127.0.0.1:{self.ports[port_name]}"

    def folder(self, name: str) -> Path:
        return self.root / name

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``docker compose -f infra/compose/compose.yaml ARGS`` from the copy's root."""
        command = ["docker", "compose", "-f", COMPOSE_FILE, *args]
        return run(command, timeout=timeout, env=self.env, cwd=self.root, check=check)

    def up(self) -> float:
        """The guide's command (detached, waiting for health); returns its wall time."""
        started = time.monotonic()
        self.compose("up", "--build", "--detach", "--wait", timeout=UP_TIMEOUT)
        return time.monotonic() - started

    def restart(self, service: str) -> None:
        """``docker restart`` the service's container."""
        run(["docker", "restart", self.container_id(service)], timeout=120)

    def container_id(self, service: str) -> str:
        found = self.compose("ps", "--all", "--quiet", service).stdout.split()
        if len(found) != 1:
            raise RuntimeError(f"expected one {service} container, found {found}")
        return found[0]

    def inspect(self, service: str) -> dict[str, Any]:
        out = run(["docker", "inspect", self.container_id(service)], timeout=30).stdout
        result: dict[str, Any] = json.loads(out)[0]
        return result

    def exec(self, service: str, *command: str, check: bool = True) -> str:
        """Run ``command`` inside the running container of ``service`` (as its own user)."""
        argv = ["docker", "exec", self.container_id(service), *command]
        return run(argv, timeout=120, check=check).stdout

    def logs(self, service: str) -> str:
        out = self.compose("logs", "--no-color", service, check=False)
        return out.stdout + out.stderr

    def resources(self, kind: str) -> list[str]:
        """Ids of the project's containers (``ps -a``) or networks left on the engine."""
        label = f"label=com.docker.compose.project={self.project}"
        command = ["docker", "ps", "-aq"] if kind == "container" else ["docker", kind, "ls", "-q"]
        return run([*command, "--filter", label], timeout=30).stdout.split()

    def keep_logs(self, label: str = "end") -> Path:
        """Every service's log, timestamped, where CI keeps test artifacts (read after a failure)."""
        folder = Path(os.environ.get("MP_TEST_ARTIFACTS") or REPO_ROOT / "test-results")
        folder.mkdir(parents=True, exist_ok=True)
        every_profile = [arg for name in PROFILES for arg in ("--profile", name)]
        out = self.compose(*every_profile, "logs", "--no-color", "--timestamps", check=False)
        path = folder / f"{self.project}-{label}.log"
        path.write_text(out.stdout + out.stderr)
        return path

    def down(self) -> None:
        every_profile = [arg for name in PROFILES for arg in ("--profile", name)]
        self.compose(*every_profile, "down", "--volumes", "--remove-orphans", timeout=300)


@contextlib.contextmanager
def compose_stack(
    base: Path, project: str, *, profiles: tuple[str, ...] = (), settings: dict[str, str]
) -> Iterator[ComposeStack]:
    """A stack in a fresh copy of the repo under ``base``; always taken down afterwards."""
    stack = ComposeStack(fresh_copy(base / "repo"), project, profiles, settings)
    try:
        yield stack
    finally:
        with contextlib.suppress(Exception):
            stack.keep_logs()
        with contextlib.suppress(Exception):
            stack.down()
        # Files the containers wrote belong to uid 1000; remove what this user may.
        shutil.rmtree(stack.root, ignore_errors=True)
