"""The baseline: the original platform's way of serving, kept only to measure against.

FastAPI validates the body with pydantic, each request builds a one-row pandas DataFrame and runs
the fitted scikit-learn preprocessor and model on it, served by uvicorn with one worker. The
model is the same verified bundle the API serves (``ArtifactStore(...).load_bundle()``).

Run: ``ARTIFACTS_DIR=... uvicorn services.api.bench.baseline:create_app --factory``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel, Field

from mp_core.stores.artifacts_files import ArtifactStore


class StudentFeatures(BaseModel):
    Age: Annotated[int, Field(ge=16, le=100)]
    Gender: Literal["Male", "Female", "Other"]
    Department: Literal["Engineering", "Science", "Arts", "Business", "Medical", "Law"]
    CGPA: Annotated[float, Field(ge=0.0, le=4.0)]
    Sleep_Duration: Annotated[float, Field(ge=0.0, le=24.0)]
    Study_Hours: Annotated[float, Field(ge=0.0, le=24.0)]
    Social_Media_Hours: Annotated[float, Field(ge=0.0, le=24.0)]
    Physical_Activity: Annotated[float, Field(ge=0.0, le=10080.0)]
    Stress_Level: Annotated[int, Field(ge=1, le=10)]


class PredictRequest(BaseModel):
    features: StudentFeatures


class PredictResponse(BaseModel):
    prediction: int
    probability: float
    model_version: str


def create_app() -> FastAPI:
    bundle = ArtifactStore(Path(os.environ.get("ARTIFACTS_DIR", "artifacts"))).load_bundle()
    preprocessor: Any = bundle.preprocessor
    model: Any = bundle.model
    app = FastAPI(title="MindPulse baseline (original approach)")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model_version": bundle.version}

    @app.post("/predict", response_model=PredictResponse)
    async def predict(request: PredictRequest) -> PredictResponse:
        frame = pd.DataFrame([request.features.model_dump()])
        transformed = preprocessor.transform(frame)
        prediction = int(model.predict(transformed)[0])
        probability = float(model.predict_proba(transformed)[0][1])
        return PredictResponse(
            prediction=prediction, probability=probability, model_version=bundle.version
        )

    return app
