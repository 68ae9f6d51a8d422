"""The ByProviderClient index: OAuth clients and connections under their client id at the provider.
Which tenants registered a client id, and the connections of one account through it, without a
scan: what shared-grant lookups and the provider's security events (an `aud` and a `sub`) need."""

from __future__ import annotations

from brokertest.connect import allow_return_origins, create_oauth_client, run_flow
from brokertest.google import CLIENT_ID, seed_connection, seed_oauth_client


def test_given_clients_of_two_tenants_when_looked_up_by_client_id_then_both_and_only_those(google_world):
    world, _ = google_world
    acme = seed_oauth_client(world, tenant="acme")
    globex = seed_oauth_client(world, tenant="globex")

    found = world.services.oauth_clients.tenants_with_client_id(CLIENT_ID)

    assert sorted(found) == sorted([("acme", acme.id), ("globex", globex.id)])
    assert world.services.oauth_clients.tenants_with_client_id("other.apps.googleusercontent.com") == []


def test_given_an_account_connected_in_two_tenants_when_looked_up_then_by_tenant_or_across_tenants(
    google_world,
):
    world, fake = google_world
    acme_mail, _ = seed_connection(world, fake, tenant="acme")
    acme_contacts, _ = seed_connection(
        world, fake, tenant="acme", provider="google-contacts", scopes=["contacts.readonly"]
    )
    globex, _ = seed_connection(world, fake, tenant="globex")
    seed_connection(world, fake, tenant="acme", email="bob@example.com")  # another account
    seed_connection(world, fake, tenant="acme", provider_client_id="other.apps.googleusercontent.com")
    connections = world.services.connections

    everywhere = connections.by_account(CLIENT_ID, acme_mail.account_sub)
    in_acme = connections.by_account(CLIENT_ID, acme_mail.account_sub, tenant="acme")

    assert {c.id for c in everywhere} == {acme_mail.id, acme_contacts.id, globex.id}
    assert {c.id for c in in_acme} == {acme_mail.id, acme_contacts.id}
    assert connections.by_account(CLIENT_ID, "sub-nobody@example.com") == []


def test_given_a_connection_without_its_account_when_stored_then_it_is_not_in_the_index(google_world):
    world, fake = google_world
    rec, _ = seed_connection(world, fake)
    anonymous = world.services.connections.save(
        rec.model_copy(update={"account_sub": None}), expected_version=rec.version
    )
    item = world.aws.dynamodb.get_item(
        TableName=world.aws.resources.table_name, Key={"pk": {"S": f"CON#{anonymous.id}"}, "sk": {"S": "CON"}}
    )["Item"]

    assert "pclient_pk" not in item and "pclient_sk" not in item
    assert world.services.connections.by_account(CLIENT_ID, rec.account_sub or "") == []


def test_given_a_completed_connect_flow_then_the_connection_knows_its_client_id_at_the_provider(google_world):
    world, fake = google_world
    allow_return_origins(world)
    client = create_oauth_client(world)

    flow = run_flow(world, fake, client["id"], scopes=["gmail.readonly"])

    stored = world.services.connections.get(flow.connection_id)
    assert stored is not None and stored.provider_client_id == CLIENT_ID
    assert [c.id for c in world.services.connections.by_account(CLIENT_ID, stored.account_sub or "")] == [
        stored.id
    ]
