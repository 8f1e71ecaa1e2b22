"""Start MLServer on the benchmark pipeline (``PEER_MODEL``, ``PEER_PORT``, ``PEER_WORK_DIR``).

The documented way to serve a scikit-learn model with MLServer: a model folder holding
``model-settings.json`` (``mlserver_sklearn.SKLearnModel``, the joblib file as its URI) and a
server ``settings.json``, then ``mlserver start``. ``parallel_workers: 0`` runs inference in the
server process itself, which is what MLServer's docs give for a single core (the default pool of
worker processes only adds inter-process hops when there is one core to share).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path


def main() -> None:
    model, port = Path(os.environ["PEER_MODEL"]), int(os.environ["PEER_PORT"])
    work = Path(os.environ["PEER_WORK_DIR"])
    folder = work / "mindpulse"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, folder / "model.joblib")
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "mindpulse",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
        )
    )
    (work / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": port,
                "grpc_port": port + 1,
                "metrics_port": port + 2,
                "parallel_workers": 0,
                "debug": False,
            }
        )
    )
    mlserver = Path(sys.executable).with_name("mlserver")
    os.execv(str(mlserver), [str(mlserver), "start", str(work)])


if __name__ == "__main__":
    main()
