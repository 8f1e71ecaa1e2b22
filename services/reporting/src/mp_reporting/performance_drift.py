"""Performance drift: the serving model on its recent feedback against its own held-out accuracy.

Feature drift misses a change of the relation between features and risk (concept drift): the
inputs look the same while the answers go wrong. The feedback carries the truth, so the serving
model's accuracy on its newest :data:`WINDOW` feedback rows (rows it answered itself, by
``model_version``) is compared with the accuracy it had on held-out rows when it was trained
(``metrics.accuracy`` in its manifest). A drop of more than ``PERFORMANCE_DROP`` (default 0.03,
3 points) over at least ``PERFORMANCE_MIN_ROWS`` rows (default 500) is performance drift, and
the drift check asks the API to retrain.

With 500 rows and an accuracy near 0.76 the standard error is about 0.019, so an unchanged model
crosses a 3-point drop by chance about 6 % of the time at that count (1.4 % at 1,000 rows); a
needless retrain costs CPU only, since the promotion gate keeps a challenger that is not as good.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: The newest rows of the serving model that are judged (older ones describe an older world).
WINDOW: Final = 1000


@dataclass(frozen=True, slots=True)
class PerformanceDrift:
    """The verdict, with every number it rests on (``summary.json`` field ``performance_drift``)."""

    computed: bool
    detected: bool
    serving_version: str | None
    held_out_accuracy: float | None
    recent_rows: int
    recent_accuracy: float | None
    drop: float | None
    threshold: float
    min_rows: int
    window: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_performance(
    production: pd.DataFrame,
    version: str | None,
    manifest: dict[str, Any] | None,
    *,
    threshold: float,
    min_rows: int,
    window: int = WINDOW,
) -> PerformanceDrift:
    """Compare the serving model's accuracy on its newest feedback with its held-out accuracy."""
    held_out = ((manifest or {}).get("metrics") or {}).get("accuracy")
    mine = production[production["model_version"] == version] if version else production.iloc[:0]
    recent = mine.tail(window)
    rows = len(recent)

    def verdict(reason: str, accuracy: float | None = None, drop: float | None = None,
                detected: bool = False) -> PerformanceDrift:  # fmt: skip
        return PerformanceDrift(
            computed=accuracy is not None, detected=detected, serving_version=version,
            held_out_accuracy=held_out, recent_rows=rows, recent_accuracy=accuracy, drop=drop,
            threshold=threshold, min_rows=min_rows, window=window, reason=reason,
        )  # fmt: skip

    if version is None:
        return verdict("no serving model")
    if not isinstance(held_out, int | float):
        return verdict(f"model {version} records no held-out accuracy in its manifest")
    if rows < min_rows:
        return verdict(
            f"{rows} feedback row(s) answered by model {version}; at least {min_rows} are needed"
        )
    accuracy = float(
        np.mean(recent["prediction"].to_numpy(np.int64) == recent["actual"].to_numpy(np.int64))
    )
    drop = float(held_out) - accuracy
    detected = drop > threshold
    comparison = "more" if detected else "not more"
    reason = (
        f"model {version}: accuracy {accuracy:.3f} on its newest {rows} feedback rows against "
        f"{float(held_out):.3f} held out at training, a drop of {drop:+.3f}, {comparison} than "
        f"the threshold {threshold:g}"
    )
    return verdict(reason, accuracy, drop, detected)
