"""The local runtime runs many invocations at once in one process: each log line still names the
function (and request) whose invocation wrote it, as it would in Lambda."""

from __future__ import annotations

import io
import json
import logging
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from oauth_broker.observability import logger
from oauth_broker_dev import lambda_runtime


def handler_module(message: str, barrier: threading.Barrier) -> SimpleNamespace:
    """A handler decorated as the real ones are, that logs after every invocation has started."""

    @logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
    def handler(event: dict[str, Any], context: Any) -> None:
        barrier.wait(5)  # every invocation has appended its keys before anyone logs
        logger.info(message)
        barrier.wait(5)

    return SimpleNamespace(handler=handler)


def test_given_concurrent_invocations_of_two_functions_when_each_logs_then_each_line_names_its_own_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    barrier = threading.Barrier(4)
    modules = {
        "callback": handler_module("callback: connection saved", barrier),
        "webhook": handler_module("webhook: delivered", barrier),
    }
    monkeypatch.setattr(lambda_runtime, "load_function", lambda name: modules[name])
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    try:
        threads = [
            threading.Thread(
                target=lambda_runtime.invoke,
                args=(name, {"requestContext": {"requestId": f"{name}-{n}"}}),
            )
            for n in range(2)
            for name in ("callback", "webhook")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        logging.getLogger(logger.name).removeHandler(handler)

    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert len(records) == 4
    for record in records:
        function = record["message"].split(":", 1)[0]
        assert record["function_name"] == f"oauth-broker-{function}", record
        assert record["correlation_id"].startswith(f"{function}-"), record


def test_given_an_invocation_that_set_log_keys_when_the_caller_logs_afterwards_then_the_keys_did_not_leak(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    barrier = threading.Barrier(1)
    monkeypatch.setattr(lambda_runtime, "load_function", lambda name: handler_module("callback: x", barrier))
    lambda_runtime.invoke("callback", {"requestContext": {"requestId": "r-1"}})

    assert "function_name" not in logger.thread_safe_get_current_keys()
