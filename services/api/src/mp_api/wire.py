"""Request and response bodies of the HTTP contract, as msgspec Structs.

Requests embed :class:`~mp_core.schema.StudentProfile`, so the schema in mp-core is the one
validator. The prediction endpoints decode rows into :data:`ProfileRow`, a twin of the profile built
from the same annotations (same names, types, ranges and categories) minus its ``__post_init__``:
that hook only guards against NaN from Python callers, and JSON cannot carry NaN while every
feature's range already refuses an infinity. Skipping it keeps predictions fast.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_type_hints

import msgspec

from mp_core.schema import FEATURE_NAMES, StudentProfile

Label = Literal[0, 1]

_PROFILE_HINTS = get_type_hints(StudentProfile, include_extras=True)

ProfileRow: type[msgspec.Struct] = msgspec.defstruct(
    "ProfileRow",
    [(name, _PROFILE_HINTS[name]) for name in FEATURE_NAMES],
    forbid_unknown_fields=True,
    frozen=True,
    gc=False,
)


class PredictRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``{"features": {...nine features...}}``."""

    features: StudentProfile


class PredictRow(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """What :class:`PredictRequest` is decoded into on the raw route (see the module docstring)."""

    features: ProfileRow  # type: ignore[valid-type]


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``{"instances": [{...}, ...]}``: one to ``MAX_BATCH`` profiles."""

    instances: Annotated[list[StudentProfile], msgspec.Meta(min_length=1)]


class BatchRows(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """What :class:`BatchRequest` is decoded into (see the module docstring)."""

    instances: Annotated[list[ProfileRow], msgspec.Meta(min_length=1)]  # type: ignore[valid-type]


class PredictionAnswer(msgspec.Struct, frozen=True, gc=False):
    """:class:`~mp_core.contract.Prediction` as ``/predict`` writes it: the receipt as its
    bytes, which msgspec's encoder writes as base64, the receipt's own text (the same JSON,
    without a Python-level base64 step for every answer). Scalars only: the garbage collector
    need not track one made for every prediction."""

    prediction: int
    probability: float
    model_version: str
    prediction_id: bytes


class BatchPredictionAnswer(msgspec.Struct, frozen=True):
    """:class:`~mp_core.contract.BatchPrediction` as ``/predict/batch`` writes it (the receipts
    as bytes, see :class:`PredictionAnswer`)."""

    predictions: list[int]
    probabilities: list[float]
    model_version: str
    prediction_ids: list[bytes]


#: Longest ``prediction_id`` read (a receipt is 124 characters, one of an earlier format about 210).
MAX_RECEIPT_CHARS = 1000
Receipt = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_RECEIPT_CHARS)]


class FeedbackRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The receipt ``POST /predict`` returned for an estimate, and the true class."""

    prediction_id: Receipt
    actual: Label


class FeedbackBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What :class:`FeedbackRequest` is decoded into: the same, plus the fields of the body
    before receipts, only so that the route can refuse them by name."""

    actual: Label
    prediction_id: Receipt | None = None
    features: Any = msgspec.UNSET
    prediction: Any = msgspec.UNSET


class Health(msgspec.Struct, frozen=True):
    """``ok`` with a model; ``degraded`` (still 200: predictions go on) when a store is down,
    with the reason; ``unavailable`` (HTTP 503) with the reason when no model serves."""

    status: Literal["ok", "degraded", "unavailable"]
    model_version: str | None = None
    algorithm: str | None = None
    reason: str | None = None


class RetrainAccepted(msgspec.Struct, frozen=True):
    """The request is recorded; a trainer (``mindpulse worker``) takes it."""

    status: Literal["queued"]
    detail: str
    trainers: list[str]


class RollbackDone(msgspec.Struct, frozen=True):
    status: Literal["ok"]
    version: str
    previous: str | None


class FieldError(msgspec.Struct, frozen=True):
    """One bad field of a request: its name, the rule it breaks, and where it is in the body."""

    field: str
    rule: str
    path: str


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """Every 4xx/5xx body: a code, what was wrong, and where (``field``) by which ``rule``.

    An invalid body lists every bad field in ``errors``; the first one is also given in
    ``field``, ``rule`` and ``path``, as before the list existed.
    """

    error: str
    detail: str
    field: str | None = None
    rule: str | None = None
    path: str | None = None
    errors: list[FieldError] | None = None


class VersionSummary(msgspec.Struct, frozen=True):
    """One kept model version as its manifest describes it (``metrics`` on held-out rows)."""

    version: str
    current: bool
    created_at: str | None = None
    algorithm: str | None = None
    trained_by: str | None = None
    selection_metric: str | None = None
    metrics: dict[str, Any] | None = None
    problem: str | None = None


class ModelVersions(msgspec.Struct, frozen=True):
    """``GET /model/versions``: every kept version, oldest first."""

    current: str | None
    versions: list[VersionSummary]


class ModelInfo(msgspec.Struct, frozen=True):
    """The serving model and the last retrain (``version`` is None before any training)."""

    serving: bool
    version: str | None
    algorithm: str | None = None
    trained_at: str | None = None
    selection_metric: str | None = None
    metrics: dict[str, Any] | None = None
    training_rows: int | None = None
    trained_by: str | None = None
    load_error: str | None = None
    mlflow_run: dict[str, str] | None = None
    # Feedback rows stored now, and how many of them the serving model was trained on.
    feedback_total: int = 0
    feedback_at_training: int = 0
    feedback_since_training: int = 0
    retrain_running: bool = False
    retrain: dict[str, Any] | None = None
    # Retrain requests recorded and not yet taken, the trainers seen lately, and what that means.
    retrain_waiting: int = 0
    trainers: list[str] = msgspec.field(default_factory=list)
    trainer_note: str | None = None
    stores: str = "files"
