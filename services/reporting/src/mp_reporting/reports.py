"""One reporting run: read the inputs, compute quality, drift and performance, publish.

``build_reports`` is the whole of ``mindpulse-report``; ``check_drift`` is the lighter
``--drift-check`` (raw-feature drift only, nothing written). Both are plain functions over the
settings, so the CLI, the benchmark and the tests call the same code.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mp_core.schema import FEATURE_NAMES
from mp_core.settings import Settings
from mp_core.support import FRANCE, SupportResourcesError, load_support_resources, support_line
from mp_reporting.components import load_current_model, production_components
from mp_reporting.drift import MIN_DRIFT_ROWS, DriftResult, compute_drift
from mp_reporting.findings import Findings
from mp_reporting.history import DEFAULT_KEEP, publish, reports_lock
from mp_reporting.inputs import Inputs, Table, load_inputs
from mp_reporting.performance import evaluate
from mp_reporting.performance_drift import PerformanceDrift, check_performance
from mp_reporting.quality import column_quality, quality_report
from mp_reporting.render import drift_page, performance_page, quality_page
from mp_reporting.summary import REPORT_FILES, SUMMARY_FILE, build_summary

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReportRun:
    """What a run wrote: the summary and where the history copy went."""

    summary: dict[str, Any]
    reports_dir: Path
    history_dir: Path | None


@dataclass(frozen=True, slots=True)
class DriftCheck:
    """The verdict of ``--drift-check`` on the raw features."""

    threshold: float
    production_rows: int
    share: float | None  # None: too few production rows to judge
    drifted_columns: dict[str, str]  # column -> what changed, in words
    reason: str
    performance: PerformanceDrift
    columns: int = len(FEATURE_NAMES)

    @property
    def detected(self) -> bool:
        return self.share is not None and self.share > self.threshold

    @property
    def retrain_needed(self) -> bool:
        """Feature drift over the threshold, or the serving model's accuracy dropped."""
        return self.detected or self.performance.detected


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - started
            log.debug("step done", extra={"step": name, "seconds": round(self.timings[name], 3)})

    def run(self, name: str, func: Callable[[], T]) -> T:
        with self.step(name):
            return func()


def _input_warnings(inputs: Inputs) -> list[str]:
    warnings = []
    for name, table in (("reference", inputs.reference), ("production", inputs.production)):
        if table.bad_lines:
            warnings.append(
                f"{name}: {len(table.bad_lines)} malformed row(s) in {table.source} were skipped "
                "(see bad_rows)"
            )
    if inputs.production.frame.empty:
        warnings.append(
            f"production: no feedback rows yet ({inputs.production.source} is missing or empty); "
            "drift and production metrics need feedback sent to the API (POST /feedback)"
        )
    return warnings


def _drift(
    inputs: Inputs, findings_notes: list[str], settings: Settings, model: Any
) -> DriftResult | None:
    production = inputs.production.frame
    if len(production) < MIN_DRIFT_ROWS:
        findings_notes.append(
            f"drift: {len(production)} production row(s); at least {MIN_DRIFT_ROWS} are needed "
            "to compare distributions, so drift was not computed"
        )
        return None
    components, problem = production_components(
        model, production, inputs.reference.frame, inputs.pca_columns
    )
    if components is None:
        findings_notes.append(problem or "PCA drift skipped")
        return compute_drift(
            inputs.reference.frame,
            production,
            features=FEATURE_NAMES,
            threshold=settings.drift_threshold,
        )
    return compute_drift(
        inputs.reference.frame,
        production.join(components),
        features=FEATURE_NAMES,
        components=inputs.pca_columns,
        threshold=settings.drift_threshold,
    )


def compute_findings(settings: Settings, *, now: datetime | None = None) -> Findings:
    """Everything the pages and the summary show, computed from the settings' files."""
    timer = _Timer()
    generated_at = now or datetime.now(UTC)
    inputs = timer.run(
        "load_inputs", lambda: load_inputs(settings.ref_data_path, settings.prod_data_path)
    )
    model = timer.run("load_model", lambda: load_current_model(settings.artifacts_dir))
    warnings = _input_warnings(inputs)
    if model.problem:
        warnings.append(f"model: {model.problem}")
    reference, production = inputs.reference.frame, inputs.production.frame
    quality = column_quality(
        reference, production, inputs.reference.bad_lines, inputs.production.bad_lines
    )
    quality_snapshot = timer.run("data_quality", lambda: quality_report(reference, production))
    drift_notes: list[str] = []
    drift = timer.run("data_drift", lambda: _drift(inputs, drift_notes, settings, model))
    performance = timer.run("classification", lambda: evaluate(reference, production))
    warnings += drift_notes + performance.notes
    performance_drift = _performance_drift(settings, production, model.version, model.manifest)
    try:
        support = load_support_resources(settings.support_resources_file)
    except SupportResourcesError as exc:
        warnings.append(f"support resources: {exc}; showing the default list")
        support = FRANCE
    return Findings(
        generated_at=generated_at,
        inputs=inputs,
        model=model,
        drift_threshold=settings.drift_threshold,
        quality=quality,
        quality_snapshot=quality_snapshot,
        drift=drift,
        performance=performance,
        performance_drift=performance_drift,
        warnings=warnings,
        drift_notes=drift_notes,
        timings=timer.timings,
        support=support_line(support),
    )


def render_files(findings: Findings) -> dict[str, bytes]:
    """The three pages and ``summary.json``, as bytes ready to publish (summary last)."""
    timer = _Timer()
    pages = {
        REPORT_FILES["data_quality"]: timer.run("render_quality", lambda: quality_page(findings)),
        REPORT_FILES["data_drift"]: timer.run("render_drift", lambda: drift_page(findings)),
        REPORT_FILES["classification_performance"]: timer.run(
            "render_performance", lambda: performance_page(findings)
        ),
    }
    findings.timings.update(timer.timings)
    files = {name: html.encode("utf-8") for name, html in pages.items()}
    summary = build_summary(findings)
    files[SUMMARY_FILE] = (json.dumps(summary, indent=2, allow_nan=False) + "\n").encode()
    return files


def build_reports(
    settings: Settings, *, keep: int = DEFAULT_KEEP, now: datetime | None = None
) -> ReportRun:
    """Write the three reports and ``summary.json`` into ``REPORTS_DIR`` (plus the history)."""
    started = time.perf_counter()
    findings = compute_findings(settings, now=now)
    files = render_files(findings)
    with reports_lock(settings.reports_dir):
        publish_started = time.perf_counter()
        history_dir = publish(settings.reports_dir, files, findings.generated_at, keep=keep)
        findings.timings["publish"] = time.perf_counter() - publish_started
    findings.timings["total"] = time.perf_counter() - started
    summary = json.loads(files[SUMMARY_FILE])
    # The file holds the steps up to rendering; the caller also gets publishing and the total.
    summary["timings_seconds"] = {k: round(v, 3) for k, v in findings.timings.items()}
    log.info(
        "reports written",
        extra={
            "reports_dir": str(settings.reports_dir),
            "reference_rows": findings.inputs.reference.rows,
            "production_rows": findings.inputs.production.rows,
            "drift_share": summary["drift"]["share"],
            "warnings": len(findings.warnings),
            "seconds": round(findings.timings["total"], 3),
        },
    )
    return ReportRun(summary=summary, reports_dir=settings.reports_dir, history_dir=history_dir)


def _performance_drift(
    settings: Settings, production: pd.DataFrame, version: str | None, manifest: Any
) -> PerformanceDrift:
    return check_performance(
        production,
        version,
        manifest,
        threshold=settings.performance_drop,
        min_rows=settings.performance_min_rows,
    )


def _serving_manifest(settings: Settings) -> tuple[str | None, dict[str, Any] | None]:
    """The current version and its manifest (no model file is loaded), or (None, None)."""
    from mp_core.errors import CorruptArtifact, ModelUnavailable
    from mp_core.stores.artifacts_files import ArtifactStore

    store = ArtifactStore(settings.artifacts_dir)
    try:
        version = store.current_version()
        return version, (store.manifest(version) if version else None)
    except (ModelUnavailable, CorruptArtifact, OSError, ValueError):
        return None, None


def check_drift(settings: Settings) -> DriftCheck:
    """Share of drifted raw features and the serving model's accuracy drop; nothing is written."""
    inputs = load_inputs(settings.ref_data_path, settings.prod_data_path)
    production: Table = inputs.production
    performance = _performance_drift(settings, production.frame, *_serving_manifest(settings))
    if production.rows < MIN_DRIFT_ROWS:
        return DriftCheck(
            threshold=settings.drift_threshold,
            production_rows=production.rows,
            share=None,
            drifted_columns={},
            reason=f"{production.rows} production row(s); at least {MIN_DRIFT_ROWS} are needed",
            performance=performance,
        )
    result = compute_drift(
        inputs.reference.frame,
        production.frame,
        features=FEATURE_NAMES,
        threshold=settings.drift_threshold,
    )
    features = result.features
    return DriftCheck(
        threshold=settings.drift_threshold,
        production_rows=production.rows,
        share=features.share,
        drifted_columns={c.column: c.description for c in features.columns if c.drifted},
        reason=result.method_note,
        performance=performance,
    )
