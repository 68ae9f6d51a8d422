"""Reading a verified token's events (oauth_broker.risc.events.parse_events): each known event type
needs its subject (an account for most, a refresh-token identifier for token-revoked), checked
before the event is claimed; unknown types pass through to be logged and ignored."""

from __future__ import annotations

from typing import Any

import pytest

from brokertest.risc import EVENT, iss_sub, oauth_token
from oauth_broker.risc.events import parse_events
from oauth_broker.risc.verify import SecurityEventRefused, SecurityEventToken


def token_with(uri: str, event: dict[str, Any]) -> SecurityEventToken:
    return SecurityEventToken(
        jti="j", issuer="https://risc.test/", audience="c", issued_at=0, events={uri: event}
    )


def test_given_account_disabled_for_hijacking_when_parsed_then_its_account_and_reason_are_kept():
    (event,) = parse_events(
        token_with(EVENT["account-disabled"], {"subject": iss_sub("sub-1"), "reason": "hijacking"})
    )

    assert (event.name, event.sub, event.reason, event.token) == (
        "account-disabled",
        "sub-1",
        "hijacking",
        None,
    )


@pytest.mark.parametrize("subject_type", ["iss-sub", "iss_sub", "id_token_claims"])
def test_given_an_account_subject_of_each_spelling_when_parsed_then_its_sub_names_the_account(subject_type):
    subject = {"subject_type": subject_type, "iss": "https://risc.test/", "sub": "sub-2"}

    (event,) = parse_events(token_with(EVENT["tokens-revoked"], {"subject": subject}))

    assert event.sub == "sub-2"


def test_given_token_revoked_when_parsed_then_the_identifier_is_kept_and_never_shown_in_its_repr():
    (event,) = parse_events(
        token_with(EVENT["token-revoked"], {"subject": oauth_token("prefix", "1//0abcdefghijkl")})
    )

    assert event.token is not None and (event.token.alg, event.token.value) == ("prefix", "1//0abcdefghijkl")
    assert "1//0abcdefghijkl" not in repr(event)


@pytest.mark.parametrize(
    ("event_type", "subject"),
    [
        ("tokens-revoked", None),
        ("tokens-revoked", {"subject_type": "email", "email": "a@example.com"}),
        ("account-purged", {"subject_type": "iss_sub", "iss": "https://risc.test/", "sub": ""}),
        ("token-revoked", iss_sub("sub-1")),
        ("token-revoked", {**oauth_token("prefix", "x"), "token_type": "access_token"}),
        ("token-revoked", oauth_token("md5", "x")),
        ("token-revoked", oauth_token("prefix", "")),
    ],
)
def test_given_a_known_event_without_the_subject_it_needs_when_parsed_then_refused(event_type, subject):
    event = {} if subject is None else {"subject": subject}

    with pytest.raises(SecurityEventRefused) as caught:
        parse_events(token_with(EVENT[event_type], event))
    assert caught.value.reason == "subject"


def test_given_an_unknown_event_type_when_parsed_then_it_passes_without_a_name_to_be_ignored():
    (event,) = parse_events(token_with("https://schemas.openid.net/secevent/risc/event-type/new-thing", {}))

    assert event.name is None


def test_given_a_verification_event_when_parsed_then_its_state_is_kept_for_the_log():
    (event,) = parse_events(token_with(EVENT["verification"], {"state": "s-1"}))

    assert (event.name, event.state) == ("verification", "s-1")
