"""Classification performance: the model on its reference set against its production feedback.

Reference = ``target`` vs ``prediction`` in ``ref_data.csv`` (all rows, plus the held-out test
split on its own); production = each feedback's ``actual`` vs the ``prediction`` it was given,
overall and per model version. The figures in ``summary.json`` come from scikit-learn on the same
frames; the HTML page is Evidently's ClassificationPreset, which needs both classes present on
each side, so with fewer rows the page shows the reference alone and says why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from mp_reporting.evidently_api import (
    BinaryClassification,
    ClassificationPreset,
    DataDefinition,
    Dataset,
    Report,
    Snapshot,
)

if TYPE_CHECKING:
    import pandas as pd

#: Fewer labelled rows than this give metrics too noisy to report.
MIN_METRIC_ROWS: Final = 20

_DEFINITION: Final = DataDefinition(
    categorical_columns=["target", "prediction"],
    classification=[BinaryClassification(target="target", prediction_labels="prediction")],
)


@dataclass(frozen=True, slots=True)
class Metrics:
    """Accuracy, F1, precision, recall and the confusion matrix [[TN, FP], [FN, TP]]."""

    rows: int
    accuracy: float
    f1: float
    precision: float
    recall: float
    confusion_matrix: list[list[int]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class PerformanceResult:
    reference: Metrics | None
    reference_held_out: Metrics | None
    production: Metrics | None
    by_model_version: dict[str, Metrics | None]
    rows_by_model_version: dict[str, int]
    notes: list[str] = field(default_factory=list)
    snapshot: Snapshot | None = None


def classification_metrics(actual: np.ndarray, predicted: np.ndarray) -> Metrics:
    """The four scores (0 where undefined, e.g. precision without positive predictions)."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
    )

    actual = np.asarray(actual, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    return Metrics(
        rows=len(actual),
        accuracy=float(accuracy_score(actual, predicted)),
        f1=float(f1_score(actual, predicted, zero_division=0)),
        precision=float(precision_score(actual, predicted, zero_division=0)),
        recall=float(recall_score(actual, predicted, zero_division=0)),
        confusion_matrix=confusion_matrix(actual, predicted, labels=[0, 1]).tolist(),
    )


def _metrics_or_note(
    actual: pd.Series, predicted: pd.Series, what: str, notes: list[str]
) -> Metrics | None:
    if len(actual) < MIN_METRIC_ROWS:
        notes.append(
            f"{what}: {len(actual)} labelled row(s); at least {MIN_METRIC_ROWS} are needed "
            "before accuracy, F1, precision and recall mean anything"
        )
        return None
    if actual.nunique() < 2:
        notes.append(
            f"{what}: every actual label is {int(actual.iloc[0])}, so precision, recall and F1 "
            "describe one class only"
        )
    return classification_metrics(actual.to_numpy(), predicted.to_numpy())


def _has_both_classes(frame: pd.DataFrame) -> bool:
    return bool(frame["target"].nunique() == 2 and frame["prediction"].nunique() == 2)


def evaluate(reference: pd.DataFrame, production: pd.DataFrame) -> PerformanceResult:
    """Metrics for the summary and the Evidently page for the HTML report."""
    import pandas as pd

    notes: list[str] = []
    ref_metrics = _metrics_or_note(reference["target"], reference["prediction"], "reference", notes)
    held_out = reference[reference["split"] == "test"]
    held_metrics = (
        classification_metrics(held_out["target"].to_numpy(), held_out["prediction"].to_numpy())
        if len(held_out) >= MIN_METRIC_ROWS
        else None
    )
    prod_metrics = None
    by_version: dict[str, Metrics | None] = {}
    rows_by_version: dict[str, int] = {}
    if production.empty:
        notes.append("production: no feedback rows yet, so there is nothing to compare against")
    else:
        prod_metrics = _metrics_or_note(
            production["actual"], production["prediction"], "production", notes
        )
        for version, rows in production.groupby("model_version", sort=True):
            rows_by_version[str(version)] = len(rows)
            by_version[str(version)] = _metrics_or_note(
                rows["actual"], rows["prediction"], f"production, model {version}", notes
            )

    ref_frame = reference[["target", "prediction"]]
    prod_frame = pd.DataFrame(
        {"target": production["actual"], "prediction": production["prediction"]}
    )
    snapshot = None
    if _has_both_classes(ref_frame):
        ref_data = Dataset.from_pandas(ref_frame, data_definition=_DEFINITION)
        if len(prod_frame) >= MIN_METRIC_ROWS and _has_both_classes(prod_frame):
            current = Dataset.from_pandas(prod_frame, data_definition=_DEFINITION)
            snapshot = Report([ClassificationPreset()]).run(current, ref_data)
        else:
            notes.append(
                "the production side of the Evidently section needs at least "
                f"{MIN_METRIC_ROWS} rows with both classes in actual and prediction; "
                "the page shows the reference alone (Evidently calls it 'current')"
            )
            snapshot = Report([ClassificationPreset()]).run(ref_data, None)
    else:
        notes.append("reference: target or prediction holds one class only; no Evidently page")
    return PerformanceResult(
        reference=ref_metrics,
        reference_held_out=held_metrics,
        production=prod_metrics,
        by_model_version=by_version,
        rows_by_model_version=rows_by_version,
        notes=notes,
        snapshot=snapshot,
    )
