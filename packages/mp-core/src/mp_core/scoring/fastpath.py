"""Score profiles without pandas or scikit-learn, with the same numbers as the fitted pipeline.

Scaler, one-hot encoding and PCA are all affine, so together they fold into one matrix and one
offset per category. A logistic regression on top folds further into seven weights, two small
tables and a constant, which plain Python evaluates faster than any array call for one row.
Tree models keep their trees as flat arrays walked for every row and tree at once.

The arrays are exported at training time (:func:`export_fastpath`, which needs scikit-learn) and
loaded at serving time with ``numpy.load(allow_pickle=False)``, which executes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal

import numpy as np

from mp_core.schema import CATEGORICAL_FEATURES, DEPARTMENTS, GENDERS, NUMERIC_FEATURES

if TYPE_CHECKING:
    import pandas as pd

    from mp_core.schema import StudentProfile

FastpathKind = Literal["linear", "forest", "boosting"]
CATEGORY_LEVELS: Final[dict[str, tuple[str, ...]]] = {"Gender": GENDERS, "Department": DEPARTMENTS}
_numeric_of = attrgetter(*NUMERIC_FEATURES)

Arrays = dict[str, np.ndarray]


def _linear_scorer(
    const: float, weights: Sequence[float], category_weights: Sequence[Mapping[str, float]]
) -> Callable[[Any], float]:
    """The logistic regression's probability for one profile, its seven products written out
    in the order of ``NUMERIC_FEATURES`` (the tests hold it equal to the array path).

    Written out, the sum costs half of ``sum(map(mul, ...))`` over a tuple of the values.
    """
    w0, w1, w2, w3, w4, w5, w6 = weights
    gender_weight, department_weight = (weights_of.get for weights_of in category_weights)
    exp = math.exp

    def score(p: Any) -> float:
        logit = (
            const
            + (
                w0 * p.Age
                + w1 * p.CGPA
                + w2 * p.Sleep_Duration
                + w3 * p.Study_Hours
                + w4 * p.Social_Media_Hours
                + w5 * p.Physical_Activity
                + w6 * p.Stress_Level
            )
            + gender_weight(p.Gender, 0.0)
            + department_weight(p.Department, 0.0)
        )
        if logit >= 0:  # the side of the sigmoid where exp cannot overflow
            return 1.0 / (1.0 + exp(-logit))
        e = exp(logit)
        return e / (1.0 + e)

    return score


class FastScorer:
    """Probability of class 1 for profiles, from exported arrays (see the module docstring)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        kind = str(arrays["kind"])
        if kind not in ("linear", "forest", "boosting"):
            raise ValueError(f"unknown fast-path kind {kind!r}")
        self.kind: FastpathKind = kind  # type: ignore[assignment]
        self._numeric = np.asarray(arrays["numeric_weight"], dtype=np.float64)  # (7, k)
        self._bias = np.asarray(arrays["bias"], dtype=np.float64)  # (k,)
        # One table per categorical feature, with a last row of zeros for unknown values (-1).
        self._tables = [
            np.vstack(
                [
                    np.asarray(arrays[f"table_{name}"], dtype=np.float64),
                    np.zeros((1, self._bias.shape[0])),
                ]
            )
            for name in CATEGORICAL_FEATURES
        ]
        self._index = [
            {level: i for i, level in enumerate(CATEGORY_LEVELS[name])}
            for name in CATEGORICAL_FEATURES
        ]
        self._profile_scorer: Callable[[Any], float] | None = None
        if self.kind == "linear":
            coef = np.asarray(arrays["coef"], dtype=np.float64)
            intercept = float(arrays["intercept"])
            self._w = [float(v) for v in self._numeric @ coef]
            self._cat_w = [
                {level: float(table[i] @ coef) for level, i in index.items()}
                for table, index in zip(self._tables, self._index, strict=True)
            ]
            self._const = float(self._bias @ coef) + intercept
            self._coef = coef
            self._intercept = intercept
        else:
            self._feature = np.asarray(arrays["tree_feature"], dtype=np.int64)
            self._threshold = np.asarray(arrays["tree_threshold"], dtype=np.float64)
            self._left = np.asarray(arrays["tree_left"], dtype=np.int64)
            self._right = np.asarray(arrays["tree_right"], dtype=np.int64)
            self._leaf = np.asarray(arrays["tree_value"], dtype=np.float64)
            self._depth = int(arrays["tree_depth"])
            self._baseline = float(arrays["baseline"]) if "baseline" in arrays else 0.0
            self._trees = np.arange(self._feature.shape[0])

    @property
    def n_components(self) -> int:
        return int(self._bias.shape[0])

    def score_profile(self, profile: StudentProfile) -> float:
        """Probability of depression risk for one validated profile."""
        return self.profile_scorer()(profile)

    def profile_scorer(self) -> Callable[[Any], float]:
        """``score_profile`` as one function, with everything it reads bound (the hot path)."""
        scorer = self._profile_scorer
        if scorer is None:
            if self.kind == "linear":
                scorer = _linear_scorer(self._const, self._w, self._cat_w)
            else:
                scorer = self._score_one_of_many
            self._profile_scorer = scorer
        return scorer

    def _score_one_of_many(self, profile: Any) -> float:
        return float(self.score_profiles([profile])[0])

    def score_profiles(self, profiles: Sequence[StudentProfile]) -> np.ndarray:
        """Probabilities for many validated profiles, built column-wise in one pass."""
        numeric = np.array([_numeric_of(p) for p in profiles], dtype=np.float64).reshape(-1, 7)
        gender_index, department_index = self._index
        codes = (
            np.fromiter(
                (gender_index.get(p.Gender, -1) for p in profiles), np.int64, len(profiles)
            ),
            np.fromiter(
                (department_index.get(p.Department, -1) for p in profiles), np.int64, len(profiles)
            ),
        )
        return self.score_codes(numeric, codes)

    def encode(self, frame: pd.DataFrame) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """Numeric matrix and category codes (-1 for unknown) from a frame of raw features."""
        numeric = frame[list(NUMERIC_FEATURES)].to_numpy(dtype=np.float64)
        codes = tuple(
            frame[name].map(index).fillna(-1).to_numpy(dtype=np.int64)
            for name, index in zip(CATEGORICAL_FEATURES, self._index, strict=True)
        )
        return numeric, codes

    def score_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities for a frame holding the nine feature columns."""
        return self.score_codes(*self.encode(frame))

    def components(self, numeric: np.ndarray, codes: Sequence[np.ndarray]) -> np.ndarray:
        """The PCA components of each row, as the fitted pipeline's ``transform`` gives them."""
        z = numeric @ self._numeric + self._bias
        for table, code in zip(self._tables, codes, strict=True):
            z += table[code]
        return z

    def score_codes(self, numeric: np.ndarray, codes: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities from a numeric matrix (n, 7) and category codes (-1 = unknown)."""
        z = self.components(numeric, codes)
        if self.kind == "linear":
            logit = z @ self._coef + self._intercept
            return 1.0 / (1.0 + np.exp(-logit))
        if self.kind == "forest":
            # sklearn's trees compare float32 inputs against their thresholds.
            z = z.astype(np.float32).astype(np.float64)
        node = np.zeros((z.shape[0], self._feature.shape[0]), dtype=np.int64)
        rows = np.arange(z.shape[0])[:, None]
        for _ in range(self._depth):
            feature = self._feature[self._trees, node]
            go_left = z[rows, feature] <= self._threshold[self._trees, node]
            node = np.where(go_left, self._left[self._trees, node], self._right[self._trees, node])
        leaves = self._leaf[self._trees, node]
        if self.kind == "forest":
            return np.asarray(leaves.mean(axis=1))
        raw = self._baseline + leaves.sum(axis=1)
        return np.asarray(1.0 / (1.0 + np.exp(-raw)))


def predicted_class(probability: float) -> int:
    """The class every exported model predicts for ``probability``."""
    return 1 if probability > 0.5 else 0


def save_fastpath(arrays: Arrays, path: Path | IO[bytes]) -> None:
    """Write exported arrays as an uncompressed ``.npz`` (no pickled objects)."""
    if not isinstance(path, Path):
        np.savez(path, allow_pickle=False, **arrays)
        return
    with path.open("wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)


def load_fastpath(source: Path | IO[bytes]) -> FastScorer:
    """Load arrays written by :func:`save_fastpath`; object arrays are refused, nothing runs."""
    with np.load(source, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return FastScorer(arrays)


def export_fastpath(preprocessor: Any, model: Any) -> Arrays:
    """Fold a fitted preprocessor and model into plain arrays for :class:`FastScorer`."""
    columns = preprocessor.named_steps["columns"]
    pca = preprocessor.named_steps["pca"]
    scaler = columns.named_transformers_["numeric"]
    encoder = columns.named_transformers_["categorical"]
    for name, levels, fitted in zip(
        CATEGORICAL_FEATURES, (GENDERS, DEPARTMENTS), encoder.categories_, strict=True
    ):
        if tuple(fitted) != levels:
            raise ValueError(f"{name} categories {list(fitted)} differ from the schema's")
    if getattr(pca, "whiten", False):
        raise ValueError("a whitened PCA cannot be exported")
    n_numeric = len(NUMERIC_FEATURES)
    components = np.asarray(pca.components_, dtype=np.float64)  # (k, 7 + categories)
    numeric_block = components[:, :n_numeric]
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    mean = np.asarray(scaler.mean_, dtype=np.float64)
    arrays: Arrays = {
        "numeric_weight": (numeric_block / scale).T,
        "bias": -(mean / scale) @ numeric_block.T - np.asarray(pca.mean_) @ components.T,
    }
    start = n_numeric
    for name in CATEGORICAL_FEATURES:
        width = len(CATEGORY_LEVELS[name])
        arrays[f"table_{name}"] = components[:, start : start + width].T
        start += width
    arrays.update(_export_model(model))
    return arrays


def _export_model(model: Any) -> Arrays:
    name = type(model).__name__
    if name == "LogisticRegression":
        return {
            "kind": np.array("linear"),
            "coef": np.asarray(model.coef_[0], dtype=np.float64),
            "intercept": np.asarray(model.intercept_[0], dtype=np.float64),
        }
    if name == "RandomForestClassifier":
        trees = []
        for estimator in model.estimators_:
            tree = estimator.tree_
            value = tree.value[:, 0, :]
            probability = value[:, 1] / value.sum(axis=1)
            trees.append(
                (tree.feature, tree.threshold, tree.children_left, tree.children_right, probability)
            )
        arrays = _pack_trees(trees)
        arrays["kind"] = np.array("forest")
        return arrays
    if name == "HistGradientBoostingClassifier":
        trees = []
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits cannot be exported")
            leaf = nodes["is_leaf"].astype(bool)
            trees.append(
                (
                    np.where(leaf, -2, nodes["feature_idx"]),
                    nodes["num_threshold"],
                    np.where(leaf, -1, nodes["left"].astype(np.int64)),
                    np.where(leaf, -1, nodes["right"].astype(np.int64)),
                    nodes["value"],
                )
            )
        arrays = _pack_trees(trees)
        arrays["kind"] = np.array("boosting")
        arrays["baseline"] = np.asarray(float(np.ravel(model._baseline_prediction)[0]))
        return arrays
    raise ValueError(f"no fast path for {name}")


def _pack_trees(trees: Sequence[tuple[Any, ...]]) -> Arrays:
    """Pad trees into (n_trees, max_nodes) arrays where every leaf points to itself."""
    width = max(len(t[0]) for t in trees)
    n = len(trees)
    feature = np.zeros((n, width), dtype=np.int64)
    threshold = np.zeros((n, width), dtype=np.float64)
    left = np.zeros((n, width), dtype=np.int64)
    right = np.zeros((n, width), dtype=np.int64)
    value = np.zeros((n, width), dtype=np.float64)
    depth = 0
    for t, (feat, thr, lo, hi, val) in enumerate(trees):
        size = len(feat)
        is_leaf = np.asarray(lo) < 0
        own = np.arange(size)
        feature[t, :size] = np.where(is_leaf, 0, feat)
        threshold[t, :size] = np.where(is_leaf, 0.0, thr)
        left[t, :size] = np.where(is_leaf, own, lo)
        right[t, :size] = np.where(is_leaf, own, hi)
        value[t, :size] = val
        depth = max(depth, _tree_depth(np.asarray(lo), np.asarray(hi)))
    return {
        "tree_feature": feature,
        "tree_threshold": threshold,
        "tree_left": left,
        "tree_right": right,
        "tree_value": value,
        "tree_depth": np.asarray(depth),
    }


def _tree_depth(left: np.ndarray, right: np.ndarray) -> int:
    depth = np.zeros(len(left), dtype=np.int64)
    for node in range(len(left)):  # children always come after their parent
        if left[node] >= 0:
            depth[left[node]] = depth[node] + 1
            depth[right[node]] = depth[node] + 1
    return int(depth.max())
