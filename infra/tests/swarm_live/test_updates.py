"""Rolling updates of the API under steady /predict load, and one that rolls itself back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from infra.swarm.swarm_stack import SwarmStack, docker
from infra.tests.swarm_live.conftest import FIGURES, IMAGE_SETTINGS
from infra.tests.swarm_live.fleet import PredictLoad, task_containers, update_state, wait_until

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

UPDATE_TIMEOUT_S = 400
SOURCE_IMAGE = f"mindpulse/api:{IMAGE_SETTINGS['MP_API_VERSION']}"
# Starts, but never answers /health: its process only sleeps (the service's command is its argument).
NEVER_HEALTHY = (
    f'FROM {SOURCE_IMAGE}\nENTRYPOINT ["python", "-c", "import time; time.sleep(86400)"]\n'
)


@pytest.fixture(scope="module")
def images(swarm_stack: SwarmStack) -> Iterator[dict[str, str]]:
    """A new tag of the API image, and an image that never becomes healthy; removed afterwards."""
    made = {"next": f"{swarm_stack.name}/api:next", "broken": f"{swarm_stack.name}/api:broken"}
    docker("tag", SOURCE_IMAGE, made["next"])
    docker("build", "--quiet", "--tag", made["broken"], "-", input_text=NEVER_HEALTHY, timeout=300)
    try:
        yield made
    finally:
        for image in made.values():
            docker("image", "rm", image, check=False)


def service_image(stack: SwarmStack) -> str:
    spec = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    return docker(
        "service", "inspect", "--format", spec, stack.service("serving-api")
    ).stdout.strip()


def update_api(stack: SwarmStack, image: str) -> None:
    docker(
        "service", "update", "--detach", "--no-resolve-image", "--image", image,
        stack.service("serving-api"),
    )  # fmt: skip


def test_a_rolling_update_under_predict_load_fails_no_request(
    swarm_stack: SwarmStack, images: dict[str, str]
) -> None:
    before = set(task_containers(swarm_stack, "serving-api"))
    started = time.monotonic()
    with PredictLoad(swarm_stack.api_url, clients=4) as load:
        time.sleep(2)
        update_api(swarm_stack, images["next"])
        wait_until(
            lambda: update_state(swarm_stack, "serving-api") == "completed",
            UPDATE_TIMEOUT_S, "the rolling update to complete", 2,
        )  # fmt: skip
        time.sleep(3)
    FIGURES["rolling_update"] = {
        "seconds": round(time.monotonic() - started, 1),
        "requests": len(load.answers),
        "failed": len(load.failures),
    }
    assert load.failures == []
    assert len(load.answers) > 100
    now = task_containers(swarm_stack, "serving-api")
    assert set(now.values()) == {images["next"]} and len(now) == 3
    assert not before & set(now), "every task was replaced"
    # The new tasks answered during the load.
    answered = {a.served_by.split("/")[-1] for a in load.answers[-200:]}
    assert len(answered) == 3


def test_an_update_to_an_image_that_never_becomes_healthy_rolls_back_by_itself(
    swarm_stack: SwarmStack, images: dict[str, str]
) -> None:
    previous = service_image(swarm_stack)
    started = time.monotonic()
    with PredictLoad(swarm_stack.api_url, clients=2) as load:
        update_api(swarm_stack, images["broken"])
        wait_until(
            lambda: update_state(swarm_stack, "serving-api") == "rollback_completed",
            UPDATE_TIMEOUT_S, "the update to roll itself back", 2,
        )  # fmt: skip
        wait_until(lambda: swarm_stack.replicas()["serving-api"] == (3, 3), 120, "3 of 3 healthy")
    FIGURES["rollback"] = {
        "seconds": round(time.monotonic() - started, 1),
        "requests": len(load.answers),
        "failed": len(load.failures),
    }
    assert service_image(swarm_stack) == previous
    now = task_containers(swarm_stack, "serving-api")
    assert set(now.values()) == {previous} and len(now) == 3
    assert load.failures == []
    assert len(load.answers) > 50
