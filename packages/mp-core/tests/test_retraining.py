"""The recency policy and the promotion gate on small generated worlds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mp_core.ml.retraining import (
    RecencyPolicy,
    feedback_weights,
    gate,
    metric_from_counts,
    plan_retrain,
)
from mp_core.ml.synthetic import SCREEN_TIME_CONCEPT, bayes_accuracy, generate
from mp_core.ml.training import TrainConfig, classification_metrics, train
from mp_core.schema import FEATURE_NAMES, TARGET

FAST = TrainConfig(candidates=("logistic_regression",), n_jobs=1)
TOLERANCE = 0.01


def _accuracy(result: object, frame: pd.DataFrame) -> float:
    z = result.preprocessor.transform(frame[list(FEATURE_NAMES)])  # type: ignore[attr-defined]
    return float(np.mean(result.model.predict(z) == frame[TARGET].to_numpy()))  # type: ignore[attr-defined]


def _retrain(base: pd.DataFrame, feedback: pd.DataFrame, champion: object, seed: int) -> tuple:
    plan = plan_retrain(base, feedback, RecencyPolicy(), seed)
    challenger = train(plan.frame, FAST, test_mask=plan.test_mask, sample_weight=plan.sample_weight)
    holdout = plan.frame[plan.test_mask]
    z_old = champion.preprocessor.transform(holdout[list(FEATURE_NAMES)])  # type: ignore[attr-defined]
    z_new = challenger.preprocessor.transform(holdout[list(FEATURE_NAMES)])
    decision = gate(
        holdout[TARGET].to_numpy(),
        champion.model.predict_proba(z_old)[:, 1],  # type: ignore[attr-defined]
        challenger.model.predict_proba(z_new)[:, 1],
        metric="accuracy",
        tolerance=TOLERANCE,
        held_out=plan.held_out,
        seed=seed,
    )
    return plan, challenger, decision


@pytest.fixture(scope="module")
def world_a() -> tuple[pd.DataFrame, object]:
    base = generate(20_000, 42)
    return base, train(base, FAST)


def test_feedback_weights_halve_per_half_life_newest_first() -> None:
    weights = feedback_weights(1001, 500)
    assert weights[-1] == 1.0 and weights[-501] == pytest.approx(0.5)
    assert weights[0] == pytest.approx(0.25)
    assert np.all(np.diff(weights) > 0)


def test_few_feedback_rows_are_all_trained_on_and_the_gate_uses_the_base_split() -> None:
    base, feedback = generate(3000, 1), generate(100, 2)
    plan = plan_retrain(base, feedback, RecencyPolicy(base_rows=1000, prior_weight=100), 42)
    assert plan.held_out == "base_split"
    assert plan.rows["holdout"] == 600 and plan.rows["feedback_trained_on"] == 100
    train_weight = plan.sample_weight[~plan.test_mask]
    assert train_weight.mean() == pytest.approx(1.0)
    assert np.all(plan.sample_weight[plan.test_mask] == 0)
    # 1,000 base rows weigh 100 feedback rows in all: a tenth of a row each before scaling.
    base_share = train_weight[:1000].sum() / train_weight.sum()
    assert base_share == pytest.approx(100 / (100 + feedback_weights(100, 500).sum()))


def test_enough_feedback_holds_the_newest_out_and_never_trains_on_it() -> None:
    base, feedback = generate(3000, 1), generate(1500, 2)
    plan = plan_retrain(base, feedback, RecencyPolicy(), 42)
    assert plan.held_out == "recent_feedback"
    assert plan.rows["holdout_feedback"] == plan.rows["holdout"] == 300
    pd.testing.assert_frame_equal(
        plan.frame[plan.test_mask].reset_index(drop=True), feedback.tail(300).reset_index(drop=True)
    )
    assert plan.rows["feedback_trained_on"] == 1200


def test_bootstrap_counts_of_one_give_the_plain_metrics() -> None:
    rng = np.random.default_rng(3)
    actual, predicted = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    ones = np.ones((1, 500))
    plain = classification_metrics(actual, predicted.astype(float))
    for metric in ("accuracy", "f1", "precision", "recall"):
        assert metric_from_counts(metric, ones, actual, predicted)[0] == pytest.approx(
            plain[metric]
        )


def test_an_equal_challenger_passes_and_a_clearly_worse_one_is_kept_out() -> None:
    frame = generate(2000, 9)
    actual = frame[TARGET].to_numpy()
    truth = 1.0 / (1.0 + np.exp(-np.log(frame["Stress_Level"].to_numpy() / 5.5)))
    same = gate(actual, truth, truth, metric="f1", tolerance=TOLERANCE, held_out="base_split")
    assert same.promote and same.difference == 0.0 and same.lower_bound == 0.0
    flipped = np.where(np.arange(2000) % 4 == 0, 1.0 - truth, truth)  # a quarter turned around
    worse = gate(actual, truth, flipped, metric="accuracy", tolerance=TOLERANCE,
                 held_out="recent_feedback")  # fmt: skip
    assert not worse.promote and "champion kept" in worse.reason
    assert worse.lower_bound is not None and worse.lower_bound < -TOLERANCE


def test_a_concept_drift_is_detected_and_adapted_to(world_a: tuple[pd.DataFrame, object]) -> None:
    base, champion = world_a
    feedback = pd.concat(
        [generate(500, 18), generate(2000, 19, concept=SCREEN_TIME_CONCEPT)], ignore_index=True
    )
    plan, challenger, decision = _retrain(base, feedback, champion, seed=1)
    assert plan.held_out == "recent_feedback"
    assert decision.promote and decision.difference is not None and decision.difference > 0.02
    fresh = generate(30_000, 13, concept=SCREEN_TIME_CONCEPT)
    bayes = bayes_accuracy(fresh, SCREEN_TIME_CONCEPT)
    assert bayes - _accuracy(champion, fresh) > 0.03  # the old model is wrong in the new world
    assert bayes - _accuracy(challenger, fresh) < 0.02  # the challenger is close to the best


def test_a_stationary_world_gives_no_false_promotion(world_a: tuple[pd.DataFrame, object]) -> None:
    base, champion = world_a
    fresh = generate(30_000, 21)
    false_promotions = 0
    for seed in range(8):
        feedback = generate(300 + 150 * seed, 100 + seed)
        _, challenger, decision = _retrain(base, feedback, champion, seed=seed)
        if decision.promote:
            false_promotions += (
                _accuracy(challenger, fresh) < _accuracy(champion, fresh) - TOLERANCE
            )
            champion = challenger
    assert false_promotions == 0


def _served(frame: pd.DataFrame, contradicting: np.ndarray) -> pd.DataFrame:
    """``frame`` with the prediction a model served: the true class, except where flagged."""
    truth = frame[TARGET].to_numpy()
    return frame.assign(prediction=np.where(contradicting, 1 - truth, truth))


def test_uncorroborated_feedback_is_capped_in_training_and_holdout() -> None:
    base = generate(2000, 1)
    policy = RecencyPolicy(base_rows=500, min_recent_holdout=50, max_uncorroborated_share=0.5)
    # 1,000 rows: the first 300 honest, then 700 contradicting every answer (a flood of lies).
    flood = np.arange(1000) >= 300
    feedback = _served(generate(1000, 2), flood)
    plan = plan_retrain(base, feedback, policy, 42)
    # Holdout = the newest 200, all contradicting, no corroborated row: too few left, so the
    # gate falls back to the base split and every feedback row is a training candidate.
    assert plan.held_out == "base_split"
    trained = plan.rows["feedback_trained_on"]
    assert trained == 600  # the 300 honest rows and 300 of the lies, the newest ones
    assert plan.rows["feedback_uncorroborated_left_out"] == 400
    assert "prediction" not in plan.frame.columns
    learned = plan.frame[~plan.test_mask].iloc[-trained:]
    kept = feedback.iloc[list(range(300)) + list(range(700, 1000))].drop(columns="prediction")
    pd.testing.assert_frame_equal(learned.reset_index(drop=True), kept.reset_index(drop=True))


def test_the_recent_holdout_is_capped_too_and_honest_feedback_is_untouched() -> None:
    base = generate(2000, 1)
    policy = RecencyPolicy(base_rows=500, min_recent_holdout=50, max_uncorroborated_share=0.25)
    contradicting = np.zeros(1000, dtype=bool)
    contradicting[900:] = True  # the newest 100 of the 200 held out contradict the model
    plan = plan_retrain(base, _served(generate(1000, 2), contradicting), policy, 42)
    assert plan.held_out == "recent_feedback"
    # 100 agreeing held-out rows allow 33 contradicting ones (25 % of 133).
    assert plan.rows["holdout_feedback"] == 133
    assert plan.rows["feedback_trained_on"] == 800
    assert plan.rows["feedback_uncorroborated_left_out"] == 67
    # A model wrong on a fifth of honest rows (a changed world) loses nothing at 50 %.
    honest = _served(generate(1000, 3), np.random.default_rng(0).random(1000) < 0.2)
    plan = plan_retrain(base, honest, RecencyPolicy(min_recent_holdout=50), 42)
    assert plan.rows["feedback_uncorroborated_left_out"] == 0
    assert plan.rows["feedback_trained_on"] + plan.rows["holdout_feedback"] == 1000
