"""``/predict`` while a trainer retrains: its p99 against an idle phase right before.

Start a trainer (``mindpulse worker``, the training plane) on the API's stores, ``POST /retrain``
with the admin token, wait until ``GET /model`` says it runs, keep the trainer off the server's
CPU (production would not pin it), measure, and check that it still runs at the end.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx

from services.api.bench.servers import (
    RunningServer,
    descendants,
    is_retrain_job,
    pin_process,
    running,
    start_server,
)

if TYPE_CHECKING:
    from services.api.bench.runner import Bench

RETRAIN_START_TIMEOUT: Final = 30.0


def measure_retrain(bench: Bench, server: RunningServer, env: dict[str, str]) -> dict[str, Any]:
    """/predict idle, then /predict while a trainer started with ``env`` retrains."""
    url = server.url + "/predict"
    load = bench.config.load()
    # Idle right before, so both sides of the ratio see the same machine.
    idle = bench._timed(server, url, bench.scripts["predict"], load)
    trainer = start_server(
        "trainer",
        trainer_command(),
        port=0,
        env=env,
        log_path=bench.log_dir / "trainer.log",
        cwd=bench.config.repo_root,
        cpus=bench.config.wrk_cpus if bench.config.pin else (),
        health_path=None,
    )
    with running(trainer), httpx.Client(base_url=server.url, timeout=10.0) as client:
        response = client.post("/retrain", headers={"Authorization": f"Bearer {bench.admin_token}"})
        if response.status_code != 202:
            raise RuntimeError(
                f"POST /retrain answered {response.status_code}: {response.text[:300]}"
            )
        job_pid = trainer.pid
        started = time.monotonic()
        while not retrain_running(client.get("/model").json()):
            if time.monotonic() - started > RETRAIN_START_TIMEOUT:
                raise RuntimeError("the retrain never reported itself running")
            time.sleep(0.1)
        placed = _place_job(bench, server, job_pid)
        during = bench._timed(server, url, bench.scripts["predict"], load)
        info = client.get("/model").json()
    still_running = retrain_running(info)
    ratio = during.p99_ms / idle.p99_ms if idle.p99_ms > 0 else float("inf")
    for label, result in (("idle, before", idle), ("during retrain", during)):
        bench.log(
            f"  {'api /predict ' + label:<28} {result.requests_per_s:>10,.0f} req/s"
            f"   p50 {result.p50_ms:7.2f} ms   p99 {result.p99_ms:7.2f} ms"
            f"   {result.cpu_us_per_request:6.0f} us CPU/req"
        )
    bench.log(f"  p99 during/idle x{ratio:.2f}; retrain still running at the end: {still_running}")
    return {
        "idle": idle.as_dict(),
        "during": during.as_dict(),
        "p99_ratio": ratio,
        "retrain_running_throughout": still_running,
        "retrain_pid": job_pid,
        "retrain_cpus": placed,
        "retrain_status_after": info.get("retrain"),
    }


def _place_job(bench: Bench, server: RunningServer, job_pid: object) -> list[int]:
    """Keep the trainer off the server's CPU: production would not pin it there.

    On a machine with a spare core the operating system runs the trainer beside the worker,
    which is what the API expects (the trainer keeps numeric libraries to one thread).
    """
    everything = set(os.sched_getaffinity(0))
    if not bench.config.pin:
        return sorted(everything)
    target = sorted(everything - set(bench.config.server_cpus)) or sorted(everything)
    pids = set(descendants(server.pid))
    if isinstance(job_pid, int):
        pids |= {job_pid, *descendants(job_pid)}
    for pid in pids:
        if is_retrain_job(pid):
            pin_process(pid, target)
    return target


def trainer_command() -> list[str]:
    """The training plane: ``mindpulse worker`` from this environment."""
    return [str(Path(sys.executable).with_name("mindpulse")), "worker"]


def retrain_running(info: dict[str, Any]) -> bool:
    """Whether ``GET /model`` says a retrain is running now."""
    if info.get("retrain_running") is True:
        return True
    status = info.get("retrain") or {}
    return isinstance(status, dict) and status.get("state") == "running"
