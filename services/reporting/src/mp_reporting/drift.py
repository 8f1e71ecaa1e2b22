"""Drift of production against reference, per column, with Evidently's DataDriftPreset.

Evidently picks its test from the reference size alone; with a large reference and a few dozen
feedback rows its distance measures (normed Wasserstein, Jensen-Shannon, threshold 0.1) then
flag noise as drift. So the methods are chosen from the smaller of the two samples: at most
:data:`SMALL_SAMPLE_ROWS` rows gets the statistical tests (Kolmogorov-Smirnov, chi-square,
drift when p < 0.05), more rows the distances, which do not call every tiny shift significant.
Each column is judged by Evidently; the share of drifted columns is computed per group (raw
features, PCA components) and compared with ``DRIFT_THRESHOLD``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from mp_core.schema import CATEGORICAL_FEATURES, SPECS_BY_NAME
from mp_reporting.evidently_api import (
    DataDefinition,
    DataDriftPreset,
    Dataset,
    Report,
    Snapshot,
    ValueDrift,
)

if TYPE_CHECKING:
    import pandas as pd

SMALL_SAMPLE_ROWS: Final = 1000
#: Below this many production rows no drift is computed: any test would be guesswork.
MIN_DRIFT_ROWS: Final = 30
_VALUE_DRIFT: Final = "evidently:metric_v2:ValueDrift"


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """One column's verdict, with what changed in words a person understands."""

    column: str
    score: float
    threshold: float
    method: str
    drifted: bool
    description: str


@dataclass(frozen=True, slots=True)
class GroupDrift:
    """The columns of one group (raw features or PCA components) and their drifted share."""

    name: str
    columns: tuple[ColumnDrift, ...]

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0


@dataclass(frozen=True, slots=True)
class DriftResult:
    features: GroupDrift
    components: GroupDrift | None
    method_note: str
    snapshot: Snapshot


def choose_methods(reference_rows: int, production_rows: int) -> tuple[str, str, str]:
    """(numeric method, categorical method, a sentence saying why) for these sample sizes."""
    smaller = min(reference_rows, production_rows)
    if smaller <= SMALL_SAMPLE_ROWS:
        return (
            "ks",
            "chisquare",
            (
                f"{smaller} rows in the smaller sample (at most {SMALL_SAMPLE_ROWS}): "
                "Kolmogorov-Smirnov test for numbers and chi-square for categories; "
                "the score is a p-value, drift when it is below the threshold"
            ),
        )
    return (
        "wasserstein",
        "jensenshannon",
        (
            f"{smaller} rows in the smaller sample (more than {SMALL_SAMPLE_ROWS}): normed Wasserstein "
            "distance for numbers and Jensen-Shannon distance for categories; "
            "the score is a distance, drift when it reaches the threshold"
        ),
    )


def compute_drift(
    reference: pd.DataFrame,
    production: pd.DataFrame,
    *,
    features: Sequence[str],
    components: Sequence[str] = (),
    threshold: float,
) -> DriftResult:
    """Drift of every column in ``features`` (and ``components``) on all rows of both frames."""
    if len(production) < MIN_DRIFT_ROWS:
        raise ValueError(f"drift needs at least {MIN_DRIFT_ROWS} production rows")
    columns = [*features, *components]
    categorical = [c for c in columns if c in CATEGORICAL_FEATURES]
    numerical = [c for c in columns if c not in CATEGORICAL_FEATURES]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    num_method, cat_method, note = choose_methods(len(reference), len(production))
    # The raw features get the full preset (summary, table, distributions). The preset computes
    # each column's test three times (per column, for the share, for the table), so the PCA
    # components, which matter less to a reader, get one ValueDrift each: a third of the work.
    items: list[Any] = [
        DataDriftPreset(
            columns=list(features),
            drift_share=threshold,
            num_method=num_method,
            cat_method=cat_method,
        )
    ]
    items += [ValueDrift(column=column, method=num_method) for column in components]
    snapshot = Report(items, include_tests=True).run(
        Dataset.from_pandas(production[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    verdicts = _column_verdicts(snapshot.dict())
    group_results = [
        GroupDrift(
            name=name,
            columns=tuple(
                _column_drift(column, verdicts[column], reference[column], production[column])
                for column in group
            ),
        )
        for name, group in (("features", features), ("components", components))
        if group
    ]
    return DriftResult(
        features=group_results[0],
        components=group_results[1] if len(group_results) > 1 else None,
        method_note=note,
        snapshot=snapshot,
    )


def _column_verdicts(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{column: score, method, threshold, drifted} from Evidently's metrics and tests."""
    verdicts: dict[str, dict[str, Any]] = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type") == _VALUE_DRIFT:
            verdicts[config["column"]] = {
                "score": float(metric["value"]),
                "method": str(config["method"]),
                "threshold": float(config["threshold"]),
            }
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if params.get("type") == _VALUE_DRIFT:
            verdicts[params["column"]]["drifted"] = test["status"] == "FAIL"
    return verdicts


def _column_drift(
    column: str, verdict: dict[str, Any], reference: pd.Series, production: pd.Series
) -> ColumnDrift:
    return ColumnDrift(
        column=column,
        score=verdict["score"],
        threshold=verdict["threshold"],
        method=verdict["method"],
        drifted=bool(verdict["drifted"]),
        description=describe_change(column, reference, production, drifted=verdict["drifted"]),
    )


def describe_change(
    column: str, reference: pd.Series, production: pd.Series, *, drifted: bool
) -> str:
    """``"Sleep went down: mean 7.1 -> 5.6 hours/day"`` or the category whose share moved most."""
    spec = SPECS_BY_NAME.get(column)
    label = spec.label if spec else column
    if column in CATEGORICAL_FEATURES:
        ref_share = reference.value_counts(normalize=True)
        prod_share = production.value_counts(normalize=True)
        change = prod_share.sub(ref_share, fill_value=0.0)
        category = str(change.abs().idxmax())
        before, after = float(ref_share.get(category, 0.0)), float(prod_share.get(category, 0.0))
        direction: Literal["more", "fewer"] = "more" if after > before else "fewer"
        verb = f"{direction} {category}" if drifted else f"{category} stable"
        return f"{label}: {verb} ({before:.0%} -> {after:.0%} of rows)"
    before, after = float(reference.mean()), float(production.mean())
    # Units such as "1-10" or "/ 4" describe a scale, not what the number counts.
    has_unit = spec is not None and spec.unit is not None and any(c.isalpha() for c in spec.unit)
    unit = f" {spec.unit}" if has_unit and spec is not None else ""
    verb = ("went up" if after > before else "went down") if drifted else "stable"
    return f"{label} {verb}: mean {before:.2f} -> {after:.2f}{unit}"
