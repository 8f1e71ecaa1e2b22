"""``mindpulse_reporting``: every 6 hours, write the Evidently reports and keep the last 10 runs.

Runs the reporting console script (``MINDPULSE_REPORT_CMD``, default ``mindpulse-report``)
with ``--keep REPORTS_KEEP``; the script writes REPORTS_DIR/*.html, summary.json and the
history. A non-zero exit fails the task with the script's output in the log.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from airflow.sdk import dag, task
from mindpulse_platform import PlatformError, number, run_report

log = logging.getLogger("mindpulse.dags.reporting")


@dag(
    dag_id="mindpulse_reporting",
    schedule=os.environ.get("MINDPULSE_REPORTING_SCHEDULE", "0 */6 * * *"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    dagrun_timeout=timedelta(hours=1),
    tags=["mindpulse"],
    doc_md=__doc__,
)
def mindpulse_reporting() -> None:
    @task
    def write_reports() -> int:
        done = run_report("--keep", str(int(number("REPORTS_KEEP"))))
        if done.returncode != 0:
            raise PlatformError(f"mindpulse-report failed with exit code {done.returncode}")
        return done.returncode

    write_reports()


mindpulse_reporting()
