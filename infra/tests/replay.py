"""Replay a Dockerfile's builder stage on this machine, with no Docker engine.

The build context is the work tree filtered through .gitignore and .dockerignore (what Docker would
be sent, less files git ignores anyway); the builder's COPY instructions copy from it and its
``uv sync`` commands run as written, into a given environment folder, reusing the uv cache.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from infra.tests.dockerfiles import (
    REPO_ROOT,
    DockerIgnore,
    Instruction,
    parse_dockerfile,
    run_assignments,
)
from infra.tests.images import ImageSpec

CONTAINER_UID = 1000


def as_user(uid: int | None) -> list[str]:
    """Command prefix that drops to ``uid`` (and its gid, no supplementary groups)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if uid else []


def interpreter_for(uid: int | None) -> str:
    """A Python 3.11+ that ``uid`` may run: the tests' own may live under root's private home."""
    if uid is None:
        return sys.executable
    candidates = [sys.executable, getattr(sys, "_base_executable", ""), "/usr/bin/python3.11"]
    candidates.append(shutil.which("python3") or "")
    for candidate in filter(None, candidates):
        # Started from a shell already running as ``uid``: setpriv itself can still reach a path
        # (such as root's private home) that the user's own processes cannot exec, so probing
        # the candidate directly would accept an interpreter a service could not re-exec.
        check = "import sys; assert sys.version_info >= (3, 11)"
        probe = subprocess.run(
            [*as_user(uid), "/bin/sh", "-c", '"$0" -c "$1"', candidate, check],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if probe.returncode == 0:
            return str(Path(candidate).resolve())
    raise AssertionError(f"no Python 3.11+ that uid {uid} can run among {candidates}")


@dataclass(frozen=True)
class ImageEnvironments:
    """Where each image's replayed environment lives, and which user runs the services."""

    root: Path
    uid: int | None  # CONTAINER_UID when the tests run as root, else None (run as ourselves)
    venvs: dict[str, Path]


class ReplayError(AssertionError):
    """The builder stage holds a step the replay cannot perform, or a step failed."""


def uv_binary() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise ReplayError("uv is needed to replay the image builds (./start.sh installs it)")
    return found


def build_context(ignore_file: Path = REPO_ROOT / ".dockerignore") -> list[str]:
    """Repo-relative files Docker would send: the work tree less .gitignore, less ``ignore_file``
    (the root .dockerignore, or a Dockerfile's own ``<Dockerfile>.dockerignore``)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\0")
    ignore = DockerIgnore.read(ignore_file)
    return [f for f in listed if f and (REPO_ROOT / f).is_file() and not ignore.excludes(f)]


def _copy(instruction: Instruction, context: list[str], workdir: Path) -> None:
    *sources, destination = instruction.operands()
    for source in sources:
        source = source.rstrip("/")
        matched = [f for f in context if f == source or f.startswith(source + "/")]
        if not matched:
            raise ReplayError(f"line {instruction.line}: {source} is not in the build context")
        for relative in matched:
            if relative == source:
                target = workdir / destination / Path(relative).name
                if not destination.endswith("/") and len(sources) == 1:
                    target = workdir / destination
            else:
                target = workdir / destination / relative.removeprefix(source + "/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / relative, target)


def replay_builder(
    spec: ImageSpec, context: list[str], root: Path, venv: Path, *, python: str = sys.executable
) -> Path:
    """Run the builder stage's COPY and RUN steps under ``root``, installing into ``venv`` for the
    interpreter ``python``."""
    replay_dockerfile(spec.path, context, root, {"/app/.venv": venv}, python=python)
    return venv


def replay_dockerfile(
    dockerfile: Path,
    context: list[str],
    root: Path,
    environments: dict[str, Path],
    *,
    python: str = sys.executable,
) -> None:
    """Run ``dockerfile``'s builder stage under ``root``: each ``uv sync`` installs into the local
    folder ``environments`` gives for the image path it targets (``UV_PROJECT_ENVIRONMENT``, from
    the stage's ENV or the RUN's own ``NAME=value`` prefix)."""
    builder = parse_dockerfile(dockerfile).stage("builder")
    workdir = root / "src"
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env.update(builder.env())
    default_target = env.pop("UV_PROJECT_ENVIRONMENT", None)
    # Where this machine differs from the image: its own interpreter and folders, hard links into
    # the cache, and no bytecode compilation (the policy test checks the image asks for it).
    env.update(UV_PYTHON=python, UV_COMPILE_BYTECODE="0")
    env.pop("UV_LINK_MODE", None)
    for instruction in builder.instructions:
        if instruction.keyword == "ENV":
            continue
        if instruction.keyword == "WORKDIR" and instruction.args == "/src":
            continue
        if instruction.keyword == "COPY" and instruction.flags().get("from") == "uv":
            continue
        if instruction.keyword == "COPY" and "from" not in instruction.flags():
            _copy(instruction, context, workdir)
            continue
        assignments = run_assignments(instruction) if instruction.keyword == "RUN" else {}
        words = instruction.operands()[len(assignments) :]
        if instruction.keyword == "RUN" and words[:1] == ["python3"] and not assignments:
            _run_script(dockerfile, instruction, words, workdir, environments, python)
            continue
        target = assignments.pop("UV_PROJECT_ENVIRONMENT", default_target)
        if instruction.keyword != "RUN" or words[:2] != ["uv", "sync"] or assignments:
            raise ReplayError(f"{dockerfile.name} line {instruction.line}: cannot replay {words}")
        if target not in environments:
            raise ReplayError(f"{dockerfile.name} line {instruction.line}: no folder for {target}")
        _run_step(
            [uv_binary(), *words[1:], "--quiet"],
            words,
            workdir,
            env={**env, "UV_PROJECT_ENVIRONMENT": str(environments[target])},
        )


def _run_script(
    dockerfile: Path,
    instruction: Instruction,
    words: list[str],
    workdir: Path,
    environments: dict[str, Path],
    python: str,
) -> None:
    """A stage's ``python3 <script copied into the stage> ...`` step (the environment slimming),
    run on ``python`` with each image path it names replaced by its local folder."""
    script = workdir / words[1]
    if not script.is_file():
        raise ReplayError(f"{dockerfile.name} line {instruction.line}: {words[1]} is not copied in")
    arguments = [str(environments.get(word, word)) for word in words[2:]]
    _run_step([python, str(script), *arguments], words, workdir)


def _run_step(
    command: list[str], words: list[str], workdir: Path, env: dict[str, str] | None = None
) -> None:
    """One replayed RUN; a failure names the Dockerfile's words and shows the output."""
    completed = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    if completed.returncode != 0:
        raise ReplayError(f"{shlex.join(words)}:\n{completed.stdout}{completed.stderr}")


def entry_module(spec: ImageSpec) -> tuple[str, bool]:
    """The console script's module, and whether it exists yet (else its package is checked)."""
    with spec.pyproject.open("rb") as manifest:
        target = str(tomllib.load(manifest)["project"]["scripts"][spec.console_script])
    module = target.split(":")[0]
    source = REPO_ROOT / spec.member_dir / "src" / (module.replace(".", "/") + ".py")
    return (module, True) if source.is_file() else (module.split(".")[0], False)
