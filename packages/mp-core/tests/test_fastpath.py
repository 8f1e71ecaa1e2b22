"""The fast path must give the fitted scikit-learn pipeline's probabilities."""

import copy
import functools
import io
from pathlib import Path

import numpy as np
import pytest

from mp_core.ml.synthetic import generate
from mp_core.ml.training import TrainConfig, TrainingResult, train
from mp_core.schema import FEATURE_NAMES, profile_from_mapping
from mp_core.scoring.fastpath import (
    CATEGORY_LEVELS,
    FastScorer,
    export_fastpath,
    load_fastpath,
    predicted_class,
    save_fastpath,
)

TOLERANCE = {"logistic_regression": 1e-9, "random_forest": 1e-6, "hist_gradient_boosting": 1e-6}


@functools.cache
def _trained() -> TrainingResult:
    """Trained once per process: the runs of `just mutants`, forked from one, reuse it."""
    return train(generate(5000, 31), TrainConfig(n_jobs=1))


@pytest.fixture
def trained() -> TrainingResult:
    return _trained()


@pytest.fixture(scope="module")
def rows():  # type: ignore[no-untyped-def]
    frame = generate(4000, 32)[list(FEATURE_NAMES)]
    # Unknown categories encode as all zeros, as OneHotEncoder(handle_unknown="ignore") does.
    frame.loc[:99, "Gender"] = "Nonbinary"
    frame.loc[50:149, "Department"] = "Astronomy"
    return frame


@pytest.mark.parametrize("algorithm", list(TOLERANCE))
def test_fast_path_equals_the_sklearn_pipeline(trained, rows, algorithm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    candidate = next(c for c in trained.candidates if c.algorithm == algorithm)
    save_fastpath(export_fastpath(trained.preprocessor, candidate.model), tmp_path / "f.npz")
    scorer = load_fastpath(tmp_path / "f.npz")
    expected = candidate.model.predict_proba(trained.preprocessor.transform(rows))[:, 1]

    np.testing.assert_allclose(
        scorer.score_frame(rows), expected, rtol=0, atol=TOLERANCE[algorithm]
    )
    np.testing.assert_allclose(
        scorer.components(*scorer.encode(rows)), trained.preprocessor.transform(rows), atol=1e-9
    )
    predicted = candidate.model.predict(trained.preprocessor.transform(rows))
    assert [predicted_class(p) for p in scorer.score_frame(rows)] == predicted.tolist()

    known = rows.iloc[200:400]
    profiles = [profile_from_mapping(_plain(r)) for r in known.to_dict("records")]
    singles = np.array([scorer.score_profile(p) for p in profiles])
    np.testing.assert_allclose(singles, expected[200:400], rtol=0, atol=TOLERANCE[algorithm])
    np.testing.assert_allclose(
        scorer.score_profiles(profiles), expected[200:400], rtol=0, atol=TOLERANCE[algorithm]
    )


def test_a_pickled_object_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, kind=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        load_fastpath(path)


def _plain(record: dict) -> dict:  # type: ignore[type-arg]
    return {k: v.item() if hasattr(v, "item") else v for k, v in record.items()}


def test_a_probability_of_one_half_is_class_zero_as_in_scikit_learn() -> None:
    assert [predicted_class(p) for p in (0.0, 0.4999, 0.5, 0.5001, 1.0)] == [0, 0, 0, 1, 1]


def test_the_scorer_reports_the_pca_width(trained) -> None:  # type: ignore[no-untyped-def]
    scorer = FastScorer(export_fastpath(trained.preprocessor, trained.winner.model))
    assert scorer.n_components == trained.n_components


def test_extreme_logits_give_probabilities_without_overflow(trained) -> None:  # type: ignore[no-untyped-def]
    """The sigmoid of one profile is computed on the side where exp cannot overflow."""
    candidate = next(c for c in trained.candidates if c.algorithm == "logistic_regression")
    arrays = export_fastpath(trained.preprocessor, candidate.model)
    profile = profile_from_mapping(_plain(generate(1, 5)[list(FEATURE_NAMES)].iloc[0].to_dict()))
    for intercept, expected in ((1000.0, 1.0), (-1000.0, 0.0)):
        scorer = FastScorer({**arrays, "intercept": np.asarray(intercept)})
        assert scorer.score_profile(profile) == expected
    for intercept in (-3.0, 3.0):
        scorer = FastScorer({**arrays, "intercept": np.asarray(intercept)})
        assert scorer.score_profile(profile) == pytest.approx(
            float(scorer.score_profiles([profile])[0]), abs=1e-12
        )


def test_an_unknown_kind_is_refused(trained) -> None:  # type: ignore[no-untyped-def]
    arrays = export_fastpath(trained.preprocessor, trained.winner.model)
    with pytest.raises(ValueError, match="unknown fast-path kind 'svm'"):
        FastScorer({**arrays, "kind": np.array("svm")})


def test_export_refuses_what_it_cannot_fold(trained) -> None:  # type: ignore[no-untyped-def]
    from sklearn.neighbors import KNeighborsClassifier

    with pytest.raises(ValueError, match="no fast path for KNeighborsClassifier"):
        export_fastpath(trained.preprocessor, KNeighborsClassifier())

    whitened = copy.deepcopy(trained.preprocessor)
    whitened.named_steps["pca"].whiten = True
    with pytest.raises(ValueError, match=r"^a whitened PCA cannot be exported$"):
        export_fastpath(whitened, trained.winner.model)

    reordered = copy.deepcopy(trained.preprocessor)
    encoder = reordered.named_steps["columns"].named_transformers_["categorical"]
    encoder.categories_[1] = encoder.categories_[1][::-1]
    with pytest.raises(ValueError, match=r"Department categories .* differ from the schema's"):
        export_fastpath(reordered, trained.winner.model)


@pytest.mark.parametrize("algorithm", list(TOLERANCE))
def test_unknown_categories_score_as_the_encoder_does_on_every_path(trained, algorithm) -> None:  # type: ignore[no-untyped-def]
    """A category the model never saw encodes as all zeros (handle_unknown="ignore"), whether one
    profile, a list of profiles or a frame is scored."""
    import msgspec

    candidate = next(c for c in trained.candidates if c.algorithm == algorithm)
    scorer = FastScorer(export_fastpath(trained.preprocessor, candidate.model))
    frame = generate(3, 41)[list(FEATURE_NAMES)]
    frame["Gender"] = ["Nonbinary", "Female", "Nonbinary"]
    frame["Department"] = ["Arts", "Astronomy", "Astronomy"]
    expected = candidate.model.predict_proba(trained.preprocessor.transform(frame))[:, 1]
    valid = profile_from_mapping(_plain(generate(1, 41)[list(FEATURE_NAMES)].iloc[0].to_dict()))
    # msgspec builds a struct without validating it: the only way an unknown level gets here.
    profiles = [msgspec.structs.replace(valid, **_plain(row)) for row in frame.to_dict("records")]
    tolerance = TOLERANCE[algorithm]
    np.testing.assert_allclose(scorer.score_frame(frame), expected, rtol=0, atol=tolerance)
    np.testing.assert_allclose(scorer.score_profiles(profiles), expected, rtol=0, atol=tolerance)
    singles = [scorer.score_profile(p) for p in profiles]
    np.testing.assert_allclose(singles, expected, rtol=0, atol=tolerance)


def _first_component_is_age(model_arrays: dict[str, np.ndarray]) -> FastScorer:
    """A scorer whose one PCA component is the Age column itself, in front of ``model_arrays``."""
    weight = np.zeros((7, 1))
    weight[0, 0] = 1.0
    tables = {
        f"table_{name}": np.zeros((len(levels), 1)) for name, levels in CATEGORY_LEVELS.items()
    }
    return FastScorer({"numeric_weight": weight, "bias": np.zeros(1), **tables, **model_arrays})


def _ages(values: list[float]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    numeric = np.zeros((len(values), 7))
    numeric[:, 0] = values
    codes = np.zeros(len(values), dtype=np.int64)
    return numeric, (codes, codes)


def test_forest_splits_compare_inputs_as_float32_like_scikit_learn() -> None:
    """scikit-learn's trees cast inputs to float32 and send x <= threshold left: a value just
    above a threshold in float64 that rounds onto it in float32 goes left, as does the threshold."""
    from sklearn.ensemble import RandomForestClassifier

    from mp_core.scoring.fastpath import _export_model

    forest = RandomForestClassifier(n_estimators=1, bootstrap=False, random_state=0)
    forest.fit(np.array([[0.0], [1.0]]), [0, 1])
    threshold = float(forest.estimators_[0].tree_.threshold[0])
    assert threshold == 0.5
    values = [
        threshold,
        float(np.nextafter(threshold, 1.0)),  # float32(x) == threshold: left
        float(np.nextafter(threshold, 0.0)),
        threshold + 1e-6,  # beyond float32's rounding: right
        0.0,
        1.0,
    ]
    expected = forest.predict_proba(np.array(values)[:, None])[:, 1]
    assert expected.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    scorer = _first_component_is_age(_export_model(forest))
    assert scorer.score_codes(*_ages(values)).tolist() == expected.tolist()


def test_gradient_boosting_with_categorical_splits_is_refused() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from mp_core.scoring.fastpath import _export_model

    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(400, 1))
    model = HistGradientBoostingClassifier(categorical_features=[0], max_iter=3)
    model.fit(x, (x[:, 0] % 2 == 0).astype(int))
    with pytest.raises(ValueError, match=r"^categorical splits cannot be exported$"):
        _export_model(model)


def test_saved_arrays_hold_no_pickle_and_load_back_from_a_file_object(
    trained, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    arrays = export_fastpath(trained.preprocessor, trained.winner.model)
    buffer = io.BytesIO()
    save_fastpath(arrays, buffer)
    buffer.seek(0)
    rows = generate(50, 43)[list(FEATURE_NAMES)]
    np.testing.assert_array_equal(
        load_fastpath(buffer).score_frame(rows), FastScorer(arrays).score_frame(rows)
    )
    evil = {**arrays, "extra": np.array([object()], dtype=object)}
    for target in (io.BytesIO(), tmp_path / "evil.npz"):
        with pytest.raises(ValueError, match="pickle"):
            save_fastpath(evil, target)
