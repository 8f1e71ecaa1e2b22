"""The app factory: ``create_app(settings) -> Litestar``; every route and handler wired here."""

from __future__ import annotations

import gc
from typing import Final

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp

from mp_api import __version__, metrics
from mp_api.config import ApiConfig
from mp_api.metrics import MetricsMiddleware
from mp_api.problems import handle_exception
from mp_api.routes import admin, feedback, model, ops, predict, reports, v2
from mp_api.routes.docs import docs_assets, docs_render_plugins
from mp_api.services import Services
from mp_api.worker import with_worker_header
from mp_core.settings import Settings
from mp_core.web.guard import HttpGuard, api_headers

DESCRIPTION: Final = (
    "Depression-risk estimates for university students from nine lifestyle answers. "
    "MindPulse is an educational tool and never a diagnosis: anyone worried about their mood "
    "should talk to a doctor, a counsellor or their university's student support service. "
    "Errors are JSON bodies naming the field and the rule: "
    '{"error": ..., "detail": ..., "field": ..., "rule": ...}.'
)


def freeze_startup_heap() -> None:
    """Last step of a worker's start: what exists now (modules, routes, the model) is kept by
    the cyclic garbage collector out of every later collection (``gc.freeze``).

    Those objects live as long as the worker, and a full collection walked all of them: under
    load, with requests waiting in their turn (:mod:`mp_api.coalesce`), one ran every few
    seconds and stopped the worker for about 50 ms each time, which was its p99. Frozen
    objects are still freed by reference counting as before (an old model after a swap).
    """
    gc.collect()
    gc.freeze()


def create_guarded_app(settings: Settings, config: ApiConfig) -> ASGIApp:
    """The app behind the HTTP guard (Host allowlist, concurrency cap, body deadline, security
    headers): what the servers run."""
    app = create_app(settings, config)
    headers_for = api_headers
    if config.worker_header:
        headers_for = with_worker_header(api_headers, app.state.services.worker_id)
    guard = HttpGuard(
        app,  # type: ignore[arg-type]
        limits=config.limits,
        allowed_hosts=config.allowed_hosts,
        headers_for=headers_for,
    )
    return guard  # type: ignore[return-value]


def create_app(settings: Settings, config: ApiConfig | None = None) -> Litestar:
    """Build the API for ``settings``; each worker process calls this once."""
    config = config or ApiConfig()
    services = Services.build(settings, config)
    handlers = [
        *predict.build(services),
        *feedback.build(services),
        *model.build(services),
        *admin.build(services),
        *ops.build(services),
        *reports.build(services),
        *v2.build(services),
    ]
    routes = frozenset(path for handler in handlers for path in handler.paths) | v2.metric_paths()
    assets = docs_assets()

    def with_metrics(app: ASGIApp) -> ASGIApp:
        return MetricsMiddleware(app, routes)

    return Litestar(
        route_handlers=[*handlers, assets],
        exception_handlers={Exception: handle_exception},
        middleware=[with_metrics],
        on_startup=[services.start, metrics.start_flushing, freeze_startup_heap],
        on_shutdown=[metrics.flush_pending],
        request_max_body_size=config.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="MindPulse API",
            version=__version__,
            description=DESCRIPTION,
            path="/schema",
            render_plugins=docs_render_plugins(),
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(
                        type="http", scheme="bearer", description="ADMIN_TOKEN"
                    )
                }
            ),
        ),
        state=State({"services": services}),
        logging_config=None,  # the process configures stdlib logging (mp_core.logs)
        debug=False,
    )
