"""Replay each Dockerfile's builder stage on this machine (infra/tests/replay.py: the build
context through .dockerignore, its COPY steps, its ``uv sync`` commands as written, into a temporary
environment reusing the uv cache, so this takes seconds), then inspect what the runtime stage would
receive: the console script and its module import, the member's code is installed (not linked
to the repo), and none of the packages the member must never pull in is there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.tests.images import IMAGE_IDS, IMAGES, ImageSpec
from infra.tests.replay import ImageEnvironments, entry_module

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


@pytest.mark.parametrize("spec", IMAGES, ids=IMAGE_IDS)
def test_builder_environment_serves_the_member_only(
    spec: ImageSpec, image_envs: ImageEnvironments, tmp_path: Path
) -> None:
    venv = image_envs.venvs[spec.service]
    assert (venv / "bin" / spec.console_script).is_file()
    probe_env = dict(
        os.environ,
        HOME=str(tmp_path),
        GRADIO_ANALYTICS_ENABLED="False",
        DO_NOT_TRACK="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    module, cli_exists = entry_module(spec)
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
