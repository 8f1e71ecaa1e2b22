"""A one-replica Ray Serve deployment of the benchmark pipeline (``PEER_MODEL``, ``PEER_PORT``).

Ray Serve's documented way to serve a scikit-learn model: a ``@serve.deployment`` class that
loads the model in ``__init__`` and answers a Starlette request in ``__call__``, deployed with
``serve.run``. One replica holding one CPU, on a Ray started with one CPU and no dashboard
(nothing here reads it). Same bodies as MindPulse: ``{"features": {...}}`` for one row,
``{"instances": [...]}`` for a batch; GET answers the benchmark's readiness poll.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import joblib
import pandas as pd
import ray
from ray import serve
from starlette.requests import Request


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 1})
class MindPulse:
    def __init__(self, path: str) -> None:
        self.pipeline: Any = joblib.load(path)

    async def __call__(self, request: Request) -> dict[str, Any]:
        if request.method == "GET":
            return {"status": "ok"}
        body = await request.json()
        if "features" in body:
            frame = pd.DataFrame([body["features"]])
            probability = float(self.pipeline.predict_proba(frame)[0, 1])
            return {"prediction": int(probability > 0.5), "probability": probability}
        probability = self.pipeline.predict_proba(pd.DataFrame(body["instances"]))[:, 1]
        return {
            "predictions": (probability > 0.5).astype(int).tolist(),
            "probabilities": probability.tolist(),
        }


def main() -> None:
    # Ray's session folder holds unix sockets, so its path must be short: the benchmark
    # gives a folder under /tmp (PEER_TEMP_DIR) and removes it afterwards.
    temp = os.environ["PEER_TEMP_DIR"]
    ray.init(
        num_cpus=1,
        include_dashboard=False,
        object_store_memory=100 * 1024 * 1024,
        _temp_dir=temp,
    )
    serve.start(http_options={"host": "127.0.0.1", "port": int(os.environ["PEER_PORT"])})
    serve.run(MindPulse.bind(os.environ["PEER_MODEL"]), route_prefix="/")

    def stop(*_: object) -> None:
        serve.shutdown()
        ray.shutdown()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.pause()


if __name__ == "__main__":
    main()
