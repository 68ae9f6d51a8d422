"""The demo page as a newcomer meets it (issue 10), in headless Chromium at 1280 px and 390 px.

Each test acts as a user would, then asserts on what the viewport shows: a message is visible
and inside the viewport right after the action that caused it, next to that action (there is no
page-wide banner), and replaces the stale message that was there. Screenshots of the viewport
go to test-artifacts/demo-<what>-<width>.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page
from playwright.sync_api import expect as pw_expect

from brokertest.docs import documented_callback_errors
from e2e.demo_page import (
    GMAIL_READONLY,
    GMAIL_SEND,
    admin_signed_in,
    api_connections,
    authorize,
    connected,
    consent_in_redirect_mode,
    demo_page,
    in_viewport,
    new_tenant,
    ready_to_connect,
    register_client,
    screenshot,
    sign_in,
    wait_until_ready,
)
from oauth_broker.connect.result_page import ERROR_MESSAGES

pytestmark = pytest.mark.e2e

WIDTHS = [1280, 390]
ALICE = "alice@example.com"
BOB = "bob@example.com"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
RED = "rgb(207, 34, 46)"  # --bad


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def page_at(request: pytest.FixtureRequest, browser: Browser, local_broker: Any) -> Iterator[Page]:
    """The demo page at 1280 px, then at 390 px."""
    with demo_page(browser, local_broker.base_url, width=request.param) as page:
        yield page


@pytest.fixture
def wide(browser: Browser, local_broker: Any) -> Iterator[Page]:
    with demo_page(browser, local_broker.base_url, width=1280) as page:
        yield page


def _width(page: Page) -> int:
    size = page.viewport_size
    assert size is not None
    return int(size["width"])


def _shot(page: Page, what: str) -> None:
    """The viewport (what the user sees) and the whole page."""
    screenshot(page, f"demo-{what}-{_width(page)}", full_page=False)
    screenshot(page, f"demo-{what}-{_width(page)}-full")


def _scroll_to_bottom_edge(page: Page, selector: str) -> None:
    """Scrolls so that the element is the last thing the viewport shows (what follows it is out
    of view): clicking it needs no scroll, so whatever shows up below it must scroll itself in."""
    page.evaluate(
        """(sel) => {
            const box = document.querySelector(sel).getBoundingClientRect();
            window.scrollBy(0, box.bottom - window.innerHeight + 2);
        }""",
        selector,
    )


def _below_viewport(locator: Locator) -> bool:
    return bool(locator.evaluate("(el) => el.getBoundingClientRect().top >= window.innerHeight"))


def _only_place_showing(page: Page, text: str, line: Locator) -> None:
    """`text` is on the page once, on `line`: no banner (or other line) repeats it."""
    holders = page.locator("body *").filter(has_text=text)
    innermost = holders.evaluate_all(
        "(els) => els.filter((e) => ![...e.children].some((c) => els.includes(c)))"
    )
    assert len(innermost) == 1, innermost
    assert line.evaluate("(el) => el.textContent").count(text) == 1
    assert page.locator("[role=alert], #error, .alert").count() == 0


def _row(page: Page, connection_id: str | None = None) -> Locator:
    if connection_id:
        return page.locator(f'#connections tbody tr[data-connection-id="{connection_id}"]')
    return page.locator("#connections tbody tr[data-connection-id]")


def _reauthorize_button(connection_id: str) -> str:
    return f'button[data-action="reauthorize"][data-connection-id="{connection_id}"]'


def _note(page: Page, connection_id: str) -> Locator:
    return page.locator(f'#connections tr[data-note-for="{connection_id}"] .status-line')


# ---- 1. an error shows next to the action that caused it ------------------------------------


def test_given_a_stale_message_when_authorizing_without_a_name_then_the_error_replaces_it_in_view(
    page_at: Page, local_broker: Any
) -> None:
    page = page_at
    ready_to_connect(page, local_broker.base_url)
    with page.expect_popup() as popup_info:
        page.click("#save-authorize")
    popup_info.value.wait_for_selector("#consent-form")
    popup_info.value.close()
    result = page.locator("#result")
    pw_expect(result).to_have_text(
        "The popup was closed before the connection finished; nothing was connected. "
        "Click Save & authorize to try again. (popup_closed)"
    )
    pw_expect(result).to_have_attribute("data-kind", "neutral")
    page.fill("#connection-name", "")
    page.locator("#connect-title").scroll_into_view_if_needed()
    _scroll_to_bottom_edge(page, "#save-authorize")
    assert _below_viewport(result)

    page.click("#save-authorize")

    message = "Cannot authorize yet: name the connection."
    pw_expect(result).to_have_text(message)
    in_viewport(result)
    pw_expect(result).to_have_attribute("data-kind", "bad")
    assert "popup" not in result.inner_text()
    _only_place_showing(page, message, result)
    _shot(page, "error-save-authorize")


def test_given_a_stale_message_when_registering_empty_fields_then_the_error_replaces_it_in_view(
    page_at: Page, local_broker: Any
) -> None:
    page = page_at
    admin_signed_in(page)
    register_client(page, name="First app")
    status = page.locator("#client-status")
    pw_expect(status).to_contain_text("Registered “First app”")
    page.fill("#client-id", "")
    page.fill("#client-secret", "")
    _scroll_to_bottom_edge(page, "#register-client")
    if _width(page) == 390:  # at 1280 px the form is on the first screen: the page cannot scroll so far
        assert _below_viewport(status)

    page.click("#register-client")

    message = "Cannot register yet: fill in Client ID, Client secret."
    pw_expect(status).to_have_text(message)
    in_viewport(status)
    pw_expect(status).to_have_attribute("data-kind", "bad")
    _only_place_showing(page, message, status)
    assert page.locator("#clients li").count() == 1
    _shot(page, "error-register-client")


# ---- 2. and 3. re-authorize with the connection's account; human messages -------------------


def test_given_a_connection_of_bob_when_reauthorized_then_the_consent_page_preselects_bob_and_it_succeeds(
    wide: Page, local_broker: Any
) -> None:
    page = wide
    _, conn = connected(page, local_broker.base_url, account=BOB)
    assert conn["account"]["email"] == BOB
    pw_expect(_row(page, conn["id"]).locator(".account")).to_have_text(BOB)
    sessions: list[Any] = []
    page.on(
        "request",
        lambda r: sessions.append(r.post_data_json) if r.url.endswith("/v1/connect-sessions") else None,
    )

    authorize(page, "#allow", button=_reauthorize_button(conn["id"]), preselected=BOB)

    (body,) = sessions
    assert body["login_hint"] == BOB and body["connection_id"] == conn["id"]
    note = _note(page, conn["id"])
    pw_expect(note).to_have_text(f"Re-authorized and confirmed {BOB} ({conn['id']}): active")
    in_viewport(note)
    assert "account_mismatch" not in page.inner_text("body")
    _shot(page, "reauthorize-preselects")


def test_given_a_connection_of_bob_when_reauthorized_as_alice_then_account_mismatch_names_bob(
    wide: Page, local_broker: Any
) -> None:
    page = wide
    tenant, conn = connected(page, local_broker.base_url, account=BOB)

    with page.expect_popup() as popup_info:
        page.click(_reauthorize_button(conn["id"]))
    popup = popup_info.value
    popup.wait_for_selector("#consent-form")
    popup.check(f'input[name="account"][value="{ALICE}"]')
    with popup.expect_event("close"):
        popup.click("#allow")

    note = _note(page, conn["id"])
    pw_expect(note).to_contain_text(f"another account than {BOB}, the one this connection belongs to.")
    pw_expect(note).to_contain_text(f"choose {BOB}")
    pw_expect(note).to_contain_text("(account_mismatch)")
    in_viewport(note)
    (after,) = api_connections(local_broker.base_url, tenant)
    assert after["account"]["email"] == BOB and after["status"] == "active"
    _shot(page, "account-mismatch")


def test_given_the_consent_page_when_the_user_cancels_then_the_demo_says_so_neutrally_in_view(
    page_at: Page, local_broker: Any
) -> None:
    page = page_at
    tenant = ready_to_connect(page, local_broker.base_url)

    authorize(page, "#cancel")

    result = page.locator("#result")
    pw_expect(result).to_contain_text("You cancelled; nothing was connected.")
    pw_expect(result).to_have_attribute("data-kind", "neutral")
    assert "failed" not in result.inner_text().lower()
    assert result.evaluate("(el) => getComputedStyle(el).color") != RED
    in_viewport(result)
    assert api_connections(local_broker.base_url, tenant) == []
    _shot(page, "access-denied")


def test_given_any_callback_error_code_when_the_demo_gets_it_then_it_shows_a_human_message_saying_what_to_do(
    wide: Page, local_broker: Any
) -> None:
    """Redirect mode hands the page `?error=<code>`: each code the callback can send (the broker's
    result_page.ERROR_MESSAGES, and docs/connect-flow.md's table of result codes) gets the demo's
    own sentence, not the generic fallback."""
    codes = set(ERROR_MESSAGES) | documented_callback_errors()
    assert {"access_denied", "account_mismatch", "service_unavailable"} <= codes
    page = wide
    tenant = new_tenant()
    sign_in(page, tenant, f"user@{tenant}", admin=False)
    result = page.locator("#result")
    seen: dict[str, str] = {}
    for code in sorted(codes):
        page.goto(f"{local_broker.base_url}/demo/?error={code}")
        wait_until_ready(page)
        pw_expect(result).to_have_attribute("data-code", code)
        text = result.inner_text()
        assert "the flow ended with" not in text, (code, text)  # the generic fallback
        assert re.search(r"\b(Click|Ask|ask|An admin|Set|Put|Check|Untick)\b", text), (code, text)
        assert page.url == f"{local_broker.base_url}/demo/"
        seen[code] = text
    assert len(set(seen.values())) == len(seen)
    assert "You cancelled" in seen["access_denied"]


# ---- 4. Test button --------------------------------------------------------------------------


def test_given_an_active_connection_when_test_is_clicked_then_its_row_shows_the_account_and_latency(
    page_at: Page, local_broker: Any
) -> None:
    page = page_at
    _, conn = connected(page, local_broker.base_url)
    connection_id = conn["id"]
    row = _row(page, connection_id)

    slow = httpx.post(f"{local_broker.base_url}/fake-google/_control/api_delay", json={"seconds": 1.0})
    assert slow.status_code == 200, slow.text
    test_path = f"/v1/connections/{connection_id}/test"
    try:
        with page.expect_response(lambda r: r.url.endswith(test_path)) as answer:
            row.locator('button[data-action="test"]').click()
            # while it runs: "Testing…" under the row, and its Test button stays disabled
            pw_expect(_note(page, connection_id)).to_have_text("Testing…")
            pw_expect(row.locator('button[data-action="test"]')).to_be_disabled()
    finally:
        httpx.post(f"{local_broker.base_url}/fake-google/_control/api_delay", json={"seconds": 0})

    assert answer.value.status == 200 and answer.value.json()["ok"] is True
    pw_expect(row.locator('button[data-action="test"]')).to_be_enabled()
    note = _note(page, connection_id)
    pw_expect(note).to_have_text(re.compile(rf"^OK: {re.escape(ALICE)}, \d+ ms$"))
    pw_expect(note).to_have_attribute("data-kind", "ok")
    in_viewport(note)
    _shot(page, "test-ok")


def test_given_a_grant_revoked_at_google_when_test_is_clicked_then_its_row_shows_the_error_code(
    wide: Page, local_broker: Any
) -> None:
    page = wide
    _, conn = connected(page, local_broker.base_url, account=BOB)
    connection_id = conn["id"]
    row = _row(page, connection_id)
    # silently, as Google expiring a Testing-mode app's tokens does (no Cross-Account Protection
    # event: that path is tests/e2e/test_risc_revocation.py)
    revoked = httpx.post(
        f"{local_broker.base_url}/fake-google/_control/revoke_all_for", json={"email": BOB, "notify": False}
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_grants"] >= 1, revoked.text

    with page.expect_response(lambda r: r.url.endswith(f"/v1/connections/{connection_id}/test")) as answer:
        row.locator('button[data-action="test"]').click()

    code = answer.value.json()["error"]["code"]
    assert answer.value.json()["ok"] is False
    note = _note(page, connection_id)
    pw_expect(note).to_contain_text(re.compile(rf"Failed \({code}, \d+ ms\): "))
    pw_expect(note).to_contain_text("Re-authorize")
    pw_expect(note).to_have_attribute("data-kind", "bad")
    in_viewport(note)
    pw_expect(row.locator(".status")).to_have_text("needs_reauth")
    _shot(page, "test-failed")


# ---- 5. the connections table fits its card ----------------------------------------------------


def test_given_a_partial_connection_when_listed_then_the_row_and_every_card_fit_the_viewport_width(
    page_at: Page, local_broker: Any
) -> None:
    page = page_at
    ready_to_connect(page, local_broker.base_url, (GMAIL_READONLY, GMAIL_SEND))
    authorize(page, "#allow", untick=(GMAIL_SEND,))
    row = _row(page)
    pw_expect(row.locator(".status")).to_have_text("partial")
    row.locator('button[data-action="test"]').click()
    pw_expect(_note(page, str(row.get_attribute("data-connection-id")))).to_contain_text("OK:")

    card = page.locator("#connections-section")
    card_box = card.bounding_box()
    assert card_box is not None
    buttons = row.locator("button")
    assert buttons.count() == 3
    for i in range(buttons.count()):
        button = buttons.nth(i)
        pw_expect(button).to_be_visible()
        box = button.bounding_box()
        assert box is not None
        assert card_box["x"] <= box["x"] and box["x"] + box["width"] <= card_box["x"] + card_box["width"], (
            button.inner_text(),
            box,
            card_box,
        )
        assert card_box["y"] <= box["y"] and box["y"] + box["height"] <= card_box["y"] + card_box["height"]
    overflowing = page.evaluate(
        """() => [...document.querySelectorAll('.card, .table-wrap, .scopes, html')]
            .filter((el) => el.getClientRects().length && el.scrollWidth > el.clientWidth)
            .map((el) => `${el.id || el.className || el.tagName}: ${el.scrollWidth} > ${el.clientWidth}`)"""
    )
    assert overflowing == []
    spilling_cells = row.locator("td").evaluate_all(
        "(tds) => tds.filter((td) => td.scrollWidth > td.clientWidth).map((td) => td.dataset.label)"
    )
    assert spilling_cells == []
    scopes_box = page.locator("#scopes").bounding_box()
    connect_box = page.locator("#connect-section").bounding_box()
    assert scopes_box is not None and connect_box is not None
    assert scopes_box["x"] + scopes_box["width"] <= connect_box["x"] + connect_box["width"]
    row.scroll_into_view_if_needed()
    in_viewport(row.locator('button[data-action="delete"]'))
    _shot(page, "partial-row")


# ---- 6. smaller things -----------------------------------------------------------------------


def test_given_no_client_for_the_provider_when_connecting_then_the_select_says_so(
    wide: Page, local_broker: Any
) -> None:
    page = wide
    admin_signed_in(page)
    page.select_option("#provider", "google-mail")

    pw_expect(page.locator("#oauth-client option")).to_have_text(["no client for this provider yet"])
    page.click("#save-authorize")
    pw_expect(page.locator("#result")).to_contain_text("pick an OAuth client")

    register_client(page)
    pw_expect(page.locator("#oauth-client option")).to_have_count(1)
    pw_expect(page.locator("#oauth-client option")).to_contain_text("Demo Google app")


def test_given_a_client_when_its_callback_url_is_copied_then_the_button_says_copied_and_then_copy_again(
    wide: Page, local_broker: Any
) -> None:
    page = wide
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=local_broker.base_url)
    admin_signed_in(page)
    register_client(page)
    copy = page.locator('#clients li button[data-action="copy"]')

    copy.click()

    pw_expect(copy).to_have_text("Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == f"{local_broker.base_url}/v1/oauth/callback"
    pw_expect(copy).to_have_text("Copy", timeout=4000)


def test_given_two_connections_sharing_a_grant_when_deleted_then_the_demo_says_it_was_kept_then_revoked(
    page_at: Page, local_broker: Any
) -> None:
    page = page_at
    tenant = ready_to_connect(page, local_broker.base_url)
    page.fill("#connection-name", "First")
    authorize(page, "#allow")
    page.fill("#connection-name", "Second")
    authorize(page, "#allow")
    first, second = sorted(api_connections(local_broker.base_url, tenant), key=lambda c: str(c["name"]))
    assert (first["name"], second["name"]) == ("First", "Second")
    status = page.locator("#connections-status")

    _row(page, first["id"]).locator('button[data-action="delete"]').click()

    pw_expect(status).to_contain_text(f"Deleted “First” ({first['id']}). Its grant at")
    pw_expect(status).to_contain_text(f"was kept, not revoked: “Second” ({second['id']}) still use")
    pw_expect(status).to_have_attribute("data-code", "kept_shared_grant")
    in_viewport(status)
    _shot(page, "delete-kept")

    _row(page, second["id"]).locator('button[data-action="delete"]').click()

    revoked = f"Deleted “Second” ({second['id']}): its grant was revoked at Google Mail."
    pw_expect(status).to_have_text(revoked)
    in_viewport(status)
    assert "kept" not in status.inner_text()
    assert api_connections(local_broker.base_url, tenant) == []


def test_given_granted_long_names_and_requested_short_names_when_listed_then_both_show_as_short_names(
    wide: Page, local_broker: Any
) -> None:
    page = wide
    _, conn = connected(
        page, local_broker.base_url, scopes=(GMAIL_READONLY, GMAIL_SEND), untick=(GMAIL_SEND,)
    )
    assert USERINFO_EMAIL in conn["scopes_granted"] and "email" in conn["scopes_requested"]
    row = _row(page, conn["id"])
    pw_expect(row.locator(".status")).to_have_text("partial")

    granted = row.locator(".granted li")
    names = granted.all_inner_texts()
    assert {"openid", "email", "profile", "gmail.readonly"} <= set(names), names
    assert not [n for n in names if n.startswith("https://") or n.startswith("userinfo.")], names
    assert len(names) == len(set(names))
    pw_expect(granted.filter(has_text=re.compile("^email$"))).to_have_attribute("title", USERINFO_EMAIL)
    pw_expect(row.locator(".missing li")).to_have_text(["gmail.send"])
    pw_expect(row.locator(".missing li")).to_have_attribute("title", GMAIL_SEND)
    pw_expect(page.locator("#result")).to_contain_text("missing gmail.send")


def test_given_redirect_mode_when_the_user_consents_then_the_page_returns_signed_in_with_the_result_in_view(
    page_at: Page, local_broker: Any
) -> None:
    page = page_at
    tenant = ready_to_connect(page, local_broker.base_url)

    consent_in_redirect_mode(page)

    wait_until_ready(page)
    assert page.url == f"{local_broker.base_url}/demo/"  # connection_id, status, confirmation gone
    (conn,) = api_connections(local_broker.base_url, tenant)
    result = page.locator("#result")
    pw_expect(result).to_have_text(f"Connected and confirmed {ALICE} ({conn['id']}): active")
    in_viewport(result)
    pw_expect(page.locator("#whoami")).to_contain_text(f"Signed in as admin@{tenant}")
    pw_expect(_row(page, conn["id"]).locator(".status")).to_have_text("active")
    _shot(page, "redirect-back")


def test_given_redirect_mode_when_the_user_cancels_then_the_page_comes_back_with_the_neutral_message(
    wide: Page, local_broker: Any
) -> None:
    page = wide
    tenant = ready_to_connect(page, local_broker.base_url)
    page.select_option("#mode", "redirect")

    page.click("#save-authorize")
    page.wait_for_selector("#consent-form")
    with page.expect_navigation(url=re.compile(r"/demo/\?")):
        page.click("#cancel")

    wait_until_ready(page)
    assert page.url == f"{local_broker.base_url}/demo/"
    result = page.locator("#result")
    pw_expect(result).to_contain_text("You cancelled; nothing was connected.")
    pw_expect(result).to_have_attribute("data-kind", "neutral")
    in_viewport(result)
    assert api_connections(local_broker.base_url, tenant) == []


def test_given_redirect_mode_when_reauthorizing_then_the_page_returns_with_the_result_under_the_row(
    wide: Page, local_broker: Any
) -> None:
    page = wide
    _, conn = connected(page, local_broker.base_url, account=BOB)

    consent_in_redirect_mode(page, button=_reauthorize_button(conn["id"]), preselected=BOB)

    wait_until_ready(page)
    assert page.url == f"{local_broker.base_url}/demo/"
    note = _note(page, conn["id"])
    pw_expect(note).to_have_text(f"Re-authorized and confirmed {BOB} ({conn['id']}): active")
    in_viewport(note)
    pw_expect(page.locator("#result")).to_be_empty()
