"""OpenAPI pieces: error responses and request examples shared by the route modules, and the
docs pages with their assets served by the API itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Final

from litestar import Router
from litestar.openapi import ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Example
from litestar.static_files import create_static_files_router

from mp_api.wire import ErrorBody
from mp_core.contract import EXAMPLE_PROFILE

_ERROR_TEXT: Final = {
    400: "Invalid request: the body names the field and the rule it breaks.",
    401: "Missing or wrong admin token.",
    403: "Admin routes are disabled (ADMIN_TOKEN is not set).",
    409: "Conflict (a retrain request is already waiting, or nothing to roll back to).",
    413: "Body or batch too large.",
    415: "The body must be application/json.",
    422: "The receipt (or Idempotency-Key) was used before with a different body (the field "
    "is named).",
    429: "Too many feedbacks from this client address: wait the Retry-After seconds.",
    503: "No model is loaded, or a store (files, PostgreSQL) is unavailable; the reason is given.",
}


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=_ERROR_TEXT[code], generate_examples=False
        )
        for code in codes
    }


def example(summary: str, value: Any) -> Example:
    return Example(summary=summary, value=value)


PROFILE_EXAMPLE: Final = EXAMPLE_PROFILE


#: Where the docs pages' files are served: Swagger UI from ``litestar-offline-docs``, ReDoc's
#: standalone bundle from ``fastapi-offline`` (only its static files are read: the package is
#: found, never imported, so FastAPI is not needed and the image leaves it out). The pages load
#: nothing from outside, so they work without internet.
DOCS_ASSETS: Final = "/schema/assets"
_ASSET_PACKAGES: Final = ("litestar_offline_docs", "fastapi_offline")


def docs_render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at ``/schema`` and ``/schema/swagger``, ReDoc at ``/schema/redoc``."""
    return [
        SwaggerRenderPlugin(
            js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
            favicon="",  # Litestar's default favicon is an image on a CDN
        ),
        RedocRenderPlugin(
            js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            google_fonts=False,  # the fonts are on Google's CDN; the page uses system fonts
            favicon="",
        ),
    ]


def _package_folder(name: str) -> Path:
    """Where the installed package ``name`` lives, without running its ``__init__``."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the API docs need the {name} package, which is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def docs_assets() -> Router:
    """The docs pages' files, from the installed packages that carry them."""
    directories = [_package_folder(name) / "static" for name in _ASSET_PACKAGES]
    return create_static_files_router(
        path=DOCS_ASSETS,
        directories=directories,
        include_in_schema=False,
        name="docs_assets",
    )
