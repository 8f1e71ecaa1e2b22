"""Replay each Dockerfile's builder stage on this machine, then inspect the environment it made.

The build context is the repo filtered through .dockerignore, exactly as Docker would send it; the
builder's COPY instructions copy from it and its ``uv sync`` commands run as written, into a temporary
environment (reusing the uv cache, so this takes seconds). What the runtime stage would receive is
then checked: the console script and its module import, the member's code is installed (not linked
to the repo), and none of the packages the member must never pull in is there.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from infra.tests.dockerfiles import REPO_ROOT, DockerIgnore, Instruction, parse_dockerfile
from infra.tests.images import IMAGE_IDS, IMAGES, ImageSpec

pytestmark = pytest.mark.slow

# Runs inside the replayed environment: import the entry module, list what is installed.
PROBE = """
import importlib, importlib.metadata as md, json, sys
module = importlib.import_module(sys.argv[1])
import mp_core
print(json.dumps({
    "module": module.__name__,
    "mp_core": mp_core.__file__,
    "distributions": sorted({d.metadata["Name"].lower().replace("_", "-") for d in md.distributions()}),
}))
"""


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    assert found, "uv is needed to replay the image builds (./start.sh installs it)"
    return found


def _build_context() -> list[str]:
    """Repo-relative files Docker would send: the work tree less .gitignore, less .dockerignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\0")
    ignore = DockerIgnore.read(REPO_ROOT / ".dockerignore")
    return [f for f in listed if f and (REPO_ROOT / f).is_file() and not ignore.excludes(f)]


@pytest.fixture(scope="module")
def context() -> list[str]:
    return _build_context()


def _copy(instruction: Instruction, context: list[str], workdir: Path) -> None:
    *sources, destination = instruction.operands()
    for source in sources:
        source = source.rstrip("/")
        matched = [f for f in context if f == source or f.startswith(source + "/")]
        assert matched, f"line {instruction.line}: {source} is not in the build context"
        for relative in matched:
            if relative == source:
                target = workdir / destination / Path(relative).name
                if not destination.endswith("/") and len(sources) == 1:
                    target = workdir / destination
            else:
                target = workdir / destination / relative.removeprefix(source + "/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / relative, target)


def _replay_builder(spec: ImageSpec, context: list[str], root: Path) -> Path:
    """Run the builder stage's COPY and RUN steps under ``root``; return the environment made."""
    builder = parse_dockerfile(spec.path).stage("builder")
    workdir = root / "src"
    venv = root / "venv"
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env.update(builder.env())
    # Where this machine differs from the image: its own interpreter and folders, hard links into
    # the cache, and no bytecode compilation (the policy test checks the image asks for it).
    env.update(
        UV_PROJECT_ENVIRONMENT=str(venv),
        UV_PYTHON=sys.executable,
        UV_COMPILE_BYTECODE="0",
    )
    env.pop("UV_LINK_MODE", None)
    for instruction in builder.instructions:
        if instruction.keyword in ("ENV", "WORKDIR"):
            assert instruction.keyword != "WORKDIR" or instruction.args == "/src"
        elif instruction.keyword == "COPY" and instruction.flags().get("from") == "uv":
            continue
        elif instruction.keyword == "COPY":
            _copy(instruction, context, workdir)
        elif instruction.keyword == "RUN":
            words = instruction.operands()
            assert words[:2] == ["uv", "sync"], f"line {instruction.line}: cannot replay {words}"
            completed = subprocess.run(
                [_uv(), *words[1:], "--quiet"],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            )
            assert completed.returncode == 0, f"{shlex.join(words)}:\n{completed.stderr}"
        else:
            pytest.fail(f"{spec.dockerfile} line {instruction.line}: replay knows no {instruction}")
    return venv


def _entry_module(spec: ImageSpec) -> tuple[str, bool]:
    """The console script's module, and whether it exists yet (else its package is checked)."""
    with spec.pyproject.open("rb") as manifest:
        target = str(tomllib.load(manifest)["project"]["scripts"][spec.console_script])
    module = target.split(":")[0]
    source = REPO_ROOT / spec.member_dir / "src" / (module.replace(".", "/") + ".py")
    return (module, True) if source.is_file() else (module.split(".")[0], False)


@pytest.mark.parametrize("spec", IMAGES, ids=IMAGE_IDS)
def test_builder_environment_serves_the_member_only(
    spec: ImageSpec, context: list[str], tmp_path: Path
) -> None:
    venv = _replay_builder(spec, context, tmp_path)
    assert (venv / "bin" / spec.console_script).is_file()
    probe_env = dict(
        os.environ,
        HOME=str(tmp_path),
        GRADIO_ANALYTICS_ENABLED="False",
        DO_NOT_TRACK="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    module, cli_exists = _entry_module(spec)
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", PROBE, module],
        cwd=tmp_path,
        env=probe_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    installed = set(found["distributions"])
    assert {spec.member, "mp-core"} <= installed
    assert Path(found["mp_core"]).is_relative_to(venv), "mp-core is linked, not installed"
    assert installed & set(spec.forbidden) == set()
    assert "pytest" not in installed, "a dev dependency reached the image"
    if cli_exists:
        # The image's ENTRYPOINT + CMD is a command line the CLI accepts.
        usage = subprocess.run(
            [str(venv / "bin" / spec.console_script), *spec.command, "--help"],
            cwd=tmp_path,
            env=probe_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert usage.returncode == 0, usage.stderr
