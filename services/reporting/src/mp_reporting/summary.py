"""``summary.json``: the run in numbers, for people, dashboards and the retrain DAG.

Top-level fields (documented in the README; a test checks them):

- ``generated_at``: UTC time of the run, ISO-8601.
- ``drift``: share of drifted raw features, whether it exceeds the threshold, the drifted
  ones with their scores, the method, every feature's verdict in words, and the same for the
  PCA components (null when not computed; ``warnings`` says why).
- ``performance_drift``: the serving model's accuracy on its newest feedback against its
  held-out accuracy at training: ``computed``, ``detected``, ``serving_version``,
  ``held_out_accuracy``, ``recent_rows``, ``recent_accuracy``, ``drop``, ``threshold``,
  ``min_rows``, ``window`` and ``reason`` in words (see :mod:`mp_reporting.performance_drift`).
- ``rows``: valid and skipped (malformed) rows of the reference and production data.
- ``model``: the current model (version, algorithm) or why there is none.
- ``model_versions``: production rows per model version that served them.
- ``metrics``: accuracy, F1, precision, recall, confusion matrix for production, reference,
  held-out reference and each model version (null where too few rows).
- ``warnings``: everything missing or skipped, in plain words.
- ``bad_rows``: the first skipped lines of each input with the rule each broke.
- ``data_quality``: per column rejected rows, new categories and values outside the
  reference's range.
- ``reports``: the HTML files written.
- ``timings_seconds``: how long each step took.
- ``schema_version``: 1; bumped when a field changes meaning.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Final

from mp_reporting.drift import GroupDrift
from mp_reporting.findings import Findings
from mp_reporting.performance import Metrics

SCHEMA_VERSION: Final = 1
BAD_LINES_SHOWN: Final = 20
REPORT_FILES: Final = {
    "data_quality": "data_quality.html",
    "data_drift": "data_drift.html",
    "classification_performance": "classification_performance.html",
}
SUMMARY_FILE: Final = "summary.json"
#: In this order: the headline figures first (the web page shows the first few).
SUMMARY_FIELDS: Final = (
    "generated_at",
    "drift",
    "performance_drift",
    "rows",
    "model",
    "model_versions",
    "metrics",
    "warnings",
    "bad_rows",
    "data_quality",
    "reports",
    "timings_seconds",
    "schema_version",
)


def _bad_lines(bad: dict[int, str]) -> dict[str, Any]:
    shown = dict(sorted(bad.items())[:BAD_LINES_SHOWN])
    return {"count": len(bad), "first_lines": {str(k): v for k, v in shown.items()}}


def _group(group: GroupDrift | None) -> dict[str, Any] | None:
    if group is None:
        return None
    return {
        "share": group.share,
        "drifted_columns": {
            c.column: {"score": c.score, "method": c.method, "threshold": c.threshold}
            for c in group.columns
            if c.drifted
        },
        "columns": {
            c.column: {
                "score": c.score,
                "method": c.method,
                "threshold": c.threshold,
                "drifted": c.drifted,
                "description": c.description,
            }
            for c in group.columns
        },
    }


def _metrics(metrics: Metrics | None) -> dict[str, Any] | None:
    return None if metrics is None else metrics.as_dict()


def build_summary(findings: Findings) -> dict[str, Any]:
    """The JSON-ready summary of ``findings``."""
    inputs = findings.inputs
    production = inputs.production.frame
    drift = findings.drift
    model = findings.model
    perf = findings.performance
    features = None if drift is None else _group(drift.features)
    return {
        "generated_at": findings.generated_at.isoformat(timespec="seconds"),
        "drift": {
            "share": None if drift is None else drift.features.share,
            "detected": findings.drift_detected,
            "threshold": findings.drift_threshold,
            "computed": drift is not None,
            "drifted_columns": {} if features is None else features["drifted_columns"],
            "method": None if drift is None else drift.method_note,
            "features": features,
            "components": None if drift is None else _group(drift.components),
        },
        "performance_drift": findings.performance_drift.as_dict(),
        "rows": {
            "reference": inputs.reference.rows,
            "production": inputs.production.rows,
            "reference_skipped": len(inputs.reference.bad_lines),
            "production_skipped": len(inputs.production.bad_lines),
        },
        "model": {
            "current_version": model.version,
            "algorithm": (model.manifest or {}).get("algorithm"),
            "trained_at": (model.manifest or {}).get("created_at"),
            "problem": model.problem,
        },
        "model_versions": {
            "current": model.version,
            "in_production": {
                str(k): int(v)
                for k, v in production["model_version"].value_counts().sort_index().items()
            },
        },
        "metrics": {
            "production": _metrics(perf.production),
            "reference": _metrics(perf.reference),
            "reference_held_out": _metrics(perf.reference_held_out),
            "by_model_version": {
                version: {"rows": perf.rows_by_model_version[version], **(_metrics(m) or {})}
                for version, m in perf.by_model_version.items()
            },
        },
        "warnings": list(findings.warnings),
        "bad_rows": {
            "reference": _bad_lines(inputs.reference.bad_lines),
            "production": _bad_lines(inputs.production.bad_lines),
        },
        "data_quality": {column: asdict(q) for column, q in findings.quality.items()},
        "reports": dict(REPORT_FILES),
        "timings_seconds": {k: round(v, 3) for k, v in findings.timings.items()},
        "schema_version": SCHEMA_VERSION,
    }
