"""Where and how MindPulse tracks to MLflow, and the local note of what reached it.

Shared by the hooks (:mod:`mp_core.tracking`, which never import mlflow) and the child that
talks to the server (:mod:`mp_core.tracking.mlflow_child`); neither imports the other's module
at start, so the two no longer import each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mp_core.atomic import atomic_write_text

if TYPE_CHECKING:
    from mp_core.settings import Settings

log = logging.getLogger("mp_core.tracking")

NOTE_FILE: Final = "tracking.json"
NOTE_LOCK: Final = ".tracking-note.lock"
DEFAULT_EXPERIMENT: Final = "mindpulse"
DEFAULT_MODEL_NAME: Final = "mindpulse"
DEFAULT_TIMEOUT: Final = 5.0
CHAMPION_ALIAS: Final = "champion"
#: A child left running past the caller's timeout still stops by itself after this long.
CHILD_DEADLINE_FACTOR: Final = 12
CHILD_DEADLINE_MIN: Final = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingConfig:
    """Where and how to track; ``uri`` None means tracking is off."""

    uri: str | None
    artifacts_dir: Path
    experiment: str = DEFAULT_EXPERIMENT
    model_name: str = DEFAULT_MODEL_NAME
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> TrackingConfig:
        """Settings first, then MLFLOW_EXPERIMENT / MLFLOW_TIMEOUT from ``environ``: a child
        process or a test that builds its Settings by hand still follows the environment."""
        env = os.environ if environ is None else environ
        experiment = settings.mlflow_experiment or env.get("MLFLOW_EXPERIMENT")
        raw_timeout = settings.mlflow_timeout or env.get("MLFLOW_TIMEOUT")
        return cls(
            uri=settings.mlflow_tracking_uri or None,
            artifacts_dir=Path(settings.artifacts_dir),
            experiment=experiment or DEFAULT_EXPERIMENT,
            timeout=_positive_seconds(raw_timeout),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "artifacts_dir": str(self.artifacts_dir),
            "experiment": self.experiment,
            "model_name": self.model_name,
            "timeout": self.timeout,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrackingConfig:
        return cls(
            uri=data["uri"],
            artifacts_dir=Path(data["artifacts_dir"]),
            experiment=data["experiment"],
            model_name=data["model_name"],
            timeout=float(data["timeout"]),
        )


def _positive_seconds(raw: str | float | None) -> float:
    try:
        value = float(raw) if raw is not None else DEFAULT_TIMEOUT
    except (TypeError, ValueError):
        log.warning(
            "MLFLOW_TIMEOUT must be a number of seconds; using the default", extra={"value": raw}
        )
        return DEFAULT_TIMEOUT
    return value if math.isfinite(value) and value > 0 else DEFAULT_TIMEOUT


# -- the local note ----------------------------------------------------------------------------
@contextlib.contextmanager
def note_for_update(config: TrackingConfig) -> Iterator[dict[str, Any]]:
    """Read-modify-write ``tracking.json`` under a lock; the note is replaced atomically."""
    config.artifacts_dir.mkdir(parents=True, exist_ok=True)
    with (config.artifacts_dir / NOTE_LOCK).open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        note = read_note(config)
        yield note
        text = json.dumps(note, indent=2, sort_keys=True) + "\n"
        atomic_write_text(config.artifacts_dir / NOTE_FILE, text)


def read_note(config: TrackingConfig) -> dict[str, Any]:
    """The note for this tracking server; an empty one when missing, unreadable or for another."""
    empty: dict[str, Any] = {"tracking_uri": config.uri, "runs": {}, "pending": {}}
    try:
        data = json.loads((config.artifacts_dir / NOTE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty
    if not isinstance(data, dict) or data.get("tracking_uri") != config.uri:
        return empty  # written for another server: everything must be logged there again
    data.setdefault("runs", {})
    data.setdefault("pending", {})
    return data


def run_url(uri: str, experiment_id: str, run_id: str) -> str | None:
    """The MLflow UI page of a run when the tracking URI is a web server."""
    if not uri.startswith(("http://", "https://")):
        return None
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
