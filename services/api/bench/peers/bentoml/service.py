"""A BentoML 1.4 service for the benchmark pipeline: ``bentoml serve service:MindPulse``.

BentoML's documented way: a ``@bentoml.service`` class that loads the model in ``__init__`` and
exposes ``@bentoml.api`` methods with typed (pydantic) inputs. One worker for one core (its
docs size ``workers`` to the CPUs given to the service). The routes and bodies are the same as
MindPulse's own: ``POST /predict {"features": {...}}``, ``POST /predict/batch {"instances": [...]}``.
The joblib file is the one the benchmark wrote (``PEER_MODEL``).
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import bentoml
import joblib
import pandas as pd
from pydantic import BaseModel, Field


class Profile(BaseModel):
    Age: Annotated[int, Field(ge=16, le=100)]
    Gender: Literal["Male", "Female", "Other"]
    Department: Literal["Engineering", "Science", "Arts", "Business", "Medical", "Law"]
    CGPA: Annotated[float, Field(ge=0.0, le=4.0)]
    Sleep_Duration: Annotated[float, Field(ge=0.0, le=24.0)]
    Study_Hours: Annotated[float, Field(ge=0.0, le=24.0)]
    Social_Media_Hours: Annotated[float, Field(ge=0.0, le=24.0)]
    Physical_Activity: Annotated[float, Field(ge=0.0, le=10080.0)]
    Stress_Level: Annotated[int, Field(ge=1, le=10)]


@bentoml.service(workers=1, resources={"cpu": "1"})
class MindPulse:
    def __init__(self) -> None:
        self.pipeline: Any = joblib.load(os.environ["PEER_MODEL"])

    @bentoml.api
    def predict(self, features: Profile) -> dict[str, Any]:
        probability = float(
            self.pipeline.predict_proba(pd.DataFrame([features.model_dump()]))[0, 1]
        )
        return {"prediction": int(probability > 0.5), "probability": probability}

    @bentoml.api(route="/predict/batch")
    def predict_batch(self, instances: list[Profile]) -> dict[str, Any]:
        frame = pd.DataFrame([row.model_dump() for row in instances])
        probability = self.pipeline.predict_proba(frame)[:, 1]
        return {
            "predictions": (probability > 0.5).astype(int).tolist(),
            "probabilities": probability.tolist(),
        }
