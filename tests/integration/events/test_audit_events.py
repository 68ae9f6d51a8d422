"""Audit events (`audit.<action>`) are the operator's: on the bus, never at a tenant's webhook
(the template's webhook rule leaves them out; the webhook function skips one that arrives)."""

from __future__ import annotations

from oauth_broker.audit import Actor, audit_trail
from oauth_broker.events.webhooks import WebhookDelivery


def test_given_an_audited_admin_action_when_events_flow_then_the_tenants_webhook_receives_nothing(hooks):
    admin = hooks.world.token("acme", "root", admin=True)
    resp = hooks.world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "k"})
    assert resp.status_code == 201
    assert hooks.bridge.drain(10)
    assert hooks.receiver.attempts == 0


def test_given_an_audit_event_when_handed_to_the_webhook_function_then_it_is_skipped(hooks):
    record = audit_trail(hooks.world.services).record(
        tenant="acme",
        action="api_key.deleted",
        outcome="succeeded",
        actor=Actor("user", "root"),
        resource_type="api_key",
        resource_id="key_1",
    )
    detail = {"event_id": "evt_1", "type": "audit.api_key.deleted", "tenant": "acme", "audit": record}

    result = WebhookDelivery(hooks.world.services).deliver(
        {"detail-type": "audit.api_key.deleted", "detail": detail}
    )

    assert result.status == "skipped" and result.reason == "audit_event"
    assert hooks.receiver.attempts == 0
