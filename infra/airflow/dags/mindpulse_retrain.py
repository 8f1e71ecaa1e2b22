"""``mindpulse_retrain``: ask the API for a retrain when enough feedback came in or data drifted.

Hourly by default (``MINDPULSE_RETRAIN_SCHEDULE`` overrides it). Three tasks:

1. ``read_signals``: GET /model for the serving version, the last retrain and the feedback rows
   gathered since the model was trained.
2. ``request_retrain``: rows >= RETRAIN_MIN_ROWS -> POST /retrain; otherwise run
   ``mindpulse-report --drift-check``, which posts the retrain itself when the drift share is
   over DRIFT_THRESHOLD (exit 10; 11 when one is already running; 0 nothing to do).
3. ``wait_for_retrain``: poll GET /model until that retrain ends. A failed retrain fails the
   task; a challenger that was not promoted is a success, its reason written to the log.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task
from mindpulse_platform import (
    DRIFT_NONE,
    DRIFT_RETRAIN_REQUESTED,
    DRIFT_RETRAIN_RUNNING,
    Api,
    PlatformError,
    feedback_rows_since_training,
    number,
    retrain_key,
    run_report,
    wait_for_retrain,
)

log = logging.getLogger("mindpulse.dags.retrain")


@dag(
    dag_id="mindpulse_retrain",
    schedule=os.environ.get("MINDPULSE_RETRAIN_SCHEDULE", "@hourly"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 0},
    dagrun_timeout=timedelta(hours=1),
    tags=["mindpulse"],
    doc_md=__doc__,
)
def mindpulse_retrain() -> None:
    @task
    def read_signals() -> dict[str, Any]:
        model = Api.from_settings().model()
        rows = feedback_rows_since_training(model)
        if rows is None:
            log.warning("GET /model does not report feedback rows since training; drift only")
        signals = {
            "version": model.get("version"),
            "rows_since_training": rows,
            # None while a retrain runs: then we wait for that one rather than start another.
            "previous_retrain": None if model.get("retrain_running") else retrain_key(model),
        }
        log.info("signals: %s", signals)
        return signals

    @task
    def request_retrain(signals: dict[str, Any]) -> dict[str, Any]:
        api = Api.from_settings()
        min_rows = int(number("RETRAIN_MIN_ROWS"))
        rows = signals["rows_since_training"]
        if rows is not None and rows >= min_rows:
            outcome = api.request_retrain()
            log.info("%s feedback rows since training >= %s: retrain %s", rows, min_rows, outcome)
            return {**signals, "requested": True, "why": f"{rows} feedback rows"}
        done = run_report("--drift-check")
        if done.returncode == DRIFT_NONE:
            log.info("no drift over the threshold and %s feedback rows: no retrain", rows)
            return {**signals, "requested": False, "why": "no drift, few rows"}
        if done.returncode in (DRIFT_RETRAIN_REQUESTED, DRIFT_RETRAIN_RUNNING):
            log.info("drift over the threshold: the drift check asked for a retrain")
            return {**signals, "requested": True, "why": "drift"}
        raise PlatformError(f"drift check failed with exit code {done.returncode}")

    @task
    def wait_for_outcome(request: dict[str, Any]) -> dict[str, Any] | None:
        if not request["requested"]:
            log.info("nothing requested (%s)", request["why"])
            return None
        status = wait_for_retrain(Api.from_settings(), request["previous_retrain"])
        state = status.get("state")
        if state == "failed":
            raise PlatformError(f"the retrain failed: {status.get('error') or status}")
        if state == "rejected":
            log.info("challenger not promoted: %s", status.get("reason"))
        else:
            log.info("retrain %s: %s", state, status.get("reason"))
        return {k: status.get(k) for k in ("state", "decision", "reason", "finished_at")}

    wait_for_outcome(request_retrain(read_signals()))


mindpulse_retrain()
