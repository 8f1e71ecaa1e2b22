"""Two API replicas with no shared disk, one PostgreSQL: a promotion reaches both by itself.

Each replica polls the pointer's switch counter every 0.5 s (POLL_SECONDS); the delay from the
promotion to the moment each replica answers with the new version is printed (run with -s).
"""

from __future__ import annotations

import time

import httpx

from mp_core.ml.synthetic import generate
from mp_core.ml.training import TrainConfig, train
from mp_core.stores import model_store
from mp_core.stores.artifacts_postgres import POLL_SECONDS
from testsupport.api import ADMIN_TOKEN, ApiServers

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _serving(url: str) -> str | None:
    return httpx.get(url + "/health", timeout=5).json().get("model_version")


def _until_both(urls: list[str], version: str, timeout: float = 20) -> list[float]:
    started = time.monotonic()
    reached: dict[str, float] = {}
    while len(reached) < len(urls) and time.monotonic() - started < timeout:
        for url in urls:
            if url not in reached and _serving(url) == version:
                reached[url] = time.monotonic() - started
        time.sleep(0.02)
    assert len(reached) == len(urls), f"{version} reached only {reached}"
    return [reached[url] for url in urls]


def test_a_promotion_and_a_rollback_reach_every_replica(
    start_api: ApiServers, database_url: str
) -> None:
    first = start_api.start(database_url=database_url)
    second = start_api.start(model="none", database_url=database_url)  # an empty disk
    urls = [first.url, second.url]
    assert [_serving(url) for url in urls] == ["v0001", "v0001"]

    models = model_store(first.settings)
    result = train(generate(2000, 9), TrainConfig(candidates=("logistic_regression",), n_jobs=1))
    version = models.save(result)
    models.promote(version)
    delays = _until_both(urls, version)
    print(f"\npromotion reached the replicas after {', '.join(f'{d:.2f} s' for d in delays)}")
    assert max(delays) < 20 * POLL_SECONDS

    rolled = httpx.post(first.url + "/model/rollback", headers=AUTH, timeout=10)
    assert rolled.status_code == 200 and rolled.json()["version"] == "v0001"
    delays = _until_both(urls, "v0001")
    print(f"rollback through one replica reached both after {max(delays):.2f} s")
    assert not (second.settings.artifacts_dir / "versions").exists()  # nothing on its disk
