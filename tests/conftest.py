"""Fixtures shared by every suite. AWS is moto in-process (`mock_aws`) unless a suite says otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from brokertest.aws_calls import atomic_calls
from brokertest.google import build_google_world
from brokertest.world import Aws, World, build_world
from oauth_broker.services import configure
from oauth_broker_dev.aws_local import bootstrap
from oauth_broker_dev.fake_google import FakeGoogle


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fake AWS credentials, a private dev-IdP key, no endpoint override leaking in from a shell."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OAuthBrokerTest")
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path_factory.getbasetemp() / "broker-state"))


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        dynamodb, kms, events = boto3.client("dynamodb"), boto3.client("kms"), boto3.client("events")
        resources = bootstrap(dynamodb, kms, events, table_name="broker-test", bus_name="broker-test")
        # DynamoDB applies a conditional write atomically; moto does it in two Python steps. Every
        # test gets DynamoDB's semantics back, so concurrency tests race for real conditions only.
        with atomic_calls(dynamodb):
            yield Aws(dynamodb=dynamodb, kms=kms, events=events, resources=resources)


@pytest.fixture
def world(aws: Aws) -> Iterator[World]:
    w = build_world(aws)
    try:
        yield w
    finally:
        configure(None)


@pytest.fixture
def google_world(aws: Aws, tmp_path) -> Iterator[tuple[World, FakeGoogle]]:
    """A broker plus the fake Google in-process (https://fake-google.test), providers pointed at it."""
    w, fake = build_google_world(aws, tmp_path)
    try:
        yield w, fake
    finally:
        configure(None)
