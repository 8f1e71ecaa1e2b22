"""The running stacks the container tests share: each is started once per session.

``core_stack``: the default services (prepare-folders, trainer, serving-api, webapp), started
cold from empty folders with the guide's own ``docker compose -f infra/compose/compose.yaml up
--build`` in a fresh copy of the repo; the reporting profile runs against it. ``optional_stack``:
the same plus the ``tracking`` and ``orchestration`` profiles, the API logging to MLflow. Both use
their own compose project and loopback ports, and are taken down at the end of the session
(``test_teardown`` checks that nothing is left).

What the trainer service must have done before the API may start lives here only
(:func:`first_model_version`), so a trainer that becomes a long-running worker changes one place.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from testsupport.browser import PageRecord
from testsupport.docker import BuiltImages, ComposeStack, compose_stack, wait_for_quiet_network

SERVICES = ("serving-api", "webapp")
OPTIONAL_SERVICES = ("mlflow", "airflow")
# The figures measured along the way, written to $MP_TEST_ARTIFACTS/container-figures.json.
FIGURES: dict[str, Any] = {}


def first_model_version(stack: ComposeStack) -> tuple[str, str]:
    """The version the trainer made on a cold start and when (its manifest's ``created_at``)."""
    pointer = json.loads((stack.folder("artifacts") / "current.json").read_text())
    version = str(pointer["version"])
    manifest_path = stack.folder("artifacts") / "versions" / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    return version, str(manifest["created_at"])


@pytest.fixture
def new_page(
    new_page: Callable[..., tuple[Any, PageRecord]],
) -> Callable[..., tuple[Any, PageRecord]]:
    """The browser fixture, opening a page only once containers that just (re)started have
    stopped changing the host's interfaces (Chromium aborts page loads on such a change)."""

    def open_page(viewport: dict[str, int] | None = None) -> tuple[Any, PageRecord]:
        wait_for_quiet_network()
        return new_page(viewport)

    return open_page


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def _empty_folders(stack: ComposeStack) -> None:
    for name in ("data", "artifacts", "reports"):
        assert not stack.folder(name).exists(), f"a fresh copy has no {name}/"


@pytest.fixture(scope="session")
def core_stack(
    compose_images: BuiltImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeStack]:
    base = tmp_path_factory.mktemp("core-stack")
    # Every challenger is promoted: these tests prove retrain, swap and faults inside the stack;
    # the promotion gate has its own tests (its verdict on 50 look-alike rows is not theirs).
    settings = {"PROMOTION_TOLERANCE": "1.0"}
    with compose_stack(base, f"mptest-core-{os.getpid()}", settings=settings) as stack:
        _empty_folders(stack)
        FIGURES["build_seconds"] = round(compose_images.seconds, 1)
        FIGURES["core_cold_start_seconds"] = round(stack.up(), 1)
        yield stack


@pytest.fixture(scope="session")
def optional_stack(
    compose_images: BuiltImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeStack]:
    base = tmp_path_factory.mktemp("optional-stack")
    # As in the core stack: every challenger is promoted, so champion moves on each retrain.
    settings = {"MLFLOW_TRACKING_URI": "http://mlflow:5000", "PROMOTION_TOLERANCE": "1.0"}
    profiles = ("tracking", "orchestration")
    project = f"mptest-optional-{os.getpid()}"
    with compose_stack(base, project, profiles=profiles, settings=settings) as stack:
        FIGURES["optional_cold_start_seconds"] = round(stack.up(), 1)
        yield stack


@pytest.fixture(scope="session", autouse=True)
def container_figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Write what was measured where CI keeps test artifacts."""
    yield FIGURES
    if not FIGURES:
        return
    text = json.dumps(FIGURES, indent=2, sort_keys=True)
    folder = Path(os.environ.get("MP_TEST_ARTIFACTS") or request.config.rootpath / "test-results")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "container-figures.json").write_text(text + "\n")


# Building every image and starting a stack take minutes on a small machine; the first test of a
# stack pays for them, so the usual per-test limit would cut it short.
CONTAINER_TEST_TIMEOUT = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.timeout(CONTAINER_TEST_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test keeps the logs of the stacks it used, as they were when it failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, ComposeStack):
            with contextlib.suppress(Exception):
                value.keep_logs(item.name)
