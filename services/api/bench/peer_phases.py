"""Measure each peer model server with the same rows, wrk settings and CPU pin as the API.

A peer that cannot be installed or started is recorded with its error (and the last lines of
its log) and the benchmark goes on with the next one.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from services.api.bench.load import LoadError, lua_script
from services.api.bench.model import export_pipeline
from services.api.bench.peer_servers import (
    Peer,
    PeerInstallError,
    by_name,
    install,
    peer_environment,
)
from services.api.bench.servers import (
    ServerError,
    free_port,
    pin_tree,
    running,
    start_server,
    tail,
)
from services.api.bench.workload import BATCH_ROWS

if TYPE_CHECKING:
    from services.api.bench.runner import Bench, Figures


def run_peers(bench: Bench, figures: Figures) -> None:
    """Every chosen peer in turn; ``figures.peers[name]`` holds its figures or its failure."""
    if not bench.config.peers:
        return
    pipeline = export_pipeline(bench.model, bench.run_dir / "peers" / "pipeline.joblib")
    for name in bench.config.peers:
        peer = by_name(name)
        bench.log(f"peer {peer.name}: {peer.label} {peer.locked_version()}")
        figures.peers[peer.name] = _run_peer(bench, peer, pipeline)


def _run_peer(bench: Bench, peer: Peer, pipeline: Any) -> dict[str, Any]:
    temp = Path(tempfile.mkdtemp(prefix="mp-peer-"))
    try:
        return _install_and_measure(bench, peer, pipeline, temp)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _install_and_measure(bench: Bench, peer: Peer, pipeline: Any, temp: Path) -> dict[str, Any]:
    found: dict[str, Any] = {
        "label": peer.label,
        "version": peer.locked_version(),
        "configuration": peer.configuration,
        "project": str(peer.project.relative_to(peer.project.parents[4])),
    }
    try:
        installed = install(peer, bench.config.bench_dir)
    except PeerInstallError as exc:
        bench.log(f"  {peer.name} could not be installed: {exc}")
        return {**found, "error": f"install: {exc}"}
    found["install_seconds"] = installed.seconds
    found["environment_mb"] = installed.environment_mb
    bench.log(
        f"  installed in {installed.seconds:.1f} s ({installed.environment_mb:,.0f} MB environment)"
    )
    port = free_port()
    work = bench.run_dir / "peers" / peer.name
    log_path = bench.log_dir / f"peer-{peer.name}.log"
    started = time.monotonic()
    try:
        server = start_server(
            f"peer {peer.name}",
            peer.command(installed.python, port),
            port=port,
            env=peer_environment(_base_env(), pipeline, port, work, temp),
            log_path=log_path,
            cwd=peer.project,
            cpus=() if peer.pin_after_start else bench.config.server_cpus,
            health_path=peer.health_path,
        )
        if peer.pin_after_start and bench.config.server_cpus:
            pin_tree(server.pid, bench.config.server_cpus)
    except (ServerError, OSError) as exc:
        bench.log(f"  {peer.name} did not start: {exc}")
        return {**found, "error": f"start: {exc}"}
    found["start_seconds"] = round(time.monotonic() - started, 1)
    try:
        with running(server):
            found["answer_check"] = _check_answer(bench, peer, server.url)
            bench.log(f"  answer check: {found['answer_check']}")
            single = bench._measure(
                server,
                peer.predict_path,
                lua_script(peer.predict_path, bench.workload.bodies(peer.bodies, batch=False)),
                f"{peer.name} single row",
            )
            batch = bench._measure(
                server,
                peer.batch_path,
                lua_script(peer.batch_path, bench.workload.bodies(peer.bodies, batch=True)),
                f"{peer.name} ({BATCH_ROWS} rows)",
                connections=bench.config.batch_connections,
            )
            memory = bench._memory(server)
    except (LoadError, ServerError) as exc:
        bench.log(f"  {peer.name} failed while measured: {exc}")
        return {**found, "error": f"measure: {exc}; log: {tail(log_path, 10)}"}
    return {
        **found,
        "predict": single.as_dict(),
        "batch": {
            **batch.as_dict(),
            "rows_per_request": BATCH_ROWS,
            "rows_per_s": batch.requests_per_s * BATCH_ROWS,
        },
        "memory": memory,
    }


def _check_answer(bench: Bench, peer: Peer, url: str) -> dict[str, Any]:
    """The peer's probability for the first single-row body against MindPulse's scorer."""
    body = bench.workload.bodies(peer.bodies, batch=False)[0]
    response = httpx.post(
        url + peer.predict_path,
        content=body.encode(),
        headers={"Content-Type": "application/json"},
        timeout=30.0,
    )
    if response.status_code != 200:
        raise ServerError(f"{peer.name} answered {response.status_code}: {response.text[:300]}")
    answer = response.json()
    if peer.bodies == "mlserver":
        probability = float(answer["outputs"][0]["data"][1])
    elif peer.bodies == "v1":
        probability = float(answer["probabilities"][0])
    else:
        probability = float(answer["probability"])
    expected = bench.reference_probability(json.loads(bench.workload.predict[0])["features"])
    return {
        "probability": probability,
        "mindpulse": expected,
        "equal": math.isclose(probability, expected, rel_tol=1e-9, abs_tol=1e-12),
    }


def _base_env() -> dict[str, str]:
    from services.api.bench.runner import clean_environment

    return clean_environment()
