"""The fast path must give the fitted scikit-learn pipeline's probabilities."""

import copy
import functools
from pathlib import Path

import numpy as np
import pytest

from mp_core.ml.synthetic import generate
from mp_core.ml.training import TrainConfig, TrainingResult, train
from mp_core.schema import FEATURE_NAMES, profile_from_mapping
from mp_core.scoring.fastpath import (
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
    with pytest.raises(ValueError, match="whitened PCA"):
        export_fastpath(whitened, trained.winner.model)

    reordered = copy.deepcopy(trained.preprocessor)
    encoder = reordered.named_steps["columns"].named_transformers_["categorical"]
    encoder.categories_[1] = encoder.categories_[1][::-1]
    with pytest.raises(ValueError, match=r"Department categories .* differ from the schema's"):
        export_fastpath(reordered, trained.winner.model)
