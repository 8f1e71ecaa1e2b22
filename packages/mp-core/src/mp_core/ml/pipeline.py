"""The preprocessing pipeline: scale numbers, one-hot categories, then PCA (95 % of variance)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from mp_core.schema import CATEGORICAL_FEATURES, DEPARTMENTS, GENDERS, NUMERIC_FEATURES

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

PCA_VARIANCE: Final = 0.95
CATEGORY_CHOICES: Final = {"Gender": list(GENDERS), "Department": list(DEPARTMENTS)}


def build_preprocessor(seed: int = 42) -> Pipeline:
    """An unfitted ``ColumnTransformer(scaler + one-hot) -> PCA`` pipeline over the schema columns.

    The one-hot categories are fixed from the schema (not learnt from data), so every fitted
    pipeline has the same input layout and an unseen category encodes as all zeros.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(NUMERIC_FEATURES)),
            (
                "categorical",
                OneHotEncoder(
                    categories=[CATEGORY_CHOICES[name] for name in CATEGORICAL_FEATURES],
                    handle_unknown="ignore",
                    sparse_output=False,
                ),
                list(CATEGORICAL_FEATURES),
            ),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    return Pipeline(
        [
            ("columns", columns),
            ("pca", PCA(n_components=PCA_VARIANCE, svd_solver="full", random_state=seed)),
        ]
    )


def pca_column_names(n_components: int) -> list[str]:
    """``PCA_1 … PCA_k`` as written in ``ref_data.csv``."""
    return [f"PCA_{i}" for i in range(1, n_components + 1)]
