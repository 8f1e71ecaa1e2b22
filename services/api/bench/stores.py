"""Feedback/s on each store backend, next to /predict on the same server, in one run.

For each backend (files under DATA_DIR; PostgreSQL in a throwaway cluster of Debian's binaries
on a free loopback port) one API worker is started on the benchmark model, ``/predict`` and
``/feedback`` are loaded with wrk one after the other, and the ratio feedback/predict is kept,
so two backends measured minutes apart on a shared machine can still be compared.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

from mp_core.settings import Settings
from services.api.bench.model import settings_under
from services.api.bench.runner import FEEDBACK_PATH, PREDICT_PATH, Bench
from services.api.bench.servers import running
from testsupport.postgres import PostgresServer, copy_models

BACKENDS = ("files", "postgresql")


@contextlib.contextmanager
def throwaway_postgres(bench: Bench) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of Debian's binaries under the run folder, removed afterwards."""
    root = bench.run_dir / "postgres"
    root.mkdir(parents=True, exist_ok=True)
    database = PostgresServer(root)
    database.init()
    database.start()
    try:
        yield database
    finally:
        database.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def measure_backend(
    bench: Bench, server_name: str, backend: str, database: PostgresServer
) -> dict[str, Any]:
    """One API worker on ``backend``: /predict, then /feedback, and their ratio."""
    extra: dict[str, str] = {}
    if backend == "postgresql":
        url = database.new_database()
        copy_models(settings_under(bench.model.root), Settings(database_url=url))
        extra["DATABASE_URL"] = url
    name = f"stores-{backend}"
    with running(bench._start_api(name, server_name, extra=extra)) as server:
        predict = bench._measure(
            server, PREDICT_PATH, bench.scripts["predict"], f"{backend}: /predict"
        )
        feedback = bench._measure(
            server,
            FEEDBACK_PATH,
            bench.scripts["feedback"],
            f"{backend}: /feedback",
            warmup_script=bench.scripts["feedback_warmup"],
        )
    return {
        "predict": predict.as_dict(),
        "feedback": feedback.as_dict(),
        "feedback_per_s": feedback.requests_per_s,
        "feedback_vs_predict": (
            feedback.requests_per_s / predict.requests_per_s if predict.requests_per_s else 0.0
        ),
    }


def measure_stores(bench: Bench, server_name: str) -> dict[str, Any]:
    """``{backend: {predict, feedback, feedback_per_s, feedback_vs_predict}}``."""
    with throwaway_postgres(bench) as database:
        return {
            backend: measure_backend(bench, server_name, backend, database) for backend in BACKENDS
        }


def render_stores(figures: dict[str, Any]) -> str:
    lines = ["", "Feedback by store backend (1 worker, same run):"]
    for backend, found in figures.items():
        lines.append(
            f"  {backend:<11} /feedback {found['feedback_per_s']:>8,.0f}/s"
            f"  p99 {found['feedback']['p99_ms']:6.2f} ms"
            f"   next to /predict {found['predict']['requests_per_s']:>8,.0f} req/s"
            f"  (feedback/predict {found['feedback_vs_predict']:.2f})"
        )
    return "\n".join(lines)
