"""The retrain job: ``python -m mp_api.retrain`` (or ``mindpulse-api retrain``), its own process.

What it trains on and how the challenger is judged are mp-core's plain functions
(:func:`mp_core.retraining.plan_retrain`, the recency policy: recent feedback weighed most, a
sample of the base dataset as a prior; :func:`mp_core.retraining.gate`: champion and challenger
on the same held-out rows, recent feedback once there is enough, with a confidence bound and
``PROMOTION_TOLERANCE``); this module reads the inputs and records the outcome. The job runs niced with
one thread (SCHED_IDLE where Linux offers it), holds the retrain lock for its whole life (see :mod:`mp_api.jobs`) and records
what it did in ``retrain_status.json``; whatever happens, the current model keeps serving.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from mp_api import jobs
from mp_api.config import ApiConfig
from mp_core.logs import configure_logging
from mp_core.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("mp_api.retrain")

NICENESS: Final = 10
EXIT_BUSY: Final = 3


def feedback_frame(settings: Settings) -> pd.DataFrame:
    """Every valid feedback row as features + ``Depression`` (the actual class), oldest first."""
    from mp_core.feedback import FeedbackStore
    from mp_core.schema import FEATURE_NAMES, TARGET

    loaded = FeedbackStore(settings.prod_data_path).read()
    if loaded.bad_lines:
        log.warning("feedback_bad_rows_skipped", extra={"rows": len(loaded.bad_lines)})
    frame = loaded.frame[[*FEATURE_NAMES, "actual"]].rename(columns={"actual": TARGET})
    return frame.reset_index(drop=True)


def base_frame(settings: Settings) -> pd.DataFrame:
    """The base training set; generated (and saved) like ``mindpulse train`` does when missing."""
    from mp_core.dataset import load_dataset, save_base_dataset
    from mp_core.schema import FEATURE_NAMES, TARGET
    from mp_core.synthetic import DEFAULT_ROWS, generate

    if settings.dataset_path.exists():
        return load_dataset(settings.dataset_path).frame[[*FEATURE_NAMES, TARGET]]
    frame = generate(DEFAULT_ROWS, settings.seed)
    source = {"source": "synthetic", "rows": DEFAULT_ROWS, "seed": settings.seed, "drift": "none"}
    save_base_dataset(frame, settings.dataset_path, source)
    log.info("base_dataset_generated", extra={"rows": DEFAULT_ROWS})
    return frame


def _champion_probability(
    settings: Settings, holdout: pd.DataFrame
) -> tuple[np.ndarray | None, dict[str, Any], str | None]:
    """The current model's probabilities on ``holdout`` and what it is; None when unusable."""
    from mp_core.artifacts import ArtifactStore
    from mp_core.errors import CorruptArtifact, ModelUnavailable
    from mp_core.schema import FEATURE_NAMES, TARGET
    from mp_core.training import classification_metrics

    try:
        bundle = ArtifactStore(settings.artifacts_dir).load_bundle()
    except (ModelUnavailable, CorruptArtifact) as exc:
        return None, {"error": str(exc)}, None
    z = bundle.preprocessor.transform(holdout[list(FEATURE_NAMES)])
    probability = np.asarray(bundle.model.predict_proba(z)[:, 1])
    metrics = classification_metrics(holdout[TARGET].to_numpy(), probability)
    described = {"version": bundle.version, "algorithm": bundle.manifest.get("algorithm"),
                 "metrics": metrics}  # fmt: skip
    return probability, described, bundle.version


def run_retrain(settings: Settings, config: ApiConfig, status: dict[str, Any]) -> dict[str, Any]:
    """Train a challenger under the recency policy, gate it, maybe promote; return the status."""
    from mp_core.publish import promote_version, save_version
    from mp_core.retraining import RecencyPolicy, gate, plan_retrain
    from mp_core.schema import FEATURE_NAMES, TARGET
    from mp_core.tracking import log_training
    from mp_core.training import TrainConfig, train

    policy = RecencyPolicy(holdout_share=config.feedback_holdout)
    feedback = feedback_frame(settings)
    plan = plan_retrain(base_frame(settings), feedback, policy, settings.seed)
    holdout = plan.frame[plan.test_mask]
    status["rows"] = plan.rows
    status["policy"] = policy.describe()
    status["held_out"] = plan.held_out
    metric = settings.selection_metric
    champion_probability, champion, champion_version = _champion_probability(settings, holdout)
    status["champion"] = champion

    def report(step: str, done: int, total: int) -> None:
        status["step"] = f"{step} ({done}/{total})"
        jobs.write_status(settings.artifacts_dir, status)

    result = train(
        plan.frame,
        TrainConfig(
            seed=settings.seed,
            selection_metric=metric,
            candidates=config.retrain_candidates,  # type: ignore[arg-type]
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

    SCHED_IDLE runs the job only on CPU time no other process wants, so a retrain slows down
    under load instead of slowing the API's answers down.
    """
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _hold_lock(settings: Settings, inherited_fd: int | None) -> int:
    if inherited_fd is None:
        return jobs.try_lock(settings.artifacts_dir)
    # The spawner locked this file for us; locking our own copy again cannot block.
    fcntl.flock(inherited_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return inherited_fd


def _count_outcome(outcome: str) -> None:
    from mp_api.config import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        from mp_api.metrics import RETRAINS

        RETRAINS.labels(outcome).inc()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mindpulse-api retrain",
        description="Retrain on base data + feedback; promote the challenger if not worse.",
    )
    parser.add_argument("--lock-fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--trigger", default="manual", help="recorded in the status (default manual)"
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    config = ApiConfig.from_env()
    configure_logging(settings.log_format)
    yield_cpu_to_serving()
    try:
        fd = _hold_lock(settings, args.lock_fd)
    except jobs.RetrainBusy:
        print("a retrain is already running; try again when it ends", file=sys.stderr)
        return EXIT_BUSY
    started = time.monotonic()
    status: dict[str, Any] = {
        "state": "running",
        "pid": os.getpid(),
        "trigger": args.trigger,
        "started_at": jobs.utc_now(),
        "selection_metric": settings.selection_metric,
        "tolerance": settings.promotion_tolerance,
        "decision": None,
    }
    jobs.write_status(settings.artifacts_dir, status)
    log.info("retrain_running", extra={"pid": os.getpid(), "trigger": args.trigger})
    code = 0
    try:
        status = run_retrain(settings, config, status)
    except (Exception, KeyboardInterrupt) as exc:
        status.update(state="failed", decision=None, error=f"{type(exc).__name__}: {exc}")
        log.exception("retrain_failed", extra={"error": str(exc)})
        code = 1
    status["finished_at"] = jobs.utc_now()
    status["seconds"] = round(time.monotonic() - started, 3)
    jobs.write_status(settings.artifacts_dir, status)
    _count_outcome(str(status.get("decision") or status["state"]))
    log.info(
        "retrain_finished",
        extra={
            "state": status["state"],
            "decision": status.get("decision"),
            "seconds": status["seconds"],
            "reason": status.get("reason"),
        },
    )
    os.close(fd)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
