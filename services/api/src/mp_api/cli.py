"""``mindpulse-api serve``: the API with N worker processes (it never trains: ``mindpulse worker``).

    mindpulse-api serve [--host H] [--port P] [--workers N] [--server uvicorn|granian]

Defaults come from the environment (API_HOST, API_PORT, API_WORKERS, API_SERVER; see
services/api/README.md). ``serve`` gives the workers one fresh PROMETHEUS_MULTIPROC_DIR so
``/metrics`` adds up every worker, and removes it on exit.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence

from mp_api.config import MULTIPROC_ENV, ApiConfig
from mp_core.logs import configure_logging
from mp_core.settings import ConfigError, Settings
from mp_core.stores.feedback_files import FeedbackStore
from mp_core.web.guard import HttpLimits

log = logging.getLogger("mp_api")

APP_FACTORY = "mp_api.asgi:create_app_from_env"


def serve(args: argparse.Namespace, settings: Settings, config: ApiConfig) -> int:
    host = args.host or settings.api_host
    port = settings.api_port if args.port is None else args.port
    workers = args.workers or settings.api_workers
    server = args.server or config.server
    if server == "granian" and importlib.util.find_spec("granian") is None:
        # Granian is an extra: the image and a plain install ship uvicorn only.
        print(
            "mindpulse-api: API_SERVER=granian needs the granian extra "
            "(pip install 'mp-api[granian]'); uvicorn is the server installed"
        )
        return 2
    FeedbackStore(settings.prod_data_path).repair()
    metrics_dir = tempfile.mkdtemp(prefix="mindpulse-metrics-")
    # Set before anything imports prometheus_client: it picks its storage at import time.
    os.environ[MULTIPROC_ENV] = metrics_dir
    log.info(
        "api_starting",
        extra={"server": server, "host": host, "port": port, "workers": workers,
               "artifacts_dir": str(settings.artifacts_dir)},
    )  # fmt: skip
    try:
        if server == "granian":
            _run_granian(host, port, workers, config.limits)
        else:
            _run_uvicorn(host, port, workers, config.limits)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _run_granian(host: str, port: int, workers: int, limits: HttpLimits) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        APP_FACTORY,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        factory=True,
        log_enabled=True,
        log_level=LogLevels.warning,
        log_access=False,
        respawn_failed_workers=True,
        backlog=2048,
        # HTTP/1.1 only: h2c would accept 16 MiB of headers per stream by default.
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(limits.header_seconds * 1000),
            keep_alive=True,
            # hyper answers 431 when a head outgrows its read buffer (8 KiB at the least).
            max_buffer_size=max(limits.header_bytes, 8192),
        ),
    ).serve()


def _run_uvicorn(host: str, port: int, workers: int, limits: HttpLimits) -> None:
    import uvicorn

    from mp_core.web.uvicorn_limits import uvicorn_options

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        log_level="warning",
        access_log=False,
        **uvicorn_options(limits),  # httptools with a head size cap and deadline
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mindpulse-api",
        description="MindPulse serving API (educational tool, not a diagnosis).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="start the API server")
    run.add_argument("--host", help="bind address (API_HOST, default 127.0.0.1)")
    run.add_argument("--port", type=int, help="port (API_PORT, default 8080; 0 is not allowed)")
    run.add_argument("--workers", type=int, help="worker processes (API_WORKERS, default 1)")
    run.add_argument(
        "--server", choices=("granian", "uvicorn"), help="ASGI server (API_SERVER, default uvicorn)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        config = ApiConfig.from_env()
    except ConfigError as exc:
        print(f"mindpulse-api: {exc}")
        return 2
    configure_logging(settings.log_format)
    return serve(args, settings, config)


if __name__ == "__main__":
    raise SystemExit(main())
