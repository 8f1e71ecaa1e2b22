"""How the MindPulse DAGs reach the platform: its HTTP API and its console scripts, nothing else.

Nothing here imports MindPulse code, so Airflow runs in its own environment. Each setting is
read from an Airflow Variable of the same name first (``AIRFLOW_VAR_<NAME>`` works too), then
from the environment, then a default:

=====================  ========================================================================
API_URL                the API (http://127.0.0.1:8080)
ADMIN_TOKEN            bearer token for POST /retrain (required to request a retrain)
RETRAIN_MIN_ROWS       feedback rows since the model's training that call for a retrain (1000)
DRIFT_THRESHOLD        drift share above which the drift check asks for a retrain (0.3)
MINDPULSE_REPORT_CMD   the reporting console script (``mindpulse-report``), as a command line
RETRAIN_WAIT_SECONDS   how long to wait for a requested retrain to finish (1800)
RETRAIN_POLL_SECONDS   how often to ask GET /model while waiting (5)
REPORTS_KEEP           report runs kept in the history (10)
=====================  ========================================================================
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("mindpulse.dags")

DEFAULTS: dict[str, str] = {
    "API_URL": "http://127.0.0.1:8080",
    "ADMIN_TOKEN": "",
    "RETRAIN_MIN_ROWS": "1000",
    "DRIFT_THRESHOLD": "0.3",
    "MINDPULSE_REPORT_CMD": "mindpulse-report",
    "RETRAIN_WAIT_SECONDS": "1800",
    "RETRAIN_POLL_SECONDS": "5",
    "REPORTS_KEEP": "10",
}
#: ``mindpulse-report --drift-check`` exit codes (services/reporting/src/mp_reporting/cli.py).
DRIFT_NONE, DRIFT_RETRAIN_REQUESTED, DRIFT_RETRAIN_RUNNING = 0, 10, 11
HTTP_TIMEOUT = 10.0
#: Settings handed on to the console scripts, which read them from their environment.
PASSED_TO_SCRIPTS = (
    "API_URL",
    "ADMIN_TOKEN",
    "DRIFT_THRESHOLD",
    "DATA_DIR",
    "ARTIFACTS_DIR",
    "REPORTS_DIR",
)


class PlatformError(RuntimeError):
    """The platform answered in a way that fails the task (message says what and why)."""


def _from_environment(name: str) -> str:
    """``NAME``, else the file ``NAME_FILE`` names (a Docker secret), else the default. The
    console scripts follow the same convention (mp_core.settings.env_value)."""
    path = os.environ.get(f"{name}_FILE")
    if path and not os.environ.get(name):
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip("\r\n")
        except OSError as exc:
            raise PlatformError(f"{name}_FILE: cannot read {path} ({exc.strerror})") from None
    return os.environ.get(name, DEFAULTS.get(name, ""))


def setting(name: str) -> str:
    """Airflow Variable ``name``, else the environment (or ``NAME_FILE``), else the default."""
    from airflow.sdk import Variable

    fallback = _from_environment(name)
    try:
        value = Variable.get(name, default=fallback)
    except Exception:  # no metadata database reachable: the environment still configures us
        value = fallback
    return str(value if value is not None else "")


def number(name: str) -> float:
    raw = setting(name)
    try:
        return float(raw)
    except ValueError:
        raise PlatformError(f"setting {name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Api:
    """The few API calls the DAGs make."""

    url: str
    token: str

    @classmethod
    def from_settings(cls) -> Api:
        return cls(url=setting("API_URL").rstrip("/"), token=setting("ADMIN_TOKEN"))

    def model(self) -> dict[str, Any]:
        """GET /model: the serving version and the last retrain's status."""
        try:
            response = httpx.get(f"{self.url}/model", timeout=HTTP_TIMEOUT)
        except httpx.HTTPError as exc:
            raise PlatformError(f"API unreachable at {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise PlatformError(f"GET /model answered {response.status_code}: {response.text}")
        body: dict[str, Any] = response.json()
        return body

    def request_retrain(self) -> str:
        """POST /retrain; "accepted" (202) or "running" (409: one is already going)."""
        if not self.token:
            raise PlatformError("ADMIN_TOKEN is not set: the API refuses POST /retrain")
        try:
            response = httpx.post(
                f"{self.url}/retrain",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=HTTP_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise PlatformError(f"API unreachable at {self.url}: {exc}") from exc
        if response.status_code == 202:
            return "accepted"
        if response.status_code == 409:
            return "running"
        raise PlatformError(f"POST /retrain answered {response.status_code}: {response.text}")


def feedback_rows_since_training(model: dict[str, Any]) -> int | None:
    """Feedback rows gathered since the serving model was trained, when GET /model says so."""
    for key in ("feedback_since_training", "feedback_rows_since_training"):
        if isinstance(model.get(key), int):
            return int(model[key])
    total, at_training = model.get("feedback_total"), model.get("feedback_at_training")
    if isinstance(total, int) and isinstance(at_training, int):
        return max(0, total - at_training)
    return None


def run_report(*args: str, timeout: float = 1800.0) -> subprocess.CompletedProcess[str]:
    """Run the reporting console script with the platform settings in its environment."""
    command = [*shlex.split(setting("MINDPULSE_REPORT_CMD")), *args]
    env = dict(os.environ)
    for name in PASSED_TO_SCRIPTS:
        value = setting(name)
        # A secret read from a file stays there: the script reads the same file.
        if value and not os.environ.get(f"{name}_FILE"):
            env[name] = value
    log.info("running %s", shlex.join(command))
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise PlatformError(
            f"{command[0]} not found: set MINDPULSE_REPORT_CMD to the reporting console script"
        ) from None
    for line in (done.stdout + done.stderr).splitlines():
        log.info("| %s", line)
    return done


def retrain_key(model: dict[str, Any]) -> str | None:
    """What identifies the last retrain in GET /model (its start time)."""
    status = model.get("retrain") or {}
    return str(status.get("started_at")) if status.get("started_at") else None


def wait_for_retrain(api: Api, previous: str | None) -> dict[str, Any]:
    """Poll GET /model until a retrain newer than ``previous`` has finished; return its status."""
    deadline = time.monotonic() + number("RETRAIN_WAIT_SECONDS")
    poll = max(0.2, number("RETRAIN_POLL_SECONDS"))
    while True:
        model = api.model()
        status = model.get("retrain") or {}
        is_new = retrain_key(model) not in (None, previous)
        if is_new and not model.get("retrain_running") and status.get("state") != "running":
            return dict(status)
        if time.monotonic() > deadline:
            raise PlatformError(
                f"the retrain did not finish within {number('RETRAIN_WAIT_SECONDS'):.0f} s"
            )
        time.sleep(poll)
