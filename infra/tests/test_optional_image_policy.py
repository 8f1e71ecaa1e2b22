"""Policy for the optional services' images (infra/mlflow, infra/airflow), read from their
Dockerfiles and build contexts (no Docker engine needed).

They install a tool from its own pinned project instead of a workspace member, so the members'
rules are checked in the form that applies: pinned bases and uv, the locked syncs with a cache
mount and compiled bytecode, only environments and the launcher in the runtime, uid 1000, only
the mounted folders writable, OCI version labels, the published port exposed, a healthcheck with
the image's own Python, and a build context holding what the COPY steps need and no secret.
"""

from __future__ import annotations

import json
import re
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
    ignore_file_for,
    optional_dockerfiles,
    parse_dockerfile,
    run_assignments,
    uv_syncs,
)
from infra.tests.images import IMAGES, OPTIONAL_IDS, OPTIONAL_IMAGES, OptionalImageSpec
from infra.tests.replay import build_context

MEMBERS = {spec.member: spec for spec in IMAGES}


@pytest.fixture(params=OPTIONAL_IMAGES, ids=OPTIONAL_IDS)
def image(request: pytest.FixtureRequest) -> tuple[OptionalImageSpec, Dockerfile]:
    spec: OptionalImageSpec = request.param
    return spec, parse_dockerfile(spec.path)


def _sync_targets(stage: Stage) -> list[tuple[str, list[str]]]:
    """Each ``uv sync`` of the stage with the environment it installs into."""
    default = stage.env().get("UV_PROJECT_ENVIRONMENT", "")
    targets = []
    for run in stage.all("RUN"):
        for words in uv_syncs(Stage(stage.base, stage.name, [run])):
            targets.append((run_assignments(run).get("UV_PROJECT_ENVIRONMENT", default), words))
    return targets


def test_every_optional_dockerfile_has_an_expectation() -> None:
    expected = sorted(REPO_ROOT / spec.dockerfile for spec in OPTIONAL_IMAGES)
    assert optional_dockerfiles() == expected


def test_base_images_and_uv_are_pinned(image: tuple[OptionalImageSpec, Dockerfile]) -> None:
    _, dockerfile = image
    for stage in dockerfile.stages:
        if stage.base in dockerfile.stage_names:
            continue
        name, _, tag = stage.base.rpartition(":")
        assert name and "/" not in tag, f"{stage.base}: base image without a tag"
        assert tag != "latest" and PINNED_TAG.match(tag), f"{stage.base}: tag is not a version"
    uv_stages = [s for s in dockerfile.stages if s.base.startswith("ghcr.io/astral-sh/uv:")]
    assert len(uv_stages) == 1


def test_builder_and_runtime_share_the_interpreter(
    image: tuple[OptionalImageSpec, Dockerfile],
) -> None:
    _, dockerfile = image
    builder = dockerfile.stage("builder")
    assert builder.base == dockerfile.runtime.base
    assert builder.env()["UV_PYTHON_DOWNLOADS"] == "never"
    assert builder.env()["UV_COMPILE_BYTECODE"] == "1"
    for run in builder.all("RUN"):
        assert "type=cache" in run.flags().get("mount", ""), f"line {run.line}: no uv cache mount"


def test_builder_installs_exactly_the_locks(image: tuple[OptionalImageSpec, Dockerfile]) -> None:
    spec, dockerfile = image
    targets = _sync_targets(dockerfile.stage("builder"))
    for _, words in targets:
        for flag in ("--frozen", "--no-dev", "--no-editable"):
            assert flag in words, f"{' '.join(words)}: missing {flag}"
        assert "--extra" not in words and "--all-extras" not in words
    # The tool's own project: its lock copied in, synced first, into its own environment.
    tool_venv, tool_sync = targets[0]
    assert tool_venv == spec.venv
    assert "--package" not in tool_sync
    project = tool_sync[tool_sync.index("--project") + 1] if "--project" in tool_sync else "."
    copied = {
        source
        for copy in dockerfile.stage("builder").all("COPY")
        if "from" not in copy.flags()
        for source in copy.operands()[:-1]
    }
    lock = f"{spec.project_dir}/uv.lock"
    assert lock in copied, f"{lock} is not copied into the builder"
    assert project in (".", spec.project_dir)
    # Members beside the tool: the members' two-step sync (dependencies, then our code rebuilt).
    members: dict[str, list[list[str]]] = {}
    for venv, words in targets[1:]:
        member = words[words.index("--package") + 1]
        assert spec.members[member] == venv, f"{member} goes to {venv}"
        members.setdefault(member, []).append(words)
    assert set(members) == set(spec.members)
    for member, syncs in members.items():
        assert len(syncs) == 2, f"{member}: one sync for dependencies, one for the code"
        assert "--no-install-workspace" in syncs[0]
        rebuilt = {
            syncs[1][i + 1] for i, word in enumerate(syncs[1]) if word == "--reinstall-package"
        }
        assert rebuilt == {member, "mp-core"}
        extras = [syncs[0][i + 1] for i, word in enumerate(syncs[0]) if word == "--extra"]
        assert tuple(extras) == MEMBERS[member].extras


def test_runtime_holds_only_the_environments_and_the_launcher(
    image: tuple[OptionalImageSpec, Dockerfile],
) -> None:
    spec, dockerfile = image
    runtime = dockerfile.runtime
    copies = runtime.all("COPY") + runtime.all("ADD")
    from_builder = [c.operands() for c in copies if c.flags().get("from") == "builder"]
    assert sorted(from_builder) == sorted([v, v] for v in (spec.venv, *spec.members.values()))
    from_context = {}
    for copy in copies:
        assert copy.flags().get("from") in (None, "builder"), f"line {copy.line}: other stage"
        if "from" not in copy.flags():
            *sources, destination = copy.operands()
            from_context.update({source: destination for source in sources})
    assert from_context == spec.copied
    assert spec.launcher in spec.copied.values()
    for run in runtime.all("RUN"):
        words = set(re.split(r"[\s;&|]+", run.args))
        assert not words & set(COMPILERS), f"line {run.line}: a compiler in the runtime stage"
        assert "uv" not in words and "install" not in words, f"line {run.line}: installs at run"
    assert runtime.env()["PATH"].startswith(f"{spec.venv}/bin:")


def test_runtime_runs_the_launcher_as_uid_1000(
    image: tuple[OptionalImageSpec, Dockerfile],
) -> None:
    spec, dockerfile = image
    runtime = dockerfile.runtime
    assert runtime.all("USER")[-1].args.split(":")[0] == "1000"
    (entrypoint,) = runtime.all("ENTRYPOINT")
    # "python" is the tool environment's: its bin/ leads PATH (checked above).
    assert json.loads(entrypoint.args) == ["python", spec.launcher]
    assert runtime.all("CMD") == []


def test_only_the_services_mounted_folders_are_writable(
    image: tuple[OptionalImageSpec, Dockerfile],
) -> None:
    spec, dockerfile = image
    assert chowned_by_uid_1000(dockerfile) == set(spec.writable)


def test_images_carry_oci_labels_with_a_version(
    image: tuple[OptionalImageSpec, Dockerfile],
) -> None:
    _, dockerfile = image
    runtime = dockerfile.runtime
    assert any(a.args.startswith("VERSION") for a in runtime.all("ARG"))
    labels = " ".join(label.args for label in runtime.all("LABEL"))
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert "org.opencontainers.image.title=" in labels
    # The container suite removes replaced builds by this label (testsupport.docker).
    assert 'org.opencontainers.image.vendor="MindPulse"' in labels


def test_published_port_is_exposed_and_checked_with_the_images_python(
    image: tuple[OptionalImageSpec, Dockerfile],
) -> None:
    spec, dockerfile = image
    runtime = dockerfile.runtime
    assert [int(e.args) for e in runtime.all("EXPOSE")] == [spec.published_port]
    assert runtime.env()[spec.port_variable] == str(spec.published_port)
    (healthcheck,) = runtime.all("HEALTHCHECK")
    command = healthcheck.args[healthcheck.args.index("CMD") :]
    assert command.startswith('CMD ["python", "-c", ')
    assert "urllib.request" in command and f"{spec.health_path}'" in command
    assert spec.port_variable in command
    assert "curl" not in command and "wget" not in command


def test_airflow_image_holds_what_its_dags_run() -> None:
    spec = next(s for s in OPTIONAL_IMAGES if s.service == "airflow")
    env = parse_dockerfile(spec.path).runtime.env()
    (venv,) = spec.members.values()
    with MEMBERS["mp-reporting"].pyproject.open("rb") as manifest:
        scripts = tomllib.load(manifest)["project"]["scripts"]
    assert env["MINDPULSE_REPORT_CMD"] == f"{venv}/bin/mindpulse-report"
    assert "mindpulse-report" in scripts
    assert env["AIRFLOW_HOME"] in spec.writable
    assert env["DO_NOT_TRACK"] == "1"
    # The DAG folder the launcher uses (beside itself) is copied with it.
    launcher_dir = spec.launcher.rsplit("/", 1)[0]
    assert f"{launcher_dir}/dags/" in spec.copied.values()


def test_build_context_holds_what_the_copies_need(
    image: tuple[OptionalImageSpec, Dockerfile],
) -> None:
    spec, dockerfile = image
    ignore_file = ignore_file_for(spec.path)
    # A Dockerfile-specific ignore file: the root .dockerignore keeps infra/ out of the members'.
    assert ignore_file == spec.path.with_name("Dockerfile.dockerignore")
    context = build_context(ignore_file)
    for stage in dockerfile.stages:
        for copy in stage.all("COPY"):
            if "from" in copy.flags():
                continue
            for source in copy.operands()[:-1]:
                prefix = source.rstrip("/")
                matched = [f for f in context if f == prefix or f.startswith(prefix + "/")]
                assert matched, f"{spec.dockerfile} line {copy.line}: {source} not in the context"


def test_build_context_keeps_out_secrets_data_and_caches(
    image: tuple[OptionalImageSpec, Dockerfile],
) -> None:
    spec, _ = image
    ignore = DockerIgnore.read(ignore_file_for(spec.path))
    kept_out = [
        ".env",
        "infra/compose/.env",
        f"{spec.project_dir}/.env",
        f"{spec.project_dir}/.venv/bin/python",
        f"{spec.project_dir}/tests/test_dags.py",
        ".venv/bin/python",
        ".git/HEAD",
        "data/prod_data.csv",
        "data/mlflow/mlflow.db",
        "artifacts/current",
        "reports/summary.json",
        "services/api/src/mp_api/app.py",
        "services/reporting/tests/test_cli.py",
        "packages/mp-core/src/mp_core/__pycache__/schema.cpython-311.pyc",
    ]
    assert [p for p in kept_out if not ignore.excludes(p)] == []
