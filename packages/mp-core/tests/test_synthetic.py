import numpy as np
import pandas as pd

from mp_core.ml.synthetic import (
    SLEEP_LOSS_DRIFT,
    TRUE_PROBABILITY,
    bayes_accuracy,
    generate,
    true_probability,
)
from mp_core.schema import FEATURE_NAMES, TARGET, profile_from_mapping


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a, b, c = generate(2000, 7), generate(2000, 7), generate(2000, 8)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_columns_and_every_row_fit_the_schema() -> None:
    frame = generate(3000, 1)
    assert list(frame.columns) == [*FEATURE_NAMES, TARGET]
    for record in frame[list(FEATURE_NAMES)].to_dict("records"):
        profile_from_mapping({k: v.item() if hasattr(v, "item") else v for k, v in record.items()})
    assert set(frame[TARGET].unique()) == {0, 1}


def test_true_probability_matches_the_generator_and_the_labels() -> None:
    frame = generate(50_000, 3, with_truth=True)
    np.testing.assert_allclose(true_probability(frame), frame[TRUE_PROBABILITY])
    # Labels are drawn from p: the mean label follows the mean probability.
    assert abs(frame[TARGET].mean() - frame[TRUE_PROBABILITY].mean()) < 0.01
    high = frame[TRUE_PROBABILITY] > 0.8
    assert frame.loc[high, TARGET].mean() > 0.8
    # The Bayes rule beats guessing the majority class by a wide margin.
    assert bayes_accuracy(frame) > max(frame[TARGET].mean(), 1 - frame[TARGET].mean()) + 0.1


def test_features_are_plausibly_correlated() -> None:
    frame = generate(20_000, 5)
    corr = frame[["Stress_Level", "Sleep_Duration", "Social_Media_Hours"]].corr()
    assert corr.loc["Stress_Level", "Sleep_Duration"] < -0.2
    assert corr.loc["Stress_Level", "Social_Media_Hours"] > 0.2


def test_stated_drift_moves_sleep_down_and_social_media_up() -> None:
    base, drifted = generate(20_000, 5), generate(20_000, 5, drift=SLEEP_LOSS_DRIFT)
    assert drifted["Sleep_Duration"].mean() < base["Sleep_Duration"].mean() - 1.0
    assert drifted["Social_Media_Hours"].mean() > base["Social_Media_Hours"].mean() + 1.5
    assert drifted[TARGET].mean() > base[TARGET].mean()


def test_zero_rows_gives_an_empty_frame() -> None:
    assert generate(0).empty
