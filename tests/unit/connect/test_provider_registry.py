"""ProviderRegistry reads: built-in definitions cost no DynamoDB read, custom ones are cached."""

from __future__ import annotations

import pytest

from brokertest.dns import FakeDns
from oauth_broker.errors import NotFound
from oauth_broker.outbound import OutboundGuard
from oauth_broker.providers.catalog import ProviderCatalog
from oauth_broker.providers.registry import CUSTOM_CACHE_SECONDS, ProviderRegistry
from oauth_broker.store.table import Table

CUSTOM = {
    "key": "acme-idp",
    "display_name": "Acme",
    "auth": {"authorization_url": "https://a.example/authorize", "token_url": "https://a.example/token"},
    "scopes": ["read"],
}


class CountingTable(Table):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gets = 0

    def get(self, pk, sk, *, consistent=True):
        self.gets += 1
        return super().get(pk, sk, consistent=consistent)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def registry(aws, clock: Clock) -> tuple[ProviderRegistry, CountingTable]:
    table = CountingTable(aws.resources.table_name, aws.dynamodb)
    guard = OutboundGuard(resolver=FakeDns())  # no real DNS
    return ProviderRegistry(ProviderCatalog.load(), table, guard=guard, clock=clock), table


def test_given_a_built_in_provider_when_its_definition_is_asked_then_no_item_is_read(aws):
    reg, table = registry(aws, Clock())
    assert reg.definition("acme", "google-mail").key == "google-mail"
    assert table.gets == 0


def test_given_a_custom_provider_when_its_definition_is_asked_repeatedly_then_it_is_read_once_a_period(
    aws,
):
    clock = Clock()
    reg, table = registry(aws, clock)
    reg.register_custom("acme", CUSTOM)
    table.gets = 0
    for _ in range(5):
        assert reg.definition("acme", "acme-idp").auth.token_url == "https://a.example/token"
    assert table.gets == 1
    clock.now += CUSTOM_CACHE_SECONDS + 1
    for _ in range(5):
        reg.definition("acme", "acme-idp")
    assert table.gets == 2


def test_given_a_custom_provider_of_one_tenant_when_another_tenant_asks_then_it_is_not_found(aws):

    reg, _ = registry(aws, Clock())
    reg.register_custom("acme", CUSTOM)
    with pytest.raises(NotFound):
        reg.definition("globex", "acme-idp")
