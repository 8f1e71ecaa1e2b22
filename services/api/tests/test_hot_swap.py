"""Promotion, rollback and a corrupted bundle under continuous load: no request fails."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from mp_core.errors import CorruptArtifact
from mp_core.stores import retrain_requests
from mp_core.stores.artifacts_files import ArtifactStore
from testsupport.api import ADMIN_TOKEN, EXAMPLE, ApiServer, ApiServers

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Load:
    """Threads sending /predict and /predict/batch until stopped; every answer is kept."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url = url
        self.answers: list[tuple[int, str | None]] = []
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
        with httpx.Client(base_url=self.url, timeout=10) as client:
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
                self.answers.append((answer.status_code, body.get("model_version")))

    def versions_after(self, start: int) -> Counter[str | None]:
        return Counter(version for _, version in self.answers[start:])

    def wait_for(self, version: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        seen = len(self.answers)
        while time.monotonic() < deadline:
            # Both workers: enough answers in a row all saying ``version``.
            recent = self.answers[seen:]
            if len(recent) >= 40 and all(v == version for _, v in recent[-40:]):
                return
            time.sleep(0.05)
        raise AssertionError(f"still not serving {version}: {self.versions_after(seen)}")


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
    api = start_api.start(workers=2, trainer=True)
    with Load(api.url) as load, httpx.Client(base_url=api.url, timeout=10) as http:
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
    assert {code for code, _ in load.answers} == {200}
    assert set(load.versions_after(0)) == {"v0001", "v0002"}


def test_corrupted_bundle_is_refused_and_the_old_model_keeps_serving(
    start_api: ApiServers,
) -> None:
    api = start_api.start(workers=2)
    store = ArtifactStore(api.settings.artifacts_dir)
    bad = store.versions_dir / "v0002"
    shutil.copytree(store.versions_dir / "v0001", bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["version"] = "v0002"
    text = json.dumps(manifest).encode()
    (bad / "manifest.json").write_bytes(text)
    # Signed with the right key, so what refuses it is the file that no longer matches.
    (bad / "manifest.sig").write_text(store.signing_key.sign(text))
    with (bad / "fastpath.npz").open("r+b") as handle:  # flip bytes in the middle
        handle.seek(200)
        handle.write(b"\x00garbage\x00")

    with pytest.raises(CorruptArtifact, match="sha256"):
        store.promote("v0002")
    assert store.current_version() == "v0001"

    with Load(api.url) as load, httpx.Client(base_url=api.url, timeout=10) as http:
        load.wait_for("v0001")
        # A pointer switched to the bad bundle behind the store's back: workers refuse it.
        pointer = json.loads(store.pointer_path.read_text())
        store.pointer_path.with_suffix(".tmp").write_text(
            json.dumps({**pointer, "version": "v0002", "history": ["v0001"]})
        )
        store.pointer_path.with_suffix(".tmp").replace(store.pointer_path)
        start = len(load.answers)
        time.sleep(1.0)
        health = http.get("/health").json()
        assert health["status"] == "ok" and health["model_version"] == "v0001"
        assert "cannot be loaded" in health["reason"]
        assert "cannot be loaded" in http.get("/model").json()["load_error"]
        assert set(load.versions_after(start)) == {"v0001"}
    assert {code for code, _ in load.answers} == {200}
    assert "model_load_failed" in api.log()


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
