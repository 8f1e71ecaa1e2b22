"""Policy for every image, read from the Dockerfiles themselves (no Docker engine needed)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib

import pytest

from infra.tests.dockerfiles import (
    COMPILERS,
    PINNED_TAG,
    REPO_ROOT,
    Dockerfile,
    DockerIgnore,
    Stage,
    chowned_by_uid_1000,
    dockerfiles,
    parse_dockerfile,
)
from infra.tests.images import IMAGE_IDS, IMAGES, ImageSpec


@pytest.fixture(params=IMAGES, ids=IMAGE_IDS)
def image(request: pytest.FixtureRequest) -> tuple[ImageSpec, Dockerfile]:
    spec: ImageSpec = request.param
    return spec, parse_dockerfile(spec.path)


def _uv_syncs(stage: Stage) -> list[list[str]]:
    commands = []
    for run in stage.all("RUN"):
        words = shlex.split(run.args)
        while words and words[0].startswith("--mount"):
            words.pop(0)
        if words[:2] == ["uv", "sync"]:
            commands.append(words)
    return commands


def test_every_dockerfile_has_an_expectation() -> None:
    assert sorted(p.name for p in dockerfiles()) == sorted(IMAGE_IDS)


def test_base_images_are_pinned_to_a_version(image: tuple[ImageSpec, Dockerfile]) -> None:
    _, dockerfile = image
    for stage in dockerfile.stages:
        if stage.base in dockerfile.stage_names:
            continue
        name, _, tag = stage.base.rpartition(":")
        assert name and "/" not in tag, f"{stage.base}: base image without a tag"
        assert tag != "latest" and PINNED_TAG.match(tag), f"{stage.base}: tag is not a version"


def test_builder_and_runtime_share_the_interpreter(image: tuple[ImageSpec, Dockerfile]) -> None:
    # The venv's python links to the builder's interpreter path; the runtime must have the same.
    _, dockerfile = image
    assert dockerfile.stage("builder").base == dockerfile.runtime.base
    assert dockerfile.stage("builder").env()["UV_PYTHON_DOWNLOADS"] == "never"


def test_builder_installs_only_the_members_locked_dependencies(
    image: tuple[ImageSpec, Dockerfile],
) -> None:
    spec, dockerfile = image
    builder = dockerfile.stage("builder")
    syncs = _uv_syncs(builder)
    assert len(syncs) == 2, "one sync for third-party dependencies, one for the workspace code"
    for words in syncs:
        for flag in ("--frozen", "--no-dev", "--no-editable"):
            assert flag in words, f"{' '.join(words)}: missing {flag}"
        assert words[words.index("--package") + 1] == spec.member
        extras = [words[i + 1] for i, word in enumerate(words) if word == "--extra"]
        assert tuple(extras) == spec.extras
    assert "--no-install-workspace" in syncs[0]
    # The code sync must rebuild our packages: uv's cached wheel of a local package is keyed on
    # its pyproject.toml only, so a cache mount would otherwise serve the previous sources.
    rebuilt = {syncs[1][i + 1] for i, word in enumerate(syncs[1]) if word == "--reinstall-package"}
    assert rebuilt == {spec.member, "mp-core"}
    assert builder.env()["UV_COMPILE_BYTECODE"] == "1"
    for run in builder.all("RUN"):
        if "uv sync" in run.args:
            assert "type=cache" in run.flags().get("mount", ""), f"line {run.line}: no cache mount"


def test_builder_slims_the_environment_after_its_last_sync(
    image: tuple[ImageSpec, Dockerfile],
) -> None:
    spec, dockerfile = image
    runs = dockerfile.stage("builder").all("RUN")
    assert shlex.split(runs[-1].args) == [
        "python3", "infra/compose/slim_env.py", "/app/.venv", spec.member,
    ]  # fmt: skip


def test_uv_itself_is_pinned(image: tuple[ImageSpec, Dockerfile]) -> None:
    _, dockerfile = image
    uv_stages = [s for s in dockerfile.stages if s.base.startswith("ghcr.io/astral-sh/uv:")]
    assert len(uv_stages) == 1
    assert PINNED_TAG.match(uv_stages[0].base.rpartition(":")[2])


def test_runtime_holds_only_the_environment(image: tuple[ImageSpec, Dockerfile]) -> None:
    _, dockerfile = image
    runtime = dockerfile.runtime
    copies = runtime.all("COPY") + runtime.all("ADD")
    assert [c.flags().get("from") for c in copies] == ["builder"], "only the venv is copied in"
    assert copies[0].operands() == ["/app/.venv", "/app/.venv"]
    for run in runtime.all("RUN"):
        words = set(re.split(r"[\s;&|]+", run.args))
        assert not words & set(COMPILERS), f"line {run.line}: a compiler in the runtime stage"
        assert "uv" not in words and "install" not in words, f"line {run.line}: installs at run"
    assert runtime.env()["PATH"].startswith("/app/.venv/bin:")


def test_runtime_runs_as_uid_1000(image: tuple[ImageSpec, Dockerfile]) -> None:
    _, dockerfile = image
    users = dockerfile.runtime.all("USER")
    assert users, "the runtime stage sets no USER: it would run as root"
    user = users[-1].args.split(":")[0]
    assert user == "1000"


def test_only_the_services_data_folders_are_writable(image: tuple[ImageSpec, Dockerfile]) -> None:
    spec, dockerfile = image
    assert chowned_by_uid_1000(dockerfile) == set(spec.writable)


def test_entry_point_is_the_members_console_script(image: tuple[ImageSpec, Dockerfile]) -> None:
    spec, dockerfile = image
    (entrypoint,) = dockerfile.runtime.all("ENTRYPOINT")
    assert json.loads(entrypoint.args) == [spec.console_script]
    commands = [json.loads(c.args) for c in dockerfile.runtime.all("CMD")]
    assert commands == ([list(spec.command)] if spec.command else [])
    with spec.pyproject.open("rb") as manifest:
        scripts = tomllib.load(manifest)["project"]["scripts"]
    assert spec.console_script in scripts


def test_images_carry_oci_labels_with_the_members_version(
    image: tuple[ImageSpec, Dockerfile],
) -> None:
    _, dockerfile = image
    runtime = dockerfile.runtime
    assert any(a.args.startswith("VERSION") for a in runtime.all("ARG"))
    labels = " ".join(label.args for label in runtime.all("LABEL"))
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert "org.opencontainers.image.title=" in labels
    # The container suite removes replaced builds by this label (testsupport.docker).
    assert 'org.opencontainers.image.vendor="MindPulse"' in labels


def test_published_ports_are_exposed(image: tuple[ImageSpec, Dockerfile]) -> None:
    spec, dockerfile = image
    exposed = [int(e.args) for e in dockerfile.runtime.all("EXPOSE")]
    assert exposed == ([spec.published_port] if spec.published_port else [])


def test_api_healthcheck_uses_only_the_images_python() -> None:
    dockerfile = parse_dockerfile(REPO_ROOT / "infra" / "compose" / "Dockerfile.api")
    (healthcheck,) = dockerfile.runtime.all("HEALTHCHECK")
    command = healthcheck.args[healthcheck.args.index("CMD") :]
    assert command.startswith('CMD ["python", "-c", ')
    assert "urllib.request" in command and "/health" in command
    assert "curl" not in command and "wget" not in command


def test_gradio_is_offline_and_writes_only_to_tmp() -> None:
    env = parse_dockerfile(REPO_ROOT / "infra" / "compose" / "Dockerfile.ui").runtime.env()
    assert env["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert env["GRADIO_TEMP_DIR"].startswith("/tmp/")
    assert env["HOME"] == "/tmp"


def test_dockerignore_keeps_out_secrets_data_and_caches() -> None:
    ignore = DockerIgnore.read(REPO_ROOT / ".dockerignore")
    kept_out = [
        ".git/HEAD",
        ".env",
        "infra/compose/.env",
        "services/api/.env",
        ".venv/bin/python",
        ".tools/bin/uv",
        "data/prod_data.csv",
        "artifacts/current",
        "reports/summary.json",
        "packages/mp-core/src/mp_core/__pycache__/schema.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/x",
        "services/api/tests/test_app.py",
    ]
    needed = [
        "pyproject.toml",
        "uv.lock",
        "packages/mp-core/pyproject.toml",
        "packages/mp-core/README.md",  # uv_build reads each member's readme
        "packages/mp-core/src/mp_core/schema.py",
        "services/api/src/mp_api/__init__.py",
        "services/ui/pyproject.toml",
        "services/reporting/README.md",
        "infra/compose/slim_env.py",  # every builder slims its environment with it
    ]
    assert [p for p in kept_out if not ignore.excludes(p)] == []
    assert [p for p in needed if ignore.excludes(p)] == []
