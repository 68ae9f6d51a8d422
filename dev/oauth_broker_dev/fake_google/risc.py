"""The fake Google as a Cross-Account Protection (RISC) transmitter, like Google's
(https://developers.google.com/identity/protocols/risc):

- its own RS256 signing key (not the ID-token key), published at `/risc/certs` and named by
  `/.well-known/risc-configuration`;
- security event tokens shaped as Google sends them: `iss` (the RISC issuer, with Google's trailing
  slash), `aud` (the OAuth client ID), `iat`, `jti`, and one event under `events`, its subject
  `{subject_type: "iss-sub", iss, sub}` or `{subject_type: "oauth_token", token_type:
  "refresh_token", token_identifier_alg: "prefix" | "hash_base64_sha512_sha512", token}`;
- one stream, configured through the RISC management API (v1beta: `stream:update`, `stream`,
  `stream/status`, `stream/status:update`, `stream:verify`), authorized as Google does it: a JWT the
  caller signs with a service account key (`iss` = `sub` = the account's email, `aud` = the RISC
  management service, at most one hour long). The fake knows its own service accounts' public keys;
- delivery: POST of the token (`Content-Type: application/secevent+jwt`) to the stream's URL, once,
  synchronously, only for event types the stream requested and while it is enabled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .signing import SigningKeys

if TYPE_CHECKING:
    from .fake import FakeGoogle

RISC_AUDIENCE = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
PUSH_DELIVERY = "https://schemas.openid.net/secevent/risc/delivery-method/push"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
EVENT_TYPES: dict[str, str] = {
    "sessions-revoked": RISC + "sessions-revoked",
    "tokens-revoked": OAUTH + "tokens-revoked",
    "token-revoked": OAUTH + "token-revoked",
    "account-disabled": RISC + "account-disabled",
    "account-enabled": RISC + "account-enabled",
    "account-purged": RISC + "account-purged",
    "account-credential-change-required": RISC + "account-credential-change-required",
    "verification": RISC + "verification",
}
TOKEN_IDENTIFIER_ALGS = ("prefix", "hash_base64_sha512_sha512")
API_PREFIX = "/risc/v1beta"
DELIVERY_TIMEOUT = 10.0


class RiscError(Exception):
    """A request the transmitter refuses: `status` and Google's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def event_type_uri(name: str) -> str:
    """A full event type URI from a short name (`tokens-revoked`) or the URI itself."""
    if name in EVENT_TYPES:
        return EVENT_TYPES[name]
    if name in EVENT_TYPES.values():
        return name
    raise RiscError(400, f"unknown event type {name!r}; one of {sorted(EVENT_TYPES)}")


def token_identifier(token: str, alg: str) -> str:
    """Google's identifier of a refresh token: its first 16 characters, or base64 (standard, padded)
    of SHA-512 of the SHA-512 digest of the token."""
    if alg == "prefix":
        return token[:16]
    if alg == "hash_base64_sha512_sha512":
        inner = hashlib.sha512(token.encode("utf-8")).digest()
        return base64.b64encode(hashlib.sha512(inner).digest()).decode("ascii")
    raise RiscError(400, f"token_identifier_alg must be one of {list(TOKEN_IDENTIFIER_ALGS)}")


@dataclass
class ServiceAccount:
    """A service account of the fake's Cloud project, with one key. `authorized`: it holds the RISC
    Configuration Admin role (an account without it gets Google's 403)."""

    email: str
    key: RSAKey
    authorized: bool = True

    @property
    def key_id(self) -> str:
        return str(self.key.kid)

    def key_file(self, token_uri: str) -> dict[str, Any]:
        """The JSON key file as the Cloud console downloads it."""
        pem = self.key.as_pem(private=True)
        return {
            "type": "service_account",
            "project_id": self.email.split("@", 1)[1].split(".", 1)[0],
            "private_key_id": self.key_id,
            "private_key": pem.decode("ascii") if isinstance(pem, bytes) else str(pem),
            "client_email": self.email,
            "client_id": str(int.from_bytes(hashlib.sha256(self.email.encode()).digest()[:8], "big")),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }


@dataclass
class Stream:
    """The project's one event stream (Google keeps one per Cloud project)."""

    url: str
    events_requested: list[str]
    delivery_method: str = PUSH_DELIVERY
    status: str = "enabled"


@dataclass
class Delivery:
    """One security event token pushed (or attempted) to the stream's receiver."""

    jti: str
    event_type: str
    aud: str
    url: str
    token: str
    claims: dict[str, Any]
    status: int | None = None  # the receiver's HTTP status; None: not reached
    error: str | None = None
    body: str = ""
    timestamp: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


@dataclass
class RiscTransmitter:
    """The RISC side of a `FakeGoogle`: `fake.risc`."""

    fake: FakeGoogle
    # its signing key, and the project's service account, are made on first use (an RSA key takes
    # a moment, and most fakes of the test suites never transmit)
    _keys: SigningKeys | None = None
    # How tokens reach the receiver: an httpx client (tests mount the broker on it); None: a new
    # client per delivery, not reading proxy settings from the environment.
    client: httpx.Client | None = None
    project: str = "fake-risc-project"
    stream: Stream | None = None
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    _deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def keys(self) -> SigningKeys:
        with self._lock:
            if self._keys is None:
                self._keys = SigningKeys()
            return self._keys

    # ---- configuration document ------------------------------------------------------------
    @property
    def issuer(self) -> str:
        """Google's RISC issuer is `https://accounts.google.com/`: its ID-token issuer with a
        trailing slash. The fake keeps that difference (a receiver must read the issuer from the
        RISC configuration, not reuse the ID-token one)."""
        return self.fake.issuer.rstrip("/") + "/"

    @property
    def configuration_url(self) -> str:
        return self.fake.url("/.well-known/risc-configuration")

    @property
    def api_base(self) -> str:
        """What `oauth-broker google risc-* --api-base` takes to reach this fake."""
        return self.fake.url(API_PREFIX)

    def configuration(self) -> dict[str, Any]:
        api = self.api_base
        return {
            "issuer": self.issuer,
            "jwks_uri": self.fake.url("/risc/certs"),
            "delivery_methods_supported": [PUSH_DELIVERY],
            "configuration_endpoint": f"{api}/stream",
            "status_endpoint": f"{api}/stream/status",
            "verification_endpoint": f"{api}/stream:verify",
        }

    def jwks(self) -> dict[str, Any]:
        return self.keys.jwks()

    def rotate_key(self) -> str:
        with self._lock:
            return self.keys.rotate()

    # ---- service accounts and the management API's authorization ---------------------------
    def new_service_account(self, name: str, *, authorized: bool = True) -> ServiceAccount:
        account = ServiceAccount(
            email=f"{name}@{self.project}.iam.gserviceaccount.com",
            key=RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True),
            authorized=authorized,
        )
        with self._lock:
            self.service_accounts[account.email] = account
        return account

    @property
    def service_account(self) -> ServiceAccount:
        """The project's RISC Configuration Admin service account (made with the fake)."""
        with self._lock:
            found = next((a for a in self.service_accounts.values() if a.authorized), None)
            return found or self.new_service_account("risc-admin")

    def service_account_key_file(self, account: ServiceAccount | None = None) -> dict[str, Any]:
        return (account or self.service_account).key_file(self.fake.url("/token"))

    def authorize(self, authorization: str | None) -> ServiceAccount:
        """The service account behind `Authorization: Bearer <JWT>`, or RiscError 401/403.

        Checked: the signature (RS256, with the key of the header's `kid`, or any of the account's
        keys), `iss` = `sub` = a known service account, `aud` = the RISC management service, `exp`
        in the future and at most one hour after `iat`, `iat` not in the future (60 s leeway)."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise RiscError(401, "Unauthorized.")
        try:
            compact = jws.extract_compact(value.strip().encode("ascii"))
            claims = json.loads(compact.payload)
            kid = compact.headers().get("kid")
        except (JoseError, ValueError, UnicodeError):
            raise RiscError(401, "Unauthorized.") from None
        account = self.service_accounts.get(str(claims.get("iss", ""))) if isinstance(claims, dict) else None
        if account is None or claims.get("sub") != account.email:
            raise RiscError(401, "Unauthorized.")
        if kid is not None and kid != account.key_id:
            raise RiscError(401, "Unauthorized.")
        try:
            jwt.decode(value.strip(), account.key, algorithms=["RS256"])
        except (JoseError, ValueError):
            raise RiscError(401, "Unauthorized.") from None
        now = self.fake.now()
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            RISC_AUDIENCE not in audiences
            or not isinstance(iat, int | float)
            or not isinstance(exp, int | float)
            or exp <= now
            or iat > now + 60
            or exp - iat > 3600
        ):
            raise RiscError(401, "Unauthorized.")
        if not account.authorized:
            raise RiscError(403, "Service account needs permission to access your RISC configuration")
        return account

    # ---- the stream ------------------------------------------------------------------------
    def register(self, url: str, events_requested: list[str] | None = None) -> Stream:
        """Configure the stream directly (what `stream:update` does): `make dev` points it at the
        local broker. Default events: every type the fake sends."""
        with self._lock:
            self.stream = Stream(url=url, events_requested=list(events_requested or EVENT_TYPES.values()))
            return self.stream

    def update_stream(self, body: Any) -> Stream:
        """`POST stream:update` with Google's validation and messages."""
        if not isinstance(body, dict):
            raise RiscError(400, "Stream configuration must contain delivery field.")
        delivery = body.get("delivery")
        if not isinstance(delivery, dict):
            raise RiscError(400, "Stream configuration must contain delivery field.")
        for name in ("delivery_method", "url"):
            if not isinstance(delivery.get(name), str) or not delivery[name]:
                raise RiscError(400, f"Stream configuration must contain {name} field.")
        if delivery["delivery_method"] != PUSH_DELIVERY:
            raise RiscError(400, f"Unsupported delivery method: {delivery['delivery_method']}")
        url = str(delivery["url"])
        scheme = urlsplit(url).scheme
        # Google sends only to HTTPS; the fake also sends to plain HTTP on a loopback address.
        if scheme != "https" and not (scheme == "http" and _is_loopback(url)):
            raise RiscError(403, "The delivery endpoint must be an HTTPS URL.")
        events = body.get("events_requested")
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            raise RiscError(400, "Stream configuration must contain events_requested field.")
        unknown = [e for e in events if e not in EVENT_TYPES.values()]
        if unknown:
            raise RiscError(400, f"Unsupported event types: {', '.join(unknown)}")
        with self._lock:
            status = self.stream.status if self.stream else "enabled"
            self.stream = Stream(url=url, events_requested=list(dict.fromkeys(events)), status=status)
            return self.stream

    def stream_config(self) -> dict[str, Any]:
        """`GET stream`: the configuration as Google reads it back (404 without one)."""
        stream = self._require_stream()
        return {
            "iss": self.issuer,
            "aud": sorted(self.fake.config.clients),
            "delivery": {"delivery_method": stream.delivery_method, "url": stream.url},
            "events_supported": list(EVENT_TYPES.values()),
            "events_requested": list(stream.events_requested),
            "events_delivered": [e for e in stream.events_requested if e in EVENT_TYPES.values()],
        }

    def set_status(self, status: Any) -> str:
        if status not in {"enabled", "disabled"}:
            raise RiscError(403, "Unsupported status.")
        with self._lock:
            stream = self.stream
            if stream is None:
                raise RiscError(404, "Project has no existing RISC configuration, cannot update status.")
            stream.status = str(status)
            return stream.status

    def _require_stream(self) -> Stream:
        stream = self.stream
        if stream is None:
            raise RiscError(404, "Project has no RISC configuration.")
        return stream

    # ---- tokens ----------------------------------------------------------------------------
    def make_set(
        self,
        event_type: str,
        aud: str,
        *,
        sub: str | None = None,
        token: str | None = None,
        token_identifier_alg: str = "prefix",
        reason: str | None = None,
        state: str | None = None,
        iat: int | None = None,
        jti: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A signed security event token and its claims."""
        uri = event_type_uri(event_type)
        event: dict[str, Any] = {}
        if uri == EVENT_TYPES["verification"]:
            event["state"] = state or ""
        elif uri == EVENT_TYPES["token-revoked"]:
            if not token:
                raise RiscError(400, "token-revoked needs the refresh token (`token`)")
            event["subject"] = {
                "subject_type": "oauth_token",
                "token_type": "refresh_token",
                "token_identifier_alg": token_identifier_alg,
                "token": token_identifier(token, token_identifier_alg),
            }
        else:
            if not sub:
                raise RiscError(400, f"{event_type} needs the account (`sub`)")
            event["subject"] = {"subject_type": "iss-sub", "iss": self.issuer, "sub": sub}
        if reason:
            event["reason"] = reason
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": aud,
            "iat": int(self.fake.now()) if iat is None else iat,
            "jti": jti or secrets.token_hex(16),
            "events": {uri: event},
        }
        header = {"alg": "RS256", "kid": self.keys.kid, "typ": "secevent+jwt"}
        with self._lock:
            return jwt.encode(header, claims, self.keys.current), claims

    # ---- delivery --------------------------------------------------------------------------
    def send(
        self,
        event_type: str,
        *,
        sub: str | None = None,
        token: str | None = None,
        client_id: str | None = None,
        reason: str | None = None,
        state: str | None = None,
        token_identifier_alg: str = "prefix",
        respect_stream: bool = True,
    ) -> Delivery:
        """Sign one token and push it to the stream's receiver. `sub` may be an account's email;
        `client_id` defaults to the client of the token (token-revoked) or of the account's latest
        grant. With `respect_stream`, an event type the stream did not request, or a disabled
        stream, is RiscError 409 (Google would not send it)."""
        stream = self.stream
        if stream is None:
            raise RiscError(409, "no receiver registered: call stream:update first")
        uri = event_type_uri(event_type)
        if respect_stream and stream.status != "enabled":
            raise RiscError(409, "the stream is disabled")
        if respect_stream and uri not in stream.events_requested:
            raise RiscError(409, f"the stream did not request {uri}")
        if sub is not None:
            known = self.fake._account_or_none(sub)  # an email names its account
            sub = known.sub if known else sub  # an unknown sub is sent as given
        aud = client_id or self._client_for(sub, token)
        signed, claims = self.make_set(
            uri,
            aud,
            sub=sub,
            token=token,
            token_identifier_alg=token_identifier_alg,
            reason=reason,
            state=state,
        )
        return self.deliver(signed, claims, stream.url)

    def deliver(self, signed: str, claims: dict[str, Any], url: str | None = None) -> Delivery:
        """POST a signed token to `url` (default: the stream's) and record the outcome."""
        target = url or self._require_stream().url
        delivery = Delivery(
            jti=str(claims.get("jti", "")),
            event_type=next(iter(claims.get("events", {})), ""),
            aud=str(claims.get("aud", "")),
            url=target,
            token=signed,
            claims=claims,
            timestamp=time.time(),
        )
        headers = {"Content-Type": "application/secevent+jwt", "Accept": "application/json"}
        try:
            if self.client is not None:
                response = self.client.post(target, content=signed, headers=headers)
            else:
                with httpx.Client(trust_env=False, timeout=DELIVERY_TIMEOUT) as http:
                    response = http.post(target, content=signed, headers=headers)
            delivery.status = response.status_code
            delivery.body = response.text[:2000]
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._deliveries.append(delivery)
        return delivery

    def notify_tokens_revoked(self, sub: str, client_ids: list[str]) -> list[Delivery]:
        """What Google does when the user removes an app's access: `tokens-revoked` for that
        account to each client, if a receiver is registered, enabled, and asked for it."""
        stream = self.stream
        uri = EVENT_TYPES["tokens-revoked"]
        if stream is None or stream.status != "enabled" or uri not in stream.events_requested:
            return []
        return [self.send(uri, sub=sub, client_id=client_id) for client_id in dict.fromkeys(client_ids)]

    def verify(self, state: str) -> Delivery:
        """`stream:verify`: a verification token with `state`, to the stream's receiver."""
        self._require_stream()
        return self.send("verification", state=state, client_id=self._any_client(), respect_stream=False)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def clear_deliveries(self) -> None:
        with self._lock:
            self._deliveries.clear()

    def _client_for(self, sub: str | None, token: str | None) -> str:
        if token:
            info = self.fake.token_info(token)
            if info is not None:
                return str(info["client_id"])
        if sub:
            latest = self.fake.latest_client_of(sub)
            if latest:
                return latest
        return self._any_client()

    def _any_client(self) -> str:
        """A client of the project: the first registered one; with `accept_any_client` (as `make
        dev` runs it), the client of the latest grant first (the one the demo registered)."""
        clients = list(self.fake.config.clients)
        latest = self.fake.latest_client_of(None)
        if latest and (self.fake.config.accept_any_client or not clients):
            return latest
        if clients:
            return clients[0]
        raise RiscError(400, "client_id is needed: the fake knows no OAuth client yet")
