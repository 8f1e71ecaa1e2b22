"""A promotion made by a trainer reaches every API replica within 2 s, seen through the proxy."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from infra.swarm.swarm_stack import SwarmStack, docker
from infra.tests.swarm_live.conftest import FIGURES, IMAGE_SETTINGS
from infra.tests.swarm_live.fleet import PredictLoad, psql, wait_until

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

PROPAGATION_LIMIT_S = 2.0
CONTAINER_UID = 1000


def one_off_training(stack: SwarmStack, secrets: Path) -> str:
    """``mindpulse train`` in a container of the trainer's image on the stack's network, reading
    the database URL and signing key from files; it promotes what it trained. Its version."""
    image = f"mindpulse/trainer:{IMAGE_SETTINGS['MP_CORE_VERSION']}"
    out = docker(
        "run", "--rm", "--network", f"{stack.name}_mindpulse", "--read-only",
        "--tmpfs", "/tmp", "--cap-drop", "ALL", "--user", f"{CONTAINER_UID}:{CONTAINER_UID}",
        "--volume", f"{secrets}:/run/secrets:ro",
        "--env", "DATABASE_URL_FILE=/run/secrets/database_url",
        "--env", "MODEL_SIGNING_KEY_FILE=/run/secrets/model_signing_key",
        "--env", "DATA_DIR=/tmp/data", "--env", "HOME=/tmp",
        image, "train", "--rows", "3000", "--candidates", "logistic_regression", "--json",
        timeout=600,
    ).stdout  # fmt: skip
    return str(json.loads(out[out.index("{") :])["version"])


def readable_secrets(stack: SwarmStack, folder: Path) -> Path:
    """The two secrets the trainer needs, readable by the image's user only."""
    folder.mkdir(mode=0o700)
    for name in ("database_url", "model_signing_key"):
        shutil.copy(stack.secrets_dir / name, folder / name)
        (folder / name).chmod(0o600)
        if os.geteuid() == 0:
            os.chown(folder / name, CONTAINER_UID, CONTAINER_UID)
    if os.geteuid() == 0:
        os.chown(folder, CONTAINER_UID, CONTAINER_UID)
    return folder


def test_a_promotion_reaches_every_replica_within_2_s(
    swarm_stack: SwarmStack, tmp_path: Path
) -> None:
    old = httpx.get(swarm_stack.api_url + "/health", timeout=10).json()["model_version"]
    secrets = readable_secrets(swarm_stack, tmp_path / "secrets")
    # About 100 requests a second: each replica answers every few tens of milliseconds.
    with PredictLoad(swarm_stack.api_url, clients=6, pause=0.05) as load:
        time.sleep(2)
        new = one_off_training(swarm_stack, secrets)
        assert new != old
        switched_at = float(
            psql(swarm_stack, "SELECT extract(epoch FROM switched_at) FROM model_pointer")
        )

        def replicas_on_new() -> set[str]:
            return {
                a.served_by.split("/")[-1] for a in load.answers if a.body["model_version"] == new
            }

        wait_until(lambda: len(replicas_on_new()) == 3, 30, f"three replicas serving {new}", 0.2)
        time.sleep(1)
    assert load.failures == []
    delays = {}
    for replica in {a.served_by.split("/")[-1] for a in load.answers}:
        mine = [a for a in load.answers if a.served_by.split("/")[-1] == replica]
        first_new = min(a.wall for a in mine if a.body["model_version"] == new)
        delays[replica] = round(first_new - switched_at, 3)
        # Once a replica served the new version it never answers with the old one again.
        late_old = [a for a in mine if a.wall > first_new and a.body["model_version"] != new]
        assert late_old == [], f"{replica} went back to {late_old[0].body['model_version']}"
    FIGURES["promotion_delay_seconds_per_replica"] = delays
    assert len(delays) == 3
    assert max(delays.values()) <= PROPAGATION_LIMIT_S, delays
