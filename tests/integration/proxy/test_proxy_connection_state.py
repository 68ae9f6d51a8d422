"""Who may use a connection through the proxy, and in which states it can call its provider."""

from __future__ import annotations

from brokertest.proxy import problem
from oauth_broker.store.models import ConnectionStatus

PROFILE = "gmail/v1/users/me/profile"


def test_given_the_owner_when_proxying_then_it_works(pw):
    rec = pw.connect(["gmail.readonly"], owner="alice")

    assert pw.proxy(rec, PROFILE, user="alice").status_code == 200


def test_given_another_user_of_the_tenant_when_proxying_then_the_connection_is_404(pw):
    rec = pw.connect(["gmail.readonly"], owner="alice")

    resp = pw.proxy(rec, PROFILE, user="bob")

    assert resp.status_code == 404 and problem(resp)["code"] == "not_found"
    assert pw.api_requests() == []


def test_given_a_tenant_admin_when_proxying_then_it_works_and_another_tenants_admin_gets_404(pw):
    rec = pw.connect(["gmail.readonly"], owner="alice", tenant="acme")

    assert pw.proxy(rec, PROFILE, user="root", admin=True, tenant="acme").status_code == 200
    resp = pw.proxy(rec, PROFILE, user="root", admin=True, tenant="globex")
    assert resp.status_code == 404 and problem(resp)["code"] == "not_found"


def test_given_an_unknown_or_malformed_connection_id_when_proxying_then_it_is_404(pw):
    assert problem(pw.proxy("con_0000", PROFILE))["code"] == "not_found"
    assert problem(pw.proxy("ocl_123", PROFILE))["code"] == "not_found"


def test_given_a_connection_that_needs_reauth_when_proxying_then_it_is_409_with_how_to_repair_it(pw):
    rec = pw.connect(["gmail.readonly"], status=ConnectionStatus.NEEDS_REAUTH)

    resp = pw.proxy(rec, PROFILE)

    assert resp.status_code == 409
    body = problem(resp)
    assert body["code"] == "needs_reauth" and body["connection_id"] == rec.id
    assert "connect-sessions" in body["hint"] and rec.id in body["hint"]
    assert pw.api_requests() == []


def test_given_a_connection_revoked_by_a_disabled_provider_when_proxying_then_it_is_403_provider_disabled(pw):
    rec = pw.connect(["gmail.readonly"], status=ConnectionStatus.REVOKED, status_reason="provider_disabled")

    resp = pw.proxy(rec, PROFILE)

    assert resp.status_code == 403 and problem(resp)["code"] == "provider_disabled"
    assert pw.api_requests() == []


def test_given_a_revoked_connection_when_proxying_then_it_is_404(pw):
    rec = pw.connect(["gmail.readonly"], status=ConnectionStatus.REVOKED, status_reason="revoked_by_user")

    resp = pw.proxy(rec, PROFILE)

    assert resp.status_code == 404 and problem(resp)["code"] == "not_found"
    assert pw.api_requests() == []


def test_given_a_partial_connection_when_proxying_a_granted_method_then_it_works(pw):
    rec = pw.connect(["gmail.readonly"], status=ConnectionStatus.PARTIAL)

    assert pw.proxy(rec, PROFILE).status_code == 200


def test_given_a_deleted_connection_when_proxying_then_it_is_404(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.services.connections.delete(rec.id)

    assert problem(pw.proxy(rec, PROFILE))["code"] == "not_found"
