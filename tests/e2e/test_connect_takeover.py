"""The takeover by a forwarded connect link (issue 8), replayed in a real Chromium against
`oauth-broker dev` and its fake Google.

Mallory, an ordinary (non-admin) user of tenant acme, creates a connect session for the tenant's
Google app with `scopes: ["email"]`, `login_hint` Bob's address and the app's `return_to`, and gets
Bob to open its `authorize_url` ("please reconnect your Gmail"). Bob, signed in to the app (the
demo page) as bob, consents with his Google account on the fake Google's consent page. Each test
ends with Mallory holding nothing usable: Bob's app confirms as Bob and is refused (404, and the
result is discarded), or nobody can confirm at all; her proxy calls answer 404 or 409, never 200;
and the fake Google sees no API request in the meantime (nothing reached Gmail with Bob's token).

- redirect mode: Bob opens the link in the tab where he is signed in to the app; the broker sends
  the browser back to the app with the confirmation, and the app confirms as Bob;
- popup mode, the link opened by Bob's app: a popup's result only reaches an opener on the app's
  origin, so the attack's best case is the app itself opening Mallory's link in its popup (here:
  the demo's session request is answered with Mallory's session). The app confirms as Bob;
- popup mode, the link opened in a tab of its own (as from an email): no opener, so the result
  page shows the result without the confirmation, and nobody can ever confirm it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import expect as pw_expect

from e2e.demo_page import (
    CONFIRM_PATH,
    GMAIL_READONLY,
    bearer,
    demo_page,
    fake_google,
    new_tenant,
    screenshot,
    sign_in,
    tenant_with_client,
)

pytestmark = pytest.mark.e2e

BOB_EMAIL = "bob@example.com"
API_ENDPOINTS = ("gmail", "people", "userinfo")


@dataclass
class Acme:
    """Tenant acme (a fresh one per test): its Google app, and Mallory's connect session."""

    base_url: str
    tenant: str
    oauth_client_id: str
    google_client_id: str

    def mallory_session(self, mode: str, **extra: str) -> dict[str, Any]:
        return_to = f"{self.base_url}/demo/" if mode == "redirect" else self.base_url
        resp = httpx.post(
            f"{self.base_url}/v1/connect-sessions",
            headers=bearer(self.tenant, "mallory"),
            json={
                "provider": "google-mail",
                "oauth_client_id": self.oauth_client_id,
                "scopes": ["email"],
                "login_hint": BOB_EMAIL,
                "return_to": return_to,
                "mode": mode,
                **extra,
            },
        )
        assert resp.status_code == 201, resp.text
        session: dict[str, Any] = resp.json()
        return session


@pytest.fixture
def acme(local_broker: Any) -> Acme:
    tenant = new_tenant("acme")
    oauth_client_id, google_client_id = tenant_with_client(local_broker.base_url, tenant)
    return Acme(local_broker.base_url, tenant, oauth_client_id, google_client_id)


@pytest.fixture
def bobs_app(browser: Browser, acme: Acme) -> Iterator[Page]:
    """Bob's browser on the app (the demo page), signed in as bob, a non-admin user of acme."""
    with demo_page(browser, acme.base_url) as page:
        sign_in(page, acme.tenant, "bob", admin=False)
        yield page


class UpstreamWatch:
    """What the fake Google saw from a point on: API requests and revocations."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.requests_before = len(fake_google(base_url, "requests")["requests"])
        self.revocations_before = len(fake_google(base_url, "revocations")["revocations"])

    def api_requests(self) -> list[dict[str, Any]]:
        new = fake_google(self.base_url, "requests")["requests"][self.requests_before :]
        return [r for r in new if r["endpoint"] in API_ENDPOINTS]

    def revocations(self) -> list[dict[str, Any]]:
        revocations: list[dict[str, Any]] = fake_google(self.base_url, "revocations")["revocations"]
        return revocations[self.revocations_before :]


def _consent_as_bob(page: Page, *, only_identity: bool = True) -> None:
    """On the fake Google's consent page: Bob's account is preselected (login_hint) and, for
    Mallory's session, nothing but the identity scopes is requested. The caller clicks Allow."""
    page.wait_for_selector("#consent-form")
    pw_expect(page.locator(f'input[name="account"][value="{BOB_EMAIL}"]')).to_be_checked()
    if only_identity:
        requested = page.locator('input[name="scope"]').evaluate_all("(boxes) => boxes.map((b) => b.value)")
        assert requested and not any("gmail" in s for s in requested), requested


def _assert_mallory_holds_nothing_usable(acme: Acme, connection_id: str) -> None:
    mallory = bearer(acme.tenant, "mallory")
    base = f"{acme.base_url}/v1/connections/{connection_id}"
    for method, url in (
        ("GET", f"{base}/proxy/gmail/v1/users/me/profile"),
        ("GET", f"{base}/gmail/messages"),
        ("POST", f"{base}/test"),
    ):
        resp = httpx.request(method, url, headers=mallory)
        assert resp.status_code in (404, 409), (method, url, resp.status_code, resp.text)
        assert resp.json()["code"] in ("not_found", "confirmation_required"), resp.text
    listed = httpx.get(f"{acme.base_url}/v1/connections", headers=mallory)
    assert listed.status_code == 200, listed.text
    assert all(c["status"] == "pending" for c in listed.json()["data"]), listed.text


def _assert_discarded(acme: Acme, watch: UpstreamWatch, connection_id: str, confirmation: str) -> None:
    """Bob's refused confirmation spent the result: the connection is gone, the confirmation is
    dead for Mallory too, and the grant Bob gave was revoked at Google."""
    mallory = bearer(acme.tenant, "mallory")
    again = httpx.post(f"{acme.base_url}{CONFIRM_PATH}", headers=mallory, json={"confirmation": confirmation})
    assert again.status_code == 404 and again.json()["code"] == "not_found", again.text
    gone = httpx.get(f"{acme.base_url}/v1/connections/{connection_id}", headers=mallory)
    assert gone.status_code == 404, gone.text
    revoked = [r for r in watch.revocations() if r["client_id"] == acme.google_client_id]
    assert any(r["email"] == BOB_EMAIL and r["outcome"] == "revoked" for r in revoked), revoked


def test_given_mallorys_redirect_link_when_bob_consents_then_his_confirmation_is_refused_and_she_has_nothing(
    bobs_app: Page, acme: Acme
) -> None:
    session = acme.mallory_session("redirect")
    watch = UpstreamWatch(acme.base_url)
    landed: list[str] = []
    bobs_app.on(
        "request",
        lambda r: landed.append(r.url) if r.url.startswith(f"{acme.base_url}/demo/?") else None,
    )

    bobs_app.goto(session["authorize_url"])
    _consent_as_bob(bobs_app)
    with bobs_app.expect_response(lambda r: r.url.endswith(CONFIRM_PATH)) as confirmed:
        bobs_app.click("#allow")

    # Bob's app confirmed as Bob, and the broker refused: Bob is not who started the flow
    assert confirmed.value.status == 404 and confirmed.value.json()["code"] == "not_found"
    confirmation = str(confirmed.value.request.post_data_json["confirmation"])
    assert confirmation.startswith("cfm_")
    pw_expect(bobs_app.locator("#result")).to_contain_text("Not connected")
    pw_expect(bobs_app.locator("#result")).to_contain_text("not_found")
    assert "cfm_" not in bobs_app.evaluate("() => location.href")
    (back,) = landed
    params = httpx.URL(back).params
    assert params["status"] == "pending" and params["confirmation"] == confirmation
    connection_id = params["connection_id"]
    _assert_discarded(acme, watch, connection_id, confirmation)
    _assert_mallory_holds_nothing_usable(acme, connection_id)
    assert watch.api_requests() == []
    screenshot(bobs_app, "takeover-redirect-refused")


def test_given_mallorys_popup_link_opened_by_bobs_app_when_bob_consents_then_his_confirmation_is_refused(
    bobs_app: Page, acme: Acme
) -> None:
    session = acme.mallory_session("popup")
    watch = UpstreamWatch(acme.base_url)
    # the app opens Mallory's link: its own session request is answered with her session
    bobs_app.context.route(
        f"{acme.base_url}/v1/connect-sessions",
        lambda route: route.fulfill(status=201, content_type="application/json", body=json.dumps(session)),
    )
    bobs_app.evaluate("() => { window.seen = []; addEventListener('message', (e) => seen.push(e.data)); }")
    bobs_app.select_option("#provider", "google-mail")

    with bobs_app.expect_popup() as popup_info:
        bobs_app.click("#save-authorize")
    popup = popup_info.value
    _consent_as_bob(popup)
    with bobs_app.expect_response(lambda r: r.url.endswith(CONFIRM_PATH)) as confirmed:
        popup.click("#allow")

    assert confirmed.value.status == 404 and confirmed.value.json()["code"] == "not_found"
    (message,) = bobs_app.evaluate("() => window.seen.filter((m) => m && m.type)")
    assert message["status"] == "pending" and message["confirmation"].startswith("cfm_")
    assert confirmed.value.request.post_data_json == {"confirmation": message["confirmation"]}
    pw_expect(bobs_app.locator("#result")).to_contain_text("Not connected")
    pw_expect(bobs_app.locator("#no-connections")).to_be_visible()
    _assert_discarded(acme, watch, message["connection_id"], message["confirmation"])
    _assert_mallory_holds_nothing_usable(acme, message["connection_id"])
    assert watch.api_requests() == []


def test_given_mallorys_popup_link_in_a_tab_of_its_own_when_bob_consents_then_no_confirmation_exists(
    bobs_app: Page, acme: Acme
) -> None:
    session = acme.mallory_session("popup")
    watch = UpstreamWatch(acme.base_url)
    tab = bobs_app.context.new_page()  # no opener: a link clicked in an email

    tab.goto(session["authorize_url"])
    _consent_as_bob(tab)
    with tab.expect_response(lambda r: "/v1/oauth/callback" in r.url):
        tab.click("#allow")

    # the result page stays open and shows the result without the confirmation (its script holds
    # it for an opener at the app's exact origin, and there is none)
    tab.wait_for_load_state()
    assert not tab.is_closed()
    shown = tab.inner_text("body")
    assert shown.strip() and "cfm_" not in shown, shown
    (pending,) = httpx.get(f"{acme.base_url}/v1/connections", headers=bearer(acme.tenant, "mallory")).json()[
        "data"
    ]
    assert pending["status"] == "pending" and pending["account"]["email"] == BOB_EMAIL
    _assert_mallory_holds_nothing_usable(acme, pending["id"])
    assert watch.api_requests() == []


def _bob_connects_himself(bobs_app: Page) -> dict[str, Any]:
    """Bob starts a redirect flow in his app for gmail.readonly, consents, and his app confirms it."""
    bobs_app.select_option("#provider", "google-mail")
    bobs_app.click("#scopes-none")
    bobs_app.check(f'#scope-list input[name="scope"][value="{GMAIL_READONLY}"]')
    bobs_app.fill("#login-hint", BOB_EMAIL)
    bobs_app.select_option("#mode", "redirect")
    bobs_app.click("#save-authorize")
    _consent_as_bob(bobs_app, only_identity=False)
    with bobs_app.expect_response(lambda r: r.url.endswith(CONFIRM_PATH)) as confirmed:
        bobs_app.click("#allow")
    assert confirmed.value.status == 200, confirmed.value.text()
    conn: dict[str, Any] = confirmed.value.json()
    return conn


def _profile(acme: Acme, user: str, connection_id: str) -> httpx.Response:
    return httpx.get(
        f"{acme.base_url}/v1/connections/{connection_id}/proxy/gmail/v1/users/me/profile",
        headers=bearer(acme.tenant, user),
    )


def test_given_bob_granted_the_app_before_when_he_merely_opens_a_prompt_none_link_then_mallory_gets_nothing(
    bobs_app: Page, acme: Acme
) -> None:
    """prompt=none: Google asks nothing of an account that granted this client before, so Bob's
    browser goes through without a single click. His app still confirms as Bob, and is refused."""
    own = _bob_connects_himself(bobs_app)
    session = acme.mallory_session("redirect", prompt="none")
    watch = UpstreamWatch(acme.base_url)
    consent_pages: list[str] = []
    bobs_app.on("request", lambda r: consent_pages.append(r.url) if "/o/oauth2/" in r.url else None)

    with bobs_app.expect_response(lambda r: r.url.endswith(CONFIRM_PATH)) as confirmed:
        bobs_app.goto(session["authorize_url"])

    assert len(consent_pages) == 1  # one silent pass through Google's authorize endpoint, no click
    assert confirmed.value.status == 404 and confirmed.value.json()["code"] == "not_found"
    confirmation = str(confirmed.value.request.post_data_json["confirmation"])
    pw_expect(bobs_app.locator("#result")).to_contain_text("Not connected")
    assert "cfm_" not in bobs_app.evaluate("() => location.href")
    again = httpx.post(
        f"{acme.base_url}{CONFIRM_PATH}",
        headers=bearer(acme.tenant, "mallory"),
        json={"confirmation": confirmation},
    )
    assert again.status_code == 404, again.text
    mallorys = httpx.get(f"{acme.base_url}/v1/connections", headers=bearer(acme.tenant, "mallory"))
    assert mallorys.status_code == 200 and mallorys.json()["data"] == [], mallorys.text
    assert watch.api_requests() == []
    # Bob's own connection shares the grant: discarding Mallory's result did not revoke it
    assert _profile(acme, "bob", own["id"]).status_code == 200


def test_given_bobs_own_redirect_flow_when_he_consents_then_his_app_confirms_it_and_the_connection_works(
    bobs_app: Page, acme: Acme
) -> None:
    """The control: the same app, the same Google account, but Bob started the flow himself."""
    conn = _bob_connects_himself(bobs_app)

    assert conn["status"] == "active" and conn["owner"] == "bob" and conn["account"]["email"] == BOB_EMAIL
    pw_expect(bobs_app.locator("#result")).to_have_text(
        f"Connected and confirmed {BOB_EMAIL} ({conn['id']}): active"
    )
    pw_expect(bobs_app.locator(f'#connections tr[data-connection-id="{conn["id"]}"] .status')).to_have_text(
        "active"
    )
    profile = _profile(acme, "bob", conn["id"])
    assert profile.status_code == 200 and profile.json()["emailAddress"] == BOB_EMAIL, profile.text
    screenshot(bobs_app, "takeover-control-confirmed")
