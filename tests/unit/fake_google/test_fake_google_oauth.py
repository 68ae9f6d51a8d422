"""The fake's OAuth 2.0 / OIDC endpoints: consent, code exchange with PKCE, refresh, revocation,
ID tokens, discovery."""

from __future__ import annotations

import base64

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from oauth_broker_dev.fake_google import FakeGoogle, FakeGoogleConfig, create_app
from oauth_broker_dev.fake_google.scopes import (
    CONTACTS_READONLY,
    GMAIL_READONLY,
    GMAIL_SEND,
    USERINFO_EMAIL,
    USERINFO_PROFILE,
)
from oauth_broker_dev.fake_google.signing import SigningKeys
from oauth_broker_dev.fake_google.testing import OAuthFlow, query_of

ALICE = "alice@example.com"
BOB = "bob@example.com"
BASIC = ["openid", "email", "profile"]


def test_given_a_consent_when_the_code_is_exchanged_with_the_right_verifier_then_tokens_are_returned(
    flow: OAuthFlow,
) -> None:
    redirect = flow.authorize([*BASIC, GMAIL_READONLY], ALICE)

    response = flow.exchange(redirect["code"])

    assert response.status_code == 200
    body = response.json()
    assert body["access_token"].startswith("ya29.")
    assert body["refresh_token"].startswith("1//")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"openid", USERINFO_EMAIL, USERINFO_PROFILE, GMAIL_READONLY}
    assert "id_token" in body


def test_given_a_consent_when_the_code_is_exchanged_with_a_wrong_verifier_then_invalid_grant(
    flow: OAuthFlow,
) -> None:
    redirect = flow.authorize([*BASIC, GMAIL_READONLY], ALICE)

    response = flow.exchange(redirect["code"], code_verifier="x" * 64)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_given_an_exchanged_code_when_it_is_reused_then_invalid_grant(flow: OAuthFlow) -> None:
    redirect = flow.authorize(BASIC, ALICE)
    assert flow.exchange(redirect["code"]).status_code == 200

    second = flow.exchange(redirect["code"])

    assert second.status_code == 400
    assert second.json() == {"error": "invalid_grant", "error_description": "Bad Request"}


def test_given_a_code_older_than_sixty_seconds_when_exchanged_then_invalid_grant(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    redirect = flow.authorize(BASIC, ALICE)
    fake.advance_clock(61)

    response = flow.exchange(redirect["code"])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_given_a_code_when_exchanged_with_another_redirect_uri_then_redirect_uri_mismatch(
    flow: OAuthFlow,
) -> None:
    redirect = flow.authorize(BASIC, ALICE)

    response = flow.exchange(redirect["code"], redirect_uri="https://evil.test/cb")

    assert response.status_code == 400
    assert response.json()["error"] == "redirect_uri_mismatch"


def test_given_a_wrong_client_secret_when_exchanging_then_invalid_client_401(flow: OAuthFlow) -> None:
    redirect = flow.authorize(BASIC, ALICE)

    response = flow.exchange(redirect["code"], client_secret="wrong")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_given_client_secret_basic_when_exchanging_then_tokens_are_returned(flow: OAuthFlow) -> None:
    redirect = flow.authorize(BASIC, ALICE)
    basic = base64.b64encode(f"{flow.client_id}:{flow.client_secret}".encode()).decode()

    response = flow.client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": redirect["code"],
            "redirect_uri": flow.redirect_uri,
            "code_verifier": flow.verifier,
        },
        headers={"Authorization": f"Basic {basic}"},
    )

    assert response.status_code == 200
    assert "access_token" in response.json()


def test_given_a_missing_grant_type_value_when_posting_to_token_then_unsupported_grant_type(
    flow: OAuthFlow,
) -> None:
    response = flow.client.post(
        "/token",
        data={"grant_type": "password", "client_id": flow.client_id, "client_secret": flow.client_secret},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_given_online_access_when_the_code_is_exchanged_then_no_refresh_token(flow: OAuthFlow) -> None:
    redirect = flow.authorize(BASIC, ALICE, access_type="online")

    body = flow.exchange(redirect["code"]).json()

    assert "refresh_token" not in body


def test_given_no_rotation_when_refreshing_twice_then_the_same_refresh_token_keeps_working(
    flow: OAuthFlow,
) -> None:
    tokens = flow.tokens([*BASIC, GMAIL_READONLY], ALICE)

    first = flow.refresh(tokens["refresh_token"])
    second = flow.refresh(tokens["refresh_token"])

    assert first.status_code == second.status_code == 200
    assert "refresh_token" not in first.json()
    assert first.json()["access_token"] != tokens["access_token"]
    assert GMAIL_READONLY in first.json()["scope"].split()


def test_given_rotation_when_refreshing_then_a_new_refresh_token_replaces_the_old_one(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    fake.config.rotate_refresh_tokens = True
    tokens = flow.tokens([*BASIC, GMAIL_READONLY], ALICE)

    rotated = flow.refresh(tokens["refresh_token"])
    replay = flow.refresh(tokens["refresh_token"])
    again = flow.refresh(rotated.json()["refresh_token"])

    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != tokens["refresh_token"]
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert again.status_code == 200


def test_given_a_revoked_refresh_token_when_refreshing_then_invalid_grant_and_its_access_token_dies(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    tokens = flow.tokens([*BASIC, GMAIL_READONLY], ALICE)

    revoked = flow.client.post(
        "/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    )
    refresh = flow.refresh(tokens["refresh_token"])
    api = flow.client.get(
        "/gmail/v1/users/me/profile", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    assert revoked.status_code == 200
    assert refresh.status_code == 400
    assert refresh.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    assert api.status_code == 401
    assert [(r.token, r.token_type_hint, r.outcome) for r in fake.revocations] == [
        (tokens["refresh_token"], "refresh_token", "revoked")
    ]


def test_given_an_unknown_token_when_revoking_then_400_invalid_token_is_recorded(
    fake: FakeGoogle, client: httpx.Client
) -> None:
    response = client.post("/revoke", data={"token": "not-a-token"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_token"
    assert [r.outcome for r in fake.revocations] == ["invalid_token"]


def test_given_an_openid_consent_when_verifying_the_id_token_against_jwks_then_the_claims_are_google_s(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    redirect_params = flow.params([*BASIC, GMAIL_READONLY])
    _, request_id = flow.open_consent(redirect_params)
    assert request_id is not None
    location = flow.submit(request_id, BOB, [GMAIL_READONLY]).headers["location"]
    tokens = flow.exchange(query_of(location)["code"]).json()
    jwks = flow.client.get("/jwks").json()

    token = jwt.decode(tokens["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": fake.issuer},
        aud={"essential": True, "value": flow.client_id},
        nonce={"essential": True, "value": redirect_params["nonce"]},
    )
    registry.validate(token.claims)

    bob = fake.account(BOB)
    assert token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert token.claims["sub"] == bob.sub
    assert token.claims["email"] == BOB
    assert token.claims["email_verified"] is True
    assert token.claims["azp"] == flow.client_id
    assert token.claims["name"] == bob.name
    assert token.claims["exp"] > token.claims["iat"]


def test_given_a_custom_issuer_when_consenting_then_the_redirect_and_id_token_carry_it(
    signing_keys: SigningKeys,
) -> None:
    fake = FakeGoogle(
        FakeGoogleConfig(issuer="https://accounts.google.com", clients={"cid": "secret"}),
        signing_keys=signing_keys,
    )
    with fake.http_client() as client:
        flow = OAuthFlow(client, "cid", "secret", "https://app.test/cb")
        redirect = flow.authorize(BASIC, ALICE)
        tokens = flow.exchange(redirect["code"]).json()
        jwks = client.get("/jwks").json()

    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(jwks)).claims
    assert redirect["iss"] == "https://accounts.google.com"
    assert claims["iss"] == "https://accounts.google.com"


def test_given_the_user_unticks_a_scope_when_allowing_then_it_is_missing_from_the_granted_scope(
    flow: OAuthFlow,
) -> None:
    redirect = flow.authorize([*BASIC, GMAIL_READONLY, GMAIL_SEND], ALICE, ticked=[GMAIL_READONLY])
    tokens = flow.exchange(redirect["code"]).json()

    assert GMAIL_SEND not in redirect["scope"].split()
    assert GMAIL_READONLY in redirect["scope"].split()
    assert GMAIL_SEND not in tokens["scope"].split()
    assert {"openid", USERINFO_EMAIL, USERINFO_PROFILE} <= set(tokens["scope"].split())


def test_given_the_consent_page_when_rendered_then_it_lists_accounts_and_ticked_scopes(
    flow: OAuthFlow,
) -> None:
    page, _ = flow.open_consent(flow.params([*BASIC, CONTACTS_READONLY], login_hint=BOB))

    html = page.text
    assert f'name="account" id="account-1" value="{BOB}"\n           checked' in html
    assert f'value="{CONTACTS_READONLY}" checked' in html
    assert 'value="openid" checked\n           disabled' in html
    assert 'id="allow"' in html and 'id="cancel"' in html


def test_given_the_consent_page_when_the_user_cancels_then_access_denied_with_state(flow: OAuthFlow) -> None:
    params = flow.params([*BASIC, GMAIL_READONLY])
    _, request_id = flow.open_consent(params)
    assert request_id is not None

    response = flow.submit(request_id, ALICE, [], action="cancel")

    redirect = query_of(response.headers["location"])
    assert response.status_code == 302
    assert redirect["error"] == "access_denied"
    assert redirect["state"] == params["state"]
    assert "code" not in redirect


def test_given_no_prior_grant_when_prompt_is_none_then_interaction_required(flow: OAuthFlow) -> None:
    params = flow.params([*BASIC, GMAIL_READONLY], prompt="none")

    response = flow.client.get("/o/oauth2/v2/auth", params=params)

    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "interaction_required"


def test_given_a_prior_grant_when_prompt_is_none_then_a_code_comes_back_without_a_page(
    flow: OAuthFlow,
) -> None:
    flow.authorize([*BASIC, GMAIL_READONLY], ALICE)

    response = flow.client.get(
        "/o/oauth2/v2/auth", params=flow.params([*BASIC, GMAIL_READONLY], prompt="none", login_hint=ALICE)
    )

    assert response.status_code == 302
    assert "code" in query_of(response.headers["location"])


def test_given_a_prior_grant_when_include_granted_scopes_then_old_and_new_scopes_are_granted(
    flow: OAuthFlow,
) -> None:
    flow.tokens([*BASIC, GMAIL_READONLY], ALICE)

    redirect = flow.authorize([*BASIC, CONTACTS_READONLY], ALICE, include_granted_scopes="true")
    tokens = flow.exchange(redirect["code"]).json()

    assert {GMAIL_READONLY, CONTACTS_READONLY} <= set(tokens["scope"].split())


def test_given_a_prior_grant_when_not_including_granted_scopes_then_only_new_scopes_are_granted(
    flow: OAuthFlow,
) -> None:
    flow.tokens([*BASIC, GMAIL_READONLY], ALICE)

    redirect = flow.authorize([*BASIC, CONTACTS_READONLY], ALICE)
    tokens = flow.exchange(redirect["code"]).json()

    assert GMAIL_READONLY not in tokens["scope"].split()


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "https://www.googleapis.com/auth/nope"}, "invalid_scope"),
        ({"state": ""}, "invalid_request"),
    ],
)
def test_given_an_invalid_authorization_request_when_opened_then_the_error_is_redirected(
    flow: OAuthFlow, override: dict[str, str], error: str
) -> None:
    params = flow.params([*BASIC, GMAIL_READONLY])
    params.update(override)

    response = flow.client.get("/o/oauth2/v2/auth", params=params)

    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == error


def test_given_an_unknown_client_when_opening_the_consent_page_then_a_401_error_page(flow: OAuthFlow) -> None:
    params = flow.params(BASIC, client_id="unknown.apps.googleusercontent.com")

    response = flow.client.get("/o/oauth2/v2/auth", params=params)

    assert response.status_code == 401
    assert "invalid_client" in response.text


def test_given_accept_any_client_when_an_unknown_client_consents_then_its_code_exchanges(
    signing_keys: SigningKeys,
) -> None:
    fake = FakeGoogle(FakeGoogleConfig(accept_any_client=True), signing_keys=signing_keys)
    with fake.http_client() as client:
        flow = OAuthFlow(
            client, "whatever.apps.googleusercontent.com", "any-secret", "http://127.0.0.1:3000/cb"
        )
        tokens = flow.tokens(BASIC, ALICE)

    assert tokens["token_type"] == "Bearer"


def test_given_a_mounted_app_when_reading_discovery_then_every_url_is_under_the_configured_base_url() -> None:
    base = "http://127.0.0.1:3000/fake-google"
    app = create_app(FakeGoogleConfig(base_url=base))
    mounted = DispatcherMiddleware(NotFound(), {"/fake-google": app})

    with httpx.Client(transport=httpx.WSGITransport(app=mounted), base_url="http://127.0.0.1:3000") as client:
        discovery = client.get("/fake-google/.well-known/openid-configuration").json()
        jwks = client.get("/fake-google/jwks")

    assert discovery["issuer"] == base
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "jwks_uri",
    ):
        assert discovery[key].startswith(base + "/")
    assert discovery["jwks_uri"] == base + "/jwks"
    assert jwks.status_code == 200
    assert isinstance(app.extensions["fake_google"], FakeGoogle)


def test_given_a_mounted_app_when_the_consent_page_renders_then_the_form_posts_under_the_prefix() -> None:
    app = create_app(FakeGoogleConfig(base_url="http://127.0.0.1:3000/fake-google", accept_any_client=True))
    mounted = DispatcherMiddleware(NotFound(), {"/fake-google": app})

    with httpx.Client(transport=httpx.WSGITransport(app=mounted), base_url="http://127.0.0.1:3000") as client:
        flow = OAuthFlow(client, "cid", "secret", "http://127.0.0.1:3000/cb")
        page = client.get("/fake-google/o/oauth2/v2/auth", params=flow.params(BASIC))

    assert 'action="/fake-google/o/oauth2/v2/auth"' in page.text


def test_given_an_access_token_with_email_and_profile_when_calling_userinfo_then_the_account_is_returned(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    tokens = flow.tokens(BASIC, BOB)

    response = flow.client.get("/v1/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})

    assert response.status_code == 200
    assert response.json()["email"] == BOB
    assert response.json()["sub"] == fake.account(BOB).sub


def test_given_complete_consent_when_used_without_a_browser_then_the_redirect_carries_a_code(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    params = flow.params([*BASIC, GMAIL_READONLY])
    url = str(httpx.URL(fake.url("/o/oauth2/v2/auth"), params=params))

    location = fake.complete_consent(url, account=BOB, scopes=[GMAIL_READONLY])

    redirect = query_of(location)
    assert redirect["state"] == params["state"]
    assert flow.exchange(redirect["code"]).status_code == 200
