"""Run every phase of the benchmark in turn and collect the figures.

Order: baseline, the API as configured for production (single predictions interleaved with the
constant-answer ceiling on the same process, batches on both batch routes, feedback, memory,
predictions during a retrain), the API on the other ASGI server, then each peer model server
(:mod:`services.api.bench.peer_phases`). Every server gets a fresh copy of the benchmark model
and is stopped before the next starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from services.api.bench.load import (
    LoadError,
    LoadResult,
    LoadSettings,
    lua_script,
    merge_runs,
    run_wrk,
)
from services.api.bench.model import BenchModel, fresh_copy
from services.api.bench.retrain_phase import measure_retrain
from services.api.bench.servers import (
    LOOPBACK,
    ProcessMemory,
    RunningServer,
    free_port,
    machine_busy_seconds,
    running,
    start_server,
)
from services.api.bench.workload import BATCH_ROWS, BENCH_RECEIPT_KEY, Workload

PREDICT_PATH: Final = "/predict"
BATCH_PATH: Final = "/predict/batch"
V2_INFER_PATH: Final = "/v2/models/mindpulse/infer"
FEEDBACK_PATH: Final = "/feedback"
CEILING_PATH: Final = "/bench/ceiling"
#: Feedback must not start retrains while it is measured; the retrain phase starts its own.
NO_AUTO_RETRAIN: Final = "1000000000"
# Variables of the caller's shell that would change what the servers do (or send data away).
_DROPPED_ENV: Final = (
    "MLFLOW_TRACKING_URI",
    "PROMETHEUS_MULTIPROC_DIR",
    "MP_BENCH_CEILING",
    "API_URL",
    "RETRAIN_MIN_ROWS",
    "RETRAIN_CANDIDATES",
)

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Durations, wrk settings, CPU placement and which ASGI servers to compare."""

    repo_root: Path
    bench_dir: Path
    phase_seconds: float = 10.0
    warmup_seconds: float = 2.0
    threads: int = 1
    connections: int = 32
    batch_connections: int = 4
    pin: bool = True
    servers: tuple[str, ...] = ("granian", "uvicorn")
    quick: bool = False
    peers: tuple[str, ...] = ()
    #: The ceiling and /predict alternate this many times, each for phase_seconds / rounds.
    ceiling_rounds: int = 10

    @property
    def run_dir(self) -> Path:
        """One folder per run, so two runs at once never share model copies or logs."""
        return self.bench_dir / f"run-{os.getpid()}"

    @property
    def server_cpus(self) -> tuple[int, ...]:
        return (0,) if self.pin else ()

    @property
    def wrk_cpus(self) -> tuple[int, ...]:
        return (1,) if self.pin else ()

    def load(self, connections: int | None = None) -> LoadSettings:
        return LoadSettings(
            duration=self.phase_seconds,
            threads=self.threads,
            connections=connections or self.connections,
            cpus=self.wrk_cpus,
        )


@dataclass(slots=True)
class Figures:
    """Everything measured, in the shape written to the JSON file."""

    meta: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    ceiling: dict[str, Any] = field(default_factory=dict)
    api: dict[str, Any] = field(default_factory=dict)
    servers: dict[str, Any] = field(default_factory=dict)
    peers: dict[str, Any] = field(default_factory=dict)
    limit: dict[str, Any] = field(default_factory=dict)


def api_command() -> list[str]:
    script = Path(sys.executable).with_name("mindpulse-api")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "mp_api.cli", "serve"]


def baseline_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "services.api.bench.baseline:create_app",
        "--factory",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def clean_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Bench:
    """One benchmark run: call :meth:`run` once."""

    def __init__(self, config: BenchConfig, model: BenchModel, workload: Workload, log: Log):
        self.config = config
        self.model = model
        self.workload = workload
        self.log = log
        self.admin_token = secrets.token_urlsafe(16)
        self.run_dir = config.run_dir
        self.log_dir = config.run_dir / "logs"
        #: Each started API's environment, so a trainer can run on the same stores.
        self.environments: dict[str, dict[str, str]] = {}
        self.scripts = {
            "predict": lua_script(PREDICT_PATH, workload.predict),
            "batch": lua_script(BATCH_PATH, workload.batch),
            "feedback": lua_script(FEEDBACK_PATH, workload.feedback),
            "feedback_warmup": lua_script(FEEDBACK_PATH, workload.feedback_warmup),
            "ceiling": lua_script(CEILING_PATH, workload.predict),
            "v2_batch": lua_script(V2_INFER_PATH, workload.v2_batch),
            "ceiling_batch": lua_script(CEILING_PATH, workload.batch),
        }

    def reference_probability(self, features: dict[str, Any]) -> float:
        """What MindPulse's fast path answers for ``features`` (the peers are checked against it)."""
        from mp_core.schema import profile_from_mapping
        from mp_core.stores.artifacts_files import ArtifactStore
        from services.api.bench.model import settings_under

        store = ArtifactStore(settings_under(self.model.root).artifacts_dir)
        return float(store.load_scorer().scorer.score_profile(profile_from_mapping(features)))

    # -- servers -----------------------------------------------------------------------------
    def _start_api(
        self, name: str, server: str, *, ceiling: bool = False, extra: dict[str, str] | None = None
    ) -> RunningServer:
        settings = fresh_copy(self.model, self.run_dir / name)
        port = free_port()
        env = clean_environment()
        env.update(
            {
                "API_HOST": LOOPBACK,
                "API_PORT": str(port),
                "API_WORKERS": "1",
                "API_SERVER": server,
                "DATA_DIR": str(settings.data_dir),
                "ARTIFACTS_DIR": str(settings.artifacts_dir),
                "REPORTS_DIR": str(settings.reports_dir),
                "ADMIN_TOKEN": self.admin_token,
                "RETRAIN_THRESHOLD": NO_AUTO_RETRAIN,
                "LOG_FORMAT": "text",
                # Signed feedback bodies are made ahead (workload.py); wrk is one client.
                "RECEIPT_KEY": BENCH_RECEIPT_KEY,
                "FEEDBACK_RATE_PER_MINUTE": "0",
            }
        )
        if ceiling:
            env["MP_BENCH_CEILING"] = "1"
        env.update(extra or {})
        self.environments[name] = env
        self.log(f"starting {name}: mindpulse-api serve ({server}, 1 worker) on port {port}")
        return start_server(
            name,
            api_command(),
            port=port,
            env=env,
            log_path=self.log_dir / f"{name}.log",
            cwd=self.config.repo_root,
            cpus=self.config.server_cpus,
        )

    def _start_baseline(self) -> RunningServer:
        settings = fresh_copy(self.model, self.run_dir / "baseline")
        port = free_port()
        env = clean_environment()
        env["ARTIFACTS_DIR"] = str(settings.artifacts_dir)
        self.log(f"starting baseline: FastAPI + pandas + scikit-learn on uvicorn, port {port}")
        return start_server(
            "baseline",
            baseline_command(port),
            port=port,
            env=env,
            log_path=self.log_dir / "baseline.log",
            cwd=self.config.repo_root,
            cpus=self.config.server_cpus,
        )

    # -- phases ------------------------------------------------------------------------------
    def _measure(
        self,
        server: RunningServer,
        path: str,
        script: str,
        label: str,
        *,
        connections: int | None = None,
        warmup_script: str | None = None,
    ) -> LoadResult:
        load = self.config.load(connections)
        url = server.url + path
        if self.config.warmup_seconds > 0:
            # A warm-up that completes nothing (a stalled, busy machine) is not fatal.
            with contextlib.suppress(LoadError):
                run_wrk(url, warmup_script or script, load, duration=self.config.warmup_seconds)
        result = self._timed(server, url, script, load)
        self._say(label, result)
        return result

    def _say(self, label: str, result: LoadResult) -> None:
        self.log(
            f"  {label:<32} {result.requests_per_s:>10,.0f} req/s   p50 {result.p50_ms:7.2f} ms"
            f"   p99 {result.p99_ms:7.2f} ms   {result.cpu_us_per_request:6.0f} us CPU/req"
            f"   errors {result.errors + result.non_2xx}   other load {result.other_load_cores:.2f} cores"
        )

    def _timed(
        self, server: RunningServer, url: str, script: str, load: LoadSettings
    ) -> LoadResult:
        """One wrk run, with the CPU time of the server and of everything else meanwhile."""
        started = time.monotonic()
        machine_before = machine_busy_seconds()
        wrk_before = _children_cpu_seconds()
        cpu_before, job_before = server.cpu_seconds(), server.job_cpu_seconds()
        result = run_wrk(url, script, load)
        cpu = server.cpu_seconds() - cpu_before
        job = server.job_cpu_seconds() - job_before  # the retrain is part of the experiment
        wrk = _children_cpu_seconds() - wrk_before
        other = machine_busy_seconds() - machine_before - cpu - job - wrk
        window = time.monotonic() - started
        server.check_alive()
        return dataclasses.replace(
            result,
            server_cpu_s=round(cpu, 3),
            other_load_cores=round(max(other, 0.0) / window, 3) if window > 0 else 0.0,
        )

    def _memory(self, server: RunningServer) -> list[dict[str, Any]]:
        processes = server.memory()
        for process in processes:
            self.log(f"  memory pid {process.pid:<7} {process.rss_mb:7.1f} MB  {process.command}")
        return [_memory_dict(p) for p in processes]

    def run_baseline(self, figures: Figures) -> None:
        with running(self._start_baseline()) as server:
            result = self._measure(
                server, PREDICT_PATH, self.scripts["predict"], "baseline /predict"
            )
            figures.baseline = {"predict": result.as_dict(), "memory": self._memory(server)}

    def _interleaved(self, server: RunningServer) -> tuple[LoadResult, LoadResult]:
        """The ceiling and /predict on the same process, alternating in rounds of a second.

        On a machine shared with other work the speed of the core changes from second to
        second (by a third here); taking turns that often, the first of each pair switched
        every round, spreads that over both sides of the ratio instead of favouring one.
        """
        rounds = max(1, min(self.config.ceiling_rounds, int(self.config.phase_seconds)))
        seconds = max(1.0, self.config.phase_seconds / rounds)
        load = dataclasses.replace(self.config.load(), duration=seconds)
        runs: dict[str, list[LoadResult]] = {"ceiling": [], "predict": []}
        pair = ((CEILING_PATH, "ceiling"), (PREDICT_PATH, "predict"))
        for path, key in pair:
            if self.config.warmup_seconds > 0:
                with contextlib.suppress(LoadError):
                    run_wrk(server.url + path, self.scripts[key], load, duration=self.config.warmup_seconds)  # fmt: skip
        for round_number in range(rounds):
            for path, key in pair if round_number % 2 == 0 else pair[::-1]:
                runs[key].append(self._timed(server, server.url + path, self.scripts[key], load))
        ceiling, predict = merge_runs(runs["ceiling"]), merge_runs(runs["predict"])
        for label, result in (("ceiling (constant)", ceiling), ("api /predict", predict)):
            self._say(label, result)
        return ceiling, predict

    def run_production(self, figures: Figures, server_name: str) -> None:
        name = f"api-{server_name}"
        with running(self._start_api(name, server_name, ceiling=True)) as server:
            ceiling, predict = self._interleaved(server)
            figures.ceiling = {
                "server": server_name,
                "predict": ceiling.as_dict(),
                "rounds": self.config.ceiling_rounds,
            }
            batch = self._measure_batch(server, f"api /predict/batch ({BATCH_ROWS} rows)")
            v2_batch = self._measure_batch(
                server, f"api V2 infer ({BATCH_ROWS} rows)", V2_INFER_PATH, self.scripts["v2_batch"]
            )
            # The same batch bodies read by the constant route: what HTTP and the body cost.
            figures.ceiling["batch"] = self._measure_batch(
                server,
                f"ceiling ({BATCH_ROWS}-row bodies)",
                CEILING_PATH,
                self.scripts["ceiling_batch"],
            )
            feedback = self._measure(
                server,
                FEEDBACK_PATH,
                self.scripts["feedback"],
                "api /feedback",
                warmup_script=self.scripts["feedback_warmup"],
            )
            memory = self._memory(server)
            retrain = measure_retrain(self, server, self.environments[f"api-{server_name}"])
            figures.api = {
                "server": server_name,
                "workers": 1,
                "predict": predict.as_dict(),
                "batch": batch,
                "v2_batch": v2_batch,
                "feedback": {**feedback.as_dict(), "feedback_per_s": feedback.requests_per_s},
                "memory": memory,
                "retrain": retrain,
            }
            figures.servers[server_name] = {
                "predict": predict.as_dict(),
                "batch": batch,
                "memory": memory,
            }

    def run_alternative(self, figures: Figures, server_name: str) -> None:
        with running(self._start_api(f"api-{server_name}", server_name)) as server:
            predict = self._measure(
                server, PREDICT_PATH, self.scripts["predict"], f"api /predict ({server_name})"
            )
            batch = self._measure_batch(server, f"api /predict/batch ({server_name})")
            figures.servers[server_name] = {
                "predict": predict.as_dict(),
                "batch": batch,
                "memory": self._memory(server),
            }

    def _measure_batch(
        self,
        server: RunningServer,
        label: str,
        path: str = BATCH_PATH,
        script: str | None = None,
    ) -> dict[str, Any]:
        batch = self._measure(
            server,
            path,
            script or self.scripts["batch"],
            label,
            connections=self.config.batch_connections,
        )
        return {
            **batch.as_dict(),
            "rows_per_request": BATCH_ROWS,
            "rows_per_s": batch.requests_per_s * BATCH_ROWS,
        }

    # -- all ---------------------------------------------------------------------------------
    def run(self, primary: str) -> Figures:
        from services.api.bench.limit import measure_limit
        from services.api.bench.peer_phases import run_peers

        figures = Figures()
        self.run_baseline(figures)
        self.run_production(figures, primary)
        for name in self.config.servers:
            if name != primary:
                self.run_alternative(figures, name)
        run_peers(self, figures)
        figures.limit = measure_limit(self.model, self.workload, self.config, self.log)
        return figures


def _children_cpu_seconds() -> float:
    """CPU time of this process's finished children (each wrk run, once it was waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _memory_dict(process: ProcessMemory) -> dict[str, Any]:
    return {"pid": process.pid, "command": process.command, "rss_mb": round(process.rss_mb, 1)}
