"""The scope each Gmail and People method needs (Google's discovery documents) is enforced by the
proxy before anything leaves the broker, for every method of the table."""

from __future__ import annotations

import re
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from brokertest.proxy import ProxyWorld, build_proxy_world, problem
from brokertest.world import Aws
from oauth_broker.providers.scopes import MethodScopeTable, MethodTemplate
from oauth_broker.services import configure
from oauth_broker_dev.aws_local import bootstrap

GMAIL_SETS = {
    "readonly": ["gmail.readonly"],
    "send": ["gmail.send"],
    "full": ["mail.google.com"],
}
PEOPLE_SETS = {
    "contacts_readonly": ["contacts.readonly"],
    "contacts": ["contacts"],
}
TABLE = MethodScopeTable.load()


def concrete_path(template: MethodTemplate) -> str:
    """The template with `me` for the user / person and a plain id for every other parameter."""

    def value(match: re.Match[str]) -> str:
        name = match.group(2)
        if match.group(1):  # {+name}: one or more segments
            return "contactGroups/g1"
        return "me" if name in ("userId", "peopleId") else "x1"

    return re.sub(r"\{(\+?)([A-Za-z_][A-Za-z0-9_.]*)\}", value, template.path)


CASES = [
    pytest.param(template, set_name, id=f"{template.id}[{template.http_method} {template.path}]-{set_name}")
    for template in TABLE
    for set_name in (GMAIL_SETS if template.api == "gmail" else PEOPLE_SETS)
]


@pytest.fixture(scope="module")
def scoped(tmp_path_factory) -> Iterator[tuple[ProxyWorld, dict[str, object]]]:
    """One broker for the whole module, with one connection per scope set."""
    with mock_aws():
        region = "us-east-1"
        dynamodb, kms, events = (boto3.client(s, region_name=region) for s in ("dynamodb", "kms", "events"))
        resources = bootstrap(dynamodb, kms, events, table_name="broker-scopes", bus_name="broker-scopes")
        pw = build_proxy_world(Aws(dynamodb, kms, events, resources), tmp_path_factory.mktemp("scopes"))
        connections: dict[str, object] = {}
        for name, scopes in GMAIL_SETS.items():
            connections[name] = pw.connect(scopes)
        for name, scopes in PEOPLE_SETS.items():
            connections[name] = pw.connect(scopes, provider="google-contacts")
        try:
            yield pw, connections
        finally:
            configure(None)


@pytest.fixture(autouse=True)
def _this_worlds_services(scoped) -> None:
    configure(scoped[0].services)


def test_given_every_method_when_its_path_is_instantiated_then_it_matches_that_method():
    for template in TABLE:
        matched = TABLE.match(concrete_path(template), template.http_method, api=template.api)
        assert matched is not None and matched.id == template.id, (template.id, concrete_path(template))


@pytest.mark.parametrize(("template", "set_name"), CASES)
def test_given_a_scope_set_when_a_method_is_proxied_then_it_is_refused_exactly_when_no_needed_scope_granted(
    scoped, template, set_name
):
    pw, connections = scoped
    rec = connections[set_name]
    before = len(pw.api_requests())
    path = concrete_path(template)
    granted_a_needed_scope = bool(set(rec.scopes_granted) & template.scopes)

    resp = pw.proxy(rec, path, method=template.http_method)

    sent = pw.api_requests()[before:]
    if not granted_a_needed_scope:
        assert resp.status_code == 403, resp.get_data()[:300]
        body = problem(resp)
        assert body["code"] == "scope_not_granted"
        assert body["required_scopes"] == sorted(template.scopes) and body["method"] == template.id
        assert sent == []
    elif re.search(r"(^|/)people/me[^/]", path):
        # `people/me:deleteContact` and friends: allowed by scope, refused by the `people/me` rule
        assert resp.status_code == 403 and problem(resp)["code"] == "forbidden"
        assert sent == []
    else:
        assert not (
            resp.status_code in (400, 403) and resp.headers.get("Content-Type") == "application/problem+json"
        )
        assert [
            (r.method, r.path.split("/", 2)[-1] if template.api == "people" else r.path[1:]) for r in sent
        ] == [(template.http_method, path)]


def test_given_gmail_readonly_when_reading_and_writing_then_it_can_list_and_get_but_not_change_anything(
    scoped,
):
    pw, connections = scoped
    rec = connections["readonly"]
    message_id = pw.proxy(rec, "gmail/v1/users/me/messages?maxResults=1").get_json()["messages"][0]["id"]

    assert pw.proxy(rec, f"gmail/v1/users/me/messages/{message_id}").status_code == 200
    assert pw.proxy(rec, "gmail/v1/users/me/settings/sendAs").status_code == 200
    for method, path in [
        ("POST", "gmail/v1/users/me/messages/send"),
        ("POST", f"gmail/v1/users/me/messages/{message_id}/modify"),
        ("POST", f"gmail/v1/users/me/messages/{message_id}/trash"),
        ("DELETE", f"gmail/v1/users/me/messages/{message_id}"),
        ("PUT", "gmail/v1/users/me/settings/vacation"),
        ("POST", "gmail/v1/users/me/settings/filters"),
    ]:
        resp = pw.proxy(rec, path, method=method, json_body={})
        assert resp.status_code == 403 and problem(resp)["code"] == "scope_not_granted", (method, path)


def test_given_gmail_send_alone_when_calling_gmail_then_it_can_send_and_nothing_else(scoped):
    pw, connections = scoped
    rec = connections["send"]
    raw = "VG86IGJvYkBleGFtcGxlLmNvbQ0KU3ViamVjdDogaGkNCg0KaGVsbG8NCg"  # "To: bob@...\r\nSubject: hi..."

    sent = pw.proxy(rec, "gmail/v1/users/me/messages/send", method="POST", json_body={"raw": raw})

    assert sent.status_code == 200 and sent.get_json()["labelIds"] == ["SENT"]
    for method, path in [
        ("GET", "gmail/v1/users/me/messages"),
        ("GET", "gmail/v1/users/me/profile"),
        ("GET", "gmail/v1/users/me/labels"),
        ("POST", "gmail/v1/users/me/drafts"),
    ]:
        resp = pw.proxy(rec, path, method=method)
        assert resp.status_code == 403 and problem(resp)["code"] == "scope_not_granted", (method, path)


def test_given_full_mail_access_when_calling_gmail_then_every_mailbox_method_is_allowed_but_settings_writes(
    scoped,
):
    """https://mail.google.com/ authorizes every message, thread, draft, label and history method;
    Google's discovery documents require gmail.settings.basic/sharing for settings writes."""
    pw, connections = scoped
    rec = connections["full"]
    refused = sorted(t.id for t in TABLE if t.api == "gmail" and "https://mail.google.com/" not in t.scopes)

    assert refused and all(method.startswith("gmail.users.settings.") for method in refused)
    vacation = pw.proxy(rec, "gmail/v1/users/me/settings/vacation", method="PUT", json_body={})
    assert vacation.status_code == 403 and problem(vacation)["code"] == "scope_not_granted"
    message_id = pw.proxy(rec, "gmail/v1/users/me/messages?maxResults=1").get_json()["messages"][0]["id"]
    assert (
        pw.proxy(
            rec,
            f"gmail/v1/users/me/messages/{message_id}/modify",
            method="POST",
            json_body={"addLabelIds": ["STARRED"]},
        ).status_code
        == 200
    )
    assert pw.proxy(rec, f"gmail/v1/users/me/messages/{message_id}", method="DELETE").status_code == 204
