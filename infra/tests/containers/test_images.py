"""The built images themselves: the API image holds the serving plane only, and stays small."""

from __future__ import annotations

import json

import pytest

from infra.compose import image_sizes
from infra.tests.images import IMAGES
from testsupport.docker import BuiltImages, run

pytestmark = [pytest.mark.containers, pytest.mark.slow]

API = next(spec for spec in IMAGES if spec.service == "serving-api")
# What serving adds to its base (the environment and the non-root user): the serving plane's
# target. The whole image is this plus the base (193 MB for the stand-in built here).
API_OWN_LAYERS_MAX_MB = 120

LIST_DISTRIBUTIONS = (
    "import importlib.metadata as md, json; "
    "print(json.dumps(sorted({d.metadata['Name'].lower().replace('_', '-') "
    "for d in md.distributions()})))"
)


def test_the_api_image_holds_the_serving_plane_only(compose_images: BuiltImages) -> None:
    image = image_sizes.service_images()["serving-api"][0]
    listed = run(
        ["docker", "run", "--rm", "--network", "none", "--read-only", "--entrypoint", "python",
         image, "-c", LIST_DISTRIBUTIONS],
        timeout=120,
    )  # fmt: skip
    installed = set(json.loads(listed.stdout.strip().splitlines()[-1]))
    assert {"mp-api", "mp-core", "litestar", "uvicorn", "numpy", "msgspec"} <= installed
    assert installed & set(API.forbidden) == set()


def test_the_api_images_own_layers_stay_under_the_target(compose_images: BuiltImages) -> None:
    image, dockerfile = image_sizes.service_images()["serving-api"]
    total = image_sizes.size_mb(image)
    base = image_sizes.size_mb(image_sizes.base_image(dockerfile))
    assert total is not None and base is not None
    assert total - base <= API_OWN_LAYERS_MAX_MB, f"{image}: {total:.0f} MB on a {base:.0f} MB base"
