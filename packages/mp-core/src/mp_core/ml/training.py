"""Fit the preprocessing pipeline and three candidate models, score them, pick a winner.

Pure functions over frames: no files are written here (see :mod:`mp_core.stores.artifacts_files` and the
CLI). The same seed and data always give the same metrics.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from mp_core.ml.pipeline import build_preprocessor, pca_column_names
from mp_core.schema import FEATURE_NAMES, TARGET

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

Algorithm = Literal["logistic_regression", "random_forest", "hist_gradient_boosting"]
CANDIDATES: Final[tuple[Algorithm, ...]] = (
    "logistic_regression",
    "random_forest",
    "hist_gradient_boosting",
)
SELECTION_METRICS: Final = ("f1", "accuracy", "roc_auc", "precision", "recall")
DEFAULT_TEST_SIZE: Final = 0.2

#: step name, steps done, steps in all; the CLI draws a progress bar from it.
ProgressCallback = Callable[[str, int, int], None]


def _no_progress(_step: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """How to train: seed, split, selection metric, CPU budget."""

    seed: int = 42
    test_size: float = DEFAULT_TEST_SIZE
    selection_metric: str = "f1"
    candidates: tuple[Algorithm, ...] = CANDIDATES
    n_jobs: int = -1  # every core; retraining next to a server uses 1


@dataclass(slots=True)
class CandidateResult:
    algorithm: Algorithm
    params: dict[str, Any]
    metrics: dict[str, Any]
    fit_seconds: float
    model: Any = field(repr=False)


@dataclass(slots=True)
class TrainingResult:
    """Everything a training produced, ready to be saved as a bundle."""

    preprocessor: Pipeline = field(repr=False)
    winner: CandidateResult
    candidates: list[CandidateResult]
    selection_metric: str
    train_rows: int
    test_rows: int
    data_hash: str
    n_components: int
    split: np.ndarray = field(repr=False)  # "train" / "test" per input row
    seconds: float = 0.0

    @property
    def model(self) -> Any:
        return self.winner.model

    @property
    def algorithm(self) -> Algorithm:
        return self.winner.algorithm

    @property
    def metrics(self) -> dict[str, Any]:
        return self.winner.metrics


def make_candidate(algorithm: Algorithm, seed: int, n_jobs: int = -1) -> Any:
    """A fresh, unfitted estimator for ``algorithm``."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if algorithm == "logistic_regression":
        return LogisticRegression(max_iter=1000, random_state=seed)
    if algorithm == "random_forest":
        # Bounded depth keeps the bundle small and scoring fast, at no cost in accuracy here.
        return RandomForestClassifier(
            n_estimators=100, max_depth=12, min_samples_leaf=20, n_jobs=n_jobs, random_state=seed
        )
    if algorithm == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(max_iter=200, random_state=seed)
    raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(CANDIDATES)}")


def classification_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict[str, Any]:
    """Accuracy, F1, precision, recall, ROC AUC, Brier score and the confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        brier_score_loss,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y_true = np.asarray(y_true, dtype=np.int64)
    predicted = (probability > 0.5).astype(np.int64)  # the same rule as every model.predict
    both_classes = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, probability)) if both_classes else None,
        "brier": float(brier_score_loss(y_true, probability, labels=[0, 1])),
        "confusion_matrix": confusion_matrix(y_true, predicted, labels=[0, 1]).tolist(),
        "rows": len(y_true),
    }


def data_hash(frame: pd.DataFrame) -> str:
    """A stable sha256 of the feature and target columns (row order matters)."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(frame[[*FEATURE_NAMES, TARGET]], index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def split_rows(target: np.ndarray, test_size: float, seed: int) -> np.ndarray:
    """A stratified train/test split as a boolean mask (True = test row)."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(target))
    _, test_idx = train_test_split(indices, test_size=test_size, random_state=seed, stratify=target)
    mask = np.zeros(len(target), dtype=bool)
    mask[test_idx] = True
    return mask


def train(
    frame: pd.DataFrame,
    config: TrainConfig | None = None,
    *,
    progress: ProgressCallback = _no_progress,
    test_mask: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> TrainingResult:
    """Fit the pipeline and every candidate on ``frame``; the best by the selection metric wins.

    ``test_mask`` fixes the held-out rows (retraining passes one so that champion and challenger
    are judged on the same data); by default a stratified split is drawn from the seed.
    ``sample_weight`` (one per row of ``frame``; held-out rows ignored) weighs the training rows
    in every candidate's fit (see :mod:`mp_core.ml.retraining`).
    """
    config = config or TrainConfig()
    if config.selection_metric not in SELECTION_METRICS:
        raise ValueError(
            f"selection metric {config.selection_metric!r}: choose one of "
            + ", ".join(SELECTION_METRICS)
        )
    started = time.perf_counter()
    target = frame[TARGET].to_numpy(dtype=np.int64)
    if len(np.unique(target)) < 2:
        raise ValueError(f"{TARGET} must contain both classes to train a model")
    is_test = split_rows(target, config.test_size, config.seed) if test_mask is None else test_mask
    features = frame[list(FEATURE_NAMES)]
    total = 1 + len(config.candidates)

    progress("preprocessing", 0, total)
    preprocessor = build_preprocessor(config.seed).fit(features[~is_test])
    train_z = preprocessor.transform(features[~is_test])
    test_z = preprocessor.transform(features[is_test])
    progress("preprocessing", 1, total)

    results: list[CandidateResult] = []
    for i, algorithm in enumerate(config.candidates, start=2):
        progress(algorithm, i - 1, total)
        model = make_candidate(algorithm, config.seed, config.n_jobs)
        fit_started = time.perf_counter()
        if sample_weight is None:
            model.fit(train_z, target[~is_test])
        else:
            model.fit(train_z, target[~is_test], sample_weight=sample_weight[~is_test])
        seconds = time.perf_counter() - fit_started
        probability = model.predict_proba(test_z)[:, 1]
        results.append(
            CandidateResult(
                algorithm=algorithm,
                params=_plain_params(model),
                metrics=classification_metrics(target[is_test], probability),
                fit_seconds=seconds,
                model=model,
            )
        )
        progress(algorithm, i, total)

    winner = pick_winner(results, config.selection_metric)
    return TrainingResult(
        preprocessor=preprocessor,
        winner=winner,
        candidates=results,
        selection_metric=config.selection_metric,
        train_rows=int((~is_test).sum()),
        test_rows=int(is_test.sum()),
        data_hash=data_hash(frame),
        n_components=int(preprocessor.named_steps["pca"].n_components_),
        split=np.where(is_test, "test", "train"),
        seconds=time.perf_counter() - started,
    )


def pick_winner(results: list[CandidateResult], metric: str) -> CandidateResult:
    """Highest ``metric`` wins; on a tie the earlier (simpler) candidate stays."""
    best = results[0]
    for result in results[1:]:
        if (result.metrics.get(metric) or 0.0) > (best.metrics.get(metric) or 0.0):
            best = result
    return best


def reference_frame(result: TrainingResult, frame: pd.DataFrame) -> pd.DataFrame:
    """``ref_data.csv``: raw features, ``PCA_1…PCA_k``, ``target``, ``prediction``, ``split``."""
    import pandas as pd

    features = frame[list(FEATURE_NAMES)]
    components = result.preprocessor.transform(features)
    prediction = result.model.predict(components).astype(np.int64)
    pca = pd.DataFrame(components, columns=pca_column_names(result.n_components))
    out = pd.concat([features.reset_index(drop=True), pca], axis=1)
    out["target"] = frame[TARGET].to_numpy(dtype=np.int64)
    out["prediction"] = prediction
    out["split"] = result.split
    return out


def _plain_params(model: Any) -> dict[str, Any]:
    """The estimator's parameters, kept only where they are JSON-friendly."""
    plain: dict[str, Any] = {}
    for key, value in model.get_params().items():
        if value is None or isinstance(value, bool | int | float | str):
            plain[key] = value
    return plain
