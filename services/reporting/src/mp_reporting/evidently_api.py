"""Evidently's public API, imported in one place.

Importing Evidently 0.7 raises deprecation warnings from code we do not own: it touches
``numpy.core`` (NumPy 2), some docstrings hold invalid escape sequences (reported when a module is
compiled without a cached .pyc), and its UI package uses a deprecated Litestar helper. A run, or
a test suite with warnings as errors, must not fail on them, so deprecation-type warnings are
silenced while Evidently imports - only then; warnings raised while computing reports still show.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    for category in (DeprecationWarning, PendingDeprecationWarning, SyntaxWarning, FutureWarning):
        warnings.simplefilter("ignore", category)
    # Evidently ships no type information; its classes are typed as Any here.
    from evidently import (  # type: ignore[import-untyped]
        BinaryClassification,
        DataDefinition,
        Dataset,
        Report,
    )
    from evidently.core.report import Snapshot  # type: ignore[import-untyped]
    from evidently.metrics import (  # type: ignore[import-untyped]
        OutListValueCount,
        OutRangeValueCount,
        ValueDrift,
    )
    from evidently.presets import (  # type: ignore[import-untyped]
        ClassificationPreset,
        DataDriftPreset,
        DataSummaryPreset,
    )

__all__ = [
    "BinaryClassification",
    "ClassificationPreset",
    "DataDefinition",
    "DataDriftPreset",
    "DataSummaryPreset",
    "Dataset",
    "OutListValueCount",
    "OutRangeValueCount",
    "Report",
    "Snapshot",
    "ValueDrift",
]
