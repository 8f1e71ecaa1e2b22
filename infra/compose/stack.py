"""Run the MindPulse compose stack: ``python infra/compose/stack.py up|down|logs [service]|report``.

The justfile's ``up-docker``, ``down``, ``logs`` and ``report-docker`` recipes call this script. It
checks first that a Docker engine and the compose plugin are reachable and says plainly what is
missing (a machine with only the docker client gets a one-line explanation, not a socket error),
prepares the bind-mounted folders, and passes each member's version to the image builds. The
optional services start with their profiles: ``COMPOSE_PROFILES=tracking,orchestration just up-docker``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

try:
    from infra.compose import prepare_folders
except ModuleNotFoundError:  # run as a script: its own folder is first on sys.path
    import prepare_folders  # type: ignore[no-redef,import-not-found]

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "infra" / "compose" / "compose.yaml"
# Folders the containers bind-mount from the repo; the services run as this uid.
MOUNTED_DIRS = ("data", "artifacts", "reports")
# Folders bind-mounted only by a profile's services (COMPOSE_PROFILES), checked like the others.
PROFILE_DIRS = {"tracking": ("data/mlflow",)}
# Every profile of compose.yaml. `down` and `logs` name them all: Compose neither stops nor shows
# the containers of a service whose profile is off (they are not orphans either).
ALL_PROFILES = ("reporting", "tracking", "orchestration")
CONTAINER_UID = prepare_folders.CONTAINER_UID
# Compose build-arg variable -> the project whose pyproject version labels that image (the
# members, then the optional services' own pinned projects).
MEMBER_VERSIONS = {
    "MP_CORE_VERSION": "packages/mp-core",
    "MP_API_VERSION": "services/api",
    "MP_UI_VERSION": "services/ui",
    "MP_REPORTING_VERSION": "services/reporting",
    "MP_MLFLOW_VERSION": "infra/mlflow",
    "MP_AIRFLOW_VERSION": "infra/airflow",
}
# Secret files (prepare_folders.SECRET_FILES: one folder each, which compose.yaml mounts at
# /run/secrets/<folder> in the services that need it); made here, or by the prepare-folders
# service, once, random, when missing. Never in .env, which every service reads.
SECRETS_DIR = COMPOSE_FILE.parent / "secrets"
SECRET_FILES = prepare_folders.SECRET_FILES
# Long enough for a first build plus training the first model on a small machine.
WAIT_TIMEOUT_S = 900
PROBE_TIMEOUT_S = 30
NATIVE_HINT = "Without Docker, `just up` runs MindPulse natively."


class StackError(Exception):
    """A precondition for running the stack is not met; the message says which and what to do."""


def docker_cli(environ: Mapping[str, str]) -> str:
    """Path of the docker client (``DOCKER`` overrides the name looked up on PATH)."""
    name = environ.get("DOCKER", "docker")
    found = shutil.which(name, path=environ.get("PATH"))
    if found is None:
        raise StackError(
            f"no docker client found (looked for {name!r} on PATH). Install Docker Engine or "
            f"Docker Desktop with the compose plugin to run MindPulse in containers. {NATIVE_HINT}"
        )
    return found


def _probe(command: Sequence[str], environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, 124, "", f"no answer in {PROBE_TIMEOUT_S} s")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def require_engine(docker: str, environ: Mapping[str, str]) -> None:
    """Fail with a clear message unless a Docker engine answers and the compose plugin exists."""
    info = _probe([docker, "info", "--format", "{{.ServerVersion}}"], environ)
    if info.returncode != 0 or not info.stdout.strip():
        where = environ.get("DOCKER_HOST") or "the default socket"
        raise StackError(
            f"no Docker engine is reachable at {where} (docker info: "
            f"{_last_line(info.stderr or info.stdout)}). Start the Docker daemon or Docker "
            f"Desktop, or point DOCKER_HOST at a running engine. {NATIVE_HINT}"
        )
    compose = _probe([docker, "compose", "version", "--short"], environ)
    if compose.returncode != 0:
        raise StackError(
            "the docker compose plugin is missing (docker compose version: "
            f"{_last_line(compose.stderr or compose.stdout)}). Install docker-compose-plugin "
            f"(Compose v2). {NATIVE_HINT}"
        )


def member_versions(repo_root: Path = REPO_ROOT) -> dict[str, str]:
    """Build-arg variables holding each member's version, read from its pyproject.toml."""
    versions: dict[str, str] = {}
    for variable, member in MEMBER_VERSIONS.items():
        with (repo_root / member / "pyproject.toml").open("rb") as manifest:
            versions[variable] = str(tomllib.load(manifest)["project"]["version"])
    return versions


def prepare_mounts(repo_root: Path = REPO_ROOT, profiles: Collection[str] = ()) -> list[str]:
    """A warning for each existing bind-mounted folder (with those of the active ``profiles``)
    that uid 1000 cannot write. Missing folders are left to compose: Docker creates them and the
    ``prepare-folders`` service hands them to uid 1000 (a folder created here would belong to the
    user running this, which uid 1000 may not write)."""
    warnings: list[str] = []
    extra = [name for profile in sorted(profiles) for name in PROFILE_DIRS.get(profile, ())]
    for name in (*MOUNTED_DIRS, *extra):
        folder = repo_root / name
        if not folder.is_dir():
            continue
        status = folder.stat()
        world_writable = bool(status.st_mode & 0o002)
        docker_made = status.st_uid == 0 and not any(folder.iterdir())
        if status.st_uid != CONTAINER_UID and not world_writable and not docker_made:
            warnings.append(
                f"{name}/ is owned by uid {status.st_uid}; the containers run as uid "
                f"{CONTAINER_UID} and cannot write it. Fix with: "
                f"sudo chown -R {CONTAINER_UID}:{CONTAINER_UID} " + " ".join(MOUNTED_DIRS)
            )
    return warnings


def prepare_secrets(
    folder: Path = SECRETS_DIR, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Create each missing secret file (random, 0600, uid 1000 when run as root); refuse a secret
    set in .env; return a warning when uid 1000 cannot read one."""
    for variable, relative in SECRET_FILES.items():
        if compose_setting(variable, "", environ or {}):
            raise StackError(
                f"{variable} is set in the environment or infra/compose/.env, which every service "
                f"reads: remove it and put the value in {_shown(folder / relative)}"
            )
    problem = prepare_folders.prepare_secrets(folder)
    return [] if problem is None else [problem]


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def compose_args(action: str, extra: Sequence[str]) -> list[str]:
    """The ``docker compose`` arguments for one of the stack's actions."""
    base = ["compose", "-f", str(COMPOSE_FILE)]
    if action == "up":
        wait = ["--wait", "--wait-timeout", str(WAIT_TIMEOUT_S)]
        return [*base, "up", "--detach", "--build", *wait, *extra]
    every_profile = [arg for name in ALL_PROFILES for arg in ("--profile", name)]
    if action == "down":
        return [*base, *every_profile, "down", "--remove-orphans", *extra]
    if action == "logs":
        return [*base, *every_profile, "logs", "--follow", "--tail", "200", *extra]
    if action == "report":
        return [*base, "--profile", "reporting", "run", "--rm", "--build", "reporting", *extra]
    raise StackError(f"unknown action {action!r}: use up, down, logs [service] or report")


def compose_setting(name: str, default: str, environ: Mapping[str, str]) -> str:
    """A value as compose interpolates it: the environment first, then infra/compose/.env."""
    if environ.get(name):
        return environ[name]
    dotenv = COMPOSE_FILE.parent / ".env"
    if dotenv.is_file():
        for line in dotenv.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key.strip() == name and value.strip():
                return value.strip().strip("\"'")
    return default


def active_profiles(environ: Mapping[str, str]) -> set[str]:
    """The compose profiles turned on with COMPOSE_PROFILES (environment, then .env)."""
    value = compose_setting("COMPOSE_PROFILES", "", environ)
    return {name.strip() for name in value.split(",") if name.strip()}


def _published_urls(environ: Mapping[str, str]) -> str:
    api_port = compose_setting("API_PORT", "8080", environ)
    ui_port = compose_setting("UI_PORT", "8081", environ)
    profiles = active_profiles(environ)
    optional = ""
    if "tracking" in profiles:
        mlflow_port = compose_setting("MLFLOW_PORT", "5000", environ)
        optional += f"  MLflow:  http://127.0.0.1:{mlflow_port}/\n"
    if "orchestration" in profiles:
        airflow_port = compose_setting("AIRFLOW_PORT", "8083", environ)
        optional += f"  Airflow: http://127.0.0.1:{airflow_port}/  (login: `just logs airflow`)\n"
    return (
        f"MindPulse is up (educational tool, not a diagnosis).\n"
        f"  page: http://127.0.0.1:{ui_port}/\n"
        f"  API:  http://127.0.0.1:{api_port}/health  (OpenAPI at /schema)\n"
        f"{optional}"
        f"Admin token (POST /retrain, /model/rollback): infra/compose/secrets/admin/token\n"
        f"Stop with `just down`; follow logs with `just logs [service]`."
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if environ is None else environ)
    if not args:
        print("usage: stack.py up|down|logs [service]|report", file=sys.stderr)
        return 2
    action, extra = args[0], args[1:]
    try:
        command = compose_args(action, extra)
        docker = docker_cli(env)
        require_engine(docker, env)
    except StackError as error:
        print(f"mindpulse: {error}", file=sys.stderr)
        return 1
    env.update(member_versions())
    if action in ("up", "report"):
        try:
            warnings = [
                *prepare_mounts(profiles=active_profiles(env)),
                *prepare_secrets(environ=env),
            ]
        except StackError as error:
            print(f"mindpulse: {error}", file=sys.stderr)
            return 1
        for warning in warnings:
            print(f"mindpulse: warning: {warning}", file=sys.stderr)
    try:
        completed = subprocess.run([docker, *command], env=env, check=False)
    except KeyboardInterrupt:
        return 130
    if completed.returncode == 0 and action == "up":
        print(_published_urls(env))
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
