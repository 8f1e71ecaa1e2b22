"""One Swarm stack for the session, on a one-node swarm, and the engine left as it was found.

``swarm_stack`` builds what ``stack.yaml`` runs (the ``:dev`` images compose builds, PostgreSQL and
HAProxy pulled or stood in), makes the engine a one-node swarm only when it is in none, deploys
the stack under its own name (``mptest-swarm-<pid>``: its own services, secrets, config, network
and volumes) with its own loopback ports, and waits for it. Once its first model is current the
trainer is scaled to 0, so that no retrain moves the model while the tests measure; the retrain
requests the API records then wait in PostgreSQL. Afterwards it removes everything it made: the
stack, its secrets and volumes, the images it tagged, the node label it added, and the swarm
(with the ``docker_gwbridge`` network Docker leaves behind) only when it made it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.swarm import swarm_stack as swarm
from testsupport.api import free_port
from testsupport.docker import DockerEngine, build_environment

STACK_NAME = f"mptest-swarm-{os.getpid()}"
IMAGE_SETTINGS = {
    "MP_API_VERSION": "dev",
    "MP_CORE_VERSION": "dev",
    "MP_UI_VERSION": "dev",
    "MP_REPORTING_VERSION": "dev",
}
RETRAIN_THRESHOLD = 250
# Building, a first training of 100,000 rows and the tests' own waits take minutes.
SWARM_TEST_TIMEOUT = 1800
FIGURES: dict[str, Any] = {}


@contextlib.contextmanager
def one_node_swarm() -> Iterator[None]:
    """The engine in a swarm for the block, with the database label; undone as far as made here."""
    bridge_before = swarm.network_exists(swarm.GWBRIDGE)
    inited = swarm.init_swarm()
    labelled = False
    try:
        if swarm.node_labels().get(swarm.DATABASE_LABEL) != "true":
            swarm.docker(
                "node", "update", "--label-add", f"{swarm.DATABASE_LABEL}=true", swarm.node_id()
            )
            labelled = True
        yield
    finally:
        if inited:
            swarm.leave_swarm()
            if not bridge_before and swarm.network_exists(swarm.GWBRIDGE):
                swarm.docker("network", "rm", swarm.GWBRIDGE, check=False)
        elif labelled:
            swarm.docker(
                "node", "update", "--label-rm", swarm.DATABASE_LABEL, swarm.node_id(), check=False
            )


def keep_service_logs(stack: swarm.SwarmStack) -> None:
    """Every service's log where CI keeps test artifacts (read after a failure)."""
    folder = Path(os.environ.get("MP_TEST_ARTIFACTS") or swarm.REPO_ROOT / "test-results")
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for service in stack.replicas():
        out = swarm.docker(
            "service", "logs", "--timestamps", "--no-trunc", stack.service(service),
            check=False, timeout=60,
        )  # fmt: skip
        parts.append(f"==> {service}\n{out.stdout}{out.stderr}")
    (folder / f"{stack.name}.log").write_text("\n".join(parts))


@pytest.fixture(scope="session")
def swarm_stack(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[swarm.SwarmStack]:
    started = time.monotonic()
    swarm.build_images({**build_environment(), **IMAGE_SETTINGS})
    FIGURES["build_seconds"] = round(time.monotonic() - started, 1)
    stack = swarm.SwarmStack(
        name=STACK_NAME,
        secrets_dir=tmp_path_factory.mktemp("swarm-secrets"),
        api_port=free_port(),
        page_port=free_port(),
        settings={
            **IMAGE_SETTINGS,
            "MP_RETRAIN_THRESHOLD": str(RETRAIN_THRESHOLD),
            # One test client sends thousands of feedbacks: the proxy's per-client limit (tested
            # against the same haproxy.cfg in infra/tests/test_swarm_proxy.py) is off here.
            "MP_SWARM_FEEDBACK_RATE_PER_MINUTE": "0",
        },
    )
    with one_node_swarm():
        try:
            stack.create_secrets()
            stack.deploy()
            FIGURES["ready_seconds"] = round(stack.wait_ready(), 1)
            swarm.docker("service", "scale", "--detach", f"{stack.service('trainer')}=0")
            yield stack
        finally:
            with contextlib.suppress(Exception):
                keep_service_logs(stack)
            stack.remove(volumes=True)
            # Tags the tests made under the stack's name (a task's container may have held one).
            for image in swarm.docker(
                "images", "--format", "{{.Repository}}:{{.Tag}}"
            ).stdout.split():
                if image.startswith(f"{STACK_NAME}/"):
                    swarm.docker("image", "rm", image, check=False)


@pytest.fixture(scope="session", autouse=True)
def swarm_figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Write what was measured where CI keeps test artifacts."""
    yield FIGURES
    if not FIGURES:
        return
    folder = Path(os.environ.get("MP_TEST_ARTIFACTS") or request.config.rootpath / "test-results")
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(FIGURES, indent=2, sort_keys=True)
    (folder / "swarm-figures.json").write_text(text + "\n")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.timeout(SWARM_TEST_TIMEOUT))
