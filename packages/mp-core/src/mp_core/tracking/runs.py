"""What one MindPulse run holds in MLflow: parameters, metrics and tags, as plain JSON.

Built by the tracking hooks in the training process (cheap, no mlflow) and sent to the child
that logs it, or kept in the note until ``mindpulse sync-mlflow`` can.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mp_core.ml.training import TrainingResult


# -- what a run holds --------------------------------------------------------------------------
def run_payload(
    version: str | None,
    manifest: Mapping[str, Any] | None,
    decision: Mapping[str, Any] | None,
    result: TrainingResult | None = None,
) -> dict[str, Any]:
    """Parameters, metrics and tags of one training's run, as plain JSON."""
    manifest = manifest or {}
    decision = dict(decision or {})
    params: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    if result is not None:
        params.update(
            algorithm=result.algorithm,
            selection_metric=result.selection_metric,
            n_components=result.n_components,
            training_rows=result.train_rows,
            test_rows=result.test_rows,
            data_hash=result.data_hash,
        )
        params.update({f"model.{k}": v for k, v in result.winner.params.items()})
        _add_metrics(metrics, "", result.metrics)
        for candidate in result.candidates:
            _add_metrics(metrics, f"{candidate.algorithm}.", candidate.metrics)
            metrics[f"{candidate.algorithm}.fit_seconds"] = candidate.fit_seconds
        metrics["training_seconds"] = result.seconds
    if manifest:
        for key in ("algorithm", "selection_metric", "n_components", "data_hash"):
            if manifest.get(key) is not None:
                params[key] = manifest[key]
        params["training_rows"] = manifest.get("training_rows")
        params["test_rows"] = manifest.get("test_rows")
        params.update({f"model.{k}": v for k, v in (manifest.get("params") or {}).items()})
        _add_metrics(metrics, "", manifest.get("metrics") or {})
        for algorithm, info in (manifest.get("candidates") or {}).items():
            _add_metrics(metrics, f"{algorithm}.", info.get("metrics") or {})
            _add_metrics(metrics, f"{algorithm}.", {"fit_seconds": info.get("fit_seconds")})
        _add_metrics(metrics, "", {"training_seconds": manifest.get("training_seconds")})
        source = manifest.get("data_source") or {}
        if isinstance(source, dict) and source.get("source"):
            tags["data_source"] = str(source["source"])
        for key in ("trained_by", "trigger", "replaces"):
            if manifest.get(key):
                tags[key] = str(manifest[key])
        _add_metrics(metrics, "feedback_", {"rows": manifest.get("feedback_rows")})
    bayes = manifest.get("bayes_accuracy", decision.get("bayes_accuracy"))
    _add_metrics(metrics, "", {"bayes_accuracy": bayes})
    _add_decision(decision, params, metrics, tags)
    if version:
        tags["mindpulse_version"] = version
    return {
        "version": version,
        "run_name": version or f"challenger not kept {decision.get('finished_at') or _utc_now()}",
        "params": {k: _param_text(v) for k, v in params.items() if v is not None},
        "metrics": metrics,
        "tags": tags,
        "decision": decision,
    }


def _add_decision(
    decision: Mapping[str, Any],
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
) -> None:
    """The champion/challenger outcome: the API's retrain status or the CLI's own decision."""
    outcome = decision.get("decision")
    if outcome:
        tags["decision"] = str(outcome)
    if decision.get("reason"):
        tags["decision_reason"] = str(decision["reason"])[:5000]
    if decision.get("trigger"):
        tags["trigger"] = str(decision["trigger"])
    for key in ("selection_metric", "tolerance"):
        if decision.get(key) is not None:
            params[f"promotion.{key}"] = decision[key]
    rows = decision.get("rows")
    if isinstance(rows, dict):
        _add_metrics(metrics, "rows.", rows)
    champion = decision.get("champion")
    if isinstance(champion, dict):
        _add_metrics(metrics, "champion.", champion.get("metrics") or {})
    challenger = decision.get("challenger")
    if isinstance(challenger, dict):
        _add_metrics(metrics, "", challenger.get("metrics") or {})
        params.setdefault("algorithm", challenger.get("algorithm"))
        selection = str(decision.get("selection_metric") or "score")
        for algorithm, score in (challenger.get("candidates") or {}).items():
            # Every metric of each candidate when given, else its selection-metric score.
            scores = score if isinstance(score, dict) else {selection: score}
            _add_metrics(metrics, f"{algorithm}.", scores)


def _add_metrics(target: dict[str, float], prefix: str, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            target[f"{prefix}{name}"] = float(value)


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]  # MLflow refuses longer parameter values


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
