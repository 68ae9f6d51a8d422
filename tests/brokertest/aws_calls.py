"""DynamoDB's atomicity for moto under threads, through botocore's own event hooks (nothing is patched).

`atomic_calls(client)` makes a moto-backed client run one call at a time: moto's in-process
DynamoDB evaluates a condition and writes the item in two Python steps, so concurrent conditional
writes from threads could both pass, which real DynamoDB never allows. The `aws` fixture (tests/
conftest.py) holds it open for every test, so all concurrency tests see DynamoDB's atomicity.
(Call counting: `brokertest.tokens.AwsCallCounter`.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def atomic_calls(client: Any) -> Iterator[None]:
    """While open, the client's calls run one at a time (DynamoDB's per-item atomicity, for moto)."""
    lock = threading.Lock()
    uid = f"atomic-{id(lock)}"

    def enter(**_: Any) -> None:
        lock.acquire()

    def leave(**_: Any) -> None:
        if lock.locked():
            lock.release()

    events = client.meta.events
    events.register("before-call", enter, unique_id=uid + "-in")
    events.register("after-call", leave, unique_id=uid + "-out")
    events.register("after-call-error", leave, unique_id=uid + "-err")
    try:
        yield
    finally:
        events.unregister("before-call", unique_id=uid + "-in")
        events.unregister("after-call", unique_id=uid + "-out")
        events.unregister("after-call-error", unique_id=uid + "-err")
