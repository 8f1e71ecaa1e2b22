"""What a retrain trains on, and whether its challenger replaces the champion.

Two plain functions over frames; the caller reads the data and writes the results.

:func:`plan_retrain`, the recency policy. A retrain trains on

* the newest feedback rows (at most :attr:`RecencyPolicy.window`), each counting half as much
  for every :attr:`RecencyPolicy.half_life` newer rows, so that a changed world shows within a
  few hundred rows and an old one fades;
* a fixed sample of the base training split (:attr:`RecencyPolicy.base_rows` rows), weighing
  :attr:`RecencyPolicy.prior_weight` feedback rows in all: a prior that holds the model steady
  while feedback is scarce and is outweighed once feedback is plentiful.

The newest :attr:`RecencyPolicy.holdout_share` of the feedback is held out once it reaches
:attr:`RecencyPolicy.min_recent_holdout` rows: the gate scores on those. Before that no
feedback is held out and the gate scores on the base dataset's test split, which no model
trains on.

Uncorroborated feedback is capped. A feedback row is *corroborated* when its true class agrees
with what the serving model said (its ``prediction``, read by the server from the prediction
receipt, so no client chooses it); a row that contradicts the model is not, yet. Those rows
are the only ones that can pull a retrain away from the champion, and the ones a client
sending false outcomes produces. At most :attr:`RecencyPolicy.max_uncorroborated_share`
(50 %) of the feedback rows trained on, and of the recent holdout, are uncorroborated; the
oldest beyond that are left out (a feedback frame without a ``prediction`` column is not
capped). A real change of the world in which the model is wrong on fewer than half the rows
is never capped; one where it is wrong more often looks the same as a flood of false outcomes,
and is learned more slowly.

:func:`gate`, the promotion rule. Champion and challenger are scored on the same held-out rows;
a paired bootstrap of the difference (challenger minus champion, the rows resampled together,
:data:`DEFAULT_RESAMPLES` times) gives a one-sided lower bound at :data:`DEFAULT_CONFIDENCE`. The challenger is promoted when
that bound is at least ``-tolerance``: with 95 % confidence it is not worse than the champion
by more than the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

import numpy as np

from mp_core.schema import TARGET

if TYPE_CHECKING:
    import pandas as pd

HeldOut = Literal["recent_feedback", "base_split"]
DEFAULT_CONFIDENCE: Final = 0.95
DEFAULT_RESAMPLES: Final = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class RecencyPolicy:
    """How much of the base set and of the feedback a retrain uses, and how rows are weighed."""

    base_rows: int = 5000
    prior_weight: float = 500.0
    half_life: int = 500
    window: int = 5000
    holdout_share: float = 0.2
    min_recent_holdout: int = 200
    base_test_size: float = 0.2
    max_uncorroborated_share: float = 0.5

    def __post_init__(self) -> None:
        if self.base_rows < 1 or self.half_life < 1 or self.window < 1:
            raise ValueError("base_rows, half_life and window must be at least 1")
        if self.prior_weight < 0:
            raise ValueError("prior_weight must be 0 or more")
        if not 0.0 < self.holdout_share < 1.0 or not 0.0 < self.base_test_size < 1.0:
            raise ValueError("holdout_share and base_test_size must be between 0 and 1")
        if self.min_recent_holdout < 1:
            raise ValueError("min_recent_holdout must be at least 1")
        if not 0.0 <= self.max_uncorroborated_share < 1.0:
            raise ValueError("max_uncorroborated_share must be from 0 to below 1")

    def describe(self) -> str:
        """The policy in one sentence, for the status, the manifest and the Model tab."""
        return (
            f"trains on the newest {self.window:,} feedback rows at most, a row counting half as "
            f"much for every {self.half_life:,} newer rows, plus {self.base_rows:,} base rows "
            f"weighing {self.prior_weight:,.0f} feedback rows in all; judged on the newest "
            f"{self.holdout_share:.0%} of feedback once that is {self.min_recent_holdout:,} rows "
            "or more, on the base test split before; at most "
            f"{self.max_uncorroborated_share:.0%} of the feedback trained on and held out "
            "contradicts what the model said"
        )


@dataclass(frozen=True, slots=True)
class RetrainPlan:
    """The frame to train on, its weights, the held-out rows, and counts for the status."""

    frame: pd.DataFrame
    sample_weight: np.ndarray
    test_mask: np.ndarray
    held_out: HeldOut
    rows: dict[str, int]


def feedback_weights(n_rows: int, half_life: int) -> np.ndarray:
    """Weights of ``n_rows`` feedback rows, oldest first: the newest 1, halving per half-life."""
    age = np.arange(n_rows - 1, -1, -1, dtype=np.float64)
    return np.asarray(0.5 ** (age / half_life))


def cap_uncorroborated(feedback: pd.DataFrame, share: float) -> pd.DataFrame:
    """``feedback`` (oldest first) with the oldest uncorroborated rows left out until they are
    at most ``share`` of what remains; a frame without ``prediction`` is returned whole."""
    if "prediction" not in feedback.columns or feedback.empty:
        return feedback
    contradicts = (feedback["prediction"] != feedback[TARGET]).to_numpy()
    agreeing = int((~contradicts).sum())
    allowed = math.floor(share * agreeing / (1.0 - share) + 1e-9)
    excess = int(contradicts.sum()) - allowed
    if excess <= 0:
        return feedback
    dropped = np.flatnonzero(contradicts)[:excess]  # the oldest first
    keep = np.ones(len(feedback), dtype=bool)
    keep[dropped] = False
    return feedback.iloc[np.flatnonzero(keep)]


def plan_retrain(
    base: pd.DataFrame, feedback: pd.DataFrame, policy: RecencyPolicy, seed: int
) -> RetrainPlan:
    """The training frame of a retrain under ``policy`` (both inputs: features + target;
    feedback may carry the served ``prediction``, which caps uncorroborated rows)."""
    import pandas as pd

    from mp_core.ml.training import split_rows

    base_test = split_rows(base[TARGET].to_numpy(dtype=np.int64), policy.base_test_size, seed)
    train_index = np.flatnonzero(~base_test)
    rng = np.random.default_rng(seed)
    if len(train_index) > policy.base_rows:
        train_index = np.sort(rng.choice(train_index, policy.base_rows, replace=False))
    base_sample = base.iloc[train_index]

    share = policy.max_uncorroborated_share
    n_recent = math.ceil(len(feedback) * policy.holdout_share) if len(feedback) else 0
    recent = cap_uncorroborated(feedback.iloc[len(feedback) - n_recent :], share)
    on_recent = n_recent >= policy.min_recent_holdout and len(recent) >= policy.min_recent_holdout
    if not on_recent:
        n_recent = 0
        recent = feedback.iloc[len(feedback) :]
    window = feedback.iloc[: len(feedback) - n_recent].tail(policy.window)
    learn = cap_uncorroborated(window, share)
    left_out = len(window) - len(learn) + n_recent - len(recent)
    # The served prediction was only needed for the cap: the model trains on features + target.
    learn = learn.drop(columns="prediction", errors="ignore")
    recent = recent.drop(columns="prediction", errors="ignore")
    parts = [base_sample, learn, recent] if on_recent else [base_sample, base[base_test], learn]
    frame = pd.concat(parts, ignore_index=True)

    base_weight = np.full(len(base_sample), policy.prior_weight / max(len(base_sample), 1))
    learn_weight = feedback_weights(len(learn), policy.half_life)
    is_test = np.zeros(len(frame), dtype=bool)
    if on_recent:
        weights = np.concatenate([base_weight, learn_weight, np.zeros(len(recent))])
        is_test[len(frame) - len(recent) :] = True
    else:
        n_test = int(base_test.sum())
        weights = np.concatenate([base_weight, np.zeros(n_test), learn_weight])
        is_test[len(base_sample) : len(base_sample) + n_test] = True
    total = weights[~is_test].sum()
    if total > 0:
        # Mean weight 1 over the training rows: regularization acts as on an unweighted set.
        weights = weights * ((~is_test).sum() / total)
    return RetrainPlan(
        frame=frame,
        sample_weight=weights,
        test_mask=is_test,
        held_out="recent_feedback" if on_recent else "base_split",
        rows={
            "base": len(base),
            "feedback": len(feedback),
            "base_trained_on": len(base_sample),
            "feedback_trained_on": len(learn),
            "train": int((~is_test).sum()),
            "holdout": int(is_test.sum()),
            "holdout_feedback": len(recent) if on_recent else 0,
            "feedback_uncorroborated_left_out": left_out,
        },
    )


@dataclass(frozen=True, slots=True)
class GateResult:
    """The promotion decision and the numbers behind it."""

    promote: bool
    reason: str
    held_out: HeldOut
    rows: int
    metric: str
    champion: float | None
    challenger: float
    difference: float | None
    lower_bound: float | None
    confidence: float
    tolerance: float

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


def metric_from_counts(
    metric: str, counts: np.ndarray, actual: np.ndarray, predicted: np.ndarray
) -> np.ndarray:
    """``metric`` for each row of ``counts`` (how often each row is drawn in a resample)."""
    hit = (predicted == actual).astype(np.float64)
    positive = (predicted == 1).astype(np.float64)
    true = (actual == 1).astype(np.float64)
    tp = counts @ (positive * true)
    if metric == "accuracy":
        return np.asarray((counts @ hit) / counts.sum(axis=1))
    predicted_positive = counts @ positive
    actual_positive = counts @ true
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "precision":
            return np.asarray(np.where(predicted_positive > 0, tp / predicted_positive, 0.0))
        if metric == "recall":
            return np.asarray(np.where(actual_positive > 0, tp / actual_positive, 0.0))
        if metric == "f1":
            denominator = predicted_positive + actual_positive
            return np.asarray(np.where(denominator > 0, 2 * tp / denominator, 0.0))
    raise ValueError(f"the gate cannot bootstrap {metric!r}")


def _bootstrap_difference(
    metric: str,
    actual: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    resamples: int,
    seed: int,
) -> np.ndarray:
    """Challenger minus champion on ``resamples`` paired resamples (n rows drawn from n)."""
    rng = np.random.default_rng(seed)
    if metric == "roc_auc":
        return _bootstrap_auc(actual, champion, challenger, resamples, rng)
    champion_says = (champion > 0.5).astype(np.int64)
    challenger_says = (challenger > 0.5).astype(np.int64)
    # Accuracy, F1, precision and recall depend on each row only through (actual, champion's
    # answer, challenger's answer): eight kinds of row. Drawing n rows with replacement is then
    # one multinomial draw over the eight counts, exact and independent of n.
    kind = actual * 4 + champion_says * 2 + challenger_says
    counts = np.bincount(kind, minlength=8)
    draws = rng.multinomial(len(actual), counts / counts.sum(), size=resamples).astype(np.float64)
    cells = np.arange(8)
    cell_actual, cell_champion, cell_challenger = cells // 4, (cells // 2) % 2, cells % 2
    challenger_scores = metric_from_counts(metric, draws, cell_actual, cell_challenger)
    return np.asarray(
        challenger_scores - metric_from_counts(metric, draws, cell_actual, cell_champion)
    )


def _bootstrap_auc(
    actual: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """ROC AUC needs the probabilities themselves: rows redrawn as weights, one resample at a time."""
    from sklearn.metrics import roc_auc_score

    differences = []
    for _ in range(resamples):
        weight = np.bincount(rng.integers(0, len(actual), len(actual)), minlength=len(actual))
        differences.append(
            roc_auc_score(actual, challenger, sample_weight=weight)
            - roc_auc_score(actual, champion, sample_weight=weight)
        )
    return np.asarray(differences)


def gate(
    actual: np.ndarray,
    champion_probability: np.ndarray | None,
    challenger_probability: np.ndarray,
    *,
    metric: str,
    tolerance: float,
    held_out: HeldOut,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> GateResult:
    """Promote when, with ``confidence``, the challenger is not worse than the champion by more
    than ``tolerance`` on ``metric`` over the same rows (paired bootstrap lower bound)."""
    from mp_core.ml.training import classification_metrics

    actual = np.asarray(actual, dtype=np.int64)
    where = (
        f"{len(actual):,} held-out recent feedback rows"
        if held_out == "recent_feedback"
        else f"{len(actual):,} rows of the base test split"
    )
    challenger = classification_metrics(actual, challenger_probability).get(metric) or 0.0
    if champion_probability is None:
        return GateResult(True, "no usable champion: the challenger becomes current", held_out,
                          len(actual), metric, None, challenger, None, None, confidence,
                          tolerance)  # fmt: skip
    champion = classification_metrics(actual, champion_probability).get(metric) or 0.0
    differences = _bootstrap_difference(
        metric, actual, champion_probability, challenger_probability, resamples, seed
    )
    lower = float(np.quantile(differences, 1.0 - confidence))
    promote = lower >= -tolerance
    verdict = (
        f"is not worse than the champion by more than the tolerance {tolerance:g}: promoted"
        if promote
        else f"may be worse than the champion by more than the tolerance {tolerance:g}: "
        "champion kept"
    )
    reason = (
        f"on {where}, challenger {metric} {challenger:.4f} vs champion {champion:.4f} "
        f"(difference {challenger - champion:+.4f}, {confidence:.0%} lower bound {lower:+.4f}); "
        f"with {confidence:.0%} confidence the challenger {verdict}"
    )
    return GateResult(promote, reason, held_out, len(actual), metric, champion, challenger,
                      challenger - champion, lower, confidence, tolerance)  # fmt: skip
