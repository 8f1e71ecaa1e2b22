"""The API's answers, shared by the server (which encodes them) and the client (which decodes
them), so the two sides of the HTTP contract cannot drift apart."""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

#: One valid profile, used in the OpenAPI examples, the docs and the tests.
EXAMPLE_PROFILE: Final[dict[str, Any]] = {
    "Age": 21,
    "Gender": "Female",
    "Department": "Science",
    "CGPA": 3.2,
    "Sleep_Duration": 6.5,
    "Study_Hours": 4.0,
    "Social_Media_Hours": 3.5,
    "Physical_Activity": 120.0,
    "Stress_Level": 7,
}


class Prediction(msgspec.Struct, frozen=True):
    """``POST /predict``: the class, the probability of class 1, the version that answered, and
    the signed receipt of this answer that ``POST /feedback`` takes."""

    prediction: int
    probability: float
    model_version: str
    prediction_id: str


class BatchPrediction(msgspec.Struct, frozen=True):
    """``POST /predict/batch``: one class and one probability per row, in order."""

    predictions: list[int]
    probabilities: list[float]
    model_version: str
    prediction_ids: list[str]


class FeedbackAck(msgspec.Struct, frozen=True):
    """``POST /feedback``: stored; the running total; whether this one started a retrain."""

    status: Literal["ok"]
    total_feedbacks: int
    retrain_triggered: bool
