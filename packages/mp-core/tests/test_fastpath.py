"""The fast path must give the fitted scikit-learn pipeline's probabilities."""

from pathlib import Path

import numpy as np
import pytest

from mp_core.ml.synthetic import generate
from mp_core.ml.training import TrainConfig, train
from mp_core.schema import FEATURE_NAMES, profile_from_mapping
from mp_core.scoring.fastpath import export_fastpath, load_fastpath, predicted_class, save_fastpath

TOLERANCE = {"logistic_regression": 1e-9, "random_forest": 1e-6, "hist_gradient_boosting": 1e-6}


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    return train(generate(5000, 31), TrainConfig(n_jobs=1))


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
