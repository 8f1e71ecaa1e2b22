"""Run Airflow natively for MindPulse: ``airflow standalone`` with SQLite on AIRFLOW_PORT (8083).

Started by ``just airflow`` from Airflow's own environment (infra/airflow). It sets Airflow's
configuration from the MindPulse environment, then replaces itself with ``airflow standalone``,
which migrates the database, starts the scheduler, DAG processor and API server, and prints
the login (user ``admin``; the password is also kept in
``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``).

Environment: ``AIRFLOW_PORT`` (8083), ``AIRFLOW_HOME`` (``$DATA_DIR/airflow``), and what the
DAGs use (see dags/mindpulse_platform.py): ``API_URL``, ``ADMIN_TOKEN``, ``RETRAIN_MIN_ROWS``,
``DRIFT_THRESHOLD``, ``MINDPULSE_REPORT_CMD`` (default: the workspace's ``mindpulse-report``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"


def airflow_environment(environ: dict[str, str]) -> dict[str, str]:
    """Airflow's configuration (``AIRFLOW__SECTION__KEY``) derived from MindPulse's."""
    env = dict(environ)
    data_dir = Path(env.get("DATA_DIR") or REPO / "data").resolve()
    home = Path(env.get("AIRFLOW_HOME") or data_dir / "airflow").resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = env.get("AIRFLOW_PORT") or "8083"
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(HERE / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__PORT=port,
        AIRFLOW__API__HOST=env.get("AIRFLOW_HOST") or "127.0.0.1",
        AIRFLOW__API__BASE_URL=f"http://{env.get('AIRFLOW_PUBLIC_HOST') or '127.0.0.1'}:{port}",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
    )
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    report = REPO / ".venv/bin/mindpulse-report"
    if not env.get("MINDPULSE_REPORT_CMD") and report.exists():
        env["MINDPULSE_REPORT_CMD"] = str(report)
    # The DAGs and the console scripts they run resolve relative folders from the repo root.
    for name in ("DATA_DIR", "ARTIFACTS_DIR", "REPORTS_DIR"):
        default = {"DATA_DIR": "data", "ARTIFACTS_DIR": "artifacts", "REPORTS_DIR": "reports"}
        env[name] = str(Path(env.get(name) or REPO / default[name]).resolve())
    return env


def saved_login(home: Path) -> str | None:
    """``admin`` and its password when an earlier start generated it (Airflow prints it once)."""
    try:
        passwords = json.loads((home / PASSWORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(passwords, dict) and isinstance(passwords.get("admin"), str):
        return f"user admin, password {passwords['admin']}"
    return None


def main() -> None:
    env = airflow_environment(dict(os.environ))
    airflow = shutil.which("airflow") or "airflow"
    url = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}"
    login = saved_login(Path(env["AIRFLOW_HOME"]))
    if login:
        print(f"Airflow on {url} - login: {login}", file=sys.stderr)
    else:
        print(
            f"Airflow on {url} - the admin password is printed below once generated.",
            file=sys.stderr,
        )
    os.chdir(REPO)
    os.execve(airflow, [airflow, "standalone"], env)


if __name__ == "__main__":
    main()
