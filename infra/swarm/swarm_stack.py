"""MindPulse on Docker Swarm: ``python -m infra.swarm.swarm_stack up|down [--volumes]``.

The justfile's ``swarm-up`` and ``swarm-down`` call this. ``up`` gets the images (the base images
and every MindPulse image as ``infra/compose`` builds them, at each member's version; PostgreSQL
and HAProxy pulled, or stand-ins built from Debian packages), turns the engine into a one-node
swarm when it is not in one (and records that on the node, as the label ``mindpulse.swarm-init``),
labels the node for the database, creates the Swarm secrets from files under
``infra/swarm/secrets/`` (random, made once, mode 0600; never environment values), deploys
``stack.yaml`` and waits until every service runs its tasks healthy and the API answers through
the proxy. ``down`` removes the stack and its secrets (their files stay, as do the volumes unless
``--volumes``), and leaves the swarm only when ``up`` made it and no other service runs on it.

The tests drive the same :class:`SwarmStack` under a stack name, secrets folder and ports of their own.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra.compose.stack import member_versions

REPO_ROOT = Path(__file__).resolve().parents[2]
SWARM_DIR = REPO_ROOT / "infra" / "swarm"
STACK_FILE = SWARM_DIR / "stack.yaml"
SECRETS_DIR = SWARM_DIR / "secrets"
#: The stack's secrets (``stack.yaml``: external, named ``<stack>_<secret>``).
SECRET_NAMES = ("admin_token", "db_password", "database_url", "model_signing_key")
DATABASE_LABEL = "mindpulse.database"
#: Set on the node by ``up`` when it ran ``docker swarm init``: ``down`` may then leave the swarm.
INIT_LABEL = "mindpulse.swarm-init"
# The network `docker swarm init` creates and `docker swarm leave` leaves behind.
GWBRIDGE = "docker_gwbridge"
GWBRIDGE_LABEL = "mindpulse.swarm-gwbridge"
# The MindPulse images the stack runs (compose service names; reporting is in its profile).
COMPOSE_SERVICES = ("trainer", "serving-api", "webapp", "reporting")
BUILD_TIMEOUT_S = 3600
# A fresh stack trains its first model (100,000 synthetic rows) before the API turns healthy.
READY_TIMEOUT_S = 900
PROGRESS_EVERY_S = 15


class SwarmError(Exception):
    """Something the stack needs is missing or failed; the message says what."""


def docker(
    *args: str,
    timeout: float = 120,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``docker ARGS``, captured; a failure raises with the command and its last output."""
    command = ["docker", *args]
    completed = subprocess.run(
        command,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=dict(env) if env is not None else None,
    )
    if check and completed.returncode != 0:
        said = (completed.stderr or completed.stdout).strip()[-2000:]
        raise SwarmError(f"{' '.join(command[:4])} exited {completed.returncode}: {said}")
    return completed


def log(message: str) -> None:
    print(f"swarm: {message}", file=sys.stderr, flush=True)


def swarm_state() -> str:
    """The engine's swarm state: ``inactive``, ``active``, ``pending``, ``error`` or ``locked``."""
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


def node_id() -> str:
    return docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()


def node_labels() -> dict[str, str]:
    out = docker("node", "inspect", "self", "--format", "{{json .Spec.Labels}}").stdout
    labels: dict[str, str] = json.loads(out) or {}
    return labels


def network_exists(name: str) -> bool:
    return docker("network", "inspect", name, check=False).returncode == 0


def init_swarm() -> bool:
    """A one-node swarm on 127.0.0.1 when the engine is in none; True when this made it."""
    state = swarm_state()
    if state == "active":
        return False
    if state != "inactive":
        raise SwarmError(f"the engine's swarm state is {state!r}: fix it (docker info) first")
    docker("swarm", "init", "--advertise-addr", "127.0.0.1", timeout=120)
    return True


def leave_swarm() -> None:
    docker("swarm", "leave", "--force", timeout=120)


def write_secret_files(folder: Path) -> None:
    """Each missing secret file, random, mode 0600; the database URL carries the password."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    password_file = folder / "db_password"
    if not password_file.exists():
        _write_private(password_file, secrets.token_hex(24))
    password = password_file.read_text(encoding="utf-8").strip()
    made = {
        "admin_token": lambda: secrets.token_hex(32),
        "model_signing_key": lambda: secrets.token_urlsafe(32),
        "database_url": lambda: f"postgresql://mindpulse:{password}@postgresql:5432/mindpulse",
    }
    for name, value in made.items():
        if not (folder / name).exists():
            _write_private(folder / name, value())


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


@dataclass
class SwarmStack:
    """One deployment of ``stack.yaml``: its name prefixes its services, secrets and volumes."""

    name: str = "mindpulse"
    secrets_dir: Path = SECRETS_DIR
    api_port: int = 8080
    page_port: int = 8081
    #: Image tags and other ``${...}`` values of stack.yaml (``MP_API_VERSION``, ...).
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings)
        env["MP_STACK"] = self.name
        env["MP_SWARM_API_PORT"] = str(self.api_port)
        env["MP_SWARM_PAGE_PORT"] = str(self.page_port)
        return env

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def service(self, name: str) -> str:
        return f"{self.name}_{name}"

    def secret_name(self, name: str) -> str:
        return f"{self.name}_{name}"

    def create_secrets(self) -> list[str]:
        """The stack's secrets from their files (never through an environment); the names made."""
        write_secret_files(self.secrets_dir)
        made = []
        for name in SECRET_NAMES:
            secret = self.secret_name(name)
            if docker("secret", "inspect", secret, check=False).returncode == 0:
                continue
            docker("secret", "create", secret, str(self.secrets_dir / name))
            made.append(secret)
        return made

    def remove_secrets(self) -> None:
        for name in SECRET_NAMES:
            docker("secret", "rm", self.secret_name(name), check=False)

    def deploy(self) -> None:
        # Local images only: resolving them against a registry would fail here or pick another.
        docker(
            "stack", "deploy", "--resolve-image", "never", "--compose-file", str(STACK_FILE),
            self.name, env=self.env, timeout=300,
        )  # fmt: skip

    def replicas(self) -> dict[str, tuple[int, int]]:
        """``service -> (running, desired)`` as ``docker stack services`` counts them."""
        out = docker("stack", "services", self.name, "--format", "{{.Name}} {{.Replicas}}").stdout
        counts: dict[str, tuple[int, int]] = {}
        for line in out.splitlines():
            service, _, replicas = line.partition(" ")
            running, _, desired = replicas.split(" ")[0].partition("/")
            counts[service.removeprefix(f"{self.name}_")] = (int(running), int(desired))
        return counts

    def api_health(self) -> int | None:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return None

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Until every service runs all its tasks and /health answers 200 through the proxy;
        the seconds it took. Says every few seconds what it is waiting for."""
        started = time.monotonic()
        said = started
        while True:
            counts = self.replicas()
            missing = {s: c for s, c in counts.items() if c[0] < c[1]}
            health = None if missing or not counts else self.api_health()
            if counts and not missing and health == 200:
                return time.monotonic() - started
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise SwarmError(f"not ready in {timeout:.0f} s: {missing or {'health': health}}")
            if time.monotonic() - said >= PROGRESS_EVERY_S:
                waiting = ", ".join(f"{s} {r}/{d}" for s, (r, d) in sorted(missing.items()))
                log(f"{elapsed:.0f} s: waiting for {waiting or f'/health (last: {health})'}")
                said = time.monotonic()
            time.sleep(2)

    def containers(self, service: str | None = None) -> list[str]:
        """Ids of the stack's running containers (of one service when named)."""
        label = (
            f"label=com.docker.swarm.service.name={self.service(service)}"
            if service
            else f"label=com.docker.stack.namespace={self.name}"
        )
        return docker("ps", "-q", "--filter", label).stdout.split()

    def remove(self, *, volumes: bool, timeout: float = 180) -> None:
        """The stack, then its secrets, and its volumes when asked, once its containers are gone."""
        docker("stack", "rm", self.name, check=False, timeout=120)
        label = f"label=com.docker.stack.namespace={self.name}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = docker("ps", "-aq", "--filter", label).stdout.split()
            networks = docker("network", "ls", "-q", "--filter", label).stdout.split()
            if not left and not networks:
                break
            time.sleep(1)
        self.remove_secrets()
        # A volume stays in use for a moment after its container is gone: try until it goes.
        while volumes and time.monotonic() < deadline:
            left = docker("volume", "ls", "-q", "--filter", label).stdout.split()
            if not left:
                break
            for volume in left:
                docker("volume", "rm", volume, check=False)
            time.sleep(1)


def build_images(versions: Mapping[str, str]) -> None:
    """Base images, PostgreSQL and HAProxy (pulled or stood in), then the MindPulse images."""
    env = {**os.environ, **versions}
    for script in ("infra/compose/base-images.sh", "infra/swarm/stand-in-images.sh"):
        log(f"{script}")
        subprocess.run([str(REPO_ROOT / script)], check=True, cwd=REPO_ROOT, env=env)
    compose = ["docker", "compose", "-f", "infra/compose/compose.yaml", "--profile", "reporting"]
    if env.get("MP_CA_BUNDLE"):  # a TLS-intercepting proxy's CA, for the builds' downloads only
        compose[4:4] = ["-f", "infra/compose/compose.ca.yaml"]
    log("building " + ", ".join(COMPOSE_SERVICES) + " (cached layers are reused)")
    subprocess.run(
        [*compose, "build", *COMPOSE_SERVICES], check=True, cwd=REPO_ROOT, env=env,
        timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip


def up(stack: SwarmStack) -> None:
    bridge_before = network_exists(GWBRIDGE)
    if init_swarm():
        docker("node", "update", "--label-add", f"{INIT_LABEL}=swarm-up", node_id())
        if not bridge_before:
            docker("node", "update", "--label-add", f"{GWBRIDGE_LABEL}=made", node_id())
        log("this engine is now a one-node swarm (swarm-down leaves it again)")
    if node_labels().get(DATABASE_LABEL) != "true":
        docker("node", "update", "--label-add", f"{DATABASE_LABEL}=true", node_id())
    made = stack.create_secrets()
    log(f"secrets from {stack.secrets_dir}: {', '.join(made) or 'already there'}")
    stack.deploy()
    log(f"stack {stack.name} deployed; waiting for its services")
    seconds = stack.wait_ready()
    print(
        f"MindPulse runs on Swarm as stack {stack.name!r} (ready in {seconds:.0f} s; "
        "educational tool, not a diagnosis).\n"
        f"  API (through HAProxy): {stack.api_url}/health\n"
        f"  page:                  http://127.0.0.1:{stack.page_port}/\n"
        f"  admin token: {stack.secrets_dir / 'admin_token'}\n"
        f"  docker stack services {stack.name}; stop with `just swarm-down`."
    )


def down(stack: SwarmStack, *, volumes: bool) -> None:
    if swarm_state() != "active":
        log("the engine is in no swarm: nothing to remove")
        return
    stack.remove(volumes=volumes)
    log(f"stack {stack.name} removed" + (" with its volumes" if volumes else "; volumes kept"))
    labels = node_labels()
    if labels.get(INIT_LABEL) != "swarm-up":
        return
    others = docker("service", "ls", "-q").stdout.split()
    if others:
        log(f"{len(others)} other service(s) run on this swarm: staying in it")
        return
    leave_swarm()
    if labels.get(GWBRIDGE_LABEL) == "made" and network_exists(GWBRIDGE):
        docker("network", "rm", GWBRIDGE, check=False)
    log("left the swarm that swarm-up made")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("up", "down") or set(args[1:]) - {"--volumes"}:
        print("usage: python -m infra.swarm.swarm_stack up | down [--volumes]", file=sys.stderr)
        return 2
    stack = SwarmStack(settings=member_versions())
    try:
        if docker("info", check=False, timeout=30).returncode != 0:
            raise SwarmError(
                "no Docker engine answers (`docker info` failed): start it first, for example"
                " `sudo systemctl start docker` (or `sudo dockerd &` where systemd does not run)"
            )
        if args[0] == "up":
            build_images(stack.settings)
            up(stack)
        else:
            down(stack, volumes="--volumes" in args)
    except (SwarmError, subprocess.CalledProcessError) as error:
        log(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
