"""Every throttled attempt of an AWS call the broker makes is counted (`dependency_throttles`), also
the ones the SDK retries: KMS publishes no throttle metric of its own. The SDK client is the
production factory's, talking HTTP to a local server that throttles like KMS."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from brokertest.metrics import recorded_metrics
from oauth_broker.clients import aws_client


class _Throttling(BaseHTTPRequestHandler):
    """KMS's JSON protocol: the first `throttle` requests get ThrottlingException, then a key."""

    throttle = 0
    seen = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen += 1
        if type(self).seen <= type(self).throttle:
            status, body = 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        else:
            status, body = 200, {"KeyMetadata": {"KeyId": "k", "Arn": "arn:aws:kms:eu-west-1:1:key/k"}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def kms_endpoint(monkeypatch) -> Iterator[type[_Throttling]]:
    handler = type("Throttling", (_Throttling,), {"throttle": 0, "seen": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_given_kms_throttles_once_when_the_sdk_retries_and_succeeds_then_the_throttle_is_counted(
    kms_endpoint,
):
    kms_endpoint.throttle = 1
    kms = aws_client("kms")

    with recorded_metrics("api") as recorded:
        kms.describe_key(KeyId="k")

    assert kms_endpoint.seen == 2
    assert recorded.total("dependency_throttles", dependency="kms") == 1


def test_given_kms_throttles_every_attempt_when_the_sdk_gives_up_then_each_attempt_is_counted(kms_endpoint):
    kms_endpoint.throttle = 100
    kms = aws_client("kms")

    with recorded_metrics("api") as recorded, pytest.raises(ClientError):
        kms.describe_key(KeyId="k")

    assert kms_endpoint.seen == 4  # the client's `max_attempts: 3` are retries: 4 attempts in all
    assert recorded.total("dependency_throttles", dependency="kms") == 4


def test_given_a_call_that_succeeds_when_made_then_no_throttle_is_counted(kms_endpoint):
    kms = aws_client("kms")

    with recorded_metrics("api") as recorded:
        kms.describe_key(KeyId="k")

    assert [d for d in recorded.data if d.name == "dependency_throttles"] == []
