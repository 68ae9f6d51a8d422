"""The connect flow end to end: connect session -> authorize -> (fake) Google consent -> callback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from brokertest.connect import (
    APP_ORIGIN,
    RETURN_TO,
    allow_return_origins,
    authorize,
    callback,
    create_session,
    posted_message,
    provider_redirect,
    run_flow,
)
from brokertest.google import CLIENT_ID
from oauth_broker.connect.sessions import session_store
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.store.sessions import ConnectSessionStore
from oauth_broker.timeutil import now_epoch, parse_rfc3339

AUTH = "https://www.googleapis.com/auth/"
READONLY, SEND = AUTH + "gmail.readonly", AUTH + "gmail.send"


def connection(cw, connection_id: str, token: str | None = None) -> dict:
    resp = cw.world.request("GET", f"/v1/connections/{connection_id}", token=token or cw.world.token())
    assert resp.status_code == 200, resp.json
    return dict(resp.json)


def test_given_a_user_who_allows_everything_when_the_flow_finishes_then_an_active_connection_is_stored(
    cw,
):
    flow = run_flow(
        cw.world, cw.fake, cw.ocl, scopes=["gmail.readonly", SEND], name="Work mail", return_to=RETURN_TO
    )
    assert flow.response.status_code == 200
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message["status"] == "pending" and message["error"] is None and message["missing_scopes"] == []
    assert message["confirmation"].startswith("cfm_")
    con = connection(cw, message["connection_id"])
    assert con["id"].startswith("con_") and con["name"] == "Work mail"
    assert con["provider"] == "google-mail" and con["oauth_client_id"] == cw.ocl and con["owner"] == "alice"
    assert con["account"] == {"email": "alice@example.com", "sub": "109876543210987654321"}
    assert con["status"] == "active"
    assert con["scopes_requested"] == ["openid", "email", "profile", READONLY, SEND]
    assert {READONLY, SEND, "openid"} <= set(con["scopes_granted"])
    assert con["expires_at"].endswith("Z") and con["last_refreshed_at"]
    assert cw.event_types() == ["connection.created"]
    rec = cw.world.services.connections.get(con["id"])
    access = cw.world.services.envelope.decrypt(
        rec.enc_access_token, EncryptionContext("acme", rec.id, "access_token")
    )
    assert cw.fake.token_info(access.decode())["email"] == "alice@example.com"
    refresh = cw.world.services.envelope.decrypt(
        rec.enc_refresh_token, EncryptionContext("acme", rec.id, "refresh_token")
    )
    assert cw.fake.token_info(refresh.decode())["kind"] == "refresh_token"


def test_given_a_session_when_authorize_redirects_then_google_gets_pkce_state_nonce_offline_and_callback(
    cw,
):
    session = create_session(
        cw.world, cw.ocl, scopes=["gmail.readonly"], prompt="consent", login_hint="bob@example.com"
    )
    resp = authorize(cw.world, session["authorize_url"])
    assert resp.status_code == 302
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"
    q = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
    assert q["redirect_uri"] == "https://broker.test/v1/oauth/callback"
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 22 and len(q["nonce"]) >= 22
    assert q["access_type"] == "offline" and q["include_granted_scopes"] == "true"
    assert q["prompt"] == "consent" and q["login_hint"] == "bob@example.com"
    assert q["scope"] == f"openid email profile {READONLY}"


def test_given_a_session_when_it_is_created_then_the_authorize_url_is_the_broker_url_with_the_token(cw):
    session = create_session(cw.world, cw.ocl)
    assert session["token"].startswith("cs_") and len(session["token"]) >= 40
    assert session["authorize_url"] == f"https://broker.test/v1/oauth/authorize?session={session['token']}"
    assert 590 <= parse_rfc3339(session["expires_at"]) - now_epoch() <= 600


def test_given_redirect_mode_when_the_flow_finishes_then_the_browser_gets_a_303_to_return_to_with_the_result(
    cw,
):
    flow = run_flow(cw.world, cw.fake, cw.ocl, mode="redirect", return_to=RETURN_TO)
    assert flow.response.status_code == 303
    location = flow.response.headers["Location"]
    assert location.startswith(RETURN_TO + "?")
    q = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert q["status"] == "pending" and q["connection_id"].startswith("con_") and "error" not in q
    assert q["confirmation"].startswith("cfm_")
    assert flow.confirmed is not None and flow.confirmed.json["status"] == "active"
    assert flow.response.headers["Referrer-Policy"] == "no-referrer"
    assert flow.response.headers["Cache-Control"] == "no-store"


def test_given_popup_mode_with_a_return_to_url_when_finished_then_the_page_posts_to_its_exact_origin(
    cw,
):
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=APP_ORIGIN + "/deep/path?x=1")
    message, origin = posted_message(flow.response.get_data(as_text=True))
    assert origin == APP_ORIGIN
    assert message["type"] == "oauth-broker:result"


def test_given_popup_mode_without_an_opener_when_finished_then_the_page_says_to_go_back_to_the_app(cw):
    flow = run_flow(cw.world, cw.fake, cw.ocl, confirmed=False)
    page = flow.response.get_data(as_text=True)
    assert flow.response.status_code == 200
    visible = page.split("<script", 1)[0]
    assert "Go back to the app to finish connecting it" in visible
    assert "cfm_" not in visible
    assert len(cw.connection_items()) == 1


def test_given_the_callback_page_when_served_then_it_carries_the_security_headers(cw):
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO)
    h = flow.response.headers
    assert h["Content-Type"].startswith("text/html")
    assert h["Cache-Control"] == "no-store" and h["Referrer-Policy"] == "no-referrer"
    policy = h["Content-Security-Policy"]
    assert (
        "default-src 'none'" in policy
        and "frame-ancestors 'none'" in policy
        and "script-src 'nonce-" in policy
    )
    assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"


def test_given_the_user_unticks_a_scope_when_finished_then_the_connection_is_partial_and_the_result_names_it(
    cw,
):
    flow = run_flow(
        cw.world,
        cw.fake,
        cw.ocl,
        scopes=["gmail.readonly", "gmail.send"],
        return_to=RETURN_TO,
        granted=["openid", "email", "profile", READONLY],
    )
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message["status"] == "pending" and message["missing_scopes"] == [SEND]
    con = connection(cw, message["connection_id"])
    assert con["status"] == "partial" and con["status_reason"] == "scopes_not_granted"
    assert SEND not in con["scopes_granted"] and READONLY in con["scopes_granted"]
    assert cw.events[0]["detail"]["missing_scopes"] == [SEND]


def test_given_partial_consent_in_redirect_mode_when_finished_then_the_missing_scopes_are_in_the_query(cw):
    flow = run_flow(
        cw.world,
        cw.fake,
        cw.ocl,
        scopes=["gmail.readonly", "gmail.send"],
        mode="redirect",
        return_to=RETURN_TO,
        granted=["openid", "email", "profile", SEND],
    )
    q = {k: v[0] for k, v in parse_qs(urlsplit(flow.response.headers["Location"]).query).items()}
    assert q["status"] == "pending" and q["missing_scopes"] == READONLY
    assert flow.confirmed is not None and flow.confirmed.json["status"] == "partial"


def test_given_the_user_cancels_when_the_callback_gets_access_denied_then_it_says_so_and_stores_nothing(
    cw,
):
    flow = run_flow(cw.world, cw.fake, cw.ocl, allow=False, return_to=RETURN_TO)
    assert flow.query["error"] == "access_denied"
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message == {
        "type": "oauth-broker:result",
        "connection_id": None,
        "status": None,
        "confirmation": None,
        "error": "access_denied",
        "missing_scopes": [],
    }
    assert cw.connection_items() == [] and cw.events == []
    assert cw.fake.token_requests["authorization_code"] == 0


def test_given_access_denied_in_redirect_mode_when_finished_then_return_to_gets_the_error(cw):
    flow = run_flow(cw.world, cw.fake, cw.ocl, allow=False, mode="redirect", return_to=RETURN_TO)
    assert flow.response.status_code == 303
    assert flow.response.headers["Location"] == RETURN_TO + "?error=access_denied"


def test_given_a_return_to_off_the_allow_list_when_a_session_is_created_then_it_is_refused(cw):
    resp = cw.world.request(
        "POST",
        "/v1/connect-sessions",
        token=cw.world.token(),
        json_body={
            "provider": "google-mail",
            "oauth_client_id": cw.ocl,
            "return_to": "https://evil.example/steal",
        },
    )
    assert resp.status_code == 422 and resp.json["code"] == "validation_error"
    assert resp.json["errors"][0]["loc"] == ["body", "return_to"]
    assert resp.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("mode", ["redirect", "popup"])
def test_given_a_session_without_return_to_when_created_then_it_is_refused_in_either_mode(cw, mode):
    resp = cw.world.request(
        "POST",
        "/v1/connect-sessions",
        token=cw.world.token(),
        json_body={"provider": "google-mail", "oauth_client_id": cw.ocl, "mode": mode},
    )
    assert resp.status_code == 422 and resp.json["errors"][0]["loc"] == ["body", "return_to"]


def test_given_bad_session_fields_when_a_session_is_created_then_each_is_a_validation_problem_naming_it(cw):
    cases = [
        ({"scopes": ["gmail.readonly", "drive.file"]}, "scopes"),
        ({"prompt": "login"}, "prompt"),
        ({"provider": "nope"}, "provider"),
        ({"mode": "tab"}, "mode"),
        ({"surprise": 1}, "surprise"),
    ]
    for extra, field_name in cases:
        body = {"provider": "google-mail", "oauth_client_id": cw.ocl, "return_to": RETURN_TO, **extra}
        resp = cw.world.request("POST", "/v1/connect-sessions", token=cw.world.token(), json_body=body)
        assert resp.status_code == 422, (extra, resp.json)
        assert resp.json["errors"][0]["loc"][:2] == ["body", field_name], resp.json


def test_given_an_oauth_client_of_another_provider_when_a_session_is_created_then_it_is_refused(cw):
    from brokertest.connect import create_oauth_client

    contacts = create_oauth_client(cw.world, provider="google-contacts", name="Contacts app")
    resp = cw.world.request(
        "POST",
        "/v1/connect-sessions",
        token=cw.world.token(),
        json_body={"provider": "google-mail", "oauth_client_id": contacts["id"], "return_to": RETURN_TO},
    )
    assert resp.status_code == 422 and resp.json["errors"][0]["loc"] == ["body", "oauth_client_id"]


def test_given_another_tenants_oauth_client_when_a_session_is_created_then_it_is_not_found(cw):
    allow_return_origins(cw.world, tenant="globex")
    resp = cw.world.request(
        "POST",
        "/v1/connect-sessions",
        token=cw.world.token("globex", "gina"),
        json_body={"provider": "google-mail", "oauth_client_id": cw.ocl, "return_to": RETURN_TO},
    )
    assert resp.status_code == 404 and resp.json["code"] == "not_found"


def test_given_a_used_session_when_authorize_is_opened_again_then_a_400_page_and_no_second_redirect(cw):
    session = create_session(cw.world, cw.ocl)
    assert authorize(cw.world, session["authorize_url"]).status_code == 302
    again = authorize(cw.world, session["authorize_url"])
    assert again.status_code == 400
    assert again.headers["Content-Type"].startswith("text/html")
    assert "Location" not in again.headers
    assert "invalid, has expired or was already used" in again.get_data(as_text=True)
    assert session["token"] not in again.get_data(as_text=True)


def test_given_an_unknown_or_malformed_session_when_authorize_is_opened_then_a_400_page(cw):
    for query in ("?session=cs_unknown0000000000000000000000", "?session=", "", "?session=" + "x" * 500):
        resp = cw.world.request("GET", "/v1/oauth/authorize" + query)
        assert resp.status_code == 400, query
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


def test_given_a_session_older_than_10_minutes_when_authorize_is_opened_then_a_400_page(cw):
    services = cw.world.services
    services.singleton(
        "connect_session_store", lambda: ConnectSessionStore(services.table, clock=lambda: now_epoch() + 601)
    )
    session = create_session(cw.world, cw.ocl)
    assert session_store(services).clock() > now_epoch()
    assert authorize(cw.world, session["authorize_url"]).status_code == 400


def test_given_two_browsers_racing_on_one_session_when_both_open_authorize_then_only_one_is_redirected(cw):
    from concurrent.futures import ThreadPoolExecutor

    session = create_session(cw.world, cw.ocl)
    path = urlsplit(session["authorize_url"])
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(
            pool.map(lambda _: cw.world.request("GET", f"{path.path}?{path.query}").status_code, range(4))
        )
    assert sorted(statuses) == [302, 400, 400, 400]


def test_given_a_flow_when_the_browser_comes_back_then_the_callback_result_is_delivered_once(cw):
    session = create_session(cw.world, cw.ocl, return_to=RETURN_TO)
    google = provider_redirect(cw.world, session["authorize_url"])
    back = cw.fake.complete_consent(google)
    assert callback(cw.world, back).status_code == 200
    assert callback(cw.world, back).status_code == 400
    assert len(cw.connection_items()) == 1


def test_given_an_api_key_acting_for_a_user_when_it_creates_the_session_then_the_connection_is_that_users(
    cw,
):
    key = cw.world.request(
        "POST", "/v1/api-keys", token=cw.world.token("acme", "root", admin=True), json_body={"name": "be"}
    )
    resp = cw.world.request(
        "POST",
        "/v1/connect-sessions",
        token=key.json["key"],
        headers={"X-On-Behalf-Of": "user-42"},
        json_body={"provider": "google-mail", "oauth_client_id": cw.ocl, "return_to": RETURN_TO},
    )
    assert resp.status_code == 201, resp.json
    back = cw.fake.complete_consent(provider_redirect(cw.world, resp.json["authorize_url"]))
    message, _ = posted_message(callback(cw.world, back).get_data(as_text=True))
    assert cw.world.services.connections.get(message["connection_id"]).owner == "user-42"
    mine = cw.world.request("GET", "/v1/connections", token=cw.world.token("acme", "user-42"))
    assert [c["id"] for c in mine.json["data"]] == [message["connection_id"]]


def test_given_the_oauth_client_was_deleted_during_the_flow_when_the_callback_runs_then_a_clear_result(cw):
    session = create_session(cw.world, cw.ocl, mode="redirect", return_to=RETURN_TO)
    back = cw.fake.complete_consent(provider_redirect(cw.world, session["authorize_url"]))
    assert (
        cw.world.request(
            "DELETE", f"/v1/oauth-clients/{cw.ocl}", token=cw.world.token("acme", "root", admin=True)
        ).status_code
        == 204
    )
    resp = callback(cw.world, back)
    assert resp.status_code == 303 and resp.headers["Location"] == RETURN_TO + "?error=oauth_client_not_found"
    assert cw.connection_items() == []


def test_given_the_authorize_step_when_it_runs_then_it_makes_no_kms_call(cw):
    # The authorize function's role has no KMS permission at all (template.yaml).
    session = create_session(cw.world, cw.ocl)
    kms_calls: list[str] = []
    cw.world.aws.kms.meta.events.register("before-call.*", lambda model, **_: kms_calls.append(model.name))
    assert authorize(cw.world, session["authorize_url"]).status_code == 302
    assert kms_calls == []
