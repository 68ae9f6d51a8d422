"""The fake Google as a Cross-Account Protection (RISC) transmitter: its configuration and keys,
security event tokens shaped and signed as Google's, the RISC management API authorized by a
service account's self-signed JWT, the send control, and "remove access" pushing tokens-revoked."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from oauth_broker_dev.fake_google import FakeGoogle
from oauth_broker_dev.fake_google.risc import EVENT_TYPES, PUSH_DELIVERY, RISC_AUDIENCE
from oauth_broker_dev.fake_google.scopes import GMAIL_READONLY

from .conftest import CLIENT_ID

ALICE = "alice@example.com"
ALICE_SUB = "109876543210987654321"
OTHER_CLIENT = "other-app.apps.googleusercontent.com"
TOKENS_REVOKED = EVENT_TYPES["tokens-revoked"]


class Receiver:
    """A RISC receiver on 127.0.0.1 that records each POST and answers `status`."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.received: list[tuple[str, bytes]] = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/v1/google/risc"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        self.received.append((req.content_type, req.get_data()))
        return Response(status=self.status)(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()


def _risc_keys(client: httpx.Client) -> KeySet:
    config = client.get("/.well-known/risc-configuration").json()
    path = config["jwks_uri"].removeprefix(str(client.base_url).rstrip("/"))
    return KeySet.import_key_set(client.get(path).json())


def _verified(token: str, keys: KeySet) -> jwt.Token:
    return jwt.decode(token, keys, algorithms=["RS256"])


def _assertion(key: RSAKey, email: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": email, "sub": email, "aud": RISC_AUDIENCE, "iat": now, "exp": now + 3600, **overrides}
    return jwt.encode({"alg": "RS256", "kid": str(key.kid)}, claims, key)


def _auth(fake: FakeGoogle, **overrides: Any) -> dict[str, str]:
    account = fake.risc.service_account
    return {"Authorization": f"Bearer {_assertion(account.key, account.email, **overrides)}"}


# ---- configuration, keys and tokens ---------------------------------------------------------


def test_given_the_risc_configuration_when_read_then_it_names_an_issuer_push_delivery_and_the_management_api(
    fake: FakeGoogle, client: httpx.Client
) -> None:
    config = client.get("/.well-known/risc-configuration").json()

    assert config["issuer"] == fake.base_url + "/"  # Google's RISC issuer ends with a slash
    assert config["jwks_uri"] == fake.base_url + "/risc/certs"
    assert config["delivery_methods_supported"] == [PUSH_DELIVERY]
    assert config["configuration_endpoint"] == fake.base_url + "/risc/v1beta/stream"
    assert config["verification_endpoint"] == fake.base_url + "/risc/v1beta/stream:verify"
    assert config["status_endpoint"] == fake.base_url + "/risc/v1beta/stream/status"


def test_given_a_security_event_token_when_verified_then_its_jwks_verifies_it_and_the_id_token_keys_do_not(
    fake: FakeGoogle, client: httpx.Client
) -> None:
    token, _ = fake.risc.make_set("tokens-revoked", CLIENT_ID, sub=ALICE_SUB)

    verified = _verified(token, _risc_keys(client))
    id_token_keys = KeySet.import_key_set(client.get("/jwks").json())

    assert verified.header["kid"] == fake.risc.keys.kid != fake.keys.kid
    with pytest.raises(JoseError):
        _verified(token, id_token_keys)


def test_given_tokens_revoked_when_signed_then_header_and_claims_are_shaped_as_google_sends_them(
    fake: FakeGoogle,
) -> None:
    before = int(time.time())
    token, _ = fake.risc.make_set("tokens-revoked", CLIENT_ID, sub=ALICE_SUB)
    other, _ = fake.risc.make_set("tokens-revoked", CLIENT_ID, sub=ALICE_SUB)

    verified = jwt.decode(token, fake.risc.keys.current, algorithms=["RS256"])
    claims = verified.claims
    assert verified.header == {"typ": "secevent+jwt", "alg": "RS256", "kid": fake.risc.keys.kid}
    assert set(claims) == {"iss", "aud", "iat", "jti", "events"}
    assert claims["iss"] == fake.risc.issuer and claims["aud"] == CLIENT_ID
    assert before <= claims["iat"] <= int(time.time())
    assert claims["jti"] != jwt.decode(other, fake.risc.keys.current).claims["jti"]
    assert claims["events"] == {
        TOKENS_REVOKED: {"subject": {"subject_type": "iss-sub", "iss": fake.risc.issuer, "sub": ALICE_SUB}}
    }


def test_given_account_disabled_for_hijacking_when_signed_then_the_event_carries_the_reason(
    fake: FakeGoogle,
) -> None:
    token, _ = fake.risc.make_set("account-disabled", CLIENT_ID, sub=ALICE_SUB, reason="hijacking")

    event = jwt.decode(token, fake.risc.keys.current).claims["events"][EVENT_TYPES["account-disabled"]]

    assert event == {
        "subject": {"subject_type": "iss-sub", "iss": fake.risc.issuer, "sub": ALICE_SUB},
        "reason": "hijacking",
    }


@pytest.mark.parametrize("alg", ["prefix", "hash_base64_sha512_sha512"])
def test_given_token_revoked_when_signed_then_the_subject_identifies_the_refresh_token_by_alg(
    fake: FakeGoogle, alg: str
) -> None:
    refresh = fake.issue_tokens(ALICE, [GMAIL_READONLY], CLIENT_ID)["refresh_token"]
    expected = (
        refresh[:16]
        if alg == "prefix"
        else base64.b64encode(hashlib.sha512(hashlib.sha512(refresh.encode()).digest()).digest()).decode()
    )

    token, _ = fake.risc.make_set("token-revoked", CLIENT_ID, token=refresh, token_identifier_alg=alg)

    events = jwt.decode(token, fake.risc.keys.current).claims["events"]
    subject = events[EVENT_TYPES["token-revoked"]]["subject"]
    assert subject == {
        "subject_type": "oauth_token",
        "token_type": "refresh_token",
        "token_identifier_alg": alg,
        "token": expected,
    }
    assert refresh not in json.dumps(jwt.decode(token, fake.risc.keys.current).claims)


# ---- the send control -------------------------------------------------------------------------


def test_given_a_registered_receiver_when_the_send_control_is_posted_then_the_receiver_gets_a_signed_set(
    fake: FakeGoogle, receiver: Receiver
) -> None:
    fake.risc.register(receiver.url)
    with fake.serve() as served, httpx.Client(base_url=served.base_url) as http:
        answer = http.post(
            "/__risc/send", json={"event_type": "account-disabled", "sub": ALICE, "reason": "hijacking"}
        )
        keys = _risc_keys(http)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == 202
    ((content_type, body),) = receiver.received
    assert content_type == "application/secevent+jwt"
    claims = _verified(body.decode(), keys).claims
    assert claims["jti"] == answer.json()["jti"]
    assert claims["events"][EVENT_TYPES["account-disabled"]]["subject"]["sub"] == ALICE_SUB
    assert claims["events"][EVENT_TYPES["account-disabled"]]["reason"] == "hijacking"


def test_given_a_receiver_that_refuses_when_sending_then_the_control_answers_the_receivers_status(
    fake: FakeGoogle, client: httpx.Client, receiver: Receiver
) -> None:
    receiver.status = 400
    fake.risc.register(receiver.url)

    answer = client.post("/__risc/send", json={"event_type": "sessions-revoked", "sub": ALICE_SUB})

    assert answer.status_code == 200 and answer.json()["status"] == 400
    assert len(receiver.received) == 1


def test_given_no_receiver_when_sending_then_the_control_refuses_with_409_and_nothing_is_sent(
    fake: FakeGoogle, client: httpx.Client
) -> None:
    answer = client.post("/__risc/send", json={"event_type": "tokens-revoked", "sub": ALICE_SUB})

    assert answer.status_code == 409
    assert fake.risc.deliveries == []


def test_given_a_client_id_when_sending_then_the_token_is_addressed_to_that_client(
    fake: FakeGoogle, client: httpx.Client, receiver: Receiver
) -> None:
    fake.risc.register(receiver.url)

    body = {"event_type": "account-purged", "sub": ALICE, "client_id": OTHER_CLIENT}
    client.post("/__risc/send", json=body)

    claims = jwt.decode(receiver.received[0][1].decode(), fake.risc.keys.current).claims
    assert claims["aud"] == OTHER_CLIENT


# ---- "remove access" sends tokens-revoked on its own --------------------------------------------


def test_given_a_receiver_when_the_user_removes_access_then_tokens_revoked_goes_to_each_client_of_the_account(
    fake: FakeGoogle, client: httpx.Client, receiver: Receiver
) -> None:
    fake.config.clients[OTHER_CLIENT] = "other-secret"
    fake.issue_tokens(ALICE, [GMAIL_READONLY], CLIENT_ID)
    fake.issue_tokens(ALICE, [GMAIL_READONLY], OTHER_CLIENT)
    fake.issue_tokens("bob@example.com", [GMAIL_READONLY], CLIENT_ID)
    fake.risc.register(receiver.url)

    answer = client.post("/_control/revoke_all_for", json={"email": ALICE})

    assert answer.status_code == 200
    assert answer.json()["revoked_grants"] == 2
    assert [d["status"] for d in answer.json()["risc"]] == [202, 202]
    sent = [jwt.decode(body.decode(), fake.risc.keys.current).claims for _, body in receiver.received]
    assert sorted(c["aud"] for c in sent) == sorted([CLIENT_ID, OTHER_CLIENT])
    subject = {"subject_type": "iss-sub", "iss": fake.risc.issuer, "sub": ALICE_SUB}
    for claims in sent:
        assert claims["events"] == {TOKENS_REVOKED: {"subject": subject}}


def test_given_one_app_when_its_access_is_removed_then_only_that_client_is_told_and_only_its_grant_dies(
    fake: FakeGoogle, client: httpx.Client, receiver: Receiver
) -> None:
    fake.config.clients[OTHER_CLIENT] = "other-secret"
    kept = fake.issue_tokens(ALICE, [GMAIL_READONLY], OTHER_CLIENT)["refresh_token"]
    fake.issue_tokens(ALICE, [GMAIL_READONLY], CLIENT_ID)
    fake.risc.register(receiver.url)

    answer = client.post("/_control/revoke_all_for", json={"email": ALICE, "client_id": CLIENT_ID})

    assert answer.json()["revoked_grants"] == 1
    assert [d["aud"] for d in answer.json()["risc"]] == [CLIENT_ID]
    assert len(receiver.received) == 1
    info = fake.token_info(kept)
    assert info is not None and info["active"] is True


def test_given_no_receiver_when_the_user_removes_access_then_the_grants_die_and_nothing_is_sent(
    fake: FakeGoogle,
) -> None:
    refresh = fake.issue_tokens(ALICE, [GMAIL_READONLY], CLIENT_ID)["refresh_token"]

    revoked = fake.revoke_all_for(ALICE)

    assert revoked == 1
    info = fake.token_info(refresh)
    assert info is not None and info["revoked"] is True
    assert fake.risc.deliveries == []


@pytest.mark.parametrize(
    "configure",
    [
        pytest.param(
            lambda fake, url: fake.risc.register(url, [EVENT_TYPES["account-purged"]]), id="not-requested"
        ),
        pytest.param(
            lambda fake, url: (fake.risc.register(url), fake.risc.set_status("disabled")), id="disabled"
        ),
    ],
)
def test_given_a_stream_that_does_not_want_it_when_the_user_removes_access_then_nothing_is_sent(
    fake: FakeGoogle, receiver: Receiver, configure: Callable[[FakeGoogle, str], Any]
) -> None:
    fake.issue_tokens(ALICE, [GMAIL_READONLY], CLIENT_ID)
    configure(fake, receiver.url)

    assert fake.revoke_all_for(ALICE) == 1

    assert receiver.received == []


# ---- the RISC management API --------------------------------------------------------------------

STREAM = {
    "delivery": {"delivery_method": PUSH_DELIVERY, "url": "https://broker.example.com/v1/google/risc"},
    "events_requested": [TOKENS_REVOKED, EVENT_TYPES["verification"]],
}


def test_given_the_service_accounts_jwt_when_updating_the_stream_then_get_returns_it(
    fake: FakeGoogle, client: httpx.Client
) -> None:
    updated = client.post("/risc/v1beta/stream:update", json=STREAM, headers=_auth(fake))
    stream = client.get("/risc/v1beta/stream", headers=_auth(fake))
    status = client.get("/risc/v1beta/stream/status", headers=_auth(fake))

    assert updated.status_code == 200, updated.text
    assert stream.status_code == 200
    assert stream.json()["delivery"] == STREAM["delivery"]
    assert stream.json()["events_requested"] == STREAM["events_requested"]
    assert stream.json()["iss"] == fake.risc.issuer
    assert status.json() == {"status": "enabled"}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda fake: {}, id="no-token"),
        pytest.param(lambda fake: _auth(fake, aud="https://oauth2.googleapis.com/token"), id="wrong-aud"),
        pytest.param(lambda fake: _auth(fake, exp=int(time.time()) - 10), id="expired"),
        pytest.param(lambda fake: _auth(fake, exp=int(time.time()) + 7200), id="longer-than-an-hour"),
        pytest.param(lambda fake: _auth(fake, sub="someone@else.iam.gserviceaccount.com"), id="sub-not-iss"),
        pytest.param(
            lambda fake: {
                "Authorization": "Bearer "
                + _assertion(RSAKey.generate_key(2048, auto_kid=True), fake.risc.service_account.email)
            },
            id="unknown-key",
        ),
    ],
)
def test_given_a_token_google_would_refuse_when_calling_the_api_then_401_and_the_stream_is_unchanged(
    fake: FakeGoogle, client: httpx.Client, headers: Callable[[FakeGoogle], dict[str, str]]
) -> None:
    answer = client.post("/risc/v1beta/stream:update", json=STREAM, headers=headers(fake))

    assert answer.status_code == 401
    assert answer.json()["error"]["status"] == "UNAUTHENTICATED"
    assert fake.risc.stream is None


def test_given_a_service_account_without_the_role_when_updating_then_403_names_the_permission(
    fake: FakeGoogle, client: httpx.Client
) -> None:
    account = fake.risc.new_service_account("no-role", authorized=False)
    headers = {"Authorization": f"Bearer {_assertion(account.key, account.email)}"}

    answer = client.post("/risc/v1beta/stream:update", json=STREAM, headers=headers)

    assert answer.status_code == 403
    assert "RISC configuration" in answer.json()["error"]["message"]
    assert fake.risc.stream is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"delivery": {"delivery_method": PUSH_DELIVERY, "url": "http://broker.example.com/risc"}}, 403),
        ({**STREAM, "events_requested": []}, 400),
        ({"events_requested": [TOKENS_REVOKED]}, 400),
        ({**STREAM, "events_requested": ["https://example.com/not-an-event"]}, 400),
    ],
    ids=["plain-http", "no-events", "no-delivery", "unknown-event"],
)
def test_given_a_stream_google_refuses_when_updating_then_its_error_status_and_nothing_is_kept(
    fake: FakeGoogle, client: httpx.Client, body: dict[str, Any], status: int
) -> None:
    answer = client.post("/risc/v1beta/stream:update", json=body, headers=_auth(fake))

    assert answer.status_code == status
    assert fake.risc.stream is None


def test_given_a_registered_receiver_when_verify_is_called_then_it_gets_a_verification_event_with_the_state(
    fake: FakeGoogle, client: httpx.Client, receiver: Receiver
) -> None:
    fake.risc.register(receiver.url)

    answer = client.post("/risc/v1beta/stream:verify", json={"state": "hello 42"}, headers=_auth(fake))

    assert answer.status_code == 200 and answer.json() == {}
    claims = jwt.decode(receiver.received[0][1].decode(), fake.risc.keys.current).claims
    assert claims["events"] == {EVENT_TYPES["verification"]: {"state": "hello 42"}}
    assert claims["aud"] == CLIENT_ID


def test_given_no_stream_when_reading_or_verifying_then_404(fake: FakeGoogle, client: httpx.Client) -> None:
    assert client.get("/risc/v1beta/stream", headers=_auth(fake)).status_code == 404
    verify = client.post("/risc/v1beta/stream:verify", json={"state": "x"}, headers=_auth(fake))
    assert verify.status_code == 404


# ---- the myaccount page: a user removes an app's access -----------------------------------------


def test_given_the_third_party_apps_page_when_the_user_removes_one_app_then_it_is_told_and_the_other_stays(
    signing_keys: Any, receiver: Receiver
) -> None:
    from oauth_broker_dev.fake_google import FakeGoogleConfig

    config = FakeGoogleConfig(
        base_url="http://127.0.0.1:3000/fake-google",
        clients={CLIENT_ID: "s1", OTHER_CLIENT: "s2"},
        risc_receiver_url=receiver.url,
    )
    fake = FakeGoogle(config, signing_keys=signing_keys)
    fake.issue_tokens(ALICE, [GMAIL_READONLY], CLIENT_ID)
    kept = fake.issue_tokens(ALICE, [GMAIL_READONLY], OTHER_CLIENT)["refresh_token"]

    with fake.http_client() as http:
        page = http.get("/myaccount/connections", params={"email": ALICE})
        removed = http.post("/myaccount/connections/remove", data={"email": ALICE, "client_id": CLIENT_ID})
        after = http.get("http://127.0.0.1:3000" + removed.headers["location"])  # host-relative

    assert page.status_code == 200
    assert f'data-client-id="{CLIENT_ID}"' in page.text and f'data-client-id="{OTHER_CLIENT}"' in page.text
    assert 'action="/fake-google/myaccount/connections/remove"' in page.text
    assert removed.status_code == 303
    assert removed.headers["location"].startswith("/fake-google/myaccount/connections?")
    assert f"Access removed for {CLIENT_ID}" in after.text
    assert (
        f'data-client-id="{CLIENT_ID}"' not in after.text and f'data-client-id="{OTHER_CLIENT}"' in after.text
    )
    ((_, body),) = receiver.received
    claims = jwt.decode(body.decode(), fake.risc.keys.current).claims
    assert claims["aud"] == CLIENT_ID and TOKENS_REVOKED in claims["events"]
    info = fake.token_info(kept)
    assert info is not None and info["active"] is True


def test_given_notify_false_when_access_is_removed_then_the_grants_die_silently_without_a_security_event(
    fake: FakeGoogle, client: httpx.Client, receiver: Receiver
) -> None:
    refresh = fake.issue_tokens(ALICE, [GMAIL_READONLY], CLIENT_ID)["refresh_token"]
    fake.risc.register(receiver.url)

    answer = client.post("/_control/revoke_all_for", json={"email": ALICE, "notify": False})

    assert answer.json() == {"revoked_grants": 1, "risc": []}
    info = fake.token_info(refresh)
    assert info is not None and info["revoked"] is True
    assert receiver.received == []
