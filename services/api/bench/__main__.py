"""``python -m services.api.bench [--quick] [--json PATH] [--peers ...]``: the API benchmark.

With ``--json PATH`` every figure goes to PATH and a plot to PATH with the suffix ``.png``.
``--scale`` measures only what sizes a fleet: one replica's /predict and feedback rates on
PostgreSQL and the database's own feedback rows/s, and prints how many replicas one PostgreSQL
serves (services/api/bench/scale.py).

Exit status: 0 when every target holds, 1 when one fails, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from services.api.bench.load import LoadError, wrk_binary
from services.api.bench.model import ensure_model
from services.api.bench.peer_servers import PEER_NAMES, parse_peers
from services.api.bench.plot import write_plot
from services.api.bench.report import as_json
from services.api.bench.runner import Bench, BenchConfig
from services.api.bench.scale import measure_scale, render_capacity
from services.api.bench.servers import ServerError, machine_busy_seconds
from services.api.bench.stores import measure_stores, render_stores
from services.api.bench.text_report import render
from services.api.bench.workload import build_workload

REPO_ROOT = Path(__file__).resolve().parents[3]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.api.bench",
        description=(
            "Benchmark the MindPulse API (1 worker) against the original FastAPI + pandas "
            "approach and a constant-answer ceiling, with wrk on 127.0.0.1."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 s phases, 1 s warm-up (a smoke run)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure here")
    parser.add_argument("--seconds", type=int, help="seconds per measured phase (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin servers to CPU 0 and wrk to CPU 1 (taskset)",
    )
    parser.add_argument(
        "--servers",
        default="uvicorn,granian",
        help="ASGI servers to compare for the API; the first is the production one measured fully",
    )
    parser.add_argument(
        "--peers",
        default="all",
        help=f"peer model servers to measure: all (default), none, or a comma list of {', '.join(PEER_NAMES)}",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="only the fleet's capacity: replicas one PostgreSQL serves, and the next bottleneck",
    )
    parser.add_argument(
        "--wait-quiet",
        type=int,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be idle (below 0.25 busy cores)",
    )
    parser.add_argument(
        "--bench-dir",
        type=Path,
        default=REPO_ROOT / ".bench",
        help="where the trained model, run copies and server logs live (.bench/)",
    )
    return parser


def wait_until_quiet(
    limit: float, busy_below: float = 0.25, window: float = 3.0
) -> tuple[float, float]:
    """Sample the machine's busy CPU every ``window`` seconds until it is below ``busy_below``."""
    started = time.monotonic()
    while True:
        before = machine_busy_seconds()
        time.sleep(window)
        busy = (machine_busy_seconds() - before) / window
        waited = time.monotonic() - started
        if busy < busy_below or waited >= limit:
            return waited, busy


def _say(message: str) -> None:
    print(message, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    servers = tuple(name.strip() for name in args.servers.split(",") if name.strip())
    unknown = [name for name in servers if name not in ("granian", "uvicorn")]
    if not servers or unknown:
        print(f"--servers: choose from granian, uvicorn (got {args.servers!r})", file=sys.stderr)
        return 2
    try:
        peers = parse_peers(args.peers)
    except ValueError as exc:
        print(f"--peers: {exc}", file=sys.stderr)
        return 2
    seconds = args.seconds or (2 if args.quick else 10)
    if seconds < 1:
        print("--seconds: at least 1 (wrk measures whole seconds)", file=sys.stderr)
        return 2
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    config = BenchConfig(
        repo_root=REPO_ROOT,
        bench_dir=args.bench_dir.resolve(),
        phase_seconds=seconds,
        warmup_seconds=1 if args.quick else 2,
        connections=args.connections,
        pin=pin,
        servers=servers,
        quick=args.quick,
        peers=peers,
        ceiling_rounds=2 if args.quick else 10,
    )
    try:
        wrk_binary()
    except LoadError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    placement = (
        "servers pinned to CPU 0, wrk and the retrain job to CPU 1 (sched_setaffinity/taskset)"
        if pin
        else "no CPU pinning: servers and wrk share all CPUs"
    )
    _say(f"MindPulse API benchmark: {placement}")
    if args.wait_quiet > 0:
        waited, busy = wait_until_quiet(args.wait_quiet)
        _say(f"waited {waited:.0f} s for a quiet machine; now {busy:.2f} cores busy")
    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    started = time.monotonic()
    run_dir = config.run_dir
    try:
        _say(f"model: the full synthetic set under {config.bench_dir / 'model'} ...")
        model = ensure_model(config.bench_dir)
        _say(
            f"model {model.version} ({model.algorithm}), "
            f"{'trained now' if model.trained_now else 'reused'}"
        )
        bench = Bench(config, model, build_workload(), _say)
        if args.scale:
            return _scale(bench, servers[0], seconds, args.json)
        figures = bench.run(primary=servers[0])
        _say("feedback on each store backend (files, PostgreSQL) ...")
        by_store = measure_stores(bench, servers[0])
    except (LoadError, ServerError, RuntimeError, OSError) as exc:
        print(f"bench: could not finish: {exc}", file=sys.stderr)
        print(f"bench: server logs are kept in {run_dir / 'logs'}", file=sys.stderr)
        return 2
    shutil.rmtree(run_dir, ignore_errors=True)
    figures.meta = {
        "cpus": os.cpu_count(),
        "pinned": pin,
        "placement": placement,
        "threads": config.threads,
        "connections": config.connections,
        "batch_connections": config.batch_connections,
        "phase_seconds": config.phase_seconds,
        "warmup_seconds": config.warmup_seconds,
        "quick": config.quick,
        "peers": list(config.peers),
        "ceiling_rounds": config.ceiling_rounds,
        "model": model.as_dict(),
        "loadavg_before": loadavg_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.monotonic() - started, 1),
    }
    document = as_json(figures)
    document["stores"] = by_store
    _say(render(figures))
    _say(render_stores(by_store))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        _say(f"\nfigures written to {args.json}")
        plot = write_plot(document, args.json.with_suffix(".png"))
        _say(f"plot written to {plot}")
    return 0 if document["passed"] else 1


def _scale(bench: Bench, server_name: str, seconds: int, json_path: Path | None) -> int:
    _say("capacity: one replica on PostgreSQL, then PostgreSQL alone ...")
    figures = measure_scale(bench, server_name, float(seconds))
    shutil.rmtree(bench.run_dir, ignore_errors=True)
    _say(render_capacity(figures))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
        _say(f"\nfigures written to {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
