"""Turn a training result into a saved version, and optionally the current one.

Used by ``mindpulse train`` and by the API's retrain job, so both write the same files: the
bundle (through the model store the settings pick) and ``ref_data.csv`` for the version that becomes current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mp_core.ml.dataset import write_csv
from mp_core.ml.training import reference_frame
from mp_core.stores import model_store

if TYPE_CHECKING:
    import pandas as pd

    from mp_core.ml.training import TrainingResult
    from mp_core.settings import Settings


def save_version(
    settings: Settings,
    result: TrainingResult,
    *,
    extra: dict[str, Any] | None = None,
) -> str:
    """Save ``result`` as a new version (not current yet) and return its name."""
    return model_store(settings).save(result, extra=extra)


def promote_version(
    settings: Settings, version: str, result: TrainingResult, frame: pd.DataFrame
) -> None:
    """Make ``version`` current, then write its ``ref_data.csv`` (the reports' reference set).

    Serving depends on the pointer alone, so it is switched first; the reference set follows
    and is replaced atomically, so a report reads either the old one or the new one.
    """
    model_store(settings).promote(version)
    write_csv(reference_frame(result, frame), settings.ref_data_path)
