"""Promotion, rollback, a corrupted bundle and one that heals, under continuous load on two
workers, each of them seen answering: no request fails."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mp_api.registry import RETRY_SECONDS
from mp_core.errors import CorruptArtifact
from mp_core.stores import retrain_requests
from mp_core.stores.artifacts_files import ArtifactStore
from testsupport.api import ADMIN_TOKEN, EXAMPLE, ApiServer, ApiServers, worker_of
from testsupport.data import copy_version

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Load:
    """Threads sending /predict and /predict/batch until stopped; every answer is kept.

    Each request goes on a fresh connection, so the kernel hands it to either worker (a
    kept-alive connection stays with one); every answer is kept with the worker that sent it.
    """

    def __init__(self, api: ApiServer, threads: int = 3) -> None:
        self.url = api.url
        self.workers = api.workers
        self.answers: list[tuple[int, str | None, str]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self, index: int) -> None:
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, timeout=10, limits=fresh) as client:
            while not self._stop.is_set():
                try:
                    if index % 2:
                        answer = client.post("/predict/batch", json={"instances": [EXAMPLE] * 10})
                    else:
                        answer = client.post("/predict", json={"features": EXAMPLE})
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                body = answer.json()
                self.answers.append(
                    (answer.status_code, body.get("model_version"), worker_of(answer))
                )

    def versions_after(self, start: int) -> Counter[str | None]:
        return Counter(version for _, version, _ in self.answers[start:])

    def served(self, start: int = 0) -> set[tuple[str, str | None]]:
        """(worker, version) pairs answered since answer number ``start``."""
        return {(worker, version) for _, version, worker in self.answers[start:]}

    def wait_for(self, version: str, timeout: float = 20) -> None:
        """Until every worker has answered 20 times in a row with ``version``."""
        deadline = time.monotonic() + timeout
        seen = len(self.answers)
        while time.monotonic() < deadline:
            by_worker: dict[str, list[str | None]] = {}
            for _, answered, worker in self.answers[seen:]:
                by_worker.setdefault(worker, []).append(answered)
            if len(by_worker) == self.workers and all(
                len(got) >= 20 and set(got[-20:]) == {version} for got in by_worker.values()
            ):
                return
            time.sleep(0.05)
        raise AssertionError(f"not every worker serves {version}: {self.served(seen)}")


def _point_at(store: ArtifactStore, version: str) -> None:
    """Switch the pointer to ``version`` behind the store's back (promote would refuse it)."""
    pointer = json.loads(store.pointer_path.read_text())
    temp = store.pointer_path.with_suffix(".tmp")
    temp.write_text(json.dumps({**pointer, "version": version, "history": ["v0001"]}))
    temp.replace(store.pointer_path)


def _wait_retrain(api: ApiServer, timeout: float = 90) -> dict[str, Any]:
    requests = retrain_requests(api.settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.read_status() or {}
        if status.get("state") not in (None, "running") and not requests.waiting():
            return status
        time.sleep(0.1)
    raise AssertionError(f"retrain did not finish:\n{api.log()}")


@pytest.mark.slow
def test_promotion_and_rollback_under_load_fail_no_request(start_api: ApiServers) -> None:
    api = start_api.start(workers=2, trainer=True, api_worker_header="1")
    with Load(api) as load, httpx.Client(base_url=api.url, timeout=10) as http:
        load.wait_for("v0001")
        started = http.post("/retrain", headers=AUTH)
        assert started.status_code == 202
        assert started.json()["status"] == "queued"
        status = _wait_retrain(api)
        assert status["state"] == "succeeded", status
        assert status["decision"] == "promoted"
        assert status["challenger"]["version"] == "v0002"
        assert status["champion"]["version"] == "v0001"
        for key in ("started_at", "finished_at", "seconds", "reason", "rows"):
            assert status[key] is not None
        load.wait_for("v0002")

        info = http.get("/model").json()
        assert info["version"] == "v0002"
        assert info["trained_by"] == "retrain"
        assert info["retrain"]["decision"] == "promoted"
        assert set(info["retrain"]["champion"]["metrics"]) >= {"f1", "accuracy", "roc_auc"}
        assert api.settings.ref_data_path.exists()

        rolled = http.post("/model/rollback", headers=AUTH)
        assert rolled.status_code == 200
        assert rolled.json() == {"status": "ok", "version": "v0001", "previous": "v0002"}
        load.wait_for("v0001")
    assert load.errors == []
    assert {code for code, _, _ in load.answers} == {200}
    # Both workers served the old model, the promoted one and the old one again.
    workers = {worker for worker, _ in load.served()}
    assert len(workers) == 2
    assert load.served() == {(w, v) for w in workers for v in ("v0001", "v0002")}


def _health_of_every_worker(
    api: ApiServer, done: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> dict[str, dict[str, Any]]:
    """``/health`` of each worker, asked again until ``done`` holds for every one of them."""
    deadline = time.monotonic() + timeout
    while True:
        health = {w: a.json() for w, a in api.from_every_worker("GET", "/health").items()}
        if all(done(h) for h in health.values()) or time.monotonic() > deadline:
            return health
        time.sleep(0.2)


def _refusing(health: dict[str, Any]) -> bool:
    return "cannot be loaded" in (health["reason"] or "")


def test_corrupted_bundle_is_refused_and_the_old_model_keeps_serving(
    start_api: ApiServers,
) -> None:
    api = start_api.start(workers=2, api_worker_header="1")
    store = ArtifactStore(api.settings.artifacts_dir)
    bad = copy_version(store, "v0002")
    # Signed with the right key, so what refuses it is the file that no longer matches.
    with (bad / "fastpath.npz").open("r+b") as handle:  # flip bytes in the middle
        handle.seek(200)
        handle.write(b"\x00garbage\x00")

    with pytest.raises(CorruptArtifact, match="sha256"):
        store.promote("v0002")
    assert store.current_version() == "v0001"

    with Load(api) as load, httpx.Client(base_url=api.url, timeout=10) as http:
        load.wait_for("v0001")
        _point_at(store, "v0002")  # workers refuse it
        start = len(load.answers)
        health = _health_of_every_worker(api, _refusing)
        assert len(health) == 2
        for answer in health.values():
            assert answer["status"] == "ok" and answer["model_version"] == "v0001", answer
            assert _refusing(answer), answer
        assert "cannot be loaded" in http.get("/model").json()["load_error"]
        assert set(load.versions_after(start)) == {"v0001"}
    assert {code for code, _, _ in load.answers} == {200}
    assert api.log().count("model_load_failed") >= 2  # once per worker


def test_a_refused_version_is_served_once_its_files_are_whole_without_a_restart(
    start_api: ApiServers,
) -> None:
    api = start_api.start(workers=2, api_worker_header="1")
    store = ArtifactStore(api.settings.artifacts_dir)
    folder = copy_version(store, "v0002")
    whole = (folder / "fastpath.npz").read_bytes()
    (folder / "fastpath.npz").write_bytes(whole[: len(whole) // 2])  # still being copied
    with Load(api) as load:
        load.wait_for("v0001")
        _point_at(store, "v0002")
        refusing = _health_of_every_worker(api, _refusing)
        assert all(_refusing(h) and h["model_version"] == "v0001" for h in refusing.values())
        # The rest of the file arrives (renamed into place, as a copy tool would finish).
        (folder / "fastpath.tmp").write_bytes(whole)
        (folder / "fastpath.tmp").replace(folder / "fastpath.npz")
        # Each worker tries again within RETRY_SECONDS, and serves it: no restart, no failure.
        healed = _health_of_every_worker(
            api, lambda h: h["model_version"] == "v0002", timeout=RETRY_SECONDS + 15
        )
        assert len(healed) == 2
        for answer in healed.values():
            assert answer == {**answer, "status": "ok", "model_version": "v0002", "reason": None}
        load.wait_for("v0002")
        info = httpx.get(api.url + "/model", timeout=10).json()
        assert info["version"] == "v0002" and info["load_error"] is None
    assert load.errors == []
    assert {code for code, _, _ in load.answers} == {200}
    assert {version for _, version in load.served()} == {"v0001", "v0002"}
    assert api.log().count("model_loaded") >= 4  # v0001 then v0002, in each worker


@pytest.mark.slow
def test_a_promoted_retrain_is_logged_to_mlflow(start_api: ApiServers, mlflow_server: str) -> None:
    api = start_api.start(trainer=True, mlflow_tracking_uri=mlflow_server)
    with httpx.Client(base_url=api.url, timeout=10) as http:
        assert http.get("/model").json()["mlflow_run"] is None  # v0001 was never logged
        assert http.post("/retrain", headers=AUTH).status_code == 202
        assert _wait_retrain(api)["decision"] == "promoted"
        deadline = time.monotonic() + 90
        run = None
        while run is None and time.monotonic() < deadline:
            run = http.get("/model").json()["mlflow_run"]
            time.sleep(0.5)
    assert run is not None, api.log()
    assert run["run_id"] and run["url"].startswith(mlflow_server)
