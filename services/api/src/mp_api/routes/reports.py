"""``POST /reports/request``: ask for new monitoring reports (``Authorization: Bearer``).

The API never makes reports (that needs Evidently, which serving never imports): it records
the request in ``DATA_DIR`` and the reporting job picks it up (:mod:`mp_core.stores.report_requests_files`).
Kept apart from retrain requests on purpose: a report run changes no model, needs no lock
across trainers, and one pending request covers any number of clicks.
"""

from __future__ import annotations

import logging
from typing import Literal

import anyio.to_thread
import msgspec
from litestar.handlers import HTTPRouteHandler, post

from mp_api.routes.admin import SECURITY, admin_guard
from mp_api.routes.docs import error_responses
from mp_api.services import Services
from mp_core.stores.report_requests_files import record_request

log = logging.getLogger("mp_api")


class ReportRequested(msgspec.Struct, frozen=True):
    status: Literal["recorded"]
    requested_at: str
    detail: str


def build(services: Services) -> list[HTTPRouteHandler]:
    guard = admin_guard(services.settings.admin_token)
    data_dir = services.settings.data_dir

    @post(
        "/reports/request",
        guards=[guard],
        status_code=202,
        security=SECURITY,
        summary="Ask for new monitoring reports (the reporting job makes them)",
        responses=error_responses(401, 403),
        tags=["admin"],
    )
    async def request_reports() -> ReportRequested:
        requested_at = await anyio.to_thread.run_sync(lambda: record_request(data_dir))
        log.info("report_requested", extra={"requested_at": requested_at})
        return ReportRequested(
            status="recorded",
            requested_at=requested_at,
            detail="mindpulse-report --if-requested (or --watch-requests) makes the reports",
        )

    return [request_reports]
