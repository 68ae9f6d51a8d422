"""The fake's People API subset: people/me and the connections list."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from oauth_broker_dev.fake_google.scopes import CONTACTS_READONLY, GMAIL_READONLY, USERINFO_PROFILE

ALICE = "alice@example.com"
Bearer = Callable[..., dict[str, str]]
CONNECTIONS = "/people/v1/people/me/connections"


def test_given_contacts_readonly_when_listing_connections_then_names_emails_and_phones_come_back(
    client: httpx.Client, bearer: Bearer
) -> None:
    response = client.get(
        CONNECTIONS,
        headers=bearer(ALICE, (CONTACTS_READONLY,)),
        params={"personFields": "names,emailAddresses,phoneNumbers"},
    )

    body = response.json()
    assert response.status_code == 200
    assert body["totalPeople"] == len(body["connections"]) == 5
    first = body["connections"][0]
    assert first["resourceName"].startswith("people/c")
    assert first["etag"]
    assert first["names"][0]["displayName"] == "José Álvarez"
    assert first["emailAddresses"][0]["value"] == "jose.alvarez@example.org"
    assert first["phoneNumbers"][0]["value"] == "+34 612 345 678"
    assert "bob@example.com" in [p["emailAddresses"][0]["value"] for p in body["connections"]]


def test_given_a_page_size_when_paging_connections_then_every_contact_is_seen_once(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer(ALICE, (CONTACTS_READONLY,))
    names: list[str] = []
    params = {"personFields": "names", "pageSize": "2"}
    while True:
        body = client.get(CONNECTIONS, headers=headers, params=params).json()
        names += [p["names"][0]["displayName"] for p in body["connections"]]
        if "nextPageToken" not in body:
            break
        params["pageToken"] = body["nextPageToken"]

    assert len(names) == len(set(names)) == 5


def test_given_only_names_requested_when_listing_then_other_fields_are_absent(
    client: httpx.Client, bearer: Bearer
) -> None:
    body = client.get(
        CONNECTIONS, headers=bearer(ALICE, (CONTACTS_READONLY,)), params={"personFields": "names"}
    ).json()

    assert all(set(p) == {"resourceName", "etag", "names"} for p in body["connections"])


def test_given_no_person_fields_when_listing_then_400_invalid_argument(
    client: httpx.Client, bearer: Bearer
) -> None:
    response = client.get(CONNECTIONS, headers=bearer(ALICE, (CONTACTS_READONLY,)))

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "personFields mask is required" in response.json()["error"]["message"]


def test_given_a_gmail_only_token_when_listing_connections_then_403_insufficient_permissions(
    client: httpx.Client, bearer: Bearer
) -> None:
    response = client.get(
        CONNECTIONS, headers=bearer(ALICE, (GMAIL_READONLY,)), params={"personFields": "names"}
    )

    assert response.status_code == 403
    assert response.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


def test_given_the_profile_scope_when_reading_people_me_then_the_account_s_name_and_email(
    client: httpx.Client, bearer: Bearer
) -> None:
    response = client.get(
        "/people/v1/people/me",
        headers=bearer(ALICE, (USERINFO_PROFILE,)),
        params={"personFields": "names,emailAddresses"},
    )

    assert response.status_code == 200
    assert response.json()["names"][0]["displayName"] == "Alice Liddell"
    assert response.json()["emailAddresses"][0]["value"] == ALICE
