"""Local AWS: moto's server on 127.0.0.1, and the broker's table, key and bus created when missing."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from oauth_broker_dev.template import table_definition

LOCAL_KEY_ALIAS = "alias/oauth-broker-local"
LOCAL_REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MotoServer:
    """moto's threaded server bound to 127.0.0.1; `stop()` ends it."""

    def __init__(self, port: int = 0):
        from moto.server import ThreadedMotoServer

        self.port = port or free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()


@dataclass
class LocalResources:
    table_name: str
    key_id: str
    bus_name: str


def create_table(dynamodb: Any, table_name: str) -> None:
    """Create the broker's table from template.yaml (no-op when it exists)."""
    definition = table_definition()
    try:
        dynamodb.describe_table(TableName=table_name)
        return
    except dynamodb.exceptions.ResourceNotFoundException:
        pass
    dynamodb.create_table(TableName=table_name, **definition["create"])
    if definition["ttl_attribute"]:
        dynamodb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": definition["ttl_attribute"]},
        )


def ensure_key(kms: Any, alias: str = LOCAL_KEY_ALIAS) -> str:
    try:
        key_id: str = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        return key_id
    except kms.exceptions.NotFoundException:
        key_id = kms.create_key(Description="oauth-broker local key", KeyUsage="ENCRYPT_DECRYPT")[
            "KeyMetadata"
        ]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        return key_id


def ensure_bus(events: Any, name: str) -> None:
    try:
        events.describe_event_bus(Name=name)
    except events.exceptions.ResourceNotFoundException:
        events.create_event_bus(Name=name)


def bootstrap(
    dynamodb: Any,
    kms: Any,
    events: Any,
    *,
    table_name: str = "oauth-broker-local",
    bus_name: str = "oauth-broker-local",
) -> LocalResources:
    create_table(dynamodb, table_name)
    key_id = ensure_key(kms)
    ensure_bus(events, bus_name)
    return LocalResources(table_name=table_name, key_id=key_id, bus_name=bus_name)
