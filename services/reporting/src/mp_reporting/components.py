"""Project production rows onto the current model's PCA components.

The reference set carries the components the model was trained on; production rows carry only
the raw features, so they go through the current bundle's fitted preprocessing pipeline. Without
a usable model this part is skipped and the reason is reported instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mp_core.errors import CorruptArtifact, ModelUnavailable
from mp_core.schema import FEATURE_NAMES
from mp_core.stores.artifacts_files import ArtifactStore

if TYPE_CHECKING:
    import pandas as pd

#: Reference rows projected again to check they come from the current model's pipeline.
CHECK_ROWS: Final = 200


@dataclass(frozen=True, slots=True)
class CurrentModel:
    """What the reports say about the model being served (None fields when there is none)."""

    version: str | None
    manifest: dict[str, Any] | None
    preprocessor: Any
    problem: str | None  # why there is no usable model


def load_current_model(artifacts_dir: Path) -> CurrentModel:
    """The current bundle, or the reason it cannot be used."""
    try:
        bundle = ArtifactStore(artifacts_dir).load_bundle()
    except ModelUnavailable:
        return CurrentModel(None, None, None, f"no trained model in {artifacts_dir}")
    except CorruptArtifact as exc:
        return CurrentModel(None, None, None, f"the current model cannot be used: {exc}")
    return CurrentModel(bundle.version, bundle.manifest, bundle.preprocessor, None)


def production_components(
    model: CurrentModel,
    production: pd.DataFrame,
    reference: pd.DataFrame,
    pca_columns: list[str],
) -> tuple[pd.DataFrame | None, str | None]:
    """``PCA_1..k`` of ``production`` with the current pipeline, or None and the reason.

    The reference's components must come from the same pipeline (after a rollback the current
    model may not be the one that wrote ``ref_data.csv``), so a few reference rows are projected
    again and compared first.
    """
    import numpy as np
    import pandas as pd

    if model.preprocessor is None:
        return None, f"PCA drift skipped: {model.problem}"
    n_model = int(model.preprocessor.named_steps["pca"].n_components_)
    other_model = (
        f"PCA drift skipped: the reference set was written by another model than the current "
        f"one ({model.version})"
    )
    if n_model != len(pca_columns):
        return None, f"{other_model}: {len(pca_columns)} components there, {n_model} here"
    sample = reference.head(CHECK_ROWS)
    again = model.preprocessor.transform(sample[list(FEATURE_NAMES)])
    if not np.allclose(again, sample[pca_columns].to_numpy(), atol=1e-6):
        return None, f"{other_model}: its components differ; train or retrain to refresh it"
    values = model.preprocessor.transform(production[list(FEATURE_NAMES)])
    return pd.DataFrame(values, columns=pca_columns, index=production.index), None
