"""Knobs that only the API reads, from the environment, once, next to mp-core's Settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, Literal

import msgspec

from mp_core.settings import ConfigError, env_count
from mp_core.web.guard import HttpLimits, parse_hosts

DEFAULT_MAX_BODY_BYTES: Final = 1 << 20  # 1 MiB for /predict and /feedback
BATCH_BYTES_PER_ROW: Final = 512  # a generous upper bound for one profile as JSON
DEFAULT_MAX_CONCURRENT: Final = 64  # requests in flight per worker; /predict takes ~1 ms each
#: Feedbacks per client address and worker: a person sends a few an hour at most.
DEFAULT_FEEDBACK_RATE_PER_MINUTE: Final = 60
DEFAULT_FEEDBACK_BURST: Final = 60
#: prometheus_client's shared-storage folder; ``mindpulse-api serve`` sets it for its workers.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

Server = Literal["granian", "uvicorn"]


class ApiConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``API_SERVER``, ``MP_BENCH_CEILING``, ``API_MAX_BODY_BYTES``, ``API_ALLOWED_HOSTS``,
    ``API_MAX_CONCURRENT``, ``API_WORKER_HEADER``, ``FEEDBACK_RATE_PER_MINUTE`` (0: no limit),
    ``FEEDBACK_BURST``."""

    server: Server = "uvicorn"  # measured faster for /predict (services/api/README.md)
    bench_ceiling: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    allowed_hosts: tuple[str, ...] = parse_hosts(None)
    limits: HttpLimits = HttpLimits(max_concurrent=DEFAULT_MAX_CONCURRENT)
    #: Send the answering worker's opaque id in the ``MindPulse-Worker`` header (off: the
    #: public API says nothing about its processes; see mp_api.worker).
    worker_header: bool = False
    feedback_rate_per_minute: int = DEFAULT_FEEDBACK_RATE_PER_MINUTE
    feedback_burst: int = DEFAULT_FEEDBACK_BURST

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiConfig:
        env = os.environ if environ is None else environ
        server = env.get("API_SERVER") or "uvicorn"
        if server not in ("granian", "uvicorn"):
            raise ConfigError(
                f"environment variable API_SERVER: {server!r} is not granian or uvicorn"
            )
        try:
            max_body = int(env.get("API_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
        except ValueError:
            raise ConfigError(
                "environment variable API_MAX_BODY_BYTES: not a whole number"
            ) from None
        rate = env.get("FEEDBACK_RATE_PER_MINUTE") or str(DEFAULT_FEEDBACK_RATE_PER_MINUTE)
        if not rate.isascii() or not rate.isdigit():
            raise ConfigError(
                "environment variable FEEDBACK_RATE_PER_MINUTE: a whole number (0: no limit)"
            )
        return cls(
            feedback_rate_per_minute=int(rate),
            feedback_burst=env_count(env, "FEEDBACK_BURST", DEFAULT_FEEDBACK_BURST),
            allowed_hosts=parse_hosts(env.get("API_ALLOWED_HOSTS")),
            limits=HttpLimits(
                max_concurrent=env_count(env, "API_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT)
            ),
            server=server,  # type: ignore[arg-type]
            bench_ceiling=_flag(env, "MP_BENCH_CEILING"),
            worker_header=_flag(env, "API_WORKER_HEADER"),
            max_body_bytes=max_body,
        )

    def batch_body_bytes(self, max_batch: int) -> int:
        """Body limit of ``/predict/batch``: room for ``MAX_BATCH`` rows, never below 1 MiB."""
        return max(self.max_body_bytes, max_batch * BATCH_BYTES_PER_ROW)


def _flag(env: Mapping[str, str], name: str) -> bool:
    return (env.get(name) or "").lower() in ("1", "true", "yes")
