"""Through the gateway: a proxied path never leaves the provider's API, and Google's delegated-access
rule (`users/me`, `people/me`) holds, before anything reaches Google."""

from __future__ import annotations

import pytest

from brokertest.proxy import problem


@pytest.mark.parametrize(
    "path",
    [
        "gmail/v1/users/me/../../../oauth2/v1/tokeninfo",
        "gmail/v1/users/me/./messages",
        "gmail/v1/users/me/%2e%2e/%2e%2e/x",
        "gmail/v1/users/me/%2E%2E/x",
        "gmail/v1/users/me%2fmessages",
        "gmail/v1/users/me%2Fmessages",
        "gmail/v1/users/me%5cmessages",
        "gmail/v1/users/me/messages/%252e%252e/x",
        "gmail/v1/users/me/messages/%252fx",
        "gmail\\v1\\users\\me\\profile",
        "gmail/v1/users/me/messages;jsessionid=1",
        "@evil.example.com/gmail/v1/users/me/profile",
        "gmail@evil.example.com/v1/users/me/profile",
        "%40evil.example.com/gmail/v1/users/me/profile",
        "https://evil.example.com/gmail/v1/users/me/profile",
        "https:%2F%2Fevil.example.com/x",
        "/evil.example.com/gmail/v1/users/me/profile",
        "//evil.example.com/gmail/v1/users/me/profile",
        "gmail/v1//users/me/profile",
        "gmail/v1/users/me/profile%00",
        "batch/gmail/v1",
        "oauth2/v3/userinfo",
        "evil.example.com/gmail/v1/users/me/profile",
    ],
)
def test_given_a_path_that_could_leave_the_api_when_proxied_then_it_is_400_invalid_path_and_nothing_is_sent(
    pw, path
):
    rec = pw.connect(["mail.google.com"])

    resp = pw.proxy(rec, path)

    assert resp.status_code == 400, resp.get_data()[:300]
    assert problem(resp)["code"] == "invalid_path"
    assert pw.api_requests() == []


@pytest.mark.parametrize(
    "path",
    [
        "gmail/v1/users/me/messages/m1%3F",
        "gmail/v1/users/me/messages/m1%3fformat=raw",
        "gmail/v1/users/me/messages/m1%23",
        "gmail/v1/users/me/messages%3F/m1",
        "gmail/v1/users/me/messages/m1%253F",
        "gmail/v1/users/me/messages/m1%2523",
        "gmail/v1/users/me/messages/m1%25253F",
        "gmail/v1/users/me/messages/m1%2525252523",
    ],
)
def test_given_an_encoded_question_mark_or_hash_in_the_path_when_proxied_then_it_is_400_and_nothing_is_sent(
    pw, path
):
    rec = pw.connect(["gmail.readonly"])

    resp = pw.proxy(rec, path)

    assert resp.status_code == 400, resp.get_data()[:300]
    assert problem(resp)["code"] == "invalid_path"
    assert pw.api_requests() == []
    # The same connection and method with a plain id do reach Google: the refusal is the path's.
    assert pw.proxy(rec, "gmail/v1/users/me/messages/m1").status_code != 400
    assert [r.path for r in pw.api_requests()] == ["/gmail/v1/users/me/messages/m1"]


def test_given_another_users_mailbox_when_proxied_then_it_is_403_forbidden_and_nothing_is_sent(pw):
    rec = pw.connect(["mail.google.com"])

    resp = pw.proxy(rec, "gmail/v1/users/bob@example.com/messages")

    assert resp.status_code == 403
    body = problem(resp)
    assert body["code"] == "forbidden" and "must be 'me'" in body["detail"]
    assert pw.api_requests() == []


def test_given_the_accounts_own_address_instead_of_me_when_proxied_then_it_is_refused_too(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = pw.proxy(rec, "gmail/v1/users/alice@example.com/profile")

    assert resp.status_code == 403 and problem(resp)["code"] == "forbidden"
    assert pw.api_requests() == []


def test_given_a_people_resource_other_than_me_when_proxied_then_it_is_403_forbidden(pw):
    rec = pw.connect(["contacts.readonly"], provider="google-contacts")

    resp = pw.proxy(rec, "v1/people/109876543210987654321?personFields=names")

    assert resp.status_code == 403 and problem(resp)["code"] == "forbidden"
    assert pw.api_requests() == []


def test_given_a_path_that_is_no_method_of_the_api_when_proxied_then_it_is_400_unknown_method(pw):
    rec = pw.connect(["mail.google.com"])

    unknown_path = pw.proxy(rec, "gmail/v1/users/me/secrets")
    wrong_method = pw.proxy(rec, "gmail/v1/users/me/profile", method="PATCH")

    assert unknown_path.status_code == 400 and problem(unknown_path)["code"] == "unknown_method"
    assert wrong_method.status_code == 400 and problem(wrong_method)["code"] == "unknown_method"
    assert pw.api_requests() == []


def test_given_a_safe_path_and_query_when_proxied_then_google_gets_exactly_them(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = pw.proxy(rec, "gmail/v1/users/me/messages?maxResults=2&q=from%3Abob%40example.com&labelIds=INBOX")

    assert resp.status_code == 200
    (seen,) = pw.api_requests()
    assert seen.method == "GET" and seen.path == "/gmail/v1/users/me/messages"
    assert seen.query == {"maxResults": ["2"], "q": ["from:bob@example.com"], "labelIds": ["INBOX"]}


def test_given_a_people_call_when_proxied_then_it_goes_to_the_people_api_base(pw):
    rec = pw.connect(["contacts.readonly"], provider="google-contacts")

    resp = pw.proxy(rec, "v1/people/me/connections?personFields=names,emailAddresses&pageSize=1")

    assert resp.status_code == 200 and resp.get_json()["connections"]
    (seen,) = pw.api_requests()
    assert seen.path == "/people/v1/people/me/connections"
