"""The images' environments, replayed once per session, and a container-like sandbox to run them.

Both are shared by the tests that inspect the environments (test_image_environments) and the tests
that run the images' commands as the containers' user (test_runtime_*).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.tests.dockerfiles import COMPOSE_DIR
from infra.tests.images import IMAGES
from infra.tests.kubernetes import OVERLAYS, overlay_dir, render
from infra.tests.replay import (
    CONTAINER_UID,
    ImageEnvironments,
    build_context,
    interpreter_for,
    replay_builder,
)
from infra.tests.sandbox import Sandbox
from testsupport.ci import running_as_root


@pytest.fixture(scope="session")
def image_envs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageEnvironments]:
    uid = CONTAINER_UID if running_as_root() else None
    # Not under pytest's temporary folder while in use: that one is private to the user running
    # the tests, and uid 1000 must reach the environments.
    root = Path(tempfile.mkdtemp(prefix="mindpulse-images-"))
    root.chmod(0o755)
    try:
        python = interpreter_for(uid)
        context = build_context()
        venvs = {
            spec.service: replay_builder(
                spec, context, root / "build" / spec.service, root / spec.service, python=python
            )
            for spec in IMAGES
        }
        yield ImageEnvironments(root=root, uid=uid, venvs=venvs)
    finally:
        # Deleting tens of thousands of files takes long on a busy disk: hand the folder to
        # pytest instead (same filesystem, so a rename), which prunes old runs like any tmp_path.
        parked = tmp_path_factory.getbasetemp() / "images"
        try:
            root.rename(parked)
        except OSError:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def sandbox(image_envs: ImageEnvironments) -> Sandbox:
    """A fresh /app stand-in per test module, over the session's environments."""
    root = Path(tempfile.mkdtemp(prefix="sandbox-", dir=image_envs.root))
    root.chmod(0o755)
    compose = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text(encoding="utf-8"))
    box = Sandbox(
        root=root,
        uid=image_envs.uid,
        venvs=image_envs.venvs,
        compose=compose,
        pycache=image_envs.root / "pycache",
    )
    box.prepare()
    return box


@pytest.fixture(scope="session")
def k8s_rendered() -> dict[str, list[dict[str, Any]]]:
    """Each kustomize overlay of infra/k8s as ``kubectl kustomize`` renders it, once per test run."""
    return {name: render(overlay_dir(name)) for name in OVERLAYS}
