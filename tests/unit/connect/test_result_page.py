"""The result page and redirect: what is posted, to which origin, and the security headers."""

from __future__ import annotations

import re

from brokertest.connect import posted_message
from brokertest.docs import documented_callback_errors
from oauth_broker.connect.result_page import ERROR_MESSAGES, FlowResult, error_page, render_result

RETURN_TO = "https://app.example.com/settings?tab=mail"


def csp(headers: dict[str, str]) -> dict[str, str]:
    return {
        d.split()[0]: d.split(" ", 1)[1]
        for d in (p.strip() for p in headers["Content-Security-Policy"].split(";"))
    }


def test_given_a_popup_result_with_return_to_when_rendered_then_it_posts_the_message_to_the_exact_origin():
    page = render_result(
        FlowResult(connection_id="con_1", status="pending", confirmation="cfm_secret", return_to=RETURN_TO)
    )
    message, origin = posted_message(page.body)
    assert origin == "https://app.example.com"
    assert message == {
        "type": "oauth-broker:result",
        "connection_id": "con_1",
        "status": "pending",
        "confirmation": "cfm_secret",
        "error": None,
        "missing_scopes": [],
    }
    assert '"*"' not in page.body and "postMessage(m,o)" in page.body
    assert page.status == 200


def test_given_a_pending_result_when_rendered_then_the_page_text_never_shows_the_confirmation():
    result = FlowResult(
        connection_id="con_1", status="pending", confirmation="cfm_secret", return_to=RETURN_TO
    )
    page = render_result(result)
    visible = page.body.split("<script", 1)[0]
    assert "cfm_secret" not in visible and "Go back to the app" in visible
    assert "cfm_secret" not in repr(result)


def test_given_a_pending_redirect_result_when_rendered_then_the_confirmation_goes_to_return_to_only():
    page = render_result(
        FlowResult(
            connection_id="con_1",
            status="pending",
            confirmation="cfm_secret",
            mode="redirect",
            return_to=RETURN_TO,
        )
    )
    assert page.status == 303
    assert page.headers["Location"] == (
        "https://app.example.com/settings?tab=mail&connection_id=con_1&status=pending&confirmation=cfm_secret"
    )
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"


def test_given_a_popup_result_without_return_to_when_rendered_then_it_shows_the_result_and_posts_nothing():
    page = render_result(FlowResult(connection_id="con_1", status="active"))
    assert posted_message(page.body) is None
    assert "postMessage" not in page.body and "<script" not in page.body
    assert "Your account is connected." in page.body


def test_given_a_partial_result_when_rendered_then_the_missing_scopes_are_posted_and_listed():
    missing = ("https://www.googleapis.com/auth/gmail.send",)
    page = render_result(
        FlowResult(connection_id="con_1", status="partial", missing_scopes=missing, return_to=RETURN_TO)
    )
    message, _ = posted_message(page.body)
    assert message["missing_scopes"] == list(missing)
    assert "<code>https://www.googleapis.com/auth/gmail.send</code>" in page.body


def test_given_any_page_when_rendered_then_it_has_no_store_no_referrer_and_a_strict_csp_with_a_script_nonce():
    page = render_result(FlowResult(error="access_denied", return_to=RETURN_TO))
    headers = page.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    policy = csp(headers)
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    nonce = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{20,})'", policy["script-src"]).group(1)
    assert f'<script nonce="{nonce}">' in page.body
    assert "unsafe-inline" not in headers["Content-Security-Policy"]


def test_given_two_pages_when_rendered_then_their_nonces_differ():
    a = csp(render_result(FlowResult(status="active", return_to=RETURN_TO)).headers)["script-src"]
    b = csp(render_result(FlowResult(status="active", return_to=RETURN_TO)).headers)["script-src"]
    assert a != b


def test_given_a_hostile_looking_value_when_embedded_in_the_script_then_it_cannot_close_the_script_element():
    page = render_result(
        FlowResult(connection_id="</script><script>alert(1)</script>", status="active", return_to=RETURN_TO)
    )
    assert page.body.count("</script>") == 1
    message, _ = posted_message(page.body)
    assert message["connection_id"] == "</script><script>alert(1)</script>"


def test_given_a_redirect_mode_success_when_rendered_then_it_is_a_303_to_return_to_with_the_result():
    page = render_result(
        FlowResult(connection_id="con_1", status="active", mode="redirect", return_to=RETURN_TO)
    )
    assert page.status == 303
    assert (
        page.headers["Location"]
        == "https://app.example.com/settings?tab=mail&connection_id=con_1&status=active"
    )
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"


def test_given_a_redirect_mode_failure_when_rendered_then_the_error_code_is_in_the_query():
    page = render_result(FlowResult(error="access_denied", mode="redirect", return_to=RETURN_TO))
    assert page.headers["Location"] == "https://app.example.com/settings?tab=mail&error=access_denied"


def test_given_an_unusable_link_when_the_error_page_is_rendered_then_it_is_a_400_with_the_same_headers():
    page = error_page("This sign-in link is invalid.")
    assert page.status == 400
    assert page.headers["Content-Type"].startswith("text/html")
    assert csp(page.headers)["default-src"] == "'none'" and "<script" not in page.body


def test_given_every_documented_callback_error_when_rendered_then_the_page_has_its_own_message():
    """None falls back to `provider_error`'s words (`service_unavailable` once did)."""
    codes = documented_callback_errors() - {"popup_closed", "popup_blocked"}  # connect.js's, not the page's
    assert {"service_unavailable", "internal_error", "account_mismatch"} <= codes
    assert codes <= set(ERROR_MESSAGES)
    for code in codes - {"provider_error"}:
        page = render_result(FlowResult(error=code)).body
        assert ERROR_MESSAGES[code].split(",")[0] in page.replace("&#x27;", "'"), code
        assert ERROR_MESSAGES["provider_error"] not in page, code
