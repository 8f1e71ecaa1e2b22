"""The MLflow side of :mod:`mp_core.tracking`: the only module that imports mlflow.

It runs in a child process started by the tracking hooks (``python -m mp_core.tracking.mlflow_child
'<job JSON>'``) or inside ``mindpulse sync-mlflow``. Each step is idempotent and recorded in
the note as soon as it is done, so a child stopped half-way loses nothing already logged: a
version's run is found again by its ``mindpulse_version`` tag, a model version by its run id.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType
from typing import Any, Final

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mp_core.logs import configure_logging
from mp_core.stores.artifacts_files import ArtifactStore
from mp_core.tracking.config import (
    CHAMPION_ALIAS,
    TrackingConfig,
    note_for_update,
    read_note,
    run_url,
)
from mp_core.tracking.runs import run_payload

log = logging.getLogger("mp_core.tracking")

RUN_LOCK: Final = ".tracking.lock"
BUNDLE_ARTIFACT_PATH: Final = "bundle"
BATCH: Final = 100  # MLflow takes at most 100 parameters per log_batch call


class TrackingUnavailable(Exception):
    """The tracking server could not be reached or refused a call."""


class Reconciler:
    """Brings MLflow in line with the artifact store, one idempotent step at a time."""

    def __init__(self, config: TrackingConfig) -> None:
        if not config.uri:
            raise TrackingUnavailable("MLFLOW_TRACKING_URI is not set")
        self.config = config
        self.uri: str = config.uri
        self.client = MlflowClient(tracking_uri=config.uri, registry_uri=config.uri)
        self.store = ArtifactStore(config.artifacts_dir)
        self._experiment_id: str | None = None

    # -- runs ----------------------------------------------------------------------------------
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            found = self.client.get_experiment_by_name(self.config.experiment)
            if found is not None:
                self._experiment_id = str(found.experiment_id)
            else:
                # Tells the MLflow UI this is classic model training, not a GenAI project.
                tags = {"mlflow.experimentKind": "custom_model_development"}
                created = self.client.create_experiment(self.config.experiment, tags=tags)
                self._experiment_id = str(created)
        return self._experiment_id

    def ensure_run(self, key: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The run of ``key`` (a version, or an unsaved challenger); logged when missing."""
        known = read_note(self.config)["runs"].get(key)
        if isinstance(known, dict) and known.get("run_id"):
            return known
        if payload is None:
            payload = read_note(self.config)["pending"].get(key) or self._payload_from_disk(key)
        version = payload.get("version")
        run_id = self._finished_run_of(version) if version else None
        if run_id is None:
            run_id = self._log_run(payload)
        entry = {
            "run_id": run_id,
            "experiment_id": self.experiment_id(),
            "url": run_url(self.uri, self.experiment_id(), run_id),
            "version": version,
            "logged_at": _utc_now(),
        }
        with note_for_update(self.config) as note:
            note["runs"][key] = {**note["runs"].get(key, {}), **entry}
            note["pending"].pop(key, None)
        log.info("mlflow_run_logged", extra={"key": key, "run_id": run_id})
        return entry

    def _payload_from_disk(self, version: str) -> dict[str, Any]:
        """A run for a version trained while tracking was off or lost: from its manifest."""
        pointer = self.store.pointer() or {}
        promoted = version == pointer.get("version") or version in pointer.get("history", [])
        decision = {"decision": "promoted"} if promoted else None
        return run_payload(version, self.store.manifest(version), decision)

    def _finished_run_of(self, version: str) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id()],
            filter_string=f"tags.mindpulse_version = '{version}' and attributes.status = 'FINISHED'",
            max_results=1,
        )
        return str(runs[0].info.run_id) if runs else None

    def _log_run(self, payload: Mapping[str, Any]) -> str:
        run = self.client.create_run(
            self.experiment_id(), tags=dict(payload["tags"]), run_name=payload["run_name"]
        )
        run_id = str(run.info.run_id)
        try:
            now = int(time.time() * 1000)
            params = [Param(k, str(v)) for k, v in payload["params"].items()]
            metrics = [Metric(k, float(v), now, 0) for k, v in payload["metrics"].items()]
            for start in range(0, max(len(params), len(metrics)), BATCH):
                self.client.log_batch(
                    run_id,
                    metrics=metrics[start : start + BATCH],
                    params=params[start : start + BATCH],
                    tags=[RunTag("mlflow.note.content", _description(payload))]
                    if not start
                    else [],
                )
            if payload.get("decision"):
                self.client.log_dict(run_id, dict(payload["decision"]), "decision.json")
            version = payload.get("version")
            if version:
                folder = self.store.versions_dir / version
                self.client.log_artifacts(run_id, str(folder), BUNDLE_ARTIFACT_PATH)
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.set_terminated(run_id, "FAILED")
            raise
        self.client.set_terminated(run_id, "FINISHED")
        return run_id

    # -- registry ------------------------------------------------------------------------------
    def ensure_model_version(self, version: str) -> str:
        """The registered model version of ``version``; registered when missing."""
        entry = self.ensure_run(version)
        if entry.get("model_version"):
            return str(entry["model_version"])
        name = self.config.model_name
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            with contextlib.suppress(MlflowException):  # another process may create it first
                self.client.create_registered_model(
                    name,
                    description="MindPulse depression-risk model (educational, not a diagnosis).",
                )
        run_id = str(entry["run_id"])
        existing = self.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if existing:
            number = str(existing[0].version)
        else:
            run = self.client.get_run(run_id)
            created = self.client.create_model_version(
                name,
                source=f"{run.info.artifact_uri}/{BUNDLE_ARTIFACT_PATH}",
                run_id=run_id,
                tags={"mindpulse_version": version},
                description=f"MindPulse bundle {version}",
                await_creation_for=0,
            )
            number = str(created.version)
        with note_for_update(self.config) as note:
            note["runs"].setdefault(version, {}).update(model_version=number)
        log.info("mlflow_version_registered", extra={"version": version, "model_version": number})
        return number

    def point_champion(self) -> str | None:
        """Set ``champion`` to the version the pointer names now (whoever called us)."""
        current = self.store.current_version()
        if current is None:
            return None
        number = self.ensure_model_version(current)
        self.client.set_registered_model_alias(self.config.model_name, CHAMPION_ALIAS, number)
        with note_for_update(self.config) as note:
            note["champion"] = {"version": current, "model_version": number, "set_at": _utc_now()}
        log.info("mlflow_champion_set", extra={"version": current, "model_version": number})
        return current

    def promoted_versions(self) -> list[str]:
        """Versions that were ever current, as far as the pointer and the note know."""
        pointer = self.store.pointer() or {}
        promoted = {pointer.get("version"), *pointer.get("history", [])}
        note = read_note(self.config)
        for key, payload in [*note["runs"].items(), *note["pending"].items()]:
            decision = (payload.get("decision") or {}) if isinstance(payload, dict) else {}
            if decision.get("decision") == "promoted" or payload.get("model_version"):
                promoted.add(key)
        return [v for v in self.store.versions() if v in promoted]


@contextlib.contextmanager
def _run_lock(config: TrackingConfig) -> Iterator[None]:
    """One reconcile at a time per artifact store, so alias moves never interleave."""
    config.artifacts_dir.mkdir(parents=True, exist_ok=True)
    with (config.artifacts_dir / RUN_LOCK).open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def reconcile(
    config: TrackingConfig, keys: Sequence[str], register: Sequence[str], champion: bool
) -> dict[str, Any]:
    """Log ``keys``' runs, register ``register``, then (if asked) move ``champion``."""
    try:
        with _run_lock(config):
            reconciler = Reconciler(config)
            for key in keys:
                reconciler.ensure_run(key)
            registered = [reconciler.ensure_model_version(v) for v in register]
            current = reconciler.point_champion() if champion else None
            return {"logged": list(keys), "registered": registered, "champion": current}
    except (MlflowException, OSError) as exc:
        raise TrackingUnavailable(_short(exc)) from exc
    except Exception as exc:
        # requests' connection errors and the like: report them, never a traceback
        if type(exc).__module__.startswith(("requests", "urllib3")):
            raise TrackingUnavailable(_short(exc)) from exc
        raise


def sync_all(config: TrackingConfig) -> dict[str, Any]:
    """Everything MLflow misses: pending trainings, unlogged versions, registry, alias."""
    note = read_note(config)
    store = ArtifactStore(config.artifacts_dir)
    keys = [*note["pending"], *(v for v in store.versions() if v not in note["runs"])]
    keys = list(dict.fromkeys(keys))
    try:
        with _run_lock(config):
            reconciler = Reconciler(config)
            for key in keys:
                reconciler.ensure_run(key)
            before = {k for k, v in read_note(config)["runs"].items() if v.get("model_version")}
            promoted = reconciler.promoted_versions()
            for version in promoted:
                reconciler.ensure_model_version(version)
            current = reconciler.point_champion()
    except (MlflowException, OSError) as exc:
        raise TrackingUnavailable(_short(exc)) from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("requests", "urllib3")):
            raise TrackingUnavailable(_short(exc)) from exc
        raise
    return {
        "logged": keys,
        "registered": [v for v in promoted if v not in before],
        "champion": current,
    }


def _description(payload: Mapping[str, Any]) -> str:
    decision = payload.get("decision") or {}
    lines = [f"MindPulse training {payload.get('version') or '(challenger not kept)'}."]
    if decision.get("decision"):
        lines.append(f"Decision: {decision['decision']} - {decision.get('reason') or ''}")
    lines.append("Educational tool, not a diagnosis.")
    return "\n\n".join(lines)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _deadline_reached(_signum: int, _frame: FrameType | None) -> None:
    log.warning("MLflow tracking stopped at its deadline; `mindpulse sync-mlflow` catches up")
    os._exit(3)


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point: one reconcile job given as JSON, with a hard deadline."""
    configure_logging(os.environ.get("LOG_FORMAT") or "text", level=logging.WARNING)
    args = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGALRM, _deadline_reached)
    signal.alarm(max(1, int(float(os.environ.get("MP_TRACKING_DEADLINE") or 60))))
    try:
        job = json.loads(args[0])
        config = TrackingConfig.from_json(job["config"])
        reconcile(config, job["keys"], job["register"], bool(job.get("champion", True)))
    except TrackingUnavailable as exc:
        log.warning("MLflow unreachable: %s", exc, extra={"uri": _uri_of(args)})
        return 1
    except Exception as exc:
        log.warning("MLflow tracking failed: %s", _short(exc), exc_info=True)
        return 1
    return 0


def _uri_of(args: Sequence[str]) -> str | None:
    with contextlib.suppress(Exception):
        return str(json.loads(args[0])["config"]["uri"])
    return None


if __name__ == "__main__":
    raise SystemExit(main())
