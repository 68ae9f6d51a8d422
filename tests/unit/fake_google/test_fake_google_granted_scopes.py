"""The fake remembers what each account granted each OAuth client, as Google does: with
`include_granted_scopes=true` a new grant carries every scope of the earlier ones (in the redirect's
`scope`, the token response and every refresh), and the authorization responses carry `iss`."""

from __future__ import annotations

import httpx
import pytest

from oauth_broker_dev.fake_google import FakeGoogle, FakeGoogleConfig
from oauth_broker_dev.fake_google.scopes import (
    CONTACTS_READONLY,
    GMAIL_READONLY,
    USERINFO_EMAIL,
    USERINFO_PROFILE,
)
from oauth_broker_dev.fake_google.testing import OAuthFlow, query_of

from .conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI

ALICE = "alice@example.com"
BOB = "bob@example.com"
BASIC = ["openid", "email", "profile"]
OTHER_CLIENT, OTHER_SECRET = "other-client.apps.googleusercontent.com", "other-secret"


@pytest.fixture
def config() -> FakeGoogleConfig:
    return FakeGoogleConfig(clients={CLIENT_ID: CLIENT_SECRET, OTHER_CLIENT: OTHER_SECRET})


@pytest.fixture
def other_flow(client: httpx.Client) -> OAuthFlow:
    return OAuthFlow(client, OTHER_CLIENT, OTHER_SECRET, REDIRECT_URI)


def scopes_of(value: str) -> set[str]:
    return set(value.split())


def test_given_an_earlier_gmail_grant_when_email_is_authorized_including_granted_scopes_then_all_carry_it(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    flow.tokens([*BASIC, GMAIL_READONLY], ALICE)

    redirect = flow.authorize(["openid", "email"], ALICE, include_granted_scopes="true")
    tokens = flow.exchange(redirect["code"]).json()
    refreshed = flow.refresh(tokens["refresh_token"]).json()

    assert GMAIL_READONLY in scopes_of(redirect["scope"])
    assert scopes_of(tokens["scope"]) == {"openid", USERINFO_EMAIL, USERINFO_PROFILE, GMAIL_READONLY}
    assert GMAIL_READONLY in scopes_of(refreshed["scope"])
    assert GMAIL_READONLY in fake.token_info(tokens["access_token"])["scopes"]
    assert set(fake.granted_scopes(ALICE, CLIENT_ID)) == {
        "openid",
        USERINFO_EMAIL,
        USERINFO_PROFILE,
        GMAIL_READONLY,
    }


def test_given_earlier_grants_accumulate_when_authorizing_again_then_the_union_of_all_is_granted(
    flow: OAuthFlow,
) -> None:
    flow.tokens([*BASIC, GMAIL_READONLY], ALICE)
    flow.tokens([*BASIC, CONTACTS_READONLY], ALICE)

    redirect = flow.authorize(["openid"], ALICE, include_granted_scopes="true")

    assert {GMAIL_READONLY, CONTACTS_READONLY} <= scopes_of(flow.exchange(redirect["code"]).json()["scope"])


def test_given_a_grant_to_another_client_when_authorizing_this_one_then_it_is_not_carried(
    fake: FakeGoogle, flow: OAuthFlow, other_flow: OAuthFlow
) -> None:
    other_flow.tokens([*BASIC, GMAIL_READONLY], ALICE)

    redirect = flow.authorize(BASIC, ALICE, include_granted_scopes="true")

    assert GMAIL_READONLY not in scopes_of(flow.exchange(redirect["code"]).json()["scope"])
    assert GMAIL_READONLY in fake.granted_scopes(ALICE, OTHER_CLIENT)
    assert GMAIL_READONLY not in fake.granted_scopes(ALICE, CLIENT_ID)


def test_given_a_grant_of_another_account_when_this_account_authorizes_then_it_is_not_carried(
    flow: OAuthFlow,
) -> None:
    flow.tokens([*BASIC, GMAIL_READONLY], BOB)

    redirect = flow.authorize(BASIC, ALICE, include_granted_scopes="true")

    assert GMAIL_READONLY not in scopes_of(flow.exchange(redirect["code"]).json()["scope"])


def test_given_the_user_removed_the_app_when_authorizing_again_then_the_old_grant_is_forgotten(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    flow.tokens([*BASIC, GMAIL_READONLY], ALICE)
    fake.revoke_all_for(ALICE)

    redirect = flow.authorize(BASIC, ALICE, include_granted_scopes="true")

    assert GMAIL_READONLY not in scopes_of(flow.exchange(redirect["code"]).json()["scope"])


def test_given_a_grant_made_by_issue_tokens_when_authorizing_including_granted_scopes_then_it_is_carried(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    fake.issue_tokens(ALICE, [*BASIC, GMAIL_READONLY], CLIENT_ID)

    redirect = flow.authorize(["email"], ALICE, include_granted_scopes="true")

    assert GMAIL_READONLY in scopes_of(flow.exchange(redirect["code"]).json()["scope"])


def test_given_any_authorization_response_when_redirected_then_it_carries_the_issuer(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    allowed = flow.authorize(BASIC, ALICE)
    denied = flow.authorize(BASIC, ALICE, action="cancel")
    silent = flow.client.get("/o/oauth2/v2/auth", params=flow.params(BASIC, prompt="none", login_hint=BOB))

    refused = query_of(silent.headers["location"])
    assert refused["error"] == "interaction_required"
    assert allowed["iss"] == denied["iss"] == refused["iss"] == fake.issuer
    assert "code" in allowed and denied["error"] == "access_denied"
