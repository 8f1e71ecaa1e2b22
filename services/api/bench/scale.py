"""How many API replicas one PostgreSQL serves (``python -m services.api.bench --scale``).

Two figures from one run on this machine:

- **one replica**: one API worker (a Swarm or Kubernetes replica runs exactly one) on the
  PostgreSQL backend, ``/predict`` then ``/feedback`` loaded with wrk (the stores benchmark);
- **the database**: rows per second PostgreSQL commits into the feedback table when W writers
  insert as fast as they can through the feedback store itself (threads of this process, one
  connection each, no HTTP), for W = 1, 4, 16, 32: the most one PostgreSQL takes for this table.

Replicas one PostgreSQL serves = the database's best rows/s ÷ one replica's feedback/s. How the
rows/s grow with W says what limits them: every insert holds the one ``feedback_counter`` row
until its commit (that is what numbers rows exactly across hosts), so commits queue behind that
row and the disk's flush; ``/predict`` never touches the database.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from mp_core.contract import EXAMPLE_PROFILE
from mp_core.schema import profile_from_mapping
from mp_core.stores.feedback_files import FeedbackRecord
from mp_core.stores.feedback_postgres import PostgresFeedbackStore
from mp_core.stores.postgres import Database
from services.api.bench.runner import Bench
from services.api.bench.stores import measure_backend, throwaway_postgres

WRITERS = (1, 4, 16, 32)
#: Rows/s growing less than this from 1 writer to the most means the writes are serialized.
SERIALIZED_BELOW = 1.5


def database_rows_per_s(url: str, writers: int, seconds: float) -> float:
    """Feedback rows/s committed by ``writers`` threads, each with its own connection."""
    record = FeedbackRecord(
        profile=profile_from_mapping(EXAMPLE_PROFILE),
        prediction=1,
        probability=0.7,
        actual=1,
        model_version=f"scale-{uuid.uuid4().hex[:6]}",
    )
    stores = [PostgresFeedbackStore(Database(url)) for _ in range(writers)]
    for store in stores:
        store.add(record)  # opens the connection (and applies the schema) before the clock
    counts = [0] * writers
    start = threading.Barrier(writers + 1)
    deadline = 0.0

    def write(number: int) -> None:
        start.wait()
        while time.monotonic() < deadline:
            stores[number].add(record)
            counts[number] += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for store in stores:
        store.close()
    return sum(counts) / elapsed


def capacity(replica: dict[str, Any], database: dict[int, float]) -> dict[str, Any]:
    """Replicas per PostgreSQL and the next bottleneck, from the two measurements."""
    feedback_per_s = float(replica["feedback_per_s"])
    best_writers = max(database, key=lambda w: database[w])
    best = database[best_writers]
    growth = best / database[min(database)] if database[min(database)] else 0.0
    if growth < SERIALIZED_BELOW:
        bottleneck = (
            f"the feedback_counter row: rows/s grew only {growth:.1f}x from {min(database)} to "
            f"{best_writers} writers, because every insert holds that one row until its commit; "
            "past it, the disk's flush rate (each commit waits for it)"
        )
    else:
        bottleneck = (
            f"the database host's CPU and disk: rows/s grew {growth:.1f}x up to {best_writers} "
            "writers (commits flushed together), then the feedback_counter row, which every "
            "insert holds until its commit"
        )
    return {
        "replica_predict_per_s": float(replica["predict"]["requests_per_s"]),
        "replica_feedback_per_s": feedback_per_s,
        "database_rows_per_s": {str(w): round(r, 1) for w, r in database.items()},
        "database_best_rows_per_s": round(best, 1),
        "replicas_per_database": best / feedback_per_s if feedback_per_s else 0.0,
        "next_bottleneck": bottleneck,
    }


def measure_scale(bench: Bench, server_name: str, seconds: float) -> dict[str, Any]:
    """One replica on PostgreSQL, then the database alone, on one throwaway cluster."""
    with throwaway_postgres(bench) as server:
        replica = measure_backend(bench, server_name, "postgresql", server)
        url = server.new_database()
        database: dict[int, float] = {}
        for writers in WRITERS:
            database[writers] = database_rows_per_s(url, writers, seconds)
            bench.log(f"  PostgreSQL, {writers:>2} writer(s): {database[writers]:>8,.0f} rows/s")
    return {"replica": replica, **capacity(replica, database)}


def render_capacity(figures: dict[str, Any]) -> str:
    by_writers = ", ".join(f"{w}: {r:,.0f}" for w, r in figures["database_rows_per_s"].items())
    return "\n".join([
        "",
        "Capacity of one PostgreSQL (measured in this run, on this machine):",
        f"  one API replica (1 worker): /predict {figures['replica_predict_per_s']:,.0f} req/s,"
        f" /feedback {figures['replica_feedback_per_s']:,.0f}/s on PostgreSQL",
        f"  PostgreSQL feedback rows/s by writers: {by_writers}",
        f"  => one PostgreSQL takes the feedback of {figures['replicas_per_database']:.1f} "
        "replicas each writing as fast as it can; /predict uses no database, so predictions "
        "scale with replicas (CPU) alone",
        f"  next bottleneck: {figures['next_bottleneck']}",
    ])  # fmt: skip
