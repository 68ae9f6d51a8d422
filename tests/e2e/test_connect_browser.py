"""A real headless Chromium against connect.js and the demo page.

Two groups:
- connect.js on its own: a harness page on https://app.test and a fake broker on https://broker.test,
  both answered by Playwright's request routing (nothing leaves the browser), so every edge case
  (wrong origin, wrong source, blocked or closed popup, timeout, failing backend) is reproducible.
- the demo page served by `oauth-broker dev` (the `local_broker` fixture): sign in, register a
  client, consent on the fake Google in the popup, and check the connection on the page AND via
  the API.

Chromium is Debian's (/usr/bin/chromium; `make test` installs it). Popup blocking stays ON
(Playwright turns it off by default), so a popup that is not opened inside the click fails here.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright
from playwright.sync_api import expect as pw_expect

from oauth_broker_dev import devidp

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "dev" / "oauth_broker_dev" / "static"
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
APP = "https://app.test"
BROKER = "https://broker.test"
EVIL = "https://evil.test"
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make system-deps` installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            ignore_default_args=["--disable-popup-blocking"],
        )
        try:
            yield b
        finally:
            b.close()


# ==== connect.js against a scripted broker =====================================================

HARNESS = """<!doctype html><html><head><meta charset="utf-8"><title>harness</title>
<script src="/connect.js"></script></head><body>
<button id="go">Connect</button>
<iframe id="frame" src="about:blank"></iframe>
<script>
  window.messageListeners = 0;
  const add = window.addEventListener.bind(window);
  const remove = window.removeEventListener.bind(window);
  window.addEventListener = (t, f, o) => {
    if (t === "message") window.messageListeners++;
    return add(t, f, o);
  };
  window.removeEventListener = (t, f, o) => {
    if (t === "message") window.messageListeners--;
    return remove(t, f, o);
  };
  window.outcome = null;
  window.nextOptions = null;
  function build(o) {
    const opts = Object.assign({}, o);
    if ("deferred" in o) {
      delete opts.deferred;
      opts.authorizeUrl = () => new Promise((resolve, reject) => setTimeout(
        () => o.deferred === "fail" ? reject(new Error("backend down")) : resolve(o.deferred), 100));
    }
    return opts;
  }
  window.outcomes = [];
  window.run = (o) => OAuthBroker.connect(build(o)).then(
    (result) => { window.outcome = {result}; },
    (err) => { window.outcome = {error: err.code, name: err.name, message: err.message}; }
  ).then(() => window.outcomes.push(window.outcome));
  document.getElementById("go").addEventListener("click", () => window.run(window.nextOptions));
</script></body></html>"""

AUTOSTART = """<!doctype html><html><head><meta charset="utf-8"><title>pending</title>
<script src="/connect.js"></script></head><body><script>
  OAuthBroker.connect({authorizeUrl: "https://broker.test/post?status=active"}).then(
    () => { document.title = "resolved"; }, (err) => { document.title = err.code; });
</script></body></html>"""

MODULE_HARNESS = """<!doctype html><html><head><meta charset="utf-8"><title>module</title>
<script>window.outcome = null;</script>
<script type="module">
  import { connect, RESULT_TYPE } from "/connect.esm.js";
  window.resultType = RESULT_TYPE;
  document.getElementById("go").addEventListener("click", () => connect({
    authorizeUrl: "https://broker.test/post?status=partial&connection_id=con_mod&missing=gmail.send",
    brokerOrigin: "https://broker.test",
  }).then((result) => { window.outcome = {result}; }, (err) => { window.outcome = {error: err.code}; }));
</script></head><body><button id="go">Connect</button></body></html>"""

REDIRECT_HARNESS = """<!doctype html><html><head><meta charset="utf-8"><title>redirect</title>
<script src="/connect.js"></script></head><body><button id="go">Connect</button><script>
  window.parsed = OAuthBroker.readRedirectResult();
  if (window.parsed) OAuthBroker.clearRedirectResult();
  document.getElementById("go").addEventListener("click", () => OAuthBroker.connect({
    mode: "redirect", authorizeUrl: "https://broker.test/redirect-back"}));
</script></body></html>"""


def _post_page(params: dict[str, str], origin_hint: str = "") -> str:
    """A page that posts a result to its opener (or parent, from a frame) and then closes."""
    result = {
        "type": "oauth-broker:result",
        "connection_id": params.get("connection_id", "con_test"),
        "status": params.get("status", "active"),
        "error": params.get("error") or None,
        "extra": "<dropped>",
    }
    if params.get("missing"):
        result["missing_scopes"] = params["missing"].split(",")
    target = "window.parent" if params.get("to") == "parent" else "window.opener"
    then = (
        f"location.href = {json.dumps(params['next'])};"
        if params.get("next")
        else ("" if params.get("to") == "parent" else "window.close();")
    )
    return (
        f"<!doctype html><title>post{origin_hint}</title><script>"
        f"{target}.postMessage({json.dumps(result)}, '*'); {then}</script>"
    )


def _scripted_routes(route: Route) -> None:
    url = httpx.URL(route.request.url)
    origin = f"{url.scheme}://{url.host}"
    params = dict(url.params)
    html: str | None = None
    if origin == APP:
        if url.path in ("/connect.js", "/connect.esm.js"):
            route.fulfill(
                status=200, content_type="text/javascript", body=(STATIC / url.path[1:]).read_text()
            )
            return
        html = {
            "/harness.html": HARNESS,
            "/autostart.html": AUTOSTART,
            "/module.html": MODULE_HARNESS,
            "/redirect.html": REDIRECT_HARNESS,
        }.get(url.path)
    elif origin == BROKER:
        if url.path == "/post":
            html = _post_page(params)
        elif url.path == "/consent":
            html = "<!doctype html><title>consent</title><p>Waiting for the user…</p>"
        elif url.path == "/redirect-back":
            # the broker answers 303; Playwright's routing does not follow a fulfilled redirect
            back = f"{APP}/redirect.html?connection_id=con_r&status=active&keep=1"
            html = f"<!doctype html><script>location.replace({json.dumps(back)})</script>"
    elif origin == EVIL and url.path == "/post":
        html = _post_page(params, " evil")
    if html is None:
        route.fulfill(status=404, content_type="text/plain", body="not found")
    else:
        route.fulfill(status=200, content_type="text/html", body=html)


@pytest.fixture
def scripted(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    ctx.set_default_timeout(TIMEOUT_MS)
    for origin in (APP, BROKER, EVIL):
        ctx.route(f"{origin}/**", _scripted_routes)
    try:
        yield ctx
    finally:
        ctx.close()


def _harness(ctx: BrowserContext, options: dict[str, Any]) -> Page:
    page = ctx.new_page()
    page.goto(f"{APP}/harness.html")
    page.evaluate("(o) => { window.nextOptions = o; }", options)
    return page


def _wait_closed(popup: Page) -> None:
    if not popup.is_closed():
        popup.wait_for_event("close")


def _outcome(page: Page) -> dict[str, Any]:
    page.wait_for_function("() => window.outcome !== null", timeout=TIMEOUT_MS)
    outcome: dict[str, Any] = page.evaluate("() => window.outcome")
    return outcome


def test_given_a_click_when_the_broker_posts_a_result_then_connect_resolves_with_it_and_cleans_up(
    scripted: BrowserContext,
) -> None:
    page = _harness(
        scripted,
        {
            "authorizeUrl": f"{BROKER}/post?status=partial&connection_id=con_1&missing={GMAIL_SEND}",
            "brokerOrigin": BROKER,
        },
    )
    with scripted.expect_page() as popup_info:
        page.click("#go")
    popup = popup_info.value
    assert _outcome(page) == {
        "result": {
            "type": "oauth-broker:result",
            "connection_id": "con_1",
            "status": "partial",
            "error": None,
            "missing_scopes": [GMAIL_SEND],
        }
    }
    _wait_closed(popup)
    assert page.evaluate("() => window.messageListeners") == 0


def test_given_an_access_denied_result_when_posted_then_connect_resolves_with_the_error(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"authorizeUrl": f"{BROKER}/post?error=access_denied&connection_id="})
    page.click("#go")
    result = _outcome(page)["result"]
    assert result["error"] == "access_denied" and result["connection_id"] is None


def test_given_a_message_from_another_origin_in_the_popup_when_it_arrives_then_it_is_ignored(
    scripted: BrowserContext,
) -> None:
    genuine = f"{BROKER}/post?status=active&connection_id=con_genuine"
    forged = f"{EVIL}/post?status=active&connection_id=con_forged&next={quote(genuine, safe='')}"
    page = _harness(scripted, {"authorizeUrl": forged, "brokerOrigin": BROKER})
    page.click("#go")
    assert _outcome(page)["result"]["connection_id"] == "con_genuine"


def test_given_a_frame_of_the_broker_origin_when_it_posts_a_result_then_it_is_ignored_as_not_the_popup(
    scripted: BrowserContext,
) -> None:
    page = _harness(
        scripted, {"authorizeUrl": f"{BROKER}/consent", "brokerOrigin": BROKER, "timeoutMs": 1500}
    )
    with scripted.expect_page() as popup_info:
        page.click("#go")
    popup = popup_info.value
    page.evaluate(
        "(src) => { document.getElementById('frame').src = src; }",
        f"{BROKER}/post?to=parent&connection_id=con_frame",
    )
    outcome = _outcome(page)
    assert outcome["error"] == "timeout", outcome
    _wait_closed(popup)
    assert page.evaluate("() => window.messageListeners") == 0


def test_given_a_pending_flow_when_connect_is_clicked_again_then_the_first_is_superseded_and_the_second_wins(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"authorizeUrl": f"{BROKER}/consent", "brokerOrigin": BROKER})
    with scripted.expect_page():
        page.click("#go")
    page.evaluate(
        "(o) => { window.nextOptions = o; }",
        {"authorizeUrl": f"{BROKER}/post?connection_id=con_second", "brokerOrigin": BROKER},
    )

    page.click("#go")

    page.wait_for_function("() => window.outcomes.length === 2")
    first, second = page.evaluate("() => window.outcomes")
    assert first["error"] == "superseded"
    assert second["result"]["connection_id"] == "con_second"
    assert len(scripted.pages) <= 2
    assert page.evaluate("() => window.messageListeners") == 0


def test_given_no_user_gesture_when_connect_is_called_then_it_rejects_as_popup_blocked(
    scripted: BrowserContext,
) -> None:
    page = scripted.new_page()
    page.goto(f"{APP}/autostart.html")
    page.wait_for_function("() => document.title !== 'pending'")
    assert page.title() == "popup_blocked"
    assert len(scripted.pages) == 1


def test_given_an_open_popup_when_the_user_closes_it_then_connect_rejects_as_popup_closed(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"authorizeUrl": f"{BROKER}/consent"})
    with scripted.expect_page() as popup_info:
        page.click("#go")
    popup_info.value.close()
    outcome = _outcome(page)
    assert outcome["error"] == "popup_closed" and outcome["name"] == "ConnectError"
    assert page.evaluate("() => window.messageListeners") == 0


def test_given_an_authorize_url_promise_when_it_resolves_then_the_blank_popup_is_sent_there(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"deferred": f"{BROKER}/post?connection_id=con_later", "brokerOrigin": BROKER})
    with scripted.expect_page() as popup_info:
        page.click("#go")
    assert popup_info.value.url in ("about:blank", f"{BROKER}/post?connection_id=con_later")
    assert _outcome(page)["result"]["connection_id"] == "con_later"


def test_given_an_authorize_url_promise_when_it_rejects_then_the_popup_closes_and_connect_rejects(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"deferred": "fail", "brokerOrigin": BROKER})
    with scripted.expect_page() as popup_info:
        page.click("#go")
    outcome = _outcome(page)
    assert outcome["error"] == "authorize_url_failed" and "backend down" in outcome["message"]
    _wait_closed(popup_info.value)


def test_given_a_javascript_url_when_connect_is_called_then_it_rejects_without_opening_a_popup(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"authorizeUrl": "javascript:alert(1)", "brokerOrigin": BROKER})
    page.click("#go")
    assert _outcome(page)["error"] == "invalid_authorize_url"
    assert len(scripted.pages) == 1


def test_given_the_es_module_entry_when_imported_then_connect_works_with_named_exports(
    scripted: BrowserContext,
) -> None:
    page = scripted.new_page()
    page.goto(f"{APP}/module.html")
    page.wait_for_function("() => window.resultType === 'oauth-broker:result'")
    page.click("#go")
    result = _outcome(page)["result"]
    assert (result["connection_id"], result["status"], result["missing_scopes"]) == (
        "con_mod",
        "partial",
        ["gmail.send"],
    )


def test_given_redirect_mode_when_connect_is_called_then_the_page_navigates_and_reads_the_result_back(
    scripted: BrowserContext,
) -> None:
    page = scripted.new_page()
    page.goto(f"{APP}/redirect.html")
    with page.expect_navigation():
        page.click("#go")
    page.wait_for_function("() => window.parsed !== undefined")
    assert page.evaluate("() => window.parsed") == {
        "type": "oauth-broker:result",
        "connection_id": "con_r",
        "status": "active",
        "error": None,
    }
    assert page.url == f"{APP}/redirect.html?keep=1"


# ==== the demo page against `oauth-broker dev` =================================================


@pytest.fixture
def demo(browser: Browser, local_broker: Any) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    # Nothing but the local broker: any other request fails the test instead of leaving the machine.
    outside: list[str] = []

    def block(route: Route) -> None:
        outside.append(route.request.url)
        route.abort()

    ctx.route(lambda url: not url.startswith(local_broker.base_url) and url != "about:blank", block)
    page = ctx.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{local_broker.base_url}/demo/")
    try:
        yield page
    finally:
        ctx.close()
    assert outside == [], f"the demo reached outside the local broker: {outside}"


def _tenant() -> str:
    return f"browser-{secrets.token_hex(4)}"


def _sign_in(page: Page, tenant: str, user: str, *, admin: bool) -> None:
    page.fill("#tenant", tenant)
    page.fill("#user", user)
    page.set_checked("#admin", admin)
    page.click("#sign-in")
    pw_expect(page.locator("#whoami")).to_contain_text(f"Signed in as {user}")
    page.wait_for_function("() => document.body.dataset.ready === 'true'")


def _register_client(page: Page, name: str = "Demo Google app") -> str:
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


def _allow_origin(page: Page, base_url: str) -> None:
    page.click("#allow-origin")
    pw_expect(page.locator("#origin-status")).to_have_text(f"{base_url} is allowed.")


def _choose_scopes(page: Page, scopes: list[str]) -> None:
    page.select_option("#provider", "google-mail")
    page.click("#scopes-none")
    for scope in scopes:
        page.check(f'#scope-list input[name="scope"][value="{scope}"]')


def _authorize(
    page: Page, consent: str, *, untick: tuple[str, ...] = (), button: str = "#save-authorize"
) -> None:
    """Clicks the button, then acts on the fake Google's consent page in the popup."""
    with page.expect_popup() as popup_info:
        page.click(button)
    popup = popup_info.value
    popup.wait_for_selector("#consent-form")
    for scope in untick:
        popup.uncheck(f'input[name="scope"][value="{scope}"]')
    with popup.expect_event("close"):
        popup.click(consent)


def _api_connections(base_url: str, tenant: str) -> list[dict[str, Any]]:
    token = devidp.mint(tenant, f"admin@{tenant}", admin=True)
    resp = httpx.get(f"{base_url}/v1/connections", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def _screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _update_readme_screenshot(shot: Path) -> None:
    """docs/demo.png (the README's picture) is written when missing or with UPDATE_DEMO_SCREENSHOT=1,
    so that a test run does not leave a changed binary in the working tree every time."""
    target = REPO / "docs" / "demo.png"
    if not target.exists() or os.environ.get("UPDATE_DEMO_SCREENSHOT") == "1":
        shutil.copyfile(shot, target)


def _admin_ready(page: Page, base_url: str) -> str:
    tenant = _tenant()
    _sign_in(page, tenant, f"admin@{tenant}", admin=True)
    _register_client(page)
    _allow_origin(page, base_url)
    return tenant


def test_given_the_demo_when_an_admin_consents_to_every_scope_then_the_connection_is_listed_active(
    demo: Page, local_broker: Any
) -> None:
    tenant = _admin_ready(demo, local_broker.base_url)
    pw_expect(demo.locator("#clients li input").last).to_have_value(
        f"{local_broker.base_url}/v1/oauth/callback"
    )
    _choose_scopes(demo, [GMAIL_READONLY, GMAIL_SEND])
    demo.fill("#connection-name", "Work Gmail")
    demo.select_option("#prompt", "consent")

    _authorize(demo, "#allow")

    row = demo.locator("#connections tbody tr")
    pw_expect(row).to_have_count(1)
    pw_expect(row.locator(".status")).to_have_text("active")
    pw_expect(row.locator(".granted")).to_contain_text("gmail.send")
    pw_expect(row.locator(".missing")).to_have_text("—")
    pw_expect(demo.locator("#result")).to_contain_text("active")
    (conn,) = _api_connections(local_broker.base_url, tenant)
    assert conn["status"] == "active" and conn["name"] == "Work Gmail"
    assert {GMAIL_READONLY, GMAIL_SEND} <= set(conn["scopes_granted"])
    assert row.get_attribute("data-connection-id") == conn["id"]
    shot = _screenshot(demo, "demo-active")
    _update_readme_screenshot(shot)


def test_given_the_consent_page_when_the_user_unticks_a_scope_then_the_connection_is_partial_with_it_missing(
    demo: Page, local_broker: Any
) -> None:
    tenant = _admin_ready(demo, local_broker.base_url)
    _choose_scopes(demo, [GMAIL_READONLY, GMAIL_SEND])

    _authorize(demo, "#allow", untick=(GMAIL_SEND,))

    row = demo.locator("#connections tbody tr")
    pw_expect(row.locator(".status")).to_have_text("partial")
    pw_expect(row.locator(".missing")).to_have_text("gmail.send")
    pw_expect(demo.locator("#result")).to_contain_text("missing gmail.send")
    (conn,) = _api_connections(local_broker.base_url, tenant)
    assert conn["status"] == "partial"
    assert GMAIL_SEND not in conn["scopes_granted"] and GMAIL_READONLY in conn["scopes_granted"]
    _screenshot(demo, "demo-partial")


def test_given_a_partial_connection_when_reauthorized_with_every_scope_then_it_keeps_its_id_and_is_active(
    demo: Page, local_broker: Any
) -> None:
    tenant = _admin_ready(demo, local_broker.base_url)
    _choose_scopes(demo, [GMAIL_READONLY, GMAIL_SEND])
    _authorize(demo, "#allow", untick=(GMAIL_SEND,))
    row = demo.locator("#connections tbody tr")
    pw_expect(row.locator(".status")).to_have_text("partial")
    connection_id = row.get_attribute("data-connection-id")

    demo.select_option("#prompt", "consent")
    _authorize(
        demo, "#allow", button=f'button[data-action="reauthorize"][data-connection-id="{connection_id}"]'
    )

    pw_expect(row.locator(".status")).to_have_text("active")
    (conn,) = _api_connections(local_broker.base_url, tenant)
    assert conn["id"] == connection_id and conn["status"] == "active"
    assert GMAIL_SEND in conn["scopes_granted"]


def test_given_save_and_authorize_when_clicked_then_the_popup_is_open_before_the_session_is_requested(
    demo: Page, local_broker: Any
) -> None:
    _admin_ready(demo, local_broker.base_url)
    _choose_scopes(demo, [GMAIL_READONLY])
    pages_when_requested: list[int] = []

    def count_pages(route: Route) -> None:
        pages_when_requested.append(len(demo.context.pages))
        route.continue_()

    demo.context.route(f"{local_broker.base_url}/v1/connect-sessions", count_pages)
    with demo.expect_popup() as popup_info:
        demo.click("#save-authorize")
    popup = popup_info.value
    popup.wait_for_selector("#consent-form")
    assert pages_when_requested == [2]

    popup.close()

    pw_expect(demo.locator("#result")).to_contain_text("popup_closed")


def test_given_the_consent_page_when_the_user_cancels_then_the_demo_shows_access_denied_and_no_connection(
    demo: Page, local_broker: Any
) -> None:
    tenant = _admin_ready(demo, local_broker.base_url)
    _choose_scopes(demo, [GMAIL_READONLY])

    _authorize(demo, "#cancel")

    pw_expect(demo.locator("#result")).to_have_text("Authorization failed: access_denied")
    pw_expect(demo.locator("#no-connections")).to_be_visible()
    assert _api_connections(local_broker.base_url, tenant) == []
    _screenshot(demo, "demo-access-denied")


def test_given_redirect_mode_when_the_user_consents_then_the_demo_shows_the_result_from_its_url(
    demo: Page, local_broker: Any
) -> None:
    tenant = _admin_ready(demo, local_broker.base_url)
    _choose_scopes(demo, [GMAIL_READONLY])
    demo.select_option("#mode", "redirect")

    demo.click("#save-authorize")
    demo.wait_for_selector("#consent-form")
    demo.click("#allow")

    demo.wait_for_url(f"{local_broker.base_url}/demo/")
    pw_expect(demo.locator("#result")).to_contain_text("active")
    (conn,) = _api_connections(local_broker.base_url, tenant)
    assert conn["status"] == "active"
    pw_expect(demo.locator(f'#connections tr[data-connection-id="{conn["id"]}"] .status')).to_have_text(
        "active"
    )


def test_given_a_connection_when_it_is_deleted_from_the_demo_then_it_disappears_from_the_page_and_the_api(
    demo: Page, local_broker: Any
) -> None:
    tenant = _admin_ready(demo, local_broker.base_url)
    _choose_scopes(demo, [GMAIL_READONLY])
    _authorize(demo, "#allow")
    row = demo.locator("#connections tbody tr")
    pw_expect(row.locator(".status")).to_have_text("active")

    row.locator('button[data-action="delete"]').click()

    pw_expect(row).to_have_count(0)
    pw_expect(demo.locator("#error")).to_be_hidden()
    assert _api_connections(local_broker.base_url, tenant) == []


def test_given_a_non_admin_user_when_signed_in_then_the_admin_section_is_hidden_and_their_connect_works(
    demo: Page, local_broker: Any
) -> None:
    tenant = _admin_ready(demo, local_broker.base_url)
    demo.click("#sign-out")
    _sign_in(demo, tenant, "alice", admin=False)
    pw_expect(demo.locator("#admin-section")).to_be_hidden()
    _choose_scopes(demo, [GMAIL_READONLY])

    _authorize(demo, "#allow")

    pw_expect(demo.locator("#connections tbody tr .status")).to_have_text("active")
    (conn,) = _api_connections(local_broker.base_url, tenant)
    assert conn["owner"] == "alice" and conn["status"] == "active"


def test_given_markup_in_a_client_name_when_listed_then_the_demo_shows_it_as_text(
    demo: Page, local_broker: Any
) -> None:
    tenant = _tenant()
    _sign_in(demo, tenant, f"admin@{tenant}", admin=True)
    name = '<img src=x onerror="window.pwned=1">'

    _register_client(demo, name=name)

    pw_expect(demo.locator("#clients li strong").last).to_have_text(name)
    assert demo.locator("#clients img").count() == 0
    assert demo.evaluate("() => window.pwned") is None


def test_given_the_dev_token_endpoint_when_called_from_another_origin_then_it_refuses(
    local_broker: Any,
) -> None:
    resp = httpx.post(
        f"{local_broker.base_url}/dev-idp/token",
        json={"tenant": "t", "user": "u", "admin": True},
        headers={"Origin": "https://evil.example"},
    )
    assert resp.status_code == 400 and "token" not in resp.json()


def test_given_the_dev_token_endpoint_when_reached_through_a_non_loopback_host_name_then_it_refuses(
    local_broker: Any,
) -> None:
    port = httpx.URL(local_broker.base_url).port
    resp = httpx.post(
        f"{local_broker.base_url}/dev-idp/token",
        json={"tenant": "t", "user": "u", "admin": True},
        headers={"Host": f"rebound.example:{port}", "Origin": f"http://rebound.example:{port}"},
    )
    assert resp.status_code == 400 and "token" not in resp.json()


def test_given_the_dev_token_endpoint_when_a_form_post_is_sent_then_it_refuses(local_broker: Any) -> None:
    resp = httpx.post(
        f"{local_broker.base_url}/dev-idp/token", data={"tenant": "t", "user": "u", "admin": "true"}
    )
    assert resp.status_code == 400 and "token" not in resp.json()


def test_given_the_dev_token_endpoint_when_asked_for_an_admin_then_the_token_works_on_the_api(
    local_broker: Any,
) -> None:
    resp = httpx.post(
        f"{local_broker.base_url}/dev-idp/token",
        json={"tenant": "tok", "user": "admin@tok", "admin": True},
        headers={"Origin": local_broker.base_url},
    )
    assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
    settings = httpx.get(
        f"{local_broker.base_url}/v1/settings", headers={"Authorization": f"Bearer {resp.json()['token']}"}
    )
    assert settings.status_code == 200, settings.text
