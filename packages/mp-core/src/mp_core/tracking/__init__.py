"""Optional MLflow tracking: one run per training, the registered model ``mindpulse@champion``.

Everything here is a no-op unless ``MLFLOW_TRACKING_URI`` is set, and nothing here imports
mlflow: the calls to the server run in a child process (``python -m mp_core.tracking.mlflow_child``)
so that a serving worker that promotes or rolls back never loads it, and so that a dead or slow
server can cost the caller at most ``MLFLOW_TIMEOUT`` seconds (default 5). A child that has not
finished by then is left to finish on its own (it has its own hard deadline) and the miss is
logged as a warning. No hook ever raises.

The bundle on disk stays the source of truth. What reached MLflow is noted in
``ARTIFACTS_DIR/tracking.json`` (written atomically): the run of each version, the registered
model version, trainings still waiting to be logged. ``mindpulse sync-mlflow`` logs whatever is
missing, and every child sets the ``champion`` alias to the version the ``current`` pointer
names at that moment, so concurrent or out-of-order children always converge.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mp_core.tracking.config import (
    CHAMPION_ALIAS,
    CHILD_DEADLINE_FACTOR,
    CHILD_DEADLINE_MIN,
    DEFAULT_EXPERIMENT,
    DEFAULT_MODEL_NAME,
    DEFAULT_TIMEOUT,
    NOTE_FILE,
    NOTE_LOCK,
    TrackingConfig,
    note_for_update,
    read_note,
    run_url,
)
from mp_core.tracking.runs import run_payload

if TYPE_CHECKING:
    import argparse

    from mp_core.ml.training import TrainingResult
    from mp_core.settings import Settings

__all__ = [
    "CHAMPION_ALIAS",
    "CHILD_DEADLINE_FACTOR",
    "CHILD_DEADLINE_MIN",
    "DEFAULT_EXPERIMENT",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_TIMEOUT",
    "NOTE_FILE",
    "NOTE_LOCK",
    "TrackingConfig",
    "child_deadline",
    "log_training",
    "note_for_update",
    "on_promotion",
    "on_rollback",
    "read_note",
    "run_for_version",
    "run_url",
    "sync_command",
]

log = logging.getLogger("mp_core.tracking")


def run_for_version(settings: Settings, version: str | None) -> dict[str, str] | None:
    """``{"run_id", "url"}`` of ``version``'s run when tracking is on and it was logged.

    Reads the local note only (no network, no mlflow): cheap enough for every GET /model.
    """
    if not settings.mlflow_tracking_uri or not version:
        return None
    try:
        config = TrackingConfig.from_settings(settings)
        entry = read_note(config)["runs"].get(version)
        if not isinstance(entry, dict) or not entry.get("run_id"):
            return None
        return {"run_id": str(entry["run_id"]), "url": str(entry.get("url") or "")}
    except Exception:  # a broken note must never break a page
        log.warning("tracking note unreadable", exc_info=True)
        return None


# -- hooks -------------------------------------------------------------------------------------
def log_training(
    settings: Settings,
    version: str | None,
    result: TrainingResult | None = None,
    manifest: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
) -> bool:
    """Log one training as a run (and register it when it became current). Never raises.

    ``version`` is None for a challenger that was not kept; ``decision`` is the champion/
    challenger outcome (the trainer's retrain status, or None for ``mindpulse train``, which
    always promotes). Waits at most ``timeout`` seconds (default ``MLFLOW_TIMEOUT``); True when
    MLflow confirmed the run (and the ``champion`` alias) within that time.
    """
    if not settings.mlflow_tracking_uri:
        return False
    try:
        config = TrackingConfig.from_settings(settings)
        if version and (manifest is None or decision is None):
            from mp_core.stores import model_store

            store = model_store(settings)
            manifest = store.manifest(version) if manifest is None else manifest
            if decision is None and store.current_version() == version:
                decision = {"decision": "promoted", "reason": "trained with `mindpulse train`"}
        if decision is not None and decision.get("state") == "failed":
            return False  # nothing was trained to its end
        key = version or f"unsaved-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        payload = run_payload(version, manifest, decision, result)
        with note_for_update(config) as note:
            note["pending"][key] = payload
        promoted = bool(version) and str((decision or {}).get("decision")) == "promoted"
        return _run_child(
            config,
            keys=[key],
            register=[version] if promoted and version else [],
            timeout=timeout,
        )
    except Exception:
        log.warning("MLflow tracking skipped", extra={"version": version}, exc_info=True)
        return False


def on_promotion(settings: Settings, version: str, *, wait: bool = True) -> None:
    """Register ``version`` (logging its run first if needed) and point ``champion`` at the
    current version. Never raises; ``wait=False`` returns at once (for a serving worker)."""
    _sync_alias(settings, [version], wait=wait)


def on_rollback(settings: Settings, version: str, *, wait: bool = True) -> None:
    """Move ``champion`` back to ``version`` (the one now current). Never raises."""
    _sync_alias(settings, [version], wait=wait)


def _sync_alias(settings: Settings, versions: list[str], *, wait: bool) -> None:
    if not settings.mlflow_tracking_uri:
        return
    try:
        _run_child(TrackingConfig.from_settings(settings), keys=[], register=versions, wait=wait)
    except Exception:
        log.warning("MLflow alias update skipped", extra={"versions": versions}, exc_info=True)


# -- the child process -------------------------------------------------------------------------
def child_deadline(config: TrackingConfig) -> float:
    """How long a child may run at most before it stops by itself."""
    return max(CHILD_DEADLINE_MIN, CHILD_DEADLINE_FACTOR * config.timeout)


def _run_child(
    config: TrackingConfig,
    *,
    keys: list[str],
    register: list[str],
    wait: bool = True,
    timeout: float | None = None,
) -> bool:
    """Run one reconcile in a child; True when it finished in ``timeout`` and succeeded."""
    if importlib.util.find_spec("mlflow") is None:
        log.warning(
            "MLFLOW_TRACKING_URI is set but mlflow-skinny is not installed "
            "(install mp-core[tracking]); noted for `mindpulse sync-mlflow`"
        )
        return False
    job = {"config": config.to_json(), "keys": keys, "register": register, "champion": True}
    deadline = child_deadline(config)
    env = {
        **os.environ,
        # One try per request, each bounded: a dead server fails fast instead of retrying.
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(config.timeout))),
        "MP_TRACKING_DEADLINE": str(deadline),
    }
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "mp_core.tracking.mlflow_child", json.dumps(job)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # Ctrl-C on the caller must not cut a half-written run
    )
    if not wait:
        _reap_later(child, config, started)
        return False
    try:
        code = child.wait(timeout=timeout or config.timeout)
    except subprocess.TimeoutExpired:
        log.warning(
            "MLflow did not confirm tracking in time; it goes on in the background, and "
            "`mindpulse sync-mlflow` logs anything still missing",
            extra={"timeout_s": timeout or config.timeout, "pid": child.pid, "uri": config.uri},
        )
        _reap_later(child, config, started)
        return False
    return _outcome(code, config, started)


def _reap_later(child: subprocess.Popen[bytes], config: TrackingConfig, started: float) -> None:
    """Wait for a child in a daemon thread so it never lingers as a zombie."""

    def reap() -> None:
        _outcome(child.wait(), config, started)

    threading.Thread(target=reap, name="mlflow-tracking-reaper", daemon=True).start()


def _outcome(code: int, config: TrackingConfig, started: float) -> bool:
    seconds = round(time.monotonic() - started, 2)
    if code == 0:
        log.info("mlflow_tracked", extra={"seconds": seconds, "uri": config.uri})
        return True
    log.warning(
        "MLflow tracking failed (the model is saved and serving is unaffected); "
        "`mindpulse sync-mlflow` logs it once the server is back",
        extra={"exit_code": code, "seconds": seconds, "uri": config.uri},
    )
    return False


# -- mindpulse sync-mlflow ---------------------------------------------------------------------
def sync_command(args: argparse.Namespace, settings: Settings) -> int:
    """Log every version and training MLflow has not seen, register promoted versions and
    point ``champion`` at the current one. Runs in this process with no overall deadline."""
    if not settings.mlflow_tracking_uri:
        print("mindpulse sync-mlflow: MLFLOW_TRACKING_URI is not set.", file=sys.stderr)
        return 2
    if importlib.util.find_spec("mlflow") is None:
        print("mindpulse sync-mlflow: install mp-core[tracking] (mlflow-skinny).", file=sys.stderr)
        return 2
    config = TrackingConfig.from_settings(settings)
    timeout = getattr(args, "timeout", None) or 30.0
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(math.ceil(timeout)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    from mp_core.tracking.mlflow_child import TrackingUnavailable, sync_all

    try:
        summary = sync_all(config)
    except TrackingUnavailable as exc:
        print(f"mindpulse sync-mlflow: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(summary, indent=2))
    else:
        logged = ", ".join(summary["logged"]) or "nothing new"
        print(f"Logged: {logged}. Registered: {', '.join(summary['registered']) or 'nothing new'}.")
        print(f"Alias {CHAMPION_ALIAS} -> {summary['champion'] or 'no current version'}.")
    return 0
