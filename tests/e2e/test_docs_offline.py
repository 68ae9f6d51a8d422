"""/docs works offline: Swagger UI comes from the pinned package the local broker serves, never a CDN
(issue 9, item 2). Chromium may reach the broker's origin and nothing else; any other request is
aborted and recorded, and none may be attempted."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route, expect

from e2e.conftest import RunningBroker

pytestmark = pytest.mark.e2e

CONFIRM = "/v1/connect-sessions/confirm"
# Chromium parses Swagger UI's 1.5 MB bundle and renders ~40 operations: seconds on a loaded
# 2-core CI machine, so a wider wait than the demo page's.
TIMEOUT_MS = 60_000


def test_given_no_network_beyond_the_broker_when_docs_open_then_swagger_ui_renders_every_operation(
    browser: Browser, local_broker: RunningBroker
):
    origin = local_broker.base_url + "/"
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []
    requested: list[str] = []

    def cut_off(route: Route) -> None:
        outside.append(route.request.url)
        route.abort("internetdisconnected")

    ctx.route(lambda url: not url.startswith(origin) and url != "about:blank", cut_off)
    try:
        page = ctx.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.goto(local_broker.base_url + "/docs")

        path = page.locator(f".opblock-summary-path[data-path='{CONFIRM}']")
        confirm = page.locator(".opblock-post", has=path)
        expect(confirm).to_be_visible()
        expect(page.locator(".opblock")).to_have_count(len(_operations(local_broker)))
        expect(page.locator("button.authorize")).to_be_visible()  # securitySchemes are documented

        confirm.locator(".opblock-summary").click()  # the operation opens, with its problem responses
        expect(confirm.locator(".responses-table .response[data-code='404']")).to_be_visible()
    finally:
        ctx.close()

    assert outside == [], f"the page tried to leave the broker: {outside}"
    assert f"{origin}docs/swagger-ui-bundle.js" in requested
    assert f"{origin}v1/openapi.json" in requested


def _operations(broker: RunningBroker) -> list[str]:
    import httpx

    document = httpx.get(broker.base_url + "/v1/openapi.json", timeout=10).json()
    return [f"{m} {p}" for p, item in document["paths"].items() for m in item if m != "parameters"]
