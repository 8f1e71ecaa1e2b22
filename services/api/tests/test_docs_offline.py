"""The API docs work with no internet: every request to anything but 127.0.0.1 is blocked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from testsupport.api import ApiServer, ApiServers
from testsupport.browser import DESKTOP

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    return module_api.start()


def test_swagger_ui_and_redoc_render_with_every_outside_request_blocked(
    api: ApiServer, chromium: Any
) -> None:
    context = chromium.new_context(viewport=DESKTOP)
    blocked: list[str] = []

    def only_loopback(route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "data:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    try:
        page = context.new_page()
        for path in ("/schema", "/schema/swagger"):
            assert page.goto(api.url + path).status == 200
            expect(page.locator(".swagger-ui .info .title")).to_contain_text(
                "MindPulse API", timeout=30_000
            )
            expect(page.locator(".opblock-summary-path").first).to_be_visible()
            assert "/predict" in page.locator(".swagger-ui").inner_text()
        assert page.goto(api.url + "/schema/redoc").status == 200
        redoc = page.locator("#redoc-container")
        expect(redoc.locator("h1").first).to_contain_text("MindPulse API", timeout=30_000)
        expect(redoc).to_contain_text("/predict/batch")
    finally:
        context.close()
    assert blocked == [], "the docs pages must not fetch anything from outside"


def test_no_docs_page_points_at_a_cdn(api: ApiServer) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as http:
        page = http.get("/schema/swagger").text
        assert "https://" not in page.split("spec:")[0]  # the head: scripts, styles, icon
        asset = http.get("/schema/assets/swagger-ui-bundle.js")
        assert asset.status_code == 200 and len(asset.content) > 100_000
        redoc = http.get("/schema/redoc").text
        assert "https://" not in redoc.split("Redoc.init(")[0]
        script = http.get("/schema/assets/redoc.standalone.js")
        assert script.status_code == 200 and len(script.content) > 100_000
        # Pages whose assets only exist on a CDN are not served at all.
        for path in ("/schema/elements", "/schema/rapidoc", "/schema/stoplight"):
            assert http.get(path).status_code == 404
        assert http.get("/schema/openapi.json").json()["info"]["title"] == "MindPulse API"
