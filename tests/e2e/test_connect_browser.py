"""A real headless Chromium against connect.js and the demo page.

Two groups:
- connect.js on its own: a harness page on https://app.test and a fake broker on https://broker.test,
  both answered by Playwright's request routing (nothing leaves the browser), so every edge case
  (wrong origin, wrong source, blocked or closed popup, timeout, failing backend, a confirm step
  that fails or is missing) is reproducible.
- the demo page served by `oauth-broker dev` (the `local_broker` fixture): sign in, register a
  client, consent on the fake Google in the popup, confirm as the signed-in user, and check the
  connection on the page AND via the API.

The takeover by a forwarded connect link is test_connect_takeover.py. Popup blocking stays ON
(see conftest.py), so a popup that is not opened inside the click fails here.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route
from playwright.sync_api import expect as pw_expect

from e2e.demo_page import (
    GMAIL_READONLY,
    GMAIL_SEND,
    REPO,
    TIMEOUT_MS,
    admin_ready,
    api_connections,
    authorize,
    bearer,
    choose_scopes,
    consent_in_redirect_mode,
    new_tenant,
    register_client,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.e2e

STATIC = REPO / "dev" / "oauth_broker_dev" / "static"
APP = "https://app.test"
BROKER = "https://broker.test"
EVIL = "https://evil.test"


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
    delete opts.confirmWith;
    if (o.confirmWith !== "none") opts.confirm = confirmer(o.confirmWith || "ok");
    if ("deferred" in o) {
      delete opts.deferred;
      opts.authorizeUrl = () => new Promise((resolve, reject) => setTimeout(
        () => o.deferred === "fail" ? reject(new Error("backend down")) : resolve(o.deferred), 100));
    }
    return opts;
  }
  // the app's confirm step: `confirmWith` "ok" (default) answers the connection, "fail" rejects
  // as a backend would on the broker's 404, "other" answers another connection, "none" omits it
  window.confirmations = [];
  function confirmer(mode) {
    return (confirmation, result) => {
      window.confirmations.push([confirmation, result]);
      if (mode === "fail") return Promise.reject(new Error("broker said 404 not_found"));
      const id = mode === "other" ? "con_other" : result.connection_id;
      return new Promise((resolve) => setTimeout(() => resolve(
        {id, status: result.missing_scopes ? "partial" : "active", account: {email: "a@example.com"}}), 50));
    };
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
  OAuthBroker.connect({
    authorizeUrl: "https://broker.test/post", confirm: (c) => ({id: "con_test", status: "active"}),
  }).then(
    () => { document.title = "resolved"; }, (err) => { document.title = err.code; });
</script></body></html>"""

MODULE_HARNESS = """<!doctype html><html><head><meta charset="utf-8"><title>module</title>
<script>window.outcome = null;</script>
<script type="module">
  import { connect, RESULT_TYPE } from "/connect.esm.js";
  window.resultType = RESULT_TYPE;
  document.getElementById("go").addEventListener("click", () => connect({
    authorizeUrl: "https://broker.test/post?connection_id=con_mod&missing=gmail.send",
    brokerOrigin: "https://broker.test",
    confirm: (confirmation) =>
      Promise.resolve({id: "con_mod", status: "partial", confirmed_with: confirmation}),
  }).then((result) => { window.outcome = {result}; }, (err) => { window.outcome = {error: err.code}; }));
</script></head><body><button id="go">Connect</button></body></html>"""

REDIRECT_HARNESS = """<!doctype html><html><head><meta charset="utf-8"><title>redirect</title>
<script src="/connect.js"></script></head><body><button id="go">Connect</button><script>
  window.hrefAtLoad = location.href;
  window.confirmations = [];
  window.outcome = null;
  const fail = new URLSearchParams(location.search).has("fail_confirm");
  OAuthBroker.completeRedirect({confirm: (confirmation, result) => {
    window.confirmations.push([confirmation, result, location.href]);
    return fail ? Promise.reject(new Error("broker said 404 not_found"))
                : Promise.resolve({id: result.connection_id, status: "active"});
  }}).then((result) => { window.outcome = {result}; },
           (err) => { window.outcome = {error: err.code, message: err.message}; });
  document.getElementById("go").addEventListener("click", () => OAuthBroker.connect({
    mode: "redirect", authorizeUrl: "https://broker.test/redirect-back"}));
</script></body></html>"""

READ_ONLY_HARNESS = """<!doctype html><html><head><meta charset="utf-8"><title>read</title>
<script src="/connect.js"></script></head><body><script>
  window.given = OAuthBroker.readRedirectResult("https://app.test/x?connection_id=con_x&status=pending&confirmation=cfm_x");
  window.parsed = OAuthBroker.readRedirectResult();
</script></body></html>"""


def _post_page(params: dict[str, str], origin_hint: str = "") -> str:
    """A page that posts a result to its opener (or parent, from a frame) and then closes: by
    default a pending one with a confirmation, as the broker's callback does."""
    error = params.get("error") or None
    result = {
        "type": "oauth-broker:result",
        "connection_id": params.get("connection_id", "con_test"),
        "status": params.get("status", None if error else "pending"),
        "error": error,
        "extra": "<dropped>",
    }
    confirmation = params.get("confirmation", "" if error else "cfm_test")
    if confirmation:
        result["confirmation"] = confirmation
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
            "/read.html": READ_ONLY_HARNESS,
        }.get(url.path)
    elif origin == BROKER:
        if url.path == "/post":
            html = _post_page(params)
        elif url.path == "/consent":
            html = "<!doctype html><title>consent</title><p>Waiting for the user…</p>"
        elif url.path == "/redirect-back":
            # the broker answers 303; Playwright's routing does not follow a fulfilled redirect
            back = f"{APP}/redirect.html?connection_id=con_r&status=pending&confirmation=cfm_r&keep=1"
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


def test_given_a_pending_result_when_posted_then_connect_confirms_it_and_resolves_with_the_connection(
    scripted: BrowserContext,
) -> None:
    page = _harness(
        scripted,
        {
            "authorizeUrl": f"{BROKER}/post?connection_id=con_1&confirmation=cfm_1&missing={GMAIL_SEND}",
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
            "connection": {"id": "con_1", "status": "partial", "account": {"email": "a@example.com"}},
        }
    }
    # confirm() got the confirmation and the result without it; the resolved result drops it (spent)
    assert page.evaluate("() => window.confirmations") == [
        [
            "cfm_1",
            {
                "type": "oauth-broker:result",
                "connection_id": "con_1",
                "status": "pending",
                "error": None,
                "missing_scopes": [GMAIL_SEND],
            },
        ]
    ]
    _wait_closed(popup)
    assert page.evaluate("() => window.messageListeners") == 0


def test_given_an_access_denied_result_when_posted_then_connect_resolves_with_the_error_without_confirming(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"authorizeUrl": f"{BROKER}/post?error=access_denied&connection_id="})
    page.click("#go")
    result = _outcome(page)["result"]
    assert result["error"] == "access_denied" and result["connection_id"] is None
    assert result["connection"] is None
    assert page.evaluate("() => window.confirmations") == []


def test_given_no_confirm_function_when_connect_is_called_then_it_rejects_at_once_without_opening_a_popup(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"authorizeUrl": f"{BROKER}/post", "confirmWith": "none"})
    page.click("#go")
    outcome = _outcome(page)
    assert outcome["error"] == "invalid_options" and "confirm" in outcome["message"]
    assert len(scripted.pages) == 1


def test_given_a_confirm_that_rejects_when_the_result_arrives_then_connect_rejects_as_confirmation_failed(
    scripted: BrowserContext,
) -> None:
    page = _harness(
        scripted,
        {"authorizeUrl": f"{BROKER}/post?connection_id=con_2&confirmation=cfm_2", "confirmWith": "fail"},
    )
    with scripted.expect_page() as popup_info:
        page.click("#go")
    outcome = _outcome(page)
    assert outcome["error"] == "confirmation_failed" and outcome["name"] == "ConnectError"
    assert "404" in outcome["message"]
    assert [c[0] for c in page.evaluate("() => window.confirmations")] == ["cfm_2"]
    _wait_closed(popup_info.value)
    assert page.evaluate("() => window.messageListeners") == 0


def test_given_a_result_without_a_confirmation_when_posted_then_connect_rejects_without_calling_confirm(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"authorizeUrl": f"{BROKER}/post?status=active&confirmation="})
    page.click("#go")
    assert _outcome(page)["error"] == "confirmation_failed"
    assert page.evaluate("() => window.confirmations") == []


def test_given_a_confirm_that_answers_another_connection_when_the_result_arrives_then_connect_rejects(
    scripted: BrowserContext,
) -> None:
    page = _harness(scripted, {"authorizeUrl": f"{BROKER}/post?connection_id=con_3", "confirmWith": "other"})
    page.click("#go")
    outcome = _outcome(page)
    assert outcome["error"] == "confirmation_failed" and "con_3" in outcome["message"]


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
    assert result["connection"]["confirmed_with"] == "cfm_test"


def test_given_redirect_mode_when_the_browser_comes_back_then_complete_redirect_strips_the_url_and_confirms(
    scripted: BrowserContext,
) -> None:
    page = scripted.new_page()
    page.goto(f"{APP}/redirect.html")
    with page.expect_navigation():
        page.click("#go")
    assert "confirmation=cfm_r" in page.evaluate("() => window.hrefAtLoad")
    assert _outcome(page) == {
        "result": {
            "type": "oauth-broker:result",
            "connection_id": "con_r",
            "status": "active",
            "error": None,
            "connection": {"id": "con_r", "status": "active"},
        }
    }
    ((confirmation, result, href_while_confirming),) = page.evaluate("() => window.confirmations")
    assert confirmation == "cfm_r" and result["status"] == "pending" and "confirmation" not in result
    # the confirmation left the address bar (and so the history) before confirm() ran
    assert href_while_confirming == f"{APP}/redirect.html?keep=1"
    assert page.url == f"{APP}/redirect.html?keep=1"
    page.go_back()
    assert "cfm_" not in page.url


def test_given_redirect_mode_when_the_confirmation_is_refused_then_complete_redirect_rejects_with_a_clean_url(
    scripted: BrowserContext,
) -> None:
    page = scripted.new_page()
    page.goto(f"{APP}/redirect.html?fail_confirm=1&connection_id=con_f&status=pending&confirmation=cfm_f")
    outcome = _outcome(page)
    assert outcome["error"] == "confirmation_failed" and "404" in outcome["message"]
    assert page.url == f"{APP}/redirect.html?fail_confirm=1"


def test_given_a_return_to_url_when_read_redirect_result_reads_it_then_it_gives_the_confirmation_and_strips(
    scripted: BrowserContext,
) -> None:
    page = scripted.new_page()
    page.goto(f"{APP}/read.html?connection_id=con_p&status=pending&confirmation=cfm_p&tab=2#top")
    assert page.evaluate("() => window.parsed") == {
        "type": "oauth-broker:result",
        "connection_id": "con_p",
        "status": "pending",
        "error": None,
        "confirmation": "cfm_p",
    }
    assert page.url == f"{APP}/read.html?tab=2#top"
    # an explicit href is only parsed: the address bar is not touched by it
    assert page.evaluate("() => window.given.confirmation") == "cfm_x"


# ==== the demo page against `oauth-broker dev` =================================================


def _update_readme_screenshot(shot: Path) -> None:
    """docs/demo.png (the README's picture) is written when missing or with UPDATE_DEMO_SCREENSHOT=1,
    so that a test run does not leave a changed binary in the working tree every time."""
    target = REPO / "docs" / "demo.png"
    if not target.exists() or os.environ.get("UPDATE_DEMO_SCREENSHOT") == "1":
        shutil.copyfile(shot, target)


def test_given_the_demo_when_an_admin_consents_to_every_scope_then_the_connection_is_listed_active(
    demo: Page, local_broker: Any
) -> None:
    tenant = admin_ready(demo, local_broker.base_url)
    pw_expect(demo.locator("#clients li input").last).to_have_value(
        f"{local_broker.base_url}/v1/oauth/callback"
    )
    choose_scopes(demo, [GMAIL_READONLY, GMAIL_SEND])
    demo.fill("#connection-name", "Work Gmail")
    demo.select_option("#prompt", "consent")

    authorize(demo, "#allow")

    row = demo.locator("#connections tbody tr[data-connection-id]")
    pw_expect(row).to_have_count(1)
    pw_expect(row.locator(".status")).to_have_text("active")
    pw_expect(row.locator(".granted")).to_contain_text("gmail.send")
    pw_expect(row.locator(".missing")).to_have_text("—")
    pw_expect(demo.locator("#result")).to_have_text(
        f"Connected and confirmed alice@example.com ({row.get_attribute('data-connection-id')}): active"
    )
    (conn,) = api_connections(local_broker.base_url, tenant)
    assert conn["status"] == "active" and conn["name"] == "Work Gmail"
    assert {GMAIL_READONLY, GMAIL_SEND} <= set(conn["scopes_granted"])
    assert row.get_attribute("data-connection-id") == conn["id"]
    row.locator('button[data-action="test"]').click()
    pw_expect(demo.locator(f'#connections tr[data-note-for="{conn["id"]}"]')).to_contain_text(
        "OK: alice@example.com, "
    )
    shot = screenshot(demo, "demo-active")
    _update_readme_screenshot(shot)


def test_given_the_consent_page_when_the_user_unticks_a_scope_then_the_connection_is_partial_with_it_missing(
    demo: Page, local_broker: Any
) -> None:
    tenant = admin_ready(demo, local_broker.base_url)
    choose_scopes(demo, [GMAIL_READONLY, GMAIL_SEND])

    authorize(demo, "#allow", untick=(GMAIL_SEND,))

    row = demo.locator("#connections tbody tr[data-connection-id]")
    pw_expect(row.locator(".status")).to_have_text("partial")
    pw_expect(row.locator(".missing")).to_have_text("gmail.send")
    pw_expect(demo.locator("#result")).to_contain_text("missing gmail.send")
    (conn,) = api_connections(local_broker.base_url, tenant)
    assert conn["status"] == "partial"
    assert GMAIL_SEND not in conn["scopes_granted"] and GMAIL_READONLY in conn["scopes_granted"]
    screenshot(demo, "demo-partial")


def test_given_a_partial_connection_when_reauthorized_with_every_scope_then_it_keeps_its_id_and_is_active(
    demo: Page, local_broker: Any
) -> None:
    tenant = admin_ready(demo, local_broker.base_url)
    choose_scopes(demo, [GMAIL_READONLY, GMAIL_SEND])
    authorize(demo, "#allow", untick=(GMAIL_SEND,))
    row = demo.locator("#connections tbody tr[data-connection-id]")
    pw_expect(row.locator(".status")).to_have_text("partial")
    connection_id = row.get_attribute("data-connection-id")

    demo.select_option("#prompt", "consent")
    authorize(
        demo, "#allow", button=f'button[data-action="reauthorize"][data-connection-id="{connection_id}"]'
    )

    pw_expect(row.locator(".status")).to_have_text("active")
    (conn,) = api_connections(local_broker.base_url, tenant)
    assert conn["id"] == connection_id and conn["status"] == "active"
    assert GMAIL_SEND in conn["scopes_granted"]


def test_given_save_and_authorize_when_clicked_then_the_popup_is_open_before_the_session_is_requested(
    demo: Page, local_broker: Any
) -> None:
    admin_ready(demo, local_broker.base_url)
    choose_scopes(demo, [GMAIL_READONLY])
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
    tenant = admin_ready(demo, local_broker.base_url)
    choose_scopes(demo, [GMAIL_READONLY])

    authorize(demo, "#cancel")

    pw_expect(demo.locator("#result")).to_contain_text("You cancelled; nothing was connected.")
    pw_expect(demo.locator("#result")).to_have_attribute("data-kind", "neutral")
    pw_expect(demo.locator("#no-connections")).to_be_visible()
    assert api_connections(local_broker.base_url, tenant) == []
    screenshot(demo, "demo-access-denied")


def test_given_redirect_mode_when_the_user_consents_then_the_demo_shows_the_result_from_its_url(
    demo: Page, local_broker: Any
) -> None:
    tenant = admin_ready(demo, local_broker.base_url)
    choose_scopes(demo, [GMAIL_READONLY])

    confirmed = consent_in_redirect_mode(demo)

    # the confirmation came in the URL and left the address bar before the confirm call
    assert str(confirmed.request.post_data_json["confirmation"]).startswith("cfm_")
    assert demo.evaluate("() => location.href") == f"{local_broker.base_url}/demo/"
    demo.wait_for_url(f"{local_broker.base_url}/demo/")
    pw_expect(demo.locator("#result")).to_contain_text("Connected and confirmed")
    pw_expect(demo.locator("#result")).to_contain_text("active")
    (conn,) = api_connections(local_broker.base_url, tenant)
    assert conn["status"] == "active"
    pw_expect(demo.locator(f'#connections tr[data-connection-id="{conn["id"]}"] .status')).to_have_text(
        "active"
    )


def test_given_a_connection_when_it_is_deleted_from_the_demo_then_it_disappears_from_the_page_and_the_api(
    demo: Page, local_broker: Any
) -> None:
    tenant = admin_ready(demo, local_broker.base_url)
    choose_scopes(demo, [GMAIL_READONLY])
    authorize(demo, "#allow")
    row = demo.locator("#connections tbody tr[data-connection-id]")
    pw_expect(row.locator(".status")).to_have_text("active")

    row.locator('button[data-action="delete"]').click()

    pw_expect(row).to_have_count(0)
    pw_expect(demo.locator("#connections-status")).to_contain_text("its grant was revoked at")
    assert api_connections(local_broker.base_url, tenant) == []


def test_given_a_non_admin_user_when_signed_in_then_the_admin_section_is_hidden_and_their_connect_works(
    demo: Page, local_broker: Any
) -> None:
    tenant = admin_ready(demo, local_broker.base_url)
    demo.click("#sign-out")
    sign_in(demo, tenant, "alice", admin=False)
    pw_expect(demo.locator("#admin-section")).to_be_hidden()
    choose_scopes(demo, [GMAIL_READONLY])

    authorize(demo, "#allow")

    pw_expect(demo.locator("#connections tbody tr .status")).to_have_text("active")
    (conn,) = api_connections(local_broker.base_url, tenant)
    assert conn["owner"] == "alice" and conn["status"] == "active"
    # confirmed by its creator, the connection is usable
    profile = httpx.get(
        f"{local_broker.base_url}/v1/connections/{conn['id']}/proxy/gmail/v1/users/me/profile",
        headers=bearer(tenant, "alice"),
    )
    assert profile.status_code == 200, profile.text


def test_given_markup_in_a_client_name_when_listed_then_the_demo_shows_it_as_text(
    demo: Page, local_broker: Any
) -> None:
    tenant = new_tenant()
    sign_in(demo, tenant, f"admin@{tenant}", admin=True)
    name = '<img src=x onerror="window.pwned=1">'

    register_client(demo, name=name)

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
