"""A serving worker maps no scikit-learn or pandas code and stays under 150 MB RSS."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from testsupport.api import EXAMPLE, ApiServers, predict_and_feed_back

RSS_LIMIT_MB = 150


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.mark.parametrize("model", ["logistic", "forest"])
def test_workers_import_no_sklearn_or_pandas_and_stay_small(
    start_api: ApiServers, model: str
) -> None:
    api = start_api.start(model=model, workers=2)  # type: ignore[arg-type]
    with httpx.Client(base_url=api.url, timeout=10) as http:
        for _ in range(25):  # warm-up: every route a worker serves
            assert http.post("/predict", json={"features": EXAMPLE}).status_code == 200
            http.post("/predict/batch", json={"instances": [EXAMPLE] * 200})
            http.get("/model")
            http.get("/metrics")
        algorithm = http.get("/model").json()["algorithm"]
        assert algorithm == ("logistic_regression" if model == "logistic" else "random_forest")
        ack = predict_and_feed_back(http, EXAMPLE, 1)
        assert ack.status_code == 200
    workers = api.worker_pids()
    assert len(workers) == 2
    for pid in workers:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "/sklearn/" not in maps, f"worker {pid} loaded scikit-learn"
        assert "/pandas/" not in maps, f"worker {pid} loaded pandas"
        assert "/scipy/" not in maps, f"worker {pid} loaded scipy"
        assert "/numpy/" in maps  # the check itself sees extension modules
        assert _rss_mb(pid) <= RSS_LIMIT_MB, f"worker {pid}: {_rss_mb(pid):.0f} MB"
