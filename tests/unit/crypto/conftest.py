"""Fixtures for the crypto tests: moto's KMS in-process, a real key, and a recorder of KMS calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto import mock_aws

REGION = "us-east-1"


@dataclass
class KmsCall:
    operation: str
    params: dict[str, Any]


@dataclass
class KmsRecorder:
    """Every KMS request the client sends (decoded JSON body), and the data keys KMS handed out."""

    calls: list[KmsCall] = field(default_factory=list)
    data_keys: list[bytes] = field(default_factory=list)

    def on_before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        body = params.get("body") or b"{}"
        self.calls.append(KmsCall(model.name, json.loads(body)))

    def on_after_call(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if isinstance(parsed.get("Plaintext"), bytes):
            self.data_keys.append(parsed["Plaintext"])

    def count(self, operation: str) -> int:
        return sum(1 for call in self.calls if call.operation == operation)

    def of(self, operation: str) -> list[KmsCall]:
        return [call for call in self.calls if call.operation == operation]

    def reset(self) -> None:
        self.calls.clear()


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def kms(mocked_aws: None) -> Any:
    import boto3

    return boto3.client("kms", region_name=REGION)


@pytest.fixture
def key_id(kms: Any) -> str:
    return str(kms.create_key(Description="oauth-broker test key")["KeyMetadata"]["KeyId"])


@pytest.fixture
def other_key_id(kms: Any) -> str:
    return str(kms.create_key(Description="another key")["KeyMetadata"]["KeyId"])


@pytest.fixture
def recorder(kms: Any) -> KmsRecorder:
    rec = KmsRecorder()
    kms.meta.events.register("before-call.kms.*", rec.on_before_call)
    kms.meta.events.register("after-call.kms.*", rec.on_after_call)
    return rec
