"""One retrain, as the trainer worker runs it (:mod:`mp_core.ml.worker`, ``mindpulse worker``).

Training data and judging are mp-core's plain functions (:func:`mp_core.ml.retraining.plan_retrain`,
the recency policy: recent feedback weighed most, a sample of the base dataset as a prior;
:func:`mp_core.ml.retraining.gate`: champion and challenger on the same held-out rows, recent
feedback once there is enough, with a confidence bound and ``PROMOTION_TOLERANCE``); this module
reads the inputs from the stores and records the outcome. The worker holds the one-at-a-time
lock of the retrain-request store around it and records what it did in that store's status;
whatever happens, the current model keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from mp_core.ml.training import CANDIDATES
from mp_core.settings import ConfigError, Settings
from mp_core.stores import Stores
from mp_core.stores.requests import utc_now

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("mp_core.ml.retrain")

NICENESS: Final = 10
DEFAULT_FEEDBACK_HOLDOUT: Final = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrainConfig:
    """``RETRAIN_CANDIDATES`` (comma-separated) and the share of feedback held out."""

    candidates: tuple[str, ...] = CANDIDATES
    feedback_holdout: float = DEFAULT_FEEDBACK_HOLDOUT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetrainConfig:
        env = os.environ if environ is None else environ
        candidates = tuple(
            name.strip()
            for name in (env.get("RETRAIN_CANDIDATES") or "").split(",")
            if name.strip()
        )
        unknown = [name for name in candidates if name not in CANDIDATES]
        if unknown:
            raise ConfigError(
                f"environment variable RETRAIN_CANDIDATES: unknown {', '.join(unknown)} "
                f"(choose from {', '.join(CANDIDATES)})"
            )
        return cls(candidates=candidates or CANDIDATES)


def feedback_frame(stores: Stores) -> pd.DataFrame:
    """Every valid feedback row as features + ``Depression`` (the actual class) + the served
    ``prediction`` (for the cap on uncorroborated rows), oldest first."""
    from mp_core.schema import FEATURE_NAMES, TARGET

    loaded = stores.feedback.read()
    if loaded.bad_lines:
        log.warning("feedback_bad_rows_skipped", extra={"rows": len(loaded.bad_lines)})
    frame = loaded.frame[[*FEATURE_NAMES, "actual", "prediction"]]
    frame = frame.rename(columns={"actual": TARGET})
    return frame.reset_index(drop=True)


def base_frame(settings: Settings) -> pd.DataFrame:
    """The base training set; generated (and saved) like ``mindpulse train`` does when missing."""
    from mp_core.ml.dataset import load_dataset, save_base_dataset
    from mp_core.ml.synthetic import DEFAULT_ROWS, generate
    from mp_core.schema import FEATURE_NAMES, TARGET

    if settings.dataset_path.exists():
        return load_dataset(settings.dataset_path).frame[[*FEATURE_NAMES, TARGET]]
    frame = generate(DEFAULT_ROWS, settings.seed)
    source = {"source": "synthetic", "rows": DEFAULT_ROWS, "seed": settings.seed, "drift": "none"}
    save_base_dataset(frame, settings.dataset_path, source)
    log.info("base_dataset_generated", extra={"rows": DEFAULT_ROWS})
    return frame


def _champion_probability(
    stores: Stores, holdout: pd.DataFrame
) -> tuple[np.ndarray | None, dict[str, Any], str | None]:
    """The current model's probabilities on ``holdout`` and what it is; None when unusable."""
    from mp_core.errors import CorruptArtifact, ModelUnavailable
    from mp_core.ml.training import classification_metrics
    from mp_core.schema import FEATURE_NAMES, TARGET

    try:
        bundle = stores.models.load_bundle()
    except (ModelUnavailable, CorruptArtifact) as exc:
        return None, {"error": str(exc)}, None
    z = bundle.preprocessor.transform(holdout[list(FEATURE_NAMES)])
    probability = np.asarray(bundle.model.predict_proba(z)[:, 1])
    metrics = classification_metrics(holdout[TARGET].to_numpy(), probability)
    described = {"version": bundle.version, "algorithm": bundle.manifest.get("algorithm"),
                 "metrics": metrics}  # fmt: skip
    return probability, described, bundle.version


def run_retrain(
    settings: Settings, stores: Stores, config: RetrainConfig, status: dict[str, Any]
) -> dict[str, Any]:
    """Train a challenger under the recency policy, gate it, maybe promote; return the status."""
    from mp_core.ml.publish import promote_version, save_version
    from mp_core.ml.retraining import RecencyPolicy, gate, plan_retrain
    from mp_core.ml.training import TrainConfig, train
    from mp_core.schema import FEATURE_NAMES, TARGET
    from mp_core.tracking import log_training

    policy = RecencyPolicy(holdout_share=config.feedback_holdout)
    feedback = feedback_frame(stores)
    plan = plan_retrain(base_frame(settings), feedback, policy, settings.seed)
    holdout = plan.frame[plan.test_mask]
    status["rows"] = plan.rows
    status["policy"] = policy.describe()
    status["held_out"] = plan.held_out
    metric = settings.selection_metric
    champion_probability, champion, champion_version = _champion_probability(stores, holdout)
    status["champion"] = champion

    def report(step: str, done: int, total: int) -> None:
        status["step"] = f"{step} ({done}/{total})"
        stores.requests.write_status(status)

    result = train(
        plan.frame,
        TrainConfig(
            seed=settings.seed,
            selection_metric=metric,
            candidates=config.candidates,  # type: ignore[arg-type]
            n_jobs=1,
        ),
        test_mask=plan.test_mask,
        sample_weight=plan.sample_weight,
        progress=report,
    )
    status["challenger"] = {
        "algorithm": result.algorithm,
        "metrics": result.metrics,
        "candidates": {c.algorithm: c.metrics.get(metric) for c in result.candidates},
    }
    challenger_probability = result.model.predict_proba(
        result.preprocessor.transform(holdout[list(FEATURE_NAMES)])
    )[:, 1]
    decision = gate(
        holdout[TARGET].to_numpy(),
        champion_probability,
        challenger_probability,
        metric=metric,
        tolerance=settings.promotion_tolerance,
        held_out=plan.held_out,
        seed=settings.seed,
    )
    status["gate"] = decision.as_dict()
    status["reason"] = decision.reason
    status.pop("step", None)
    if not decision.promote:
        status["decision"] = "kept_champion"
        status["state"] = "rejected"
        log_training(settings, None, result, decision=status)  # no-op without MLflow
        return status
    extra = {
        "trained_by": "retrain",
        "trigger": status.get("trigger"),
        "feedback_rows": len(feedback),
        "replaces": champion_version,
        "champion_metrics": champion.get("metrics"),
        "retrain_policy": status["policy"],
        "gate": status["gate"],
    }
    version = save_version(settings, result, extra=extra)
    status["challenger"]["version"] = version
    promote_version(settings, version, result, plan.frame)  # verifies the bundle first
    status["decision"] = "promoted"
    status["state"] = "succeeded"
    log_training(settings, version, result, decision=status)  # no-op without MLflow
    return status


def yield_cpu_to_serving() -> None:
    """Lowest CPU priority: nice 10, and Linux's SCHED_IDLE class where available.

    SCHED_IDLE runs the trainer only on CPU time no other process wants, so a retrain next to
    an API on the same machine slows down under load instead of slowing the API's answers down.
    """
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def run_job(
    settings: Settings, stores: Stores, config: RetrainConfig, *, trigger: str, worker: str
) -> dict[str, Any]:
    """Run one retrain with the lock held by the caller; record and return its final status."""
    started = time.monotonic()
    status: dict[str, Any] = {
        "state": "running",
        "pid": os.getpid(),
        "worker": worker,
        "trigger": trigger,
        "started_at": utc_now(),
        "selection_metric": settings.selection_metric,
        "tolerance": settings.promotion_tolerance,
        "decision": None,
    }
    stores.requests.write_status(status)
    log.info("retrain_running", extra={"worker": worker, "trigger": trigger})
    try:
        status = run_retrain(settings, stores, config, status)
    except (Exception, KeyboardInterrupt) as exc:
        status.update(state="failed", decision=None, error=f"{type(exc).__name__}: {exc}")
        log.exception("retrain_failed", extra={"error": str(exc)})
    status["finished_at"] = utc_now()
    status["seconds"] = round(time.monotonic() - started, 3)
    stores.requests.write_status(status)
    log.info(
        "retrain_finished",
        extra={
            "state": status["state"],
            "decision": status.get("decision"),
            "seconds": status["seconds"],
            "reason": status.get("reason"),
        },
    )
    return status
