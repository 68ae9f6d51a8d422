"""Granted scopes against requested ones: which are missing, and the status that follows."""

from __future__ import annotations

import pytest

from oauth_broker.connect.scopes import scope_outcome
from oauth_broker.providers.catalog import ProviderCatalog, ProviderDefinition
from oauth_broker.store.models import ConnectionStatus

AUTH = "https://www.googleapis.com/auth/"
READONLY, SEND = AUTH + "gmail.readonly", AUTH + "gmail.send"


@pytest.fixture(scope="module")
def gmail() -> ProviderDefinition:
    return ProviderCatalog.load().get("google-mail")


def requested(gmail: ProviderDefinition, *short: str) -> list[str]:
    return gmail.normalize_scopes(short)


def test_given_every_requested_scope_granted_when_compared_then_the_connection_is_active(gmail):
    wanted = requested(gmail, "gmail.readonly", "gmail.send")
    granted = f"openid {AUTH}userinfo.email {AUTH}userinfo.profile {READONLY} {SEND}"
    outcome = scope_outcome(gmail, wanted, granted)
    assert outcome.missing == ()
    assert outcome.status is ConnectionStatus.ACTIVE and outcome.status_reason is None


def test_given_google_answers_email_and_profile_by_their_full_urls_when_compared_then_nothing_is_missing(
    gmail,
):
    outcome = scope_outcome(
        gmail, ["openid", "email", "profile"], f"{AUTH}userinfo.email openid {AUTH}userinfo.profile"
    )
    assert outcome.missing == ()


def test_given_the_user_unticked_one_scope_when_compared_then_it_is_named_missing_and_the_status_is_partial(
    gmail,
):
    wanted = requested(gmail, "gmail.readonly", "gmail.send")
    outcome = scope_outcome(gmail, wanted, f"openid {AUTH}userinfo.email {AUTH}userinfo.profile {READONLY}")
    assert outcome.missing == (SEND,)
    assert outcome.status is ConnectionStatus.PARTIAL
    assert outcome.status_reason == "scopes_not_granted"


def test_given_a_broader_scope_granted_when_compared_then_it_does_not_stand_in_for_a_narrower_one(gmail):
    wanted = requested(gmail, "gmail.readonly")
    outcome = scope_outcome(gmail, wanted, "openid email profile https://mail.google.com/")
    assert outcome.missing == (READONLY,)


def test_given_a_token_response_without_scope_when_compared_then_everything_requested_counts_as_granted(
    gmail,
):
    wanted = requested(gmail, "gmail.send")
    outcome = scope_outcome(gmail, wanted, None)
    assert outcome.missing == () and set(outcome.granted) == set(wanted)


def test_given_include_granted_scopes_when_more_is_granted_than_asked_then_the_extra_scopes_are_not_credited(
    gmail,
):
    wanted = requested(gmail, "gmail.send")
    outcome = scope_outcome(gmail, wanted, f"openid email profile {SEND} {READONLY}")
    assert outcome.missing == ()
    assert outcome.granted == ("openid", "email", "profile", SEND)
    assert outcome.uncredited == (READONLY,)


def test_given_only_email_requested_when_an_earlier_gmail_grant_comes_along_then_only_identity_is_credited(
    gmail,
):
    wanted = requested(gmail, "email")
    granted = f"{AUTH}userinfo.email openid {AUTH}userinfo.profile {READONLY} https://mail.google.com/"
    outcome = scope_outcome(gmail, wanted, granted)
    assert outcome.granted == (f"{AUTH}userinfo.email", "openid", f"{AUTH}userinfo.profile")
    assert outcome.uncredited == (READONLY, "https://mail.google.com/")
    assert outcome.status is ConnectionStatus.ACTIVE
    assert not gmail.grants_any(outcome.granted, [READONLY, "https://mail.google.com/"])


def test_given_identity_scopes_not_in_the_request_when_granted_then_they_are_still_credited(gmail):
    outcome = scope_outcome(gmail, [SEND], f"openid {AUTH}userinfo.email {AUTH}userinfo.profile {SEND}")
    assert outcome.granted == ("openid", f"{AUTH}userinfo.email", f"{AUTH}userinfo.profile", SEND)
    assert outcome.uncredited == ()


def test_given_contacts_readonly_requested_when_full_contacts_was_granted_before_then_it_is_not_credited():
    contacts = ProviderCatalog.load().get("google-contacts")
    wanted = contacts.normalize_scopes(["contacts.readonly"], include_base=False)
    outcome = scope_outcome(contacts, wanted, f"{AUTH}contacts.readonly {AUTH}contacts {AUTH}userinfo.email")
    assert outcome.granted == (f"{AUTH}contacts.readonly", f"{AUTH}userinfo.email")
    assert outcome.uncredited == (f"{AUTH}contacts",)
