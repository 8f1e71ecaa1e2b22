"""KServe's Python model server with a custom ``kserve.Model`` (``PEER_MODEL``, ``PEER_PORT``).

The documented way to serve a model of one's own with KServe's Python server: subclass
``kserve.Model``, load in ``load()``, answer the v1 protocol (``{"instances": [...]}``) in
``predict``, start ``kserve.ModelServer``. One uvicorn worker (one core); gRPC is switched off
(nothing uses it here) and so is the per-request latency log line, as for every server measured.
"""

from __future__ import annotations

import os
from typing import Any

import joblib
import kserve
import pandas as pd


class MindPulse(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.pipeline: Any = None
        self.load()

    def load(self) -> bool:
        self.pipeline = joblib.load(self.path)
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: Any = None) -> dict[str, Any]:
        frame = pd.DataFrame(payload["instances"])
        probability = self.pipeline.predict_proba(frame)[:, 1]
        return {
            "predictions": (probability > 0.5).astype(int).tolist(),
            "probabilities": probability.tolist(),
        }


def main() -> None:
    model = MindPulse("mindpulse", os.environ["PEER_MODEL"])
    port = int(os.environ["PEER_PORT"])
    kserve.ModelServer(
        http_port=port, workers=1, enable_grpc=False, enable_latency_logging=False
    ).start([model])


if __name__ == "__main__":
    main()
