"""The demo page of `oauth-broker dev` driven by Playwright, and the broker's API and fake Google
controls driven over HTTP: the helpers the Chromium e2e tests share."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Locator, Page, Response, Route
from playwright.sync_api import expect as pw_expect

from oauth_broker_dev import devidp

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
TIMEOUT_MS = 15_000
CONFIRM_PATH = "/v1/connect-sessions/confirm"


# The two widths the demo is checked at: a laptop and a phone (iPhone 12-15 CSS pixels).
VIEWPORTS = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}


@contextmanager
def demo_page(browser: Browser, base_url: str, width: int = 1280) -> Iterator[Page]:
    """A fresh browser context (its own cookies and sessionStorage: one person's browser) on the
    demo page, 1280 px wide (or 390). Nothing but the local broker is reachable: any other request
    fails the test instead of leaving the machine."""
    ctx = browser.new_context(viewport=VIEWPORTS[width])
    ctx.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def block(route: Route) -> None:
        outside.append(route.request.url)
        route.abort()

    ctx.route(lambda url: not url.startswith(base_url) and url != "about:blank", block)
    page = ctx.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{base_url}/demo/")
    try:
        yield page
    finally:
        ctx.close()
    assert outside == [], f"the demo reached outside the local broker: {outside}"


def new_tenant(prefix: str = "browser") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def sign_in(page: Page, tenant: str, user: str, *, admin: bool) -> None:
    page.fill("#tenant", tenant)
    page.fill("#user", user)
    page.set_checked("#admin", admin)
    page.click("#sign-in")
    pw_expect(page.locator("#whoami")).to_contain_text(f"Signed in as {user}")
    page.wait_for_function("() => document.body.dataset.ready === 'true'")


def register_client(page: Page, name: str = "Demo Google app") -> str:
    page.fill("#client-name", name)
    page.select_option("#client-provider", "google-mail")
    page.fill("#client-id", f"demo-{secrets.token_hex(3)}.apps.googleusercontent.com")
    page.fill("#client-secret", "demo-client-secret-value")
    page.click("#register-client")
    item = page.locator("#clients li").last
    pw_expect(item).to_contain_text(name)
    client_id = item.get_attribute("data-client-id")
    assert client_id
    return client_id


def allow_origin(page: Page, base_url: str) -> None:
    page.click("#allow-origin")
    pw_expect(page.locator("#origin-status")).to_have_text(f"{base_url} is allowed.")


def wait_until_ready(page: Page) -> None:
    """The demo has finished loading (and, back from a redirect, handling its URL)."""
    page.wait_for_function("() => document.body.dataset.ready === 'true'")


def admin_signed_in(page: Page) -> str:
    """Signs in as a new tenant's admin: the tenant."""
    tenant = new_tenant()
    sign_in(page, tenant, f"admin@{tenant}", admin=True)
    return tenant


def admin_ready(page: Page, base_url: str) -> str:
    """Signs in as a new tenant's admin, registers a client and allows the demo's origin."""
    tenant = admin_signed_in(page)
    register_client(page)
    allow_origin(page, base_url)
    return tenant


def ready_to_connect(page: Page, base_url: str, scopes: tuple[str, ...] = (GMAIL_READONLY,)) -> str:
    """`admin_ready`, then google-mail and exactly `scopes` chosen in the connect form: the tenant."""
    tenant = admin_ready(page, base_url)
    choose_scopes(page, list(scopes))
    return tenant


def choose_scopes(page: Page, scopes: list[str]) -> None:
    page.select_option("#provider", "google-mail")
    page.click("#scopes-none")
    for scope in scopes:
        page.check(f'#scope-list input[name="scope"][value="{scope}"]')


def authorize(
    page: Page,
    consent: str,
    *,
    untick: tuple[str, ...] = (),
    button: str = "#save-authorize",
    account: str | None = None,
    preselected: str | None = None,
) -> None:
    """Clicks the button, then acts on the fake Google's consent page in the popup (checking that
    `preselected` is the account it preselects, choosing `account`); returns once the demo's
    confirm call (as the signed-in user) has been answered, or the popup closed."""
    with page.expect_popup() as popup_info:
        page.click(button)
    popup = popup_info.value
    popup.wait_for_selector("#consent-form")
    if preselected is not None:
        pw_expect(popup.locator('input[name="account"]:checked')).to_have_value(preselected)
    if account is not None:
        popup.check(f'input[name="account"][value="{account}"]')
    for scope in untick:
        popup.uncheck(f'input[name="scope"][value="{scope}"]')
    if consent == "#allow":
        with (
            page.expect_response(lambda r: r.url.endswith(CONFIRM_PATH)) as confirmed,
            popup.expect_event("close"),
        ):
            popup.click(consent)
        assert confirmed.value.status == 200, confirmed.value.text()
    else:
        with popup.expect_event("close"):
            popup.click(consent)


def connected(
    page: Page,
    base_url: str,
    *,
    account: str | None = None,
    scopes: tuple[str, ...] = (GMAIL_READONLY,),
    untick: tuple[str, ...] = (),
) -> tuple[str, dict[str, Any]]:
    """`ready_to_connect`, then Save & authorize with consent in the popup (as `account`, the fake
    Google's default when None): (the tenant, its one connection as the API returns it)."""
    tenant = ready_to_connect(page, base_url, scopes)
    authorize(page, "#allow", account=account, untick=untick)
    (conn,) = api_connections(base_url, tenant)
    return tenant, conn


def consent_in_redirect_mode(
    page: Page, *, button: str = "#save-authorize", preselected: str | None = None
) -> Response:
    """Switches the demo to redirect mode, clicks `button` and allows on the fake Google's consent
    page in the same tab (checking that `preselected` is the account it preselects): the answer to
    the demo's confirm call once back, asserted 200."""
    page.select_option("#mode", "redirect")
    page.click(button)
    page.wait_for_selector("#consent-form")
    if preselected is not None:
        pw_expect(page.locator('input[name="account"]:checked')).to_have_value(preselected)
    with page.expect_response(lambda r: r.url.endswith(CONFIRM_PATH)) as confirmed:
        page.click("#allow")
    assert confirmed.value.status == 200, confirmed.value.text()
    return confirmed.value


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """test-artifacts/<name>.png: the whole page, or (full_page=False) what the viewport shows."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def in_viewport(locator: Locator) -> None:
    """The element is visible and its whole box lies inside the viewport (what the user sees
    without scrolling)."""
    pw_expect(locator).to_be_visible()
    pw_expect(locator).to_be_in_viewport(ratio=1)
    box = locator.bounding_box()
    size = locator.page.viewport_size
    assert box is not None and size is not None
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= size["width"] + 0.5, (box, size)
    assert box["y"] + box["height"] <= size["height"] + 0.5, (box, size)


# ---- the broker's API and the fake Google, over HTTP ------------------------------------------


def bearer(tenant: str, user: str, *, admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {devidp.mint(tenant, user, admin=admin)}"}


def api_connections(base_url: str, tenant: str) -> list[dict[str, Any]]:
    """Every connection of the tenant, as its admin sees them."""
    resp = httpx.get(f"{base_url}/v1/connections", headers=bearer(tenant, f"admin@{tenant}", admin=True))
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def tenant_with_client(base_url: str, tenant: str) -> tuple[str, str]:
    """An admin registers a google-mail client and allows the demo's origin: (oauth client id,
    Google client id)."""
    admin = bearer(tenant, f"admin@{tenant}", admin=True)
    google_client_id = f"acme-{secrets.token_hex(3)}.apps.googleusercontent.com"
    resp = httpx.post(
        f"{base_url}/v1/oauth-clients",
        headers=admin,
        json={
            "name": "Acme Gmail",
            "provider": "google-mail",
            "client_id": google_client_id,
            "client_secret": "acme-client-secret-value",
        },
    )
    assert resp.status_code == 201, resp.text
    settings = httpx.patch(
        f"{base_url}/v1/settings", headers=admin, json={"allowed_return_origins": [base_url]}
    )
    assert settings.status_code == 200, settings.text
    return str(resp.json()["id"]), google_client_id


def fake_google(base_url: str, path: str) -> Any:
    """A read of the fake Google's control routes (`/_control/...`)."""
    resp = httpx.get(f"{base_url}/fake-google/_control/{path}")
    assert resp.status_code == 200, resp.text
    return resp.json()
