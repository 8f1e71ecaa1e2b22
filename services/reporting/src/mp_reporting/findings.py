"""Everything one run computed, before it is turned into pages and a summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mp_reporting.components import CurrentModel
from mp_reporting.drift import DriftResult
from mp_reporting.evidently_api import Snapshot
from mp_reporting.inputs import Inputs
from mp_reporting.performance import PerformanceResult
from mp_reporting.performance_drift import PerformanceDrift
from mp_reporting.quality import ColumnQuality


@dataclass(slots=True)
class Findings:
    generated_at: datetime
    inputs: Inputs
    model: CurrentModel
    drift_threshold: float
    quality: dict[str, ColumnQuality]
    quality_snapshot: Snapshot
    drift: DriftResult | None
    performance: PerformanceResult
    performance_drift: PerformanceDrift
    warnings: list[str] = field(default_factory=list)
    drift_notes: list[str] = field(default_factory=list)  # also in warnings
    timings: dict[str, float] = field(default_factory=dict)
    support: str = ""  # the helplines line every page carries (mp_core.support)

    @property
    def drift_detected(self) -> bool | None:
        """Share of drifted raw features above the threshold; None when not computed."""
        if self.drift is None:
            return None
        return self.drift.features.share > self.drift_threshold
