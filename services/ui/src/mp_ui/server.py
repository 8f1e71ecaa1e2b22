"""The UI's web server: the Gradio page at ``/``, the latest reports at ``/reports/<name>``.

A small FastAPI app (Gradio's own server framework) holds both, so the reports are plain links
that open in a tab, and ``/healthz`` lets launchers and container checks see the page is up
without loading Gradio's front end.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import gradio as gr
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from mp_core.support import SupportResources, load_support_resources
from mp_core.web.guard import HttpGuard, page_headers
from mp_ui.actions import PageActions
from mp_ui.app import build_page, page_css, page_js, theme
from mp_ui.config import UiConfig
from mp_ui.reports import MEDIA_TYPES, REPORT_ROUTE, report_path

log = logging.getLogger("mp_ui")

# Gradio's queue looks for new events every 1 ms, and for progress every 10 ms, on Linux, visitor
# or not: that loop kept the idle page at several per cent of a core. Gradio's own Windows values
# make a click wait at most 50 ms more, unnoticeable next to the round trip to the API.
QUEUE_IDLE_POLL_SECONDS = 0.05
PROGRESS_IDLE_POLL_SECONDS = 0.1

NOT_FOUND_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Report not found</title>"
    "</head><body style='font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto'>"
    "<h1>This report does not exist yet</h1><p>The reports appear once the reporting job has "
    "run. The Reports tab of the page says how new ones are made here.</p></body></html>"
)

UNREADABLE_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Reports unavailable</title>"
    "</head><body style='font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto'>"
    "<h1>The reports cannot be read right now</h1><p>The reports folder is there but this page "
    "may not read it. Please try again later; the page's log says why.</p></body></html>"
)

#: The page sends no files: Gradio's upload routes are not served at all.
REFUSED_PATHS: Final = ("/gradio_api/upload",)


def create_guarded_app(config: UiConfig, support: SupportResources) -> HttpGuard:
    """The page's app behind the HTTP guard (Host allowlist, concurrency cap, body deadline,
    security headers on the page and the reports, no uploads): what uvicorn runs."""
    return HttpGuard(
        create_app(config, support),  # type: ignore[arg-type]
        limits=config.limits,
        allowed_hosts=config.allowed_hosts,
        headers_for=page_headers(REPORT_ROUTE),
        refused_paths=REFUSED_PATHS,
    )


def create_app(config: UiConfig, support: SupportResources | None = None) -> FastAPI:
    """The UI as an ASGI app, ready for uvicorn."""
    support = support or load_support_resources(config.support_resources_file)
    actions = PageActions(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        actions.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get(REPORT_ROUTE + "/{name}", response_model=None)
    def report(name: str) -> FileResponse | HTMLResponse:
        try:
            path = report_path(config.reports_dir, name)
            if path is not None:
                path.open("rb").close()  # readable now, or refused here rather than mid-answer
        except OSError as exc:
            log.warning("report unreadable", extra={"report": name, "reason": str(exc)})
            return HTMLResponse(UNREADABLE_PAGE, status_code=503)
        if path is None:
            return HTMLResponse(NOT_FOUND_PAGE, status_code=404)
        media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        # The reports are replaced on every run; a browser must not keep an old one.
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-store"})

    page = build_page(actions, support)
    mounted: FastAPI = gr.mount_gradio_app(
        app,
        page,
        path="/",
        server_name=config.host,
        server_port=config.port,
        footer_links=[],
        # Gradio's run history would keep people's answers around; the page has no use for it.
        run_history=False,
        show_error=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        enable_monitoring=False,
        max_file_size=1,  # bytes; the upload routes are refused anyway (REFUSED_PATHS)
        theme=theme(),
        css=page_css(),
        js=page_js(),
    )
    calm_idle_queue(page)
    return mounted


def calm_idle_queue(page: gr.Blocks) -> None:
    """Let Gradio's queue sleep longer between looks when it has nothing to do."""
    queue = page._queue
    queue.sleep_when_free = QUEUE_IDLE_POLL_SECONDS
    queue.progress_update_sleep_when_free = PROGRESS_IDLE_POLL_SECONDS
