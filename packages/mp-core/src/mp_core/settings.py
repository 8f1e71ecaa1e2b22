"""Environment configuration, read once at start-up and passed down (never read elsewhere)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

DEFAULT_RETRAIN_THRESHOLD = 50
DEFAULT_DRIFT_THRESHOLD = 0.3
DEFAULT_RETRAIN_MIN_ROWS = 1000
DEFAULT_MAX_BATCH = 10_000
DEFAULT_PROMOTION_TOLERANCE = 0.01
DEFAULT_PERFORMANCE_DROP = 0.03
DEFAULT_PERFORMANCE_MIN_ROWS = 500
DEFAULT_API_PORT = 8080
DEFAULT_UI_PORT = 8081
DEFAULT_RECEIPT_MAX_AGE = 7 * 24 * 3600  # seconds a prediction receipt can be fed back
DATABASE_URL_SCHEMES = ("postgresql://", "postgres://")


class ConfigError(ValueError):
    """An environment variable holds a value MindPulse cannot use."""


def env_value(env: Mapping[str, str], name: str) -> str | None:
    """``NAME`` from ``env``, or the contents of the file named by ``NAME_FILE`` (a Docker or
    Kubernetes secret); None when neither is set. Setting both is refused: one must win silently
    otherwise, and a stale value in ``.env`` would shadow the secret."""
    value = env.get(name) or None
    path = env.get(f"{name}_FILE") or None
    if path is None:
        return value
    if value is not None:
        raise ConfigError(f"environment variables {name} and {name}_FILE: set only one of them")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"environment variable {name}_FILE: cannot read {path} ({exc.strerror})"
        ) from None
    # Secret files usually end with a newline that is not part of the secret.
    return text.strip("\r\n") or None


def env_count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1 from ``NAME`` (``default`` when unset)."""
    text = env.get(name) or str(default)
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ConfigError(f"environment variable {name}: a whole number of at least 1")
    return int(text)


#: A TCP port: a larger number would wrap around to another port when bound.
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every knob of the platform; see `.env.example` for what each one does."""

    data_dir: Path = Path("data")
    artifacts_dir: Path = Path("artifacts")
    reports_dir: Path = Path("reports")
    retrain_threshold: int = DEFAULT_RETRAIN_THRESHOLD
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD
    retrain_min_rows: int = DEFAULT_RETRAIN_MIN_ROWS
    promotion_tolerance: float = DEFAULT_PROMOTION_TOLERANCE
    performance_drop: float = DEFAULT_PERFORMANCE_DROP  # accuracy points that call a retrain
    performance_min_rows: int = DEFAULT_PERFORMANCE_MIN_ROWS
    selection_metric: Literal["f1", "accuracy", "roc_auc", "precision", "recall"] = "f1"
    max_batch: int = DEFAULT_MAX_BATCH
    api_host: str = "127.0.0.1"
    api_port: Port = DEFAULT_API_PORT
    api_workers: int = 1
    ui_port: Port = DEFAULT_UI_PORT
    api_url: str = f"http://127.0.0.1:{DEFAULT_API_PORT}"
    admin_token: str | None = None  # or ADMIN_TOKEN_FILE
    model_signing_key: str | None = None  # or MODEL_SIGNING_KEY_FILE; None: a per-user key file
    #: or RECEIPT_KEY_FILE; None: derived from the model signing key (mp_core.receipts)
    receipt_key: str | None = None
    receipt_max_age: Annotated[int, msgspec.Meta(ge=1)] = DEFAULT_RECEIPT_MAX_AGE
    log_format: Literal["text", "json"] = "text"
    support_resources_file: Path | None = None  # another country's helplines (JSON)
    seed: int = 42
    mlflow_tracking_uri: str | None = None
    mlflow_experiment: str | None = None  # None: "mindpulse"
    mlflow_timeout: float | None = None  # seconds tracking may hold up a training; None: 5
    mlflow_port: Port = 5000
    airflow_port: Port = 8083
    #: ``postgresql://…``: feedback, retrain requests and model bundles live in PostgreSQL;
    #: unset: files under DATA_DIR and ARTIFACTS_DIR (the embedded default).
    database_url: str | None = None

    def __post_init__(self) -> None:
        if self.database_url is not None and not self.database_url.startswith(DATABASE_URL_SCHEMES):
            raise ConfigError(
                "environment variable DATABASE_URL: must start with "
                + " or ".join(DATABASE_URL_SCHEMES)
            )

    @property
    def ref_data_path(self) -> Path:
        """Reference set written at training (features, PCA components, target, prediction)."""
        return self.data_dir / "ref_data.csv"

    @property
    def prod_data_path(self) -> Path:
        """Append-only feedback file."""
        return self.data_dir / "prod_data.csv"

    @property
    def dataset_path(self) -> Path:
        """Base training set (generated, or the user's own CSV copied here)."""
        return self.data_dir / "dataset.csv"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for info in msgspec.structs.fields(cls):
            value = env_value(env, info.name.upper())
            if value is None:
                continue
            raw[info.name] = value
        try:
            return msgspec.convert(raw, cls, strict=False, dec_hook=_decode_path)
        except msgspec.ValidationError as exc:
            field, _, rule = _split_validation_message(str(exc))
            message = f"environment variable {field.upper()}: {rule}" if field else rule
            raise ConfigError(message) from exc


def _decode_path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def _split_validation_message(message: str) -> tuple[str, str, str]:
    """Split msgspec's ``"<rule> - at `$.field`"`` into (field, path, rule)."""
    rule, sep, where = message.rpartition(" - at `")
    if not sep:
        return "", "", message
    path = where.rstrip("`")
    field = path.removeprefix("$.").split(".")[0].split("[")[0]
    return field, path, rule
