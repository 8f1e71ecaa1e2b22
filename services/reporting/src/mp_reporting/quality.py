"""Data quality: Evidently's DataSummaryPreset per column, reference against production.

Rows that break the schema never reach a frame (the loaders skip them), so missing values and
unknown categories show up as *rejected rows*, counted here per column from the loaders' reasons.
Among the valid rows the report adds two checks of its own, also as Evidently metrics: production
categories the reference never had, and values outside the range seen in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from mp_core.schema import CATEGORICAL_FEATURES, FEATURE_NAMES, NUMERIC_FEATURES
from mp_reporting.evidently_api import (
    DataDefinition,
    Dataset,
    DataSummaryPreset,
    OutListValueCount,
    OutRangeValueCount,
    Report,
    Snapshot,
)

if TYPE_CHECKING:
    import pandas as pd

#: Bad lines whose reason names no column (a torn line, a stray comma) are counted here.
WHOLE_ROW: Final = "(whole row)"

_DEFINITION: Final = DataDefinition(
    numerical_columns=list(NUMERIC_FEATURES), categorical_columns=list(CATEGORICAL_FEATURES)
)


@dataclass(slots=True)
class ColumnQuality:
    """What the summary says about one column."""

    reference_rejected: int = 0
    production_rejected: int = 0
    new_categories: list[str] = field(default_factory=list)
    outside_reference_range: int = 0
    reference_range: list[float] | None = None
    production_range: list[float] | None = None


def rejected_by_column(bad_lines: dict[int, str]) -> dict[str, int]:
    """{column: rows rejected because of it}, from reasons such as ``"Age must be ..."``."""
    counts: dict[str, int] = {}
    for reason in bad_lines.values():
        column, _, rule = reason.partition(" ")
        if not rule.startswith("must be"):  # "expected 15 fields, found 14"
            column = WHOLE_ROW
        counts[column] = counts.get(column, 0) + 1
    return counts


def column_quality(
    reference: pd.DataFrame,
    production: pd.DataFrame,
    reference_bad: dict[int, str],
    production_bad: dict[int, str],
) -> dict[str, ColumnQuality]:
    """Per feature: rejected rows on each side, new categories, values outside the reference range."""
    ref_rejected = rejected_by_column(reference_bad)
    prod_rejected = rejected_by_column(production_bad)
    out: dict[str, ColumnQuality] = {}
    for column in FEATURE_NAMES:
        quality = ColumnQuality(
            reference_rejected=ref_rejected.get(column, 0),
            production_rejected=prod_rejected.get(column, 0),
        )
        if column in CATEGORICAL_FEATURES:
            seen = set(reference[column].unique())
            quality.new_categories = sorted(str(v) for v in set(production[column].unique()) - seen)
        elif len(reference):
            low, high = float(reference[column].min()), float(reference[column].max())
            quality.reference_range = [low, high]
            if len(production):
                values = production[column]
                quality.production_range = [float(values.min()), float(values.max())]
                quality.outside_reference_range = int(((values < low) | (values > high)).sum())
        out[column] = quality
    for column in set(ref_rejected) | set(prod_rejected):
        if column not in out:  # labels, PCA values or torn lines
            out[column] = ColumnQuality(
                reference_rejected=ref_rejected.get(column, 0),
                production_rejected=prod_rejected.get(column, 0),
            )
    return out


def quality_report(reference: pd.DataFrame, production: pd.DataFrame) -> Snapshot:
    """DataSummaryPreset over the nine features; the reference alone when production is empty."""
    columns = list(FEATURE_NAMES)
    ref_data = Dataset.from_pandas(reference[columns], data_definition=_DEFINITION)
    if production.empty:
        return Report([DataSummaryPreset(columns=columns)]).run(ref_data, None)
    checks: list[Any] = [
        OutListValueCount(column=c, values=sorted(reference[c].unique().tolist()))
        for c in CATEGORICAL_FEATURES
    ]
    checks += [
        OutRangeValueCount(
            column=c, left=float(reference[c].min()), right=float(reference[c].max())
        )
        for c in NUMERIC_FEATURES
    ]
    return Report([DataSummaryPreset(columns=columns), *checks]).run(
        Dataset.from_pandas(production[columns], data_definition=_DEFINITION), ref_data
    )
