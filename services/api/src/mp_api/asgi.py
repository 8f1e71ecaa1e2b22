"""Entry point for ASGI servers: ``mp_api.asgi:create_app_from_env`` (a factory)."""

from __future__ import annotations

from litestar.types import ASGIApp

from mp_api.app import create_guarded_app
from mp_api.config import ApiConfig
from mp_core.logs import configure_logging
from mp_core.settings import Settings


def create_app_from_env() -> ASGIApp:
    """Read the environment once, configure logging, build the guarded app (once per worker)."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    return create_guarded_app(settings, ApiConfig.from_env())
