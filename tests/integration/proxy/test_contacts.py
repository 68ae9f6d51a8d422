"""GET /v1/connections/{id}/contacts: the account's People API connections, paginated."""

from __future__ import annotations

from brokertest.proxy import ALICE, problem


def contacts(pw, rec, **query):
    return pw.call("GET", f"/v1/connections/{rec.id}/contacts", query_string=query)


def test_given_a_contacts_connection_when_listed_then_names_emails_and_phones_come_back(pw):
    rec = pw.connect(["contacts.readonly"], provider="google-contacts")
    stored = pw.fake.contacts[ALICE]

    resp = contacts(pw, rec, limit=100)

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["next_cursor"] is None
    assert body["data"] == [
        {"resource_name": c.resource_name, "name": c.display_name, "emails": c.emails, "phones": c.phones}
        for c in stored
    ]
    assert any(c["emails"] for c in body["data"]) and any(c["phones"] for c in body["data"])
    (seen,) = pw.api_requests()
    assert seen.path == "/people/v1/people/me/connections"
    assert seen.query["personFields"] == ["names,emailAddresses,phoneNumbers"]


def test_given_a_limit_when_paging_with_the_cursor_then_every_contact_comes_once(pw):
    rec = pw.connect(["contacts.readonly"], provider="google-contacts")
    total = len(pw.fake.contacts[ALICE])
    assert total >= 3

    seen: list[str] = []
    cursor = None
    for _ in range(total + 1):
        page = contacts(pw, rec, limit=2, **({"cursor": cursor} if cursor else {})).get_json()
        assert len(page["data"]) <= 2
        seen += [c["resource_name"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == total and len(set(seen)) == total


def test_given_a_limit_outside_1_to_100_when_listed_then_it_is_422(pw):
    rec = pw.connect(["contacts.readonly"], provider="google-contacts")

    assert problem(contacts(pw, rec, limit=0))["code"] == "validation_error"
    assert problem(contacts(pw, rec, limit=101))["code"] == "validation_error"


def test_given_a_connection_without_a_contacts_scope_when_listed_then_it_is_403_scope_not_granted(pw):
    rec = pw.connect(["contacts.other.readonly"], provider="google-contacts")

    resp = contacts(pw, rec)

    assert resp.status_code == 403 and problem(resp)["code"] == "scope_not_granted"
    assert pw.api_requests() == []


def test_given_a_gmail_connection_when_contacts_are_listed_then_it_is_400_provider_mismatch(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = contacts(pw, rec)

    assert resp.status_code == 400 and problem(resp)["code"] == "provider_mismatch"


def test_given_another_users_connection_when_contacts_are_listed_then_it_is_404(pw):
    rec = pw.connect(["contacts.readonly"], provider="google-contacts", owner="alice")

    resp = pw.call("GET", f"/v1/connections/{rec.id}/contacts", user="bob")

    assert resp.status_code == 404 and problem(resp)["code"] == "not_found"
