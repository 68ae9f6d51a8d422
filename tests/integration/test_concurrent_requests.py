"""Concurrent requests through the local gateway each get their own caller's answer.

The local runtime serves requests from threads of one process, while Powertools keeps the current
event on a class attribute and points routers at the last resolver that included them: a route
reading `router.current_event` could see another request's caller (another tenant's settings,
another user's connections). Every HTTP function binds each invocation (`oauth_broker.http`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oauth_broker.ids import new_id
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.timeutil import rfc3339

THREADS = 16
REQUESTS_PER_THREAD = 25
SWITCH_INTERVAL = 1e-6  # seconds (default 5 ms)

ORIGINS = {"acme": "https://acme-app.example.com", "globex": "https://globex-app.example.com"}


@dataclass(frozen=True)
class Call:
    label: str
    path: str
    token: str
    check: Callable[[int, dict[str, Any]], bool]


def seed_connection(world, tenant: str, owner: str) -> str:
    now = rfc3339()
    rec = ConnectionRecord(
        id=new_id("con"),
        tenant=tenant,
        owner=owner,
        name=f"{owner}'s mailbox",
        provider="google-mail",
        oauth_client_id="ocl_concurrency",
        account_email=f"{owner}@example.com",
        created_at=now,
        updated_at=now,
    )
    return world.services.connections.create(rec).id


def settings_call(world, tenant: str) -> Call:
    expected = [ORIGINS[tenant]]
    return Call(
        label=f"{tenant} admin GET /v1/settings",
        path="/v1/settings",
        token=world.token(tenant, "admin", admin=True),
        check=lambda status, body: status == 200 and body.get("allowed_return_origins") == expected,
    )


def connections_call(world, tenant: str, user: str, connection_id: str) -> Call:
    return Call(
        label=f"{tenant}/{user} GET /v1/connections",
        path="/v1/connections",
        token=world.token(tenant, user),
        check=lambda status, body: (
            status == 200 and [c.get("id") for c in body.get("data") or []] == [connection_id]
        ),
    )


def test_given_concurrent_callers_of_two_tenants_when_served_locally_then_each_gets_only_its_own_data(
    world,
):
    for tenant, origin in ORIGINS.items():
        resp = world.request(
            "PATCH",
            "/v1/settings",
            token=world.token(tenant, "admin", admin=True),
            json_body={"allowed_return_origins": [origin]},
        )
        assert resp.status_code == 200, resp.json
    calls = [
        settings_call(world, "acme"),
        settings_call(world, "globex"),
        connections_call(world, "acme", "alice", seed_connection(world, "acme", "alice")),
        connections_call(world, "acme", "bob", seed_connection(world, "acme", "bob")),
    ]
    for call in calls:  # each answers right on its own (and every token is minted up front)
        resp = world.request("GET", call.path, token=call.token)
        assert call.check(resp.status_code, resp.json or {}), (call.label, resp.status_code, resp.json)

    start = threading.Barrier(THREADS)
    lock = threading.Lock()
    served = 0
    mismatches: list[str] = []

    def client(offset: int) -> None:
        nonlocal served
        start.wait(10)
        for i in range(REQUESTS_PER_THREAD):
            call = calls[(offset + i) % len(calls)]
            resp = world.request("GET", call.path, token=call.token)
            body = resp.json if resp.is_json else None
            ok = isinstance(body, dict) and call.check(resp.status_code, body)
            with lock:
                served += 1
                if not ok:
                    mismatches.append(f"{call.label}: {resp.status_code} {resp.get_data(as_text=True)[:200]}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)  # interleave the threads finely: races show up at once
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)

    assert served == THREADS * REQUESTS_PER_THREAD
    assert mismatches == [], f"{len(mismatches)} of {served} got another caller's answer: {mismatches[:3]}"
