"""Start the MLflow tracking server for MindPulse: SQLite backend store, local artifact root.

Run from the server's own environment (``just mlflow``, i.e.
``uv run --frozen --project infra/mlflow python infra/mlflow/serve.py``); it replaces itself
with ``mlflow server`` so signals reach the server directly.

Environment: ``MLFLOW_PORT`` (5000), ``MLFLOW_HOST`` (127.0.0.1; 0.0.0.0 in a container),
``MLFLOW_DIR`` (where ``mlflow.db`` and ``artifacts/`` live; default ``$DATA_DIR/mlflow``),
``MLFLOW_ALLOWED_HOSTS`` (extra Host headers accepted, e.g. ``mlflow:5000`` in compose),
``MLFLOW_WORKERS`` (1).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def server_command(environ: dict[str, str]) -> list[str]:
    """The ``mlflow server`` command line for ``environ``."""
    port = environ.get("MLFLOW_PORT") or "5000"
    host = environ.get("MLFLOW_HOST") or "127.0.0.1"
    root = Path(environ.get("MLFLOW_DIR") or Path(environ.get("DATA_DIR") or "data") / "mlflow")
    root = root.resolve()
    (root / "artifacts").mkdir(parents=True, exist_ok=True)
    mlflow = shutil.which("mlflow") or "mlflow"
    command = [
        mlflow,
        "server",
        "--host",
        host,
        "--port",
        port,
        "--workers",
        environ.get("MLFLOW_WORKERS") or "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        # The server proxies artifact uploads, so clients need no access to this folder.
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    if environ.get("MLFLOW_ALLOWED_HOSTS"):
        command += ["--allowed-hosts", environ["MLFLOW_ALLOWED_HOSTS"]]
    return command


# MLflow 3 starts a job runner with huey consumers next to the server (for its GenAI jobs, which
# MindPulse does not use): several processes of 130-250 MB each, beyond the container's 1 GiB,
# so the server was OOM-killed in a loop. Off unless the environment turns it on.
SERVER_DEFAULTS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def main() -> None:
    for name, value in SERVER_DEFAULTS.items():
        os.environ.setdefault(name, value)
    command = server_command(dict(os.environ))
    print(f"MLflow on http://{command[3]}:{command[5]} (store {command[9]})", file=sys.stderr)
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
