"""Turn :class:`Findings` into the three HTML pages (Evidently's page plus the MindPulse header)."""

from __future__ import annotations

from mp_core.ml.dataset import describe_bad_lines
from mp_reporting.drift import MIN_DRIFT_ROWS, GroupDrift
from mp_reporting.evidently_api import Snapshot
from mp_reporting.findings import Findings
from mp_reporting.pages import HtmlTable, decorate, header_html, plain_page
from mp_reporting.performance import Metrics

QUALITY_TITLE = "MindPulse - Data quality"
DRIFT_TITLE = "MindPulse - Data drift"
PERFORMANCE_TITLE = "MindPulse - Classification performance"


def _facts(findings: Findings) -> list[str]:
    inputs = findings.inputs
    model = findings.model
    served = f"current model {model.version}" if model.version else "no current model"
    return [
        f"Generated {findings.generated_at:%Y-%m-%d %H:%M:%S} UTC - {served}",
        f"Reference: {inputs.reference.rows} rows from {inputs.reference.source} "
        f"({len(inputs.reference.bad_lines)} malformed skipped). "
        f"Production: {inputs.production.rows} rows from {inputs.production.source} "
        f"({len(inputs.production.bad_lines)} malformed skipped).",
    ]


def _bad_line_notes(findings: Findings) -> list[str]:
    notes = []
    for name, table in (
        ("reference", findings.inputs.reference),
        ("production", findings.inputs.production),
    ):
        if table.bad_lines:
            notes.append(
                f"{name}: {len(table.bad_lines)} malformed row(s) skipped - "
                + describe_bad_lines(table.bad_lines, limit=5)
            )
    return notes


def _page(title: str, snapshot: Snapshot | None, header: str) -> str:
    if snapshot is None:
        return plain_page(title, header)
    return decorate(snapshot.get_html_str(as_iframe=False), title, header)


def quality_page(findings: Findings) -> str:
    rows = []
    flagged = set()
    for index, (column, q) in enumerate(findings.quality.items()):
        rows.append(
            [
                column,
                q.reference_rejected,
                q.production_rejected,
                ", ".join(q.new_categories) or "-",
                _range(q.reference_range),
                _range(q.production_range),
                q.outside_reference_range,
            ]
        )
        if q.production_rejected or q.new_categories or q.outside_reference_range:
            flagged.add(index)
    table = HtmlTable(
        caption="Per column: rejected rows (missing or invalid values, unknown categories), "
        "new categories, ranges",
        headers=[
            "column",
            "reference rejected",
            "production rejected",
            "new categories in production",
            "reference range",
            "production range",
            "production values outside reference range",
        ],
        rows=rows,
        flagged_rows=frozenset(flagged),
    )
    notes = _bad_line_notes(findings)
    if findings.inputs.production.frame.empty:
        notes.append(
            "No production rows yet: the Evidently section below describes the reference set "
            "alone (Evidently calls it 'current')."
        )
    header = header_html(
        QUALITY_TITLE, support=findings.support, facts=_facts(findings), notes=notes, tables=[table]
    )
    return _page(QUALITY_TITLE, findings.quality_snapshot, header)


def _range(values: list[float] | None) -> str:
    return "-" if values is None else f"{values[0]:g} to {values[1]:g}"


def _drift_table(group: GroupDrift, caption: str) -> HtmlTable:
    rows = [
        [c.column, c.description, c.method, c.score, c.threshold, "yes" if c.drifted else "no"]
        for c in group.columns
    ]
    flagged = frozenset(i for i, c in enumerate(group.columns) if c.drifted)
    return HtmlTable(
        caption=caption,
        headers=["column", "what changed", "method", "score", "threshold", "drift"],
        rows=rows,
        flagged_rows=flagged,
    )


def drift_page(findings: Findings) -> str:
    drift = findings.drift
    notes = list(findings.drift_notes)
    if drift is None:
        rows = findings.inputs.production.rows
        notes = [
            f"Drift was not computed: {rows} production row(s), at least {MIN_DRIFT_ROWS} are "
            "needed. Feedback sent to the API (POST /feedback) is added to production data."
        ]
        header = header_html(
            DRIFT_TITLE, support=findings.support, facts=_facts(findings), notes=notes
        )
        return plain_page(DRIFT_TITLE, header)
    features = drift.features
    verdict = "drift detected" if findings.drift_detected else "no drift"
    facts = [
        *_facts(findings),
        f"Raw features drifted: {len(features.drifted_columns)} of {len(features.columns)} "
        f"(share {features.share:.0%}, threshold {findings.drift_threshold:.0%}): {verdict}. "
        f"Method: {drift.method_note}.",
    ]
    tables = [_drift_table(features, "Raw features (what a person would notice)")]
    if drift.components is not None:
        comp = drift.components
        facts.append(
            f"PCA components drifted: {len(comp.drifted_columns)} of {len(comp.columns)} "
            f"(share {comp.share:.0%})."
        )
        tables.append(_drift_table(comp, "PCA components of the model's preprocessing"))
    header = header_html(
        DRIFT_TITLE, support=findings.support, facts=facts, notes=notes, tables=tables
    )
    return _page(DRIFT_TITLE, drift.snapshot, header)


def _metrics_row(name: str, metrics: Metrics | None, rows: int | None = None) -> list[object]:
    if metrics is None:
        return [name, rows, None, None, None, None, "not enough rows"]
    (tn, fp), (fn, tp) = metrics.confusion_matrix
    return [
        name,
        metrics.rows,
        metrics.accuracy,
        metrics.f1,
        metrics.precision,
        metrics.recall,
        f"TN {tn} / FP {fp} / FN {fn} / TP {tp}",
    ]


def performance_page(findings: Findings) -> str:
    perf = findings.performance
    rows = [
        _metrics_row("reference (all rows)", perf.reference),
        _metrics_row("reference (held-out test split)", perf.reference_held_out),
        _metrics_row("production (all feedback)", perf.production, findings.inputs.production.rows),
    ]
    for version, metrics in perf.by_model_version.items():
        rows.append(
            _metrics_row(
                f"production, model {version}", metrics, perf.rows_by_model_version[version]
            )
        )
    table = HtmlTable(
        caption="Reference: target vs the model's prediction. Production: each feedback's actual "
        "vs the prediction it was given.",
        headers=["set", "rows", "accuracy", "F1", "precision", "recall", "confusion matrix"],
        rows=rows,
    )
    header = header_html(
        PERFORMANCE_TITLE,
        support=findings.support,
        facts=_facts(findings),
        notes=perf.notes,
        tables=[table],
    )
    return _page(PERFORMANCE_TITLE, perf.snapshot, header)
