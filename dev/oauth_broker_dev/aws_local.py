"""Local AWS: moto's server on 127.0.0.1, and the broker's table, key, bus and work queue created
when missing."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oauth_broker_dev.template import load_template, table_definition

LOCAL_KEY_ALIAS = "alias/oauth-broker-local"
LOCAL_REGION = "us-east-1"
# The work queue and its dead-letter queue, named after their template logical ids (the integration
# suite's AWS call recorder reads a queue's name as its logical id).
REFRESH_QUEUE = "RefreshQueue"
REFRESH_DEAD_LETTER_QUEUE = "RefreshDeadLetterQueue"
LOCAL_VISIBILITY_TIMEOUT = 30  # seconds; AWS: 1800 (6x the function's timeout), too long to watch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `host:port` cannot be bound (something listens there), as a server would bind it."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug's server does
        try:
            s.bind((host, port))
        except OSError:
            return True
        return False


class MotoServer:
    """moto's threaded server bound to 127.0.0.1; `stop()` ends it.

    Its request log ("POST / HTTP/1.1" 200, one line per AWS call) is off unless `verbose`;
    `middleware` wraps moto's WSGI app (the local store's persistence hooks in there)."""

    def __init__(
        self,
        port: int = 0,
        *,
        verbose: bool = False,
        middleware: Callable[[Any], Any] | None = None,
    ):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.verbose = verbose
        self.middleware = middleware
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> MotoServer:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        verbose = self.verbose

        class RequestHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                if verbose:
                    super().log_request(code, size)

        app: Any = DomainDispatcherApplication(create_backend_app)
        if self.middleware is not None:
            app = self.middleware(app)
        self._server = make_server("127.0.0.1", self.port, app, threaded=True, request_handler=RequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


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


@dataclass
class WorkQueueUrls:
    queue_url: str
    queue_arn: str
    dead_letter_url: str


def parameter_default(name: str) -> Any:
    return load_template()["Parameters"][name]["Default"]


def ensure_work_queue(
    sqs: Any,
    *,
    name: str = REFRESH_QUEUE,
    dead_letter_name: str = REFRESH_DEAD_LETTER_QUEUE,
    max_receive_count: int | None = None,
    visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT,
) -> WorkQueueUrls:
    """The work queue with its redrive policy (to the dead-letter queue after `max_receive_count`
    receives, default: the template's RefreshQueueMaxReceiveCount), as template.yaml declares it;
    created when missing, its attributes set when present (a restored local store)."""
    receives = max_receive_count or int(parameter_default("RefreshQueueMaxReceiveCount"))
    dead_letter_url = _queue(sqs, dead_letter_name, {"MessageRetentionPeriod": "1209600"})
    dead_letter_arn = _arn(sqs, dead_letter_url)
    attributes = {
        "VisibilityTimeout": str(visibility_timeout),
        "MessageRetentionPeriod": "86400",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": receives}),
    }
    url = _queue(sqs, name, attributes)
    return WorkQueueUrls(queue_url=url, queue_arn=_arn(sqs, url), dead_letter_url=dead_letter_url)


def _queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        created: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return created
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def _arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn
