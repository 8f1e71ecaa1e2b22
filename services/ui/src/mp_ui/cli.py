"""``mindpulse-ui``: serve the page on ``UI_HOST:UI_PORT`` (default 127.0.0.1:8081).

The page starts whether or not the API is up; it tells visitors and retries on its own.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mp_core.logs import configure_logging
from mp_core.settings import ConfigError
from mp_core.support import SupportResourcesError, load_support_resources
from mp_ui import __version__
from mp_ui.config import UiConfig

log = logging.getLogger("mp_ui")

# Open pages keep a stream to the server; past this many seconds a stop does not wait for them.
GRACEFUL_SHUTDOWN_SECONDS = 3


class _DropColourCopy(logging.Filter):
    """uvicorn attaches an ANSI-coloured copy of each message; the log has no use for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mindpulse-ui",
        description="Serve the MindPulse page. Configured by the environment: UI_HOST, UI_PORT, "
        "API_URL, REPORTS_DIR, SUPPORT_RESOURCES_FILE, LOG_FORMAT.",
    )
    parser.add_argument("--version", action="version", version=f"mindpulse-ui {__version__}")
    parser.parse_args(argv)
    try:
        config = UiConfig.from_env()
        support = load_support_resources(config.support_resources_file)
    except (ConfigError, SupportResourcesError) as exc:
        print(f"mindpulse-ui: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.settings.log_format)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropColourCopy())

    # Gradio is heavy to import; a configuration error above is reported before paying for it.
    import uvicorn

    from mp_core.web.uvicorn_limits import uvicorn_options
    from mp_ui.server import create_guarded_app

    app = create_guarded_app(config, support)
    log.info(
        "MindPulse UI starting",
        extra={
            "url": f"http://{config.host}:{config.port}",
            "api_url": config.api_url,
            "reports_dir": str(config.reports_dir),
            "support": support.country,
        },
    )
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **uvicorn_options(config.limits),  # httptools with a head size cap and deadline
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
