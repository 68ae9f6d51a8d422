"""Benchmark: load held. Many clients at once against the local broker, then the books are checked.

    .venv/bin/python bench/bench_load.py [--seconds 60] [--clients 32] [--expire-every 3] [--seed N]
                                         [--smoke] [--self-check]

`oauth-broker dev` runs as a subprocess on a free 127.0.0.1 port (moto's server and the fake
Google inside it), started and stopped here. After a sequential setup over HTTP, `--clients`
threads (each its own keep-alive connection, its own user's JWT) run for `--seconds`, mixing:

- `proxy_get`: a proxied Gmail `users.getProfile` on the client's user's connection;
- `proxy_get_expiring`: the same on one of a few connections whose access tokens the fake Google
  expires every `--expire-every` seconds (`/_control/expire_access_tokens`), so the broker meets a
  401, refreshes once and retries (the `oauth-broker dev` fake issues hour-long tokens: expiring
  them at the fake is what makes them die every few seconds);
- `send`: a typed Gmail send with a new `Idempotency-Key`; `send_repeat`: the same key and body
  again (a key another client sent moments ago: replays, and 409 while the first is in flight);
- `connect`: a whole connect flow with confirmation (connect session -> authorize -> the fake
  Google's non-browser consent -> callback in redirect mode -> POST /v1/connect-sessions/confirm).

It prints throughput and p50/p99 per operation, then verifies, exiting 1 when any check fails:
no 5xx (and no other unexpected status); no lost or duplicated send (the fake's sent mailbox has
exactly one message per key that was answered 201, none for any other, and every answer for a key
names the same message); every connection's final item as expected (status, owner, account,
scopes; the connect flows' connections exactly the confirmed ones); exactly one token request per
expiry per used connection, across all clients, and no refresh anywhere else. A proxied GET may
answer 401 only when an expiry landed while it was in flight (the broker refreshes and retries
once per request, and only here can the refreshed token be expired again before the retry).

`--smoke`: 10 s, 4 clients, an expiry every 2 s. `--self-check`: injects, mid-run, a duplicate
send, two extra refreshes and a burst of Gmail 500s, and exits 0 only when exactly the checks
that should catch them fail: proof that the verification is not vacuous.

A script, not a test: figures depend on the machine and its load. All traffic goes to 127.0.0.1,
bounded in count and time: each request times out after 30 s, the run stops by itself.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT / "dev")]

import httpx  # noqa: E402

ALICE = "alice@example.com"  # the fake's accounts: Alice's connections are never expired,
BOB = "bob@example.com"  # Bob's are the expiring ones (the fake expires tokens per account)
READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SEND = "https://www.googleapis.com/auth/gmail.send"
PROFILE = "proxy/gmail/v1/users/me/profile"
MAIN_USERS = 8
EXPIRING = 4
REQUEST_TIMEOUT = 30.0
OPS = ("proxy_get", "proxy_get_expiring", "send", "send_repeat", "connect")
WEIGHTS = (45, 20, 17, 8, 10)
# what each operation may answer; anything else is a failure (a 5xx always is)
ACCEPTED = {
    "proxy_get": {200},
    "proxy_get_expiring": {200},
    # 409 `conflict`: another request with that key is in flight (a repeat may overtake the first)
    "send": {201, 409},
    "send_repeat": {201, 409},
    "connect": {200},
}


# -- the broker subprocess -------------------------------------------------------------------------
@contextmanager
def local_broker(state: Path) -> Iterator[tuple[str, Path, int]]:
    """`oauth-broker dev` on a free loopback port: (base URL, its log file, its pid). Stopped on exit."""
    from oauth_broker_dev.dev_process import DevServerFailed, dev_env, running_dev_server

    env = dev_env(
        state,
        {
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT / "dev")]),
        },
        drop=(),
        drop_prefixes=("AWS_", "GOOGLE_"),
    )
    try:
        with running_dev_server(
            state_dir=state, log=state / "broker.log", env=env, startup_timeout=90
        ) as dev:
            yield dev.base_url, dev.log_path, dev.proc.pid
    except DevServerFailed as e:
        raise SystemExit(str(e)) from None


# -- the API, as a client --------------------------------------------------------------------------
def bearer(tenant: str, user: str, *, admin: bool = False) -> dict[str, str]:
    from oauth_broker_dev import devidp

    return {"Authorization": f"Bearer {devidp.mint(tenant, user, admin=admin)}"}


def expect(resp: httpx.Response, status: int) -> dict[str, Any]:
    if resp.status_code != status:
        raise SystemExit(f"setup: {resp.request.method} {resp.request.url.path} -> {resp.status_code}")
    return dict(resp.json()) if resp.content else {}


def new_tenant(http: httpx.Client, tenant: str) -> tuple[str, str]:
    """A tenant whose admin registered its own google-mail client and allowed the broker's origin:
    (the broker's OAuth client id, its Google client id)."""
    admin = bearer(tenant, f"admin@{tenant}", admin=True)
    google_client_id = f"{tenant}-{secrets.token_hex(3)}.apps.googleusercontent.com"
    client = expect(
        http.post(
            "/v1/oauth-clients",
            headers=admin,
            json={
                "name": f"{tenant} Gmail",
                "provider": "google-mail",
                "client_id": google_client_id,
                "client_secret": f"{tenant}-client-secret-value",
            },
        ),
        201,
    )
    expect(
        http.patch("/v1/settings", headers=admin, json={"allowed_return_origins": [origin(http)]}),
        200,
    )
    return str(client["id"]), google_client_id


def origin(http: httpx.Client) -> str:
    return str(http.base_url).rstrip("/")


class FlowError(Exception):
    def __init__(self, step: str, status: int):
        super().__init__(f"{step} -> {status}")
        self.step, self.status = step, status


def connect_flow(
    http: httpx.Client, oauth_client_id: str, auth: dict[str, str], account: str, scopes: list[str]
) -> dict[str, Any]:
    """Session -> authorize -> consent (the fake Google's control acts as the user) -> callback
    (redirect mode) -> confirm, as the session's creator: the confirmed connection."""
    return_to = f"{origin(http)}/demo/"
    resp = http.post(
        "/v1/connect-sessions",
        headers=auth,
        json={
            "provider": "google-mail",
            "oauth_client_id": oauth_client_id,
            "scopes": scopes,
            "return_to": return_to,
            "mode": "redirect",
        },
    )
    if resp.status_code != 201:
        raise FlowError("connect-session", resp.status_code)
    resp = http.get(resp.json()["authorize_url"])
    if resp.status_code != 302:
        raise FlowError("authorize", resp.status_code)
    consent = http.post(
        "/fake-google/_control/consent",
        json={"authorize_url": resp.headers["Location"], "account": account},
    )
    if consent.status_code != 200:
        raise FlowError("consent", consent.status_code)
    resp = http.get(consent.json()["location"])
    if resp.status_code != 303 or not resp.headers["Location"].startswith(return_to):
        raise FlowError("callback", resp.status_code)
    result = dict(parse_qsl(urlsplit(resp.headers["Location"]).query))
    if result.get("status") != "pending" or not result.get("confirmation"):
        raise FlowError("callback-result", resp.status_code)
    resp = http.post(
        "/v1/connect-sessions/confirm", headers=auth, json={"confirmation": result["confirmation"]}
    )
    if resp.status_code != 200:
        raise FlowError("confirm", resp.status_code)
    return dict(resp.json())


# -- the world the load runs in --------------------------------------------------------------------
@dataclass
class Conn:
    id: str
    tenant: str
    owner: str
    account: str
    scopes: tuple[str, ...]
    auth: dict[str, str]
    client_id: str = ""  # the Google client id of its tenant's OAuth client (expiring ones)


@dataclass
class World:
    main: list[Conn]
    expiring: list[Conn]
    connect_tenant: str
    connect_client: str


def setup(http: httpx.Client) -> World:
    run = secrets.token_hex(3)
    main_tenant = f"load-main-{run}"
    main_client, _ = new_tenant(http, main_tenant)
    main: list[Conn] = []
    for i in range(MAIN_USERS):
        user = f"u{i}@{main_tenant}"
        auth = bearer(main_tenant, user)
        conn = connect_flow(http, main_client, auth, ALICE, ["gmail.readonly", "gmail.send"])
        main.append(Conn(conn["id"], main_tenant, user, ALICE, (READONLY, SEND), auth))
    expiring: list[Conn] = []
    for i in range(EXPIRING):
        tenant = f"load-exp{i}-{run}"
        client, google_client_id = new_tenant(http, tenant)
        user = f"x{i}@{tenant}"
        auth = bearer(tenant, user)
        conn = connect_flow(http, client, auth, BOB, ["gmail.readonly"])
        expiring.append(Conn(conn["id"], tenant, user, BOB, (READONLY,), auth, google_client_id))
    connect_tenant = f"load-connect-{run}"
    return World(main, expiring, connect_tenant, new_tenant(http, connect_tenant)[0])


# -- the run ---------------------------------------------------------------------------------------
@dataclass
class Sample:
    op: str
    status: int  # 0: a transport error (timeout, reset)
    ms: float
    started: float  # time.time()
    ended: float
    conn: str = ""


@dataclass
class Books:
    """What the clients did, shared between them (list.append and dict writes under one lock)."""

    samples: list[Sample] = field(default_factory=list)
    sends: dict[str, list[tuple[int, str | None, bool]]] = field(default_factory=lambda: defaultdict(list))
    keys: list[tuple[Conn, str, dict[str, Any]]] = field(default_factory=list)
    connected: list[tuple[str, str]] = field(default_factory=list)  # (connection id, owner)
    failures: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


def client_loop(
    index: int, base_url: str, world: World, books: Books, until: float, rng: random.Random
) -> None:
    me = world.main[index % len(world.main)]
    connect_user = f"c{index}@{world.connect_tenant}"
    connect_auth = bearer(world.connect_tenant, connect_user)
    n = 0
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
        while time.monotonic() < until:
            op = rng.choices(OPS, WEIGHTS)[0]
            if op == "send_repeat":
                with books.lock:
                    recent = books.keys[-16:]
                if not recent:
                    op = "send"
            n += 1
            started, wall = time.perf_counter(), time.time()
            status, conn_id = 0, ""
            try:
                if op == "proxy_get":
                    conn_id = me.id
                    status = http.get(f"/v1/connections/{me.id}/{PROFILE}", headers=me.auth).status_code
                elif op == "proxy_get_expiring":
                    conn = rng.choice(world.expiring)
                    conn_id = conn.id
                    status = http.get(f"/v1/connections/{conn.id}/{PROFILE}", headers=conn.auth).status_code
                elif op in ("send", "send_repeat"):
                    if op == "send":
                        key = f"load-{index}-{n}-{secrets.token_hex(4)}"
                        body = {"to": [BOB], "subject": f"load {key}", "text": f"message {key}"}
                        owner = me
                        with books.lock:  # offered to repeats at once: some arrive while it is in flight
                            books.keys.append((owner, key, body))
                            books.sends[key] = []
                    else:
                        owner, key, body = rng.choice(recent)
                    conn_id = owner.id
                    resp = http.post(
                        f"/v1/connections/{owner.id}/gmail/messages",
                        headers={**owner.auth, "Idempotency-Key": key},
                        json=body,
                    )
                    status = resp.status_code
                    sent_id = resp.json().get("id") if status == 201 else None
                    replayed = resp.headers.get("Idempotent-Replayed") == "true"
                    with books.lock:
                        books.sends[key].append((status, sent_id, replayed))
                else:
                    try:
                        made = connect_flow(
                            http, world.connect_client, connect_auth, ALICE, ["gmail.readonly"]
                        )
                        status, conn_id = 200, str(made["id"])
                        with books.lock:
                            books.connected.append((conn_id, connect_user))
                    except FlowError as err:
                        status = err.status
                        with books.lock:
                            books.failures[f"connect step {err.step} -> {err.status}"] += 1
            except httpx.HTTPError as err:
                with books.lock:
                    books.failures[f"{op}: {type(err).__name__}"] += 1
            books.add(Sample(op, status, (time.perf_counter() - started) * 1000, wall, time.time(), conn_id))


@dataclass
class Expiries:
    """When the fake expired Bob's access tokens: (sent, answered) in time.time()."""

    times: list[tuple[float, float]] = field(default_factory=list)
    token_log: dict[tuple[float, str], dict[str, Any]] = field(default_factory=dict)
    failures: int = 0


def expirer(base_url: str, every: float, until: float, stop: threading.Event, out: Expiries) -> None:
    """Every `every` seconds: collect the fake's token request log (its log keeps the last 10,000
    requests, so it is read often), then expire every access token of Bob's."""
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
        while not stop.wait(every) and time.monotonic() < until - every / 2:
            collect_token_log(http, out)
            sent = time.time()
            resp = http.post("/fake-google/_control/expire_access_tokens", json={"email": BOB})
            if resp.status_code != 200:
                out.failures += 1
                continue
            out.times.append((sent, time.time()))
        collect_token_log(http, out)


def collect_token_log(http: httpx.Client, out: Expiries) -> None:
    for item in http.get("/fake-google/_control/requests", params={"endpoint": "token"}).json()["requests"]:
        out.token_log[(item["timestamp"], item["body"])] = item


# -- --self-check: faults the verification must catch ---------------------------------------------
SELF_CHECK_CATCHES = {"no_5xx", "no_duplicated_send", "one_refresh_per_expiry"}


def saboteur(base_url: str, world: World, books: Books, expiries: Expiries, until: float) -> None:
    """Once, mid-run, three faults the verification must catch: a message sent again under a key
    already answered (through the raw proxy, past the idempotency layer), two forced refreshes of an
    expiring connection right after an expiry, and Gmail answering 500 for a while."""

    def answered() -> list[tuple[Conn, str, dict[str, Any]]]:
        with books.lock:
            return [k for k in books.keys if any(a[0] == 201 for a in books.sends[k[1]])]

    while time.monotonic() < until and (len(expiries.times) < 2 or not answered()):
        time.sleep(0.1)
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
        owner, key, _ = answered()[0]
        mime = f"To: {BOB}\r\nSubject: load {key}\r\n\r\nsent again\r\n".encode()
        raw = base64.urlsafe_b64encode(mime).decode().rstrip("=")
        resp = http.post(
            f"/v1/connections/{owner.id}/proxy/gmail/v1/users/me/messages/send",
            headers=owner.auth,
            json={"raw": raw},
        )
        print(f"self-check: sent key {key} again through the raw proxy -> {resp.status_code}", flush=True)
        victim = world.expiring[0]
        for _ in range(2):
            resp = http.post(f"/v1/connections/{victim.id}/refresh", headers=victim.auth)
            print(f"self-check: forced a refresh of {victim.id} -> {resp.status_code}", flush=True)
        resp = http.post(
            "/fake-google/_control/fail_next", json={"endpoint": "gmail", "status": 500, "count": 60}
        )
        print(f"self-check: Gmail answers 500 to the next 60 requests -> {resp.status_code}", flush=True)


# -- figures ---------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(books: Books, elapsed: float, clients: int) -> None:
    by_op: dict[str, list[Sample]] = defaultdict(list)
    for s in books.samples:
        by_op[s.op].append(s)
    total = len(books.samples)
    requests = total + 4 * len(by_op["connect"])  # a connect flow is 5 HTTP requests
    print(
        f"\nload: {clients} clients, {elapsed:.1f} s: {total} operations ({total / elapsed:.1f}/s), "
        f"about {requests} HTTP requests ({requests / elapsed:.1f}/s)"
    )
    print(f"| {'operation':<20} | {'count':>6} | {'per s':>6} | {'p50 ms':>7} | {'p99 ms':>7} | statuses")
    for op in OPS:
        samples = by_op.get(op, [])
        if not samples:
            continue
        ms = [s.ms for s in samples]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(Counter(s.status for s in samples).items()))
        print(
            f"| {op:<20} | {len(samples):6d} | {len(samples) / elapsed:6.1f} | "
            f"{statistics.median(ms):7.1f} | {percentile(ms, 0.99):7.1f} | {statuses}"
        )


# -- verification ----------------------------------------------------------------------------------
class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, what: str) -> None:
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {what}")
        if not ok:
            self.failed.append(name)


def expired_mid_request(sample: Sample, expiries: Expiries) -> bool:
    """A 401 the broker may pass through: an expiry landed while the request was in flight, between
    its one forced refresh and its retry, so the token just refreshed was expired again before it
    was used (seen in the fake's log). Only possible because the fake expires tokens every few
    seconds while a loaded machine takes up to a second or two to refresh and retry."""
    return (
        sample.op == "proxy_get_expiring"
        and sample.status == 401
        and any(sample.started < sent < sample.ended for sent, _ in expiries.times)
    )


def verify_statuses(books: Books, expiries: Expiries, checks: Checks) -> None:
    fivexx = [s for s in books.samples if s.status >= 500]
    tolerated = [s for s in books.samples if expired_mid_request(s, expiries)]
    other = [
        s
        for s in books.samples
        if s.status < 500 and s.status not in ACCEPTED[s.op] and not expired_mid_request(s, expiries)
    ]
    checks.check("no_5xx", not fivexx, f"0 5xx ({len(fivexx)} seen)")
    print(
        f"  {len(tolerated)} proxied GETs answered 401 because an expiry landed while they were in flight "
        "(one forced refresh and one retry per request)"
    )
    checks.check(
        "expected_statuses",
        not other,
        f"every other answer as expected ({len(other)} unexpected: "
        f"{dict(Counter((s.op, s.status) for s in other))}; {dict(books.failures)})",
    )


def verify_sends(http: httpx.Client, books: Books, checks: Checks) -> None:
    sent = http.get("/fake-google/_control/sent", params={"email": ALICE}).json()["messages"]
    delivered = Counter(m["subject"].removeprefix("load ") for m in sent if m["subject"].startswith("load "))
    answered = {key for key, answers in books.sends.items() if any(a[0] == 201 for a in answers)}
    lost = [key for key in answered if delivered[key] == 0]
    duplicated = [key for key, n in delivered.items() if n > 1]
    unexpected = [key for key in delivered if key not in books.sends]
    unanswered_sent = [key for key in delivered if key in books.sends and key not in answered]
    ids_differ = [
        key for key, answers in books.sends.items() if len({a[1] for a in answers if a[0] == 201}) > 1
    ]
    repeats = sum(len(a) - 1 for a in books.sends.values())
    replayed = sum(1 for a in books.sends.values() for x in a if x[2])
    conflicts = sum(1 for a in books.sends.values() for x in a if x[0] == 409)
    print(
        f"  sends: {len(books.sends)} keys, {repeats} repeated requests ({replayed} replayed, "
        f"{conflicts} answered 409 while the first was in flight); {sum(delivered.values())} delivered"
    )
    checks.check(
        "no_lost_send", not lost, f"0 lost sends ({len(lost)} keys answered 201 with nothing delivered)"
    )
    checks.check(
        "no_duplicated_send",
        not duplicated,
        f"0 duplicated sends ({len(duplicated)} keys delivered more than once)",
    )
    checks.check(
        "nothing_else_delivered",
        not unexpected and not unanswered_sent,
        f"nothing else delivered ({len(unexpected)} unknown keys, {len(unanswered_sent)} never answered 201)",
    )
    checks.check(
        "one_message_per_key",
        not ids_differ,
        f"every answer for a key names the same message ({len(ids_differ)} differ)",
    )


def connection_ok(item: dict[str, Any], conn: Conn) -> bool:
    return (
        item.get("id") == conn.id
        and item.get("status") == "active"
        and item.get("owner") == conn.owner
        and item.get("provider") == "google-mail"
        and (item.get("account") or {}).get("email") == conn.account
        and set(conn.scopes) <= set(item.get("scopes_granted") or [])
        and (SEND in conn.scopes) == (SEND in (item.get("scopes_granted") or []))
    )


def list_connections(http: httpx.Client, tenant: str) -> list[dict[str, Any]]:
    admin = bearer(tenant, f"admin@{tenant}", admin=True)
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = expect(http.get("/v1/connections", headers=admin, params=params), 200)
        items += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def verify_connections(http: httpx.Client, world: World, books: Books, checks: Checks) -> None:
    bad: list[str] = []
    for conn in world.main + world.expiring:
        resp = http.get(f"/v1/connections/{conn.id}", headers=conn.auth)
        if resp.status_code != 200 or not connection_ok(resp.json(), conn):
            bad.append(conn.id)
        if len(list_connections(http, conn.tenant)) != (MAIN_USERS if conn in world.main else 1):
            bad.append(f"{conn.tenant}: count")
    checks.check(
        "long_lived_connections",
        not bad,
        f"the {len(world.main) + len(world.expiring)} long-lived connections as expected ({bad})",
    )
    listed = {item["id"]: item for item in list_connections(http, world.connect_tenant)}
    confirmed = dict(books.connected)
    wrong = [
        cid
        for cid, owner in confirmed.items()
        if cid not in listed
        or not connection_ok(listed[cid], Conn(cid, world.connect_tenant, owner, ALICE, (READONLY,), {}))
    ]
    extra = set(listed) - set(confirmed)
    checks.check(
        "connect_flow_connections",
        not wrong and not extra and len(confirmed) == len(books.connected),
        f"the {len(confirmed)} connect flows' connections: all active, owned by their creator, "
        f"nothing else in the tenant ({len(wrong)} wrong, {len(extra)} extra)",
    )


def client_id_of(request: dict[str, Any]) -> str:
    form = dict(parse_qsl(str(request["body"])))
    if form.get("client_id"):
        return form["client_id"]
    auth = {k.lower(): v for k, v in request["headers"].items()}.get("authorization", "")
    if auth.lower().startswith("basic "):
        from urllib.parse import unquote

        return unquote(base64.b64decode(auth[6:]).decode().split(":", 1)[0])
    return ""


def verify_refreshes(
    http: httpx.Client, world: World, books: Books, expiries: Expiries, checks: Checks
) -> None:
    """Per expiring connection and per expiry window [sent_i, sent_i+1): at most one refresh, and one
    when the connection was used (a proxied GET succeeded between the expiry and the next one)."""
    refreshes: dict[str, list[float]] = defaultdict(list)
    owner_of = {c.client_id: c.id for c in world.expiring}
    elsewhere = 0
    for request in expiries.token_log.values():
        if dict(parse_qsl(request["body"])).get("grant_type") != "refresh_token":
            continue
        conn_id = owner_of.get(client_id_of(request))
        if conn_id is None:
            elsewhere += 1
        else:
            refreshes[conn_id].append(request["timestamp"])
    counters = http.get("/fake-google/_control/counters").json()["token_requests"]
    logged = sum(len(v) for v in refreshes.values()) + elsewhere
    checks.check(
        "refresh_log_complete",
        logged == counters.get("refresh_token", 0),
        f"every refresh request seen in the fake's log ({logged} of {counters.get('refresh_token', 0)})",
    )
    checks.check(
        "no_other_refresh",
        elsewhere == 0,
        f"no refresh of a connection whose token never expired ({elsewhere})",
    )
    # (started, ended) of the successful proxied GETs of each expiring connection
    used: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for s in books.samples:
        if s.op == "proxy_get_expiring" and s.status == 200:
            used[s.conn].append((s.started, s.ended))
    windows = [sent for sent, _ in expiries.times]
    answered = [done for _, done in expiries.times]
    once = unused = twice = missed = ambiguous = 0
    for conn in world.expiring:
        counts = [0] * len(windows)
        stamps = refreshes[conn.id]
        for ts in stamps:
            i = sum(1 for w in windows if w <= ts) - 1
            if i < 0:
                continue  # before the first expiry: none expected (counted below)
            if ts <= answered[i] and i > 0:
                # sent while expiry i was being applied: it answered expiry i-1 if expiry i got
                # a refresh of its own later in the window, else expiry i
                ambiguous += 1
                if any(answered[i] < other < (windows[i + 1 :] or [float("inf")])[0] for other in stamps):
                    i -= 1
            counts[i] += 1
        before_first = sum(1 for ts in refreshes[conn.id] if not windows or ts < windows[0])
        twice += before_first
        for i, n in enumerate(counts):
            end = windows[i + 1] if i + 1 < len(windows) else float("inf")
            # used: a GET succeeded wholly inside the window, so it held a token minted after the expiry
            was_used = any(answered[i] < t0 and t1 < end for t0, t1 in used[conn.id])
            once += n == 1
            twice += n > 1
            unused += n == 0 and not was_used
            missed += n == 0 and was_used
    print(
        f"  expiries: {len(windows)} of Bob's tokens x {len(world.expiring)} connections: {once} "
        f"refreshed once, {unused} not used in that window, {twice} more than once, {missed} used but "
        f"not refreshed ({ambiguous} refreshes sent while an expiry was being applied)"
    )
    checks.check(
        "tokens_expired",
        bool(windows) and expiries.failures == 0,
        f"tokens expired {len(windows)} times during the run",
    )
    checks.check(
        "one_refresh_per_expiry",
        twice == 0 and missed == 0,
        "exactly one token request per expiry per used connection, across all clients",
    )


# -- main ------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--expire-every", type=float, default=3.0, help="seconds between token expiries")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--smoke", action="store_true", help="a short run: 10 s, 4 clients")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="inject a duplicate send, extra refreshes and Gmail 500s mid-run; exits 0 only when the "
        f"verification catches each ({', '.join(sorted(SELF_CHECK_CATCHES))}) and nothing else fails",
    )
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.clients, args.expire_every = 10.0, 4, 2.0
    if not 1 <= args.clients <= 256 or not 1 <= args.seconds <= 3600:
        parser.error("--clients must be 1-256 and --seconds 1-3600")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"bench_load: --seconds {args.seconds:g} --clients {args.clients} --seed {seed}", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        state = Path(tmp)
        os.environ["BROKER_STATE_DIR"] = str(state)  # devidp.mint here signs with the server's key
        with local_broker(state) as (base_url, log_path, pid):
            http = httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT)
            try:
                setup_started = time.perf_counter()
                world = setup(http)
                print(
                    f"setup: {len(world.main)} + {len(world.expiring)} connections through the connect "
                    f"flow in {time.perf_counter() - setup_started:.1f} s",
                    flush=True,
                )
                return run(http, base_url, world, args, seed, log_path, pid)
            finally:
                http.close()


def run(
    http: httpx.Client,
    base_url: str,
    world: World,
    args: argparse.Namespace,
    seed: int,
    log_path: Path,
    pid: int,
) -> int:
    books, expiries, stop = Books(), Expiries(), threading.Event()
    collect_token_log(http, expiries)
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    until = started + args.seconds
    threads = [
        threading.Thread(
            target=_guard(client_loop, books),
            args=(i, base_url, world, books, until, random.Random(seed + i)),
            name=f"client-{i}",
        )
        for i in range(args.clients)
    ]
    timer = threading.Thread(
        target=expirer, args=(base_url, args.expire_every, until, stop, expiries), name="expirer"
    )
    if args.self_check:
        threads.append(
            threading.Thread(
                target=_guard(saboteur, books),
                args=(base_url, world, books, expiries, until),
                name="saboteur",
            )
        )
    for t in [*threads, timer]:
        t.start()
    for t in threads:
        t.join(args.seconds + 2 * REQUEST_TIMEOUT)
    elapsed = time.monotonic() - started
    stop.set()
    timer.join(2 * REQUEST_TIMEOUT)
    collect_token_log(http, expiries)  # the last refreshes, after every client stopped
    if any(t.is_alive() for t in [*threads, timer]):
        print("some clients did not stop in time", file=sys.stderr)
        return 1
    report(books, elapsed, args.clients)
    if cpu_before is not None and (cpu_after := cpu_seconds(pid)) is not None:
        used = cpu_after - cpu_before
        print(
            f"broker process CPU: {used:.1f} s in {elapsed:.1f} s ({used / elapsed:.2f} cores); "
            f"load average now {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)"
        )

    print("\nverification")
    checks = Checks()
    verify_statuses(books, expiries, checks)
    verify_sends(http, books, checks)
    verify_connections(http, world, books, checks)
    verify_refreshes(http, world, books, expiries, checks)
    if args.self_check:
        caught = set(checks.failed) == SELF_CHECK_CATCHES
        print(
            f"\nbench_load --self-check: failed {sorted(checks.failed)}, expected "
            f"{sorted(SELF_CHECK_CATCHES)}: {'every injected fault caught' if caught else 'NOT AS EXPECTED'}"
        )
        return 0 if caught else 1
    if checks.failed:
        lines = log_path.read_text(errors="replace").splitlines()
        tail = [line for line in lines if not re.search(r'HTTP/1\.1" \d{3} -$', line)][-40:]
        print("\nbroker log, last lines:\n" + "\n".join(tail), file=sys.stderr)
        print(f"\nbench_load: {len(checks.failed)} check(s) failed", file=sys.stderr)
        return 1
    print("\nbench_load: every check passed")
    return 0


def _guard(target: Callable[..., None], books: Books) -> Callable[..., None]:
    """A client that dies of an unexpected exception is a failure, not a silent thread death."""

    def guarded(*args: Any) -> None:
        try:
            target(*args)
        except Exception as exc:  # recorded and failed on, not swallowed
            with books.lock:
                books.failures[f"client crashed: {type(exc).__name__}: {exc}"] += 1
            books.add(Sample("connect", -1, 0.0, time.time(), time.time()))

    return guarded


if __name__ == "__main__":
    sys.exit(main())
