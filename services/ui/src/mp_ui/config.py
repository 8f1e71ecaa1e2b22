"""The UI's configuration: mp-core's settings plus the few knobs only the page has.

Read from the environment once, in ``cli.main``; everything else receives this object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mp_core.settings import ConfigError, Settings, env_count
from mp_core.web.guard import HttpLimits, parse_hosts

DEFAULT_HOST: Final = "127.0.0.1"
# How often the page asks the API for its health: quickly while it is down, calmly once it is up.
STATUS_INTERVAL_DOWN: Final = 3.0
STATUS_INTERVAL_UP: Final = 20.0
MODEL_REFRESH_INTERVAL: Final = 30.0
# The API answers a prediction in milliseconds; a few seconds means it is struggling.
API_TIMEOUT: Final = 8.0
HEALTH_TIMEOUT: Final = 3.0
# Requests in flight at once: every open page keeps an event stream, plus its short calls.
DEFAULT_MAX_CONCURRENT: Final = 256


@dataclass(frozen=True, slots=True)
class UiConfig:
    settings: Settings = field(default_factory=Settings)
    host: str = DEFAULT_HOST
    support_resources_file: Path | None = None
    status_interval_down: float = STATUS_INTERVAL_DOWN
    status_interval_up: float = STATUS_INTERVAL_UP
    model_refresh_interval: float = MODEL_REFRESH_INTERVAL
    api_timeout: float = API_TIMEOUT
    health_timeout: float = HEALTH_TIMEOUT
    #: Hours between scheduled report runs (the Airflow DAG runs every 6); None: no schedule.
    report_schedule_hours: float | None = None
    allowed_hosts: tuple[str, ...] = parse_hosts(None)
    limits: HttpLimits = field(
        default_factory=lambda: HttpLimits(max_concurrent=DEFAULT_MAX_CONCURRENT)
    )

    @property
    def port(self) -> int:
        return self.settings.ui_port

    @property
    def api_url(self) -> str:
        return self.settings.api_url

    @property
    def reports_dir(self) -> Path:
        return self.settings.reports_dir

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UiConfig:
        """Settings from the environment; ``UI_HOST`` (or Gradio's ``GRADIO_SERVER_NAME``)
        picks the interface, ``SUPPORT_RESOURCES_FILE`` another country's helplines,
        ``UI_ALLOWED_HOSTS`` the Host names served, ``UI_MAX_CONCURRENT`` the request cap."""
        env = os.environ if environ is None else environ
        settings = Settings.from_env(env)
        host = env.get("UI_HOST") or env.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
        support = env.get("SUPPORT_RESOURCES_FILE") or None
        interval = env.get("UI_STATUS_INTERVAL")
        try:
            down = float(interval) if interval else STATUS_INTERVAL_DOWN
        except ValueError:
            raise ConfigError(
                f"environment variable UI_STATUS_INTERVAL: expected seconds, got {interval!r}"
            ) from None
        if down <= 0:
            raise ConfigError("environment variable UI_STATUS_INTERVAL: must be above 0")
        schedule = _positive_hours(env.get("REPORT_SCHEDULE_HOURS"))
        return cls(
            report_schedule_hours=schedule,
            settings=settings,
            host=host,
            support_resources_file=Path(support) if support else None,
            status_interval_down=down,
            allowed_hosts=parse_hosts(env.get("UI_ALLOWED_HOSTS")),
            limits=HttpLimits(
                max_concurrent=env_count(env, "UI_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT)
            ),
        )


def _positive_hours(raw: str | None) -> float | None:
    """``REPORT_SCHEDULE_HOURS``: unset or empty for no schedule, otherwise hours above 0."""
    if not raw:
        return None
    try:
        hours = float(raw)
    except ValueError:
        hours = 0.0
    if not hours > 0 or hours == float("inf"):
        raise ConfigError(
            f"environment variable REPORT_SCHEDULE_HOURS: expected hours above 0, got {raw!r}"
        )
    return hours
