"""Which AWS calls each Lambda function makes, recorded while the integration suite runs.

The integration tests run the real handlers in-process (`oauth_broker_dev.lambda_runtime.invoke`)
on shared boto3 clients. The local runtime names the function running in the current context
(`lambda_runtime.current_function`); a botocore `before-parameter-build` hook on each client (nothing is
patched) reads it and records what IAM would evaluate for the call: the action, the resource
(table, index, key, bus, function, queue), the partition key's prefix (`dynamodb:LeadingKeys`) and the
KMS encryption context (purpose, keys). `tests/infrastructure/test_iam_from_behaviour.py` checks
the recording against template.yaml.

A call made outside any function is the test's own setup (seeding, assertions, a sweep the test
runs directly) and is ignored. A call from a thread that the code under test started without
carrying the invocation's context (not the main thread, no frame of the test suite on its stack)
while a handler is running cannot be attributed: it is recorded as such and fails the run, since
it would escape the check.

SQS queues are named by the queue's name, the last segment of its URL: the integration world
creates each queue under its template logical id (`RefreshQueue`), so a call on it reads as
`queue/RefreshQueue`, the resource `!GetAtt RefreshQueue.Arn` names. Batch operations are
authorized as their single form (`SendMessageBatch` needs `sqs:SendMessage`). What Lambda's event
source mapping does with the function's role (receive, delete) is not the function's code: the
local runtime's poller uses a client of its own, which is not watched.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from oauth_broker.crypto.envelope import DataKeyCache, EncryptionContext
from oauth_broker_dev import lambda_runtime
from oauth_broker_dev.template import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = str(REPO_ROOT / "tests")
ARTIFACT = REPO_ROOT / ".test-artifacts" / "aws-calls.json"

# API operations whose Key / Item names the partition key (one item each).
_ITEM_OPERATIONS = {"GetItem": "Key", "DeleteItem": "Key", "UpdateItem": "Key", "PutItem": "Item"}
# Transactions and batches are authorized per item, with the item's own action.
_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# SQS batch operations are authorized with the single operation's action.
_SQS_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


@dataclass(frozen=True, order=True)
class AwsCall:
    """One kind of call a function makes, as IAM sees it (deduplicated by value)."""

    function: str  # template logical id, e.g. "ApiFunction"
    service: str  # "dynamodb", "kms", "events", "lambda", "sqs"
    operation: str  # the API operation, e.g. "Query"
    action: str  # the IAM action it needs, e.g. "dynamodb:Query"
    resource: str  # "table", "index/ByOwner", "key", "bus", "function/RefreshFunction", "queue/RefreshQueue"
    key_prefix: str = ""  # DynamoDB: the partition key value up to and including its first "#"
    purpose: str = ""  # KMS: kms:EncryptionContext:purpose
    context_keys: tuple[str, ...] = ()  # KMS: the encryption context's keys, sorted


def key_prefix(value: str) -> str:
    """`CON#abc#x` -> `CON#`; a value without `#` (`PENDING`) is its own prefix."""
    i = value.find("#")
    return value[: i + 1] if i >= 0 else value


def index_partition_keys(template: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Index name -> its partition key attribute, and "" -> the table's, from template.yaml."""
    template = template or load_template()
    for res in template["Resources"].values():
        if res.get("Type") == "AWS::DynamoDB::Table":
            props = res["Properties"]
            keys = {"": _hash_key(props["KeySchema"])}
            for gsi in props.get("GlobalSecondaryIndexes") or []:
                keys[gsi["IndexName"]] = _hash_key(gsi["KeySchema"])
            return keys
    raise LookupError("template.yaml has no DynamoDB table")


def _hash_key(schema: list[dict[str, str]]) -> str:
    return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")


_EQUALITY = re.compile(r"([#\w]+)\s*=\s*(:\w+)")


def query_partition_value(params: Mapping[str, Any], hash_attr: str) -> str | None:
    """The partition key value a Query's KeyConditionExpression pins (what LeadingKeys sees)."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    for name, placeholder in _EQUALITY.findall(params.get("KeyConditionExpression", "")):
        if names.get(name, name) == hash_attr:
            value = values.get(placeholder, {})
            return str(value.get("S", value.get("N", ""))) or None
    return None


class AwsCallRecorder:
    """Attributes every call of the watched clients to the function running it; see module doc."""

    def __init__(self, partition_keys: Mapping[str, str] | None = None) -> None:
        self.partition_keys = dict(partition_keys or index_partition_keys())
        self.calls: set[AwsCall] = set()
        self.unattributed: set[str] = set()
        self.invoked: set[str] = set()  # functions invoked at least once
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- wiring
    @contextmanager
    def watching(self, *clients: Any) -> Iterator[None]:
        """While open, the clients' calls are recorded."""
        uid = f"aws-recorder-{id(self)}"
        for client in clients:
            client.meta.events.register("before-parameter-build", self._before_call, unique_id=uid)
        try:
            yield
        finally:
            for client in clients:
                client.meta.events.unregister("before-parameter-build", unique_id=uid)

    @contextmanager
    def listening(self) -> Iterator[None]:
        """While open, in-process invocations are seen (function -> function: lambda:InvokeFunction)."""
        lambda_runtime.invocation_listeners.append(self._on_invoke)
        try:
            yield
        finally:
            lambda_runtime.invocation_listeners.remove(self._on_invoke)

    def _on_invoke(self, caller: str | None, callee: str) -> None:
        with self._lock:
            self.invoked.add(callee)
            if caller is not None:
                self.calls.add(
                    AwsCall(caller, "lambda", "Invoke", "lambda:InvokeFunction", f"function/{callee}")
                )

    # ----------------------------------------------------------------- recording
    def _before_call(self, model: Any = None, params: Any = None, **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        function = lambda_runtime.current_function.get()
        if function is None:
            if not _inside_handler_thread():
                return  # the test's own setup or assertions
            with self._lock:
                thread = re.sub(r"[_-]?\d+$", "", threading.current_thread().name)
            self.unattributed.add(f"{service}:{operation} in a thread named {thread}*")
            return
        calls = list(self.describe(function, service, operation, params or {}))
        with self._lock:
            self.calls.update(calls)

    def describe(
        self, function: str, service: str, operation: str, params: Mapping[str, Any]
    ) -> Iterable[AwsCall]:
        """What IAM evaluates for one API call (several entries for transactions and batches)."""
        if service == "dynamodb":
            yield from self._dynamodb(function, operation, params)
        elif service == "kms":
            ctx = params.get("EncryptionContext") or {}
            yield AwsCall(
                function, "kms", operation, f"kms:{operation}", "key",
                purpose=str(ctx.get("purpose", "")), context_keys=tuple(sorted(ctx)),
            )  # fmt: skip
        elif service == "events":
            yield AwsCall(function, "events", operation, f"events:{operation}", "bus")
        elif service == "lambda" and operation == "Invoke":
            yield AwsCall(
                function,
                "lambda",
                operation,
                "lambda:InvokeFunction",
                f"function/{params.get('FunctionName')}",
            )
        elif service == "sqs":
            queue = str(params.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1] or "?"
            action = _SQS_ACTIONS.get(operation, f"sqs:{operation}")
            yield AwsCall(function, "sqs", operation, action, f"queue/{queue}")
        else:
            yield AwsCall(function, service, operation, f"{service}:{operation}", "?")

    def _dynamodb(self, function: str, operation: str, params: Mapping[str, Any]) -> Iterable[AwsCall]:
        if operation in _ITEM_OPERATIONS:
            pk = params[_ITEM_OPERATIONS[operation]][self.partition_keys[""]]["S"]
            yield AwsCall(function, "dynamodb", operation, f"dynamodb:{operation}", "table", key_prefix(pk))
        elif operation == "Query":
            index = params.get("IndexName") or ""
            value = query_partition_value(params, self.partition_keys.get(index, "?"))
            resource = f"index/{index}" if index else "table"
            prefix = key_prefix(value) if value is not None else "?"
            yield AwsCall(function, "dynamodb", operation, "dynamodb:Query", resource, prefix)
        elif operation == "TransactWriteItems" or operation == "TransactGetItems":
            for entry in params.get("TransactItems", []):
                for kind, item in entry.items():
                    pk = (item.get("Key") or item.get("Item"))[self.partition_keys[""]]["S"]
                    yield AwsCall(
                        function, "dynamodb", operation, _TRANSACT_ACTIONS[kind], "table", key_prefix(pk)
                    )
        elif operation == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    for item in request.values():
                        pk = (item.get("Key") or item.get("Item"))[self.partition_keys[""]]["S"]
                        yield AwsCall(
                            function,
                            "dynamodb",
                            operation,
                            "dynamodb:BatchWriteItem",
                            "table",
                            key_prefix(pk),
                        )
        elif operation == "BatchGetItem":
            for request in params.get("RequestItems", {}).values():
                for key in request.get("Keys", []):
                    pk = key[self.partition_keys[""]]["S"]
                    yield AwsCall(
                        function, "dynamodb", operation, "dynamodb:BatchGetItem", "table", key_prefix(pk)
                    )
        else:  # Scan, DescribeTable, ...: recorded as is, so the check sees (and refuses) them
            yield AwsCall(function, "dynamodb", operation, f"dynamodb:{operation}", "table", "")

    # ----------------------------------------------------------------- output
    def write(self, path: Path = ARTIFACT, *, complete: bool, note: str = "") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            doc = {
                "complete": complete,
                "note": note,
                "invoked": sorted(self.invoked),
                "unattributed": sorted(self.unattributed),
                "calls": [asdict(c) for c in sorted(self.calls)],
            }
        path.write_text(json.dumps(doc, indent=1) + "\n")
        return path


class PerFunctionDataKeyCache(DataKeyCache):
    """The envelope's data key cache as the deployed functions see it: one per function.

    In AWS each function runs in its own process with its own cache; in the test process one
    Services (and one cache) serves the test's own setup and every function. Shared, a data key
    that test setup or one function generated would let another function skip its KMS call, and
    the recording would miss a permission that function needs. Entries are kept apart by the
    function running (`lambda_runtime.current_function`; test code is a partition of its own).
    """

    @staticmethod
    def _scoped(key_id: str) -> str:
        return f"{lambda_runtime.current_function.get() or '-'}|{key_id}"

    def get_for_encrypt(self, key_id: str, ctx: EncryptionContext, now: float) -> tuple[bytes, bytes] | None:
        return super().get_for_encrypt(self._scoped(key_id), ctx, now)

    def put_for_encrypt(
        self, key_id: str, ctx: EncryptionContext, plaintext_key: bytearray, encrypted_key: bytes, now: float
    ) -> None:
        super().put_for_encrypt(self._scoped(key_id), ctx, plaintext_key, encrypted_key, now)

    def get_for_decrypt(
        self, key_id: str, encrypted_key: bytes, ctx: EncryptionContext, now: float
    ) -> bytes | None:
        return super().get_for_decrypt(self._scoped(key_id), encrypted_key, ctx, now)

    def put_for_decrypt(
        self, key_id: str, encrypted_key: bytes, ctx: EncryptionContext, plaintext_key: bytearray, now: float
    ) -> None:
        super().put_for_decrypt(self._scoped(key_id), encrypted_key, ctx, plaintext_key, now)


def _inside_handler_thread() -> bool:
    """While a handler runs, a thread other than the main one with no frame of the test suite:
    started by the code under test (a handler's worker that lost the invocation's context)."""
    if threading.current_thread() is threading.main_thread() or not lambda_runtime.active_invocations():
        return False
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(TESTS_DIR) and filename != __file__:
            return False
        frame = frame.f_back  # type: ignore[assignment]
    return True


def load_recording(path: Path = ARTIFACT) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    doc["calls"] = [AwsCall(**{**c, "context_keys": tuple(c["context_keys"])}) for c in doc["calls"]]
    return doc
