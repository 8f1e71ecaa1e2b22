"""``GET /metrics`` and, for benchmarks only, the constant-answer ``/bench/ceiling``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from litestar import Response
from litestar.handlers import HTTPRouteHandler, get, route

from mp_api import metrics
from mp_api.raw import coalesced_route
from mp_api.services import Services

CEILING_PATH: Final = "/bench/ceiling"
_CEILING_BODY: Final = b'{"prediction":0,"probability":0.5,"model_version":"ceiling"}'


def build(services: Services) -> list[HTTPRouteHandler]:
    @get("/metrics", summary="Prometheus metrics of every worker", tags=["ops"])
    async def prometheus() -> Response[bytes]:
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    handlers: list[HTTPRouteHandler] = [prometheus]
    if services.config.bench_ceiling:
        limit = services.config.batch_body_bytes(services.settings.max_batch)

        def constant(bodies: Sequence[bytes]) -> list[bytes | Exception]:
            return [_CEILING_BODY] * len(bodies)

        @route(
            CEILING_PATH,
            http_method=["GET", "POST"],
            status_code=200,
            include_in_schema=False,
            request_max_body_size=limit,
            middleware=[coalesced_route(constant, limit)],
        )
        async def ceiling() -> Response[bytes]:
            """Served like /predict (the body read and checked, answered in its event-loop
            turn: mp_api.coalesce), with a constant answer: no decoding, scoring or signing."""
            return Response(_CEILING_BODY, media_type="application/json")

        handlers.append(ceiling)
    return handlers
