import numpy as np
import pytest

from mp_core.ml.pipeline import pca_column_names
from mp_core.ml.synthetic import bayes_accuracy, generate
from mp_core.ml.training import TrainConfig, pick_winner, reference_frame, train
from mp_core.schema import FEATURE_NAMES

LOGISTIC = TrainConfig(candidates=("logistic_regression",), n_jobs=1)


def test_same_seed_and_data_give_the_same_metrics() -> None:
    frame = generate(4000, 11)
    config = TrainConfig(candidates=("logistic_regression", "hist_gradient_boosting"), n_jobs=1)
    first, second = train(frame, config), train(frame, config)
    assert [c.metrics for c in first.candidates] == [c.metrics for c in second.candidates]
    assert first.data_hash == second.data_hash
    assert first.algorithm == second.algorithm


def test_metrics_are_complete_and_the_winner_has_the_best_selection_metric() -> None:
    result = train(generate(4000, 12), TrainConfig(n_jobs=1))
    assert [c.algorithm for c in result.candidates] == [
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
    ]
    for candidate in result.candidates:
        assert {
            "accuracy",
            "f1",
            "precision",
            "recall",
            "roc_auc",
            "brier",
            "confusion_matrix",
        } <= set(candidate.metrics)
        assert np.array(candidate.metrics["confusion_matrix"]).sum() == result.test_rows
    assert result.metrics["f1"] == max(c.metrics["f1"] for c in result.candidates)
    assert pick_winner(result.candidates, "accuracy").metrics["accuracy"] == max(
        c.metrics["accuracy"] for c in result.candidates
    )


@pytest.mark.slow
def test_chosen_model_is_within_one_and_a_half_points_of_bayes_optimal() -> None:
    frame = generate(40_000, 21)
    result = train(frame, TrainConfig(n_jobs=2))
    bayes = bayes_accuracy(frame[result.split == "test"])
    assert result.metrics["accuracy"] >= bayes - 0.015, (result.metrics["accuracy"], bayes)


def test_reference_frame_has_features_components_target_and_prediction() -> None:
    frame = generate(3000, 13)
    result = train(frame, LOGISTIC)
    ref = reference_frame(result, frame)
    components = pca_column_names(result.n_components)
    assert list(ref.columns) == [*FEATURE_NAMES, *components, "target", "prediction", "split"]
    assert len(ref) == len(frame)
    assert set(ref["prediction"].unique()) <= {0, 1}
    assert (ref["split"] == "test").sum() == result.test_rows
    # PCA keeps 95 % of the variance of 16 scaled/one-hot columns: fewer components than inputs.
    assert 2 <= result.n_components < 16


def test_one_class_data_is_refused_with_a_clear_message() -> None:
    frame = generate(500, 1)
    frame["Depression"] = 0
    with pytest.raises(ValueError, match="both classes"):
        train(frame, LOGISTIC)


def test_unknown_selection_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="selection metric"):
        train(generate(500, 1), TrainConfig(selection_metric="vibes"))
