"""`FakeGoogle`: the state of the fake (accounts, consents, codes, tokens, mailboxes, contacts)
and the controls tests use. Everything is in memory, behind one lock."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import scopes as sc
from .config import IN_PROCESS_BASE_URL, FakeAccount, FakeGoogleConfig
from .contacts import Contact
from .controls import (
    RULE_TARGETS,
    ConcurrencyGauge,
    FailRule,
    RecordedRequest,
    Revocation,
)
from .gmail_watch import Watch, notify
from .mailbox import HistoryRecord, Mailbox, MailboxError, StoredMessage, parse_message, recipients_of
from .pubsub import PubSub
from .risc import Delivery, RiscTransmitter
from .seed import seed_contacts, seed_mailbox
from .signing import SigningKeys, at_hash

if TYPE_CHECKING:
    import flask
    import httpx

    from .server import FakeGoogleServer

_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_ALIAS_BACK = {full: alias for alias, full in sc.ALIASES.items()}


@dataclass
class PendingAuthorization:
    """An authorization request shown on the consent page, waiting for Allow or Cancel."""

    id: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str
    code_challenge: str
    nonce: str | None
    prompt: set[str]
    login_hint: str | None
    access_type: str
    include_granted_scopes: bool
    expires_at: float


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    sub: str
    scopes: list[str]
    code_challenge: str
    nonce: str | None
    issue_refresh_token: bool
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    """One token family: a refresh token (when offline) and the access tokens minted from it."""

    id: str
    client_id: str
    sub: str
    scopes: list[str]
    refresh_token: str | None
    created_at: float
    revoked: bool = False
    access_tokens: list[str] = field(default_factory=list)


@dataclass
class AccessToken:
    token: str
    grant_id: str
    client_id: str
    sub: str
    scopes: list[str]
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True)
class ErrorPage:
    """The authorization request cannot be answered with a redirect (bad client or redirect URI)."""

    status: int
    error: str
    description: str


@dataclass(frozen=True)
class Redirect:
    location: str


class FakeGoogle:
    """A fake Google (OAuth 2.0 / OIDC, Gmail and People subsets) with controls for tests.

    `fake.app` is the Flask app (WSGI). `fake.serve()` runs it on a loopback port.
    """

    def __init__(
        self,
        config: FakeGoogleConfig | None = None,
        *,
        clock: Callable[[], float] | None = None,
        signing_keys: SigningKeys | None = None,
    ) -> None:
        from .app import create_app

        self.config = config or FakeGoogleConfig()
        self._clock = clock or time.time
        self._clock_offset = 0.0
        self._lock = threading.RLock()
        self.keys = signing_keys or SigningKeys()
        self._served_base_url: str | None = None
        self.gauge = ConcurrencyGauge()
        self.risc = RiscTransmitter(self)  # Cross-Account Protection: its own key, stream, deliveries
        self.pubsub = PubSub(self)  # Gmail push: topics, push subscriptions, a delivery worker
        if self.config.risc_receiver_url:
            self.risc.register(self.config.risc_receiver_url)
        self._reset_state()
        self.app: flask.Flask = create_app(self.config, fake=self)

    # ---- configuration-derived -------------------------------------------------------------
    @property
    def base_url(self) -> str:
        base = self.config.base_url or self._served_base_url or IN_PROCESS_BASE_URL
        return base.rstrip("/")

    @property
    def issuer(self) -> str:
        return self.config.issuer or self.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def accounts(self) -> list[FakeAccount]:
        return list(self.config.accounts)

    def account(self, email_or_sub: str) -> FakeAccount:
        key = email_or_sub.lower()
        for account in self.config.accounts:
            if key in {account.email.lower(), account.sub}:
                return account
        raise KeyError(email_or_sub)

    def _account_or_none(self, email_or_sub: str | None) -> FakeAccount | None:
        if not email_or_sub:
            return None
        try:
            return self.account(email_or_sub)
        except KeyError:
            return None

    def now(self) -> float:
        return self._clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward (code, token and ID token expiry use it)."""
        with self._lock:
            self._clock_offset += seconds

    # ---- state -----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        with self._lock:
            self._pending: dict[str, PendingAuthorization] = {}
            self._codes: dict[str, AuthorizationCode] = {}
            self._grants: dict[str, Grant] = {}
            self._refresh_tokens: dict[str, Grant] = {}
            self._access_tokens: dict[str, AccessToken] = {}
            self._consents: dict[tuple[str, str], list[str]] = {}
            self._rules: list[FailRule] = []
            self._requests: list[RecordedRequest] = []
            self._revocations: list[Revocation] = []
            self.token_requests: Counter[str] = Counter()
            self.api_delay: float = self.config.api_delay
            self.gauge = ConcurrencyGauge()
            self.mailboxes: dict[str, Mailbox] = {}
            self.watches: dict[tuple[str, str], Watch] = {}  # (mailbox, OAuth client) -> watch
            self.contacts: dict[str, list[Contact]] = {}
            for account in self.config.accounts:
                others = [a for a in self.config.accounts if a.email != account.email]
                mailbox = Mailbox(account.email, self.now)
                if self.config.seed_mailboxes:
                    seed_mailbox(mailbox, account, others)
                mailbox.on_change = self._mailbox_changed
                self.mailboxes[account.email.lower()] = mailbox
                self.contacts[account.email.lower()] = (
                    seed_contacts(account, others) if self.config.seed_contacts else []
                )

    def reset(self) -> None:
        """Forget every code, token, consent, rule, log entry and counter; reseed the mailboxes.
        The signing keys stay (so cached JWKS stay valid), and so do the served address, the
        RISC stream (its receiver and service accounts) and the Pub/Sub topics and subscriptions;
        their delivery logs are emptied, Gmail watches are forgotten."""
        with self._lock:
            self._clock_offset = 0.0
            self._reset_state()
        self.risc.clear_deliveries()
        self.pubsub.reset()

    def close(self) -> None:
        """Stop the Pub/Sub delivery worker (the only thread the fake starts itself)."""
        self.pubsub.close()

    def _mailbox_changed(self, mailbox: Mailbox, record: HistoryRecord) -> None:
        notify(self, mailbox, record)

    # ---- controls --------------------------------------------------------------------------
    def fail_next(
        self,
        endpoint: str,
        status: int | None = None,
        error: str | None = None,
        delay: float = 0.0,
        count: int = 1,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> FailRule:
        """The next `count` requests to `endpoint` ("token", "revoke", "gmail", "people",
        "userinfo", "jwks", "any-api" = gmail+people+userinfo, "any" = token+revoke+APIs) fail with
        `status` (500 when nothing else is given) or OAuth error / API reason `error` (default
        status 400; 401 for invalid_client), after `delay` seconds. With only `delay` they are
        slow but succeed. API requests consume a rule
        only once their access token is accepted."""
        if endpoint not in RULE_TARGETS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {sorted(RULE_TARGETS)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        if status is None and error is None and body is None and not delay:
            status = 500
        rule = FailRule(endpoint, status, error, delay, count, retry_after, body)
        with self._lock:
            self._rules.append(rule)
        return rule

    def rate_limit_next(
        self, count: int = 1, retry_after: float | None = 1, endpoint: str = "any-api"
    ) -> FailRule:
        """The next `count` API requests get 429 RESOURCE_EXHAUSTED with `Retry-After`."""
        return self.fail_next(endpoint, status=429, count=count, retry_after=retry_after)

    def gmail_rate_limit_403_next(self, count: int = 1, reason: str = "userRateLimitExceeded") -> FailRule:
        """The next `count` Gmail requests get Google's 403 `userRateLimitExceeded` (or
        `rateLimitExceeded`) body, which clients must treat as retryable."""
        if reason not in {"userRateLimitExceeded", "rateLimitExceeded"}:
            raise ValueError("reason must be userRateLimitExceeded or rateLimitExceeded")
        rule = FailRule("gmail", 403, reason, count=count, kind="rate_limit_403")
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_failures(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def pending_failures(self) -> list[FailRule]:
        with self._lock:
            return list(self._rules)

    def take_rule(self, endpoint: str) -> FailRule | None:
        """Consume one use of the first rule matching `endpoint` (used by the app)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(endpoint):
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def revoke_all_for(self, email: str, client_id: str | None = None, *, notify: bool = True) -> int:
        """The user removes the app(s) in their Google account: every token of the account dies and
        consents are forgotten (refresh then fails with invalid_grant). Returns grants revoked.
        With a registered RISC receiver, Google's `tokens-revoked` goes to it for each client."""
        return self.remove_access(email, client_id, notify=notify)[0]

    def remove_access(
        self, email: str, client_id: str | None = None, *, notify: bool = True
    ) -> tuple[int, list[Delivery]]:
        """myaccount.google.com > Security > Third-party apps > Remove access, for one client or
        (None) every app: (grants revoked, the `tokens-revoked` deliveries made to the RISC
        receiver, one per client whose access was removed; none without a receiver).
        `notify=False`: the grants die silently, as when Google expires the refresh tokens of an
        app in Testing mode after 7 days (no security event): the broker learns it at refresh."""
        account = self.account(email)
        with self._lock:
            grants = [
                g
                for g in self._grants.values()
                if g.sub == account.sub and not g.revoked and client_id in (None, g.client_id)
            ]
            for grant in grants:
                self._revoke_grant(grant)
            consents = [k for k in self._consents if k[1] == account.sub and client_id in (None, k[0])]
            for key in consents:
                del self._consents[key]
            clients = [g.client_id for g in grants] + [k[0] for k in consents]
        # delivered outside the lock: the receiver may call back (the JWKS) while it verifies
        return len(grants), self.risc.notify_tokens_revoked(account.sub, clients) if notify else []

    def apps_with_access(self, email: str) -> list[dict[str, Any]]:
        """The OAuth clients the account has consented to or holds live tokens of, with the scopes
        (myaccount.google.com's third-party apps list)."""
        account = self.account(email)
        with self._lock:
            apps: dict[str, list[str]] = {}
            for (client_id, sub), granted in self._consents.items():
                if sub == account.sub:
                    apps.setdefault(client_id, []).extend(granted)
            for grant in self._grants.values():
                if grant.sub == account.sub and not grant.revoked:
                    apps.setdefault(grant.client_id, []).extend(grant.scopes)
            return [{"client_id": c, "scopes": list(dict.fromkeys(s))} for c, s in sorted(apps.items())]

    def latest_client_of(self, sub: str | None) -> str | None:
        """The OAuth client of the account's (or anyone's, for None) most recent grant."""
        with self._lock:
            grants = [g for g in self._grants.values() if sub is None or g.sub == sub]
            return max(grants, key=lambda g: g.created_at).client_id if grants else None

    def expire_access_tokens(self, email: str | None = None) -> int:
        """Every access token (of `email`, or of everyone) is now expired: APIs answer 401."""
        sub = self.account(email).sub if email else None
        with self._lock:
            expired = 0
            for token in self._access_tokens.values():
                if sub is None or token.sub == sub:
                    token.expires_at = min(token.expires_at, self.now() - 1)
                    expired += 1
            return expired

    def set_api_delay(self, seconds: float) -> None:
        """Every Gmail/People/userinfo request waits this long (makes concurrency observable)."""
        with self._lock:
            self.api_delay = max(0.0, float(seconds))

    def rotate_signing_key(self) -> str:
        """New ID tokens are signed by a new key; the old one stays in the JWKS. Returns the kid."""
        with self._lock:
            return self.keys.rotate()

    def peak_concurrency(self, account: str | None = None, *, token: str | None = None) -> int:
        """Most API requests in flight at once: for an access token, an account (email), or all."""
        return self.gauge.peak(account.lower() if account else None, token)

    def in_flight(self, account: str | None = None, *, token: str | None = None) -> int:
        return self.gauge.current(account.lower() if account else None, token)

    def reset_concurrency(self) -> None:
        self.gauge.reset_peaks()

    def count_token_request(self, grant_type: str) -> None:
        with self._lock:
            self.token_requests[grant_type] += 1

    # ---- logs ------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request but /_control ones, oldest first (a snapshot)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def record_request(self, recorded: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(recorded)
            overflow = len(self._requests) - self.config.request_log_limit
            if overflow > 0:
                del self._requests[:overflow]

    @property
    def revocations(self) -> list[Revocation]:
        with self._lock:
            return list(self._revocations)

    # ---- inspection ------------------------------------------------------------------------
    def token_info(self, token: str) -> dict[str, Any] | None:
        """What Google knows about an access or refresh token (None when unknown)."""
        with self._lock:
            if token in self._access_tokens:
                at = self._access_tokens[token]
                return {
                    "kind": "access_token",
                    "active": not at.revoked and at.expires_at > self.now(),
                    "revoked": at.revoked,
                    "expires_at": at.expires_at,
                    "client_id": at.client_id,
                    "email": self.account(at.sub).email,
                    "scopes": list(at.scopes),
                }
            if token in self._refresh_tokens:
                grant = self._refresh_tokens[token]
                return {
                    "kind": "refresh_token",
                    "active": not grant.revoked,
                    "revoked": grant.revoked,
                    "client_id": grant.client_id,
                    "email": self.account(grant.sub).email,
                    "scopes": list(grant.scopes),
                }
            return None

    def granted_scopes(self, email: str, client_id: str) -> list[str]:
        """The scopes the user has consented to for this client (Google's account permissions)."""
        with self._lock:
            return list(self._consents.get((client_id, self.account(email).sub), []))

    def mailbox(self, email: str) -> Mailbox:
        return self.mailboxes[self.account(email).email.lower()]

    def add_message(
        self,
        email: str,
        raw: bytes | EmailMessage,
        label_ids: Iterable[str] = ("INBOX", "UNREAD"),
        thread_id: str | None = None,
    ) -> StoredMessage:
        """Deliver a message to an account's mailbox (bytes are RFC 822)."""
        data = raw.as_bytes(policy=policy.SMTP) if isinstance(raw, EmailMessage) else raw
        with self._lock:
            return self.mailbox(email).add(data, label_ids, thread_id)

    def deliver_message(
        self,
        email: str,
        sender: str,
        subject: str,
        text: str,
        label_ids: Iterable[str] = ("INBOX", "UNREAD"),
    ) -> StoredMessage:
        """A new message from `sender` arrives in `email`'s mailbox (the demo's "send it a
        message"): a plain-text RFC 822 message, dated now."""
        account = self.account(email)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = formataddr((account.name, account.email))
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.fromtimestamp(self.now(), UTC))
        message["Message-ID"] = make_msgid(domain="mail.example.com")
        message.set_content(text)
        return self.add_message(email, message, label_ids)

    def expire_history(self, email: str, before_history_id: int) -> int:
        """Google keeps a mailbox's history for about a week: forget the records below
        `before_history_id`, so a `history.list` from before it is 404. Returns records dropped."""
        with self._lock:
            return self.mailbox(email).expire_history(before_history_id)

    def sent_messages(self, email: str) -> list[EmailMessage]:
        """Messages the account sent (label SENT), oldest first, parsed."""
        with self._lock:
            stored = [m for m in self.mailbox(email).messages.values() if "SENT" in m.label_ids]
        stored.sort(key=lambda m: (m.internal_date, m.id))
        return [parse_message(m.raw) for m in stored]

    # ---- OAuth: authorization --------------------------------------------------------------
    def _client_known(self, client_id: str) -> bool:
        return client_id in self.config.clients or self.config.accept_any_client

    def _redirect_uri_ok(self, client_id: str, redirect_uri: str) -> bool:
        allowed = (self.config.redirect_uris or {}).get(client_id)
        if allowed is not None:
            return redirect_uri in allowed
        parts = urlsplit(redirect_uri)
        return parts.scheme in {"http", "https"} and bool(parts.netloc) and not parts.fragment

    @staticmethod
    def _with_query(uri: str, params: Mapping[str, str]) -> str:
        parts = urlsplit(uri)
        query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
        return urlunsplit(parts._replace(query=urlencode(query, safe=":/")))

    def _error_redirect(self, redirect_uri: str, state: str | None, error: str, description: str) -> Redirect:
        params = {"error": error, "error_description": description}
        if state is not None:
            params["state"] = state
        params["iss"] = self.issuer
        return Redirect(self._with_query(redirect_uri, params))

    def begin_authorization(self, params: Mapping[str, str]) -> PendingAuthorization | ErrorPage | Redirect:
        """Validate an authorization request: an error page, an error/`prompt=none` redirect, or a
        pending request for the consent page."""
        client_id = params.get("client_id", "")
        if not client_id:
            return ErrorPage(400, "invalid_request", "Missing required parameter: client_id")
        if not self._client_known(client_id):
            return ErrorPage(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            return ErrorPage(400, "invalid_request", "Missing required parameter: redirect_uri")
        if not self._redirect_uri_ok(client_id, redirect_uri):
            return ErrorPage(
                400,
                "redirect_uri_mismatch",
                f"The redirect URI in the request, {redirect_uri}, does not match the ones authorized "
                "for the OAuth client.",
            )
        state = params.get("state")

        def fail(error: str, description: str) -> Redirect:
            return self._error_redirect(redirect_uri, state, error, description)

        response_type = params.get("response_type", "")
        if not response_type:
            return fail("invalid_request", "Required parameter is missing: response_type")
        if response_type != "code":
            return fail("unsupported_response_type", f"Invalid response_type: {response_type}")
        requested = params.get("scope", "").split()
        if not requested:
            return fail("invalid_request", "Missing required parameter: scope")
        unknown = [s for s in requested if s not in sc.KNOWN]
        if unknown and self.config.strict_scopes:
            return fail("invalid_scope", f"Some requested scopes were invalid. {{invalid={unknown}}}")
        if not state:
            return fail("invalid_request", "Missing required parameter: state")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if not challenge:
            return fail("invalid_request", "Missing required parameter: code_challenge")
        if method != "S256":
            return fail("invalid_request", "Invalid code_challenge_method: only S256 is accepted")
        if not _CHALLENGE.match(challenge):
            return fail("invalid_request", "Invalid code_challenge.")
        prompt = set(params.get("prompt", "").split())
        if prompt - {"none", "consent", "select_account"}:
            return fail("invalid_request", f"Invalid prompt: {params.get('prompt')}")
        if "none" in prompt and len(prompt) > 1:
            return fail("invalid_request", "prompt=none cannot be combined with other values")
        access_type = params.get("access_type", "online") or "online"
        if access_type not in {"online", "offline"}:
            return fail("invalid_request", f"Invalid access_type: {access_type}")
        include = params.get("include_granted_scopes", "false").lower()
        if include not in {"true", "false"}:
            return fail("invalid_request", "Invalid include_granted_scopes: use true or false")
        pending = PendingAuthorization(
            id=secrets.token_urlsafe(24),
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=list(dict.fromkeys(requested)),
            state=state,
            code_challenge=challenge,
            nonce=params.get("nonce") or None,
            prompt=prompt,
            login_hint=params.get("login_hint") or None,
            access_type=access_type,
            include_granted_scopes=include == "true",
            expires_at=self.now() + 600,
        )
        if "none" in prompt:
            return self._silent_authorization(pending)
        with self._lock:
            self._pending[pending.id] = pending
        return pending

    def _silent_authorization(self, pending: PendingAuthorization) -> Redirect:
        hinted = self._account_or_none(pending.login_hint)
        candidates = [hinted] if hinted else self.accounts
        wanted = set(sc.normalized(pending.scopes))
        with self._lock:
            consents = {a.sub: set(self._consents.get((pending.client_id, a.sub), [])) for a in candidates}
        covered = [a for a in candidates if wanted <= consents[a.sub]]
        if len(covered) == 1:
            return self._grant(pending, covered[0], sc.normalized(pending.scopes))
        if len(covered) > 1:
            error, text = "account_selection_required", "The user must select an account."
        elif any(consents.values()):
            error, text = "consent_required", "The user must consent to the requested scopes."
        else:
            error, text = "interaction_required", "The user must sign in and consent."
        return self._error_redirect(pending.redirect_uri, pending.state, error, text)

    def pending_authorization(self, request_id: str) -> PendingAuthorization | None:
        with self._lock:
            pending = self._pending.get(request_id)
            if pending and pending.expires_at < self.now():
                del self._pending[request_id]
                return None
            return pending

    def finish_authorization(
        self,
        request_id: str,
        account: str | None,
        ticked_scopes: Iterable[str] | None,
        allow: bool,
    ) -> Redirect | ErrorPage:
        """The user pressed Allow (with the scopes left ticked) or Cancel on the consent page."""
        with self._lock:
            pending = self.pending_authorization(request_id)
            if pending is None:
                return ErrorPage(
                    400, "invalid_request", "This authorization request has expired or was used."
                )
            if not allow:
                del self._pending[request_id]
                return self._error_redirect(pending.redirect_uri, pending.state, "access_denied", "")
            chosen = self._account_or_none(account)
            if chosen is None:
                return ErrorPage(400, "invalid_request", "Choose an account to continue.")
            ticked = set(pending.scopes if ticked_scopes is None else ticked_scopes)
            granted = [s for s in pending.scopes if s in ticked or s in sc.BASIC]
            if not granted:
                del self._pending[request_id]
                return self._error_redirect(pending.redirect_uri, pending.state, "access_denied", "")
            del self._pending[request_id]
            return self._grant(pending, chosen, sc.normalized(granted))

    def _grant(self, pending: PendingAuthorization, account: FakeAccount, granted: list[str]) -> Redirect:
        with self._lock:
            key = (pending.client_id, account.sub)
            previous = list(self._consents.get(key, []))
            self._consents[key] = previous + [s for s in granted if s not in previous]
            token_scopes = list(granted)
            if pending.include_granted_scopes:
                token_scopes += [s for s in previous if s not in token_scopes]
            offline = pending.access_type == "offline"
            if self.config.refresh_token_only_on_first_consent:
                offline = offline and (not previous or "consent" in pending.prompt)
            code = AuthorizationCode(
                code="4/0A" + secrets.token_urlsafe(48),
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                sub=account.sub,
                scopes=token_scopes,
                code_challenge=pending.code_challenge,
                nonce=pending.nonce,
                issue_refresh_token=offline,
                expires_at=self.now() + self.config.code_lifetime,
            )
            self._codes[code.code] = code
        params = {
            "state": pending.state,
            "iss": self.issuer,
            "code": code.code,
            "scope": self._redirect_scope(pending.scopes, token_scopes),
            "authuser": str(self.accounts.index(account)),
        }
        if account.hd:
            params["hd"] = account.hd
        params["prompt"] = "none" if "none" in pending.prompt else "consent"
        return Redirect(self._with_query(pending.redirect_uri, params))

    def _redirect_scope(self, requested: list[str], token_scopes: list[str]) -> str:
        if not self.config.expand_scope_aliases:
            return self._scope_string(token_scopes)
        shown = [s for s in requested if s in sc.ALIASES and sc.expand(s) in token_scopes]
        return " ".join(shown + [s for s in token_scopes if s not in shown])

    def _scope_string(self, scopes: Iterable[str]) -> str:
        if self.config.expand_scope_aliases:
            return " ".join(scopes)
        return " ".join(_ALIAS_BACK.get(s, s) for s in scopes)

    def complete_consent(
        self,
        authorize_url: str,
        account: str | None = None,
        scopes: Iterable[str] | None = None,
        allow: bool = True,
    ) -> str:
        """Act as the user on the consent page without a browser: returns the redirect URL (to the
        client's redirect_uri, with code/state/scope/iss or an error). `account` defaults to the
        login_hint or the first account; `scopes` are the ones left ticked (default all)."""
        params = dict(parse_qsl(urlsplit(authorize_url).query, keep_blank_values=True))
        outcome = self.begin_authorization(params)
        if isinstance(outcome, Redirect):
            return outcome.location
        if isinstance(outcome, ErrorPage):
            raise ValueError(f"{outcome.status} {outcome.error}: {outcome.description}")
        hinted = self._account_or_none(outcome.login_hint)
        chosen = account or (hinted.email if hinted else self.accounts[0].email)
        result = self.finish_authorization(outcome.id, chosen, scopes, allow)
        if isinstance(result, ErrorPage):
            raise ValueError(f"{result.status} {result.error}: {result.description}")
        return result.location

    # ---- OAuth: tokens ---------------------------------------------------------------------
    def _authenticate_client(
        self, params: Mapping[str, str], basic: tuple[str, str] | None
    ) -> tuple[str, None] | tuple[None, tuple[int, dict[str, Any]]]:
        def err(error: str, description: str, status: int = 400) -> tuple[None, tuple[int, dict[str, Any]]]:
            return None, (status, {"error": error, "error_description": description})

        if basic is not None:
            client_id, secret = basic
            if params.get("client_id") and params["client_id"] != client_id:
                return err("invalid_request", "client_id in the body and the Authorization header differ.")
        else:
            client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        if not client_id:
            return err("invalid_request", "Could not determine client ID from request.")
        if not self._client_known(client_id):
            return err("invalid_client", "The OAuth client was not found.", 401)
        if not secret:
            return err("invalid_request", "client_secret is missing.")
        expected = self.config.clients.get(client_id)
        if expected is not None and not secrets.compare_digest(secret, expected):
            return err("invalid_client", "Unauthorized", 401)
        return client_id, None

    def token_endpoint(
        self, params: Mapping[str, str], basic: tuple[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST /token without HTTP: (status, JSON body)."""
        client_id, failure = self._authenticate_client(params, basic)
        if failure is not None:
            return failure
        assert client_id is not None
        grant_type = params.get("grant_type", "")
        if not grant_type:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "}
        if grant_type == "authorization_code":
            return self._exchange_code(client_id, params)
        if grant_type == "refresh_token":
            return self._refresh(client_id, params)
        return 400, {
            "error": "unsupported_grant_type",
            "error_description": f"Invalid grant_type: {grant_type}",
        }

    def _exchange_code(self, client_id: str, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        def bad(error: str, description: str = "Bad Request") -> tuple[int, dict[str, Any]]:
            return 400, {"error": error, "error_description": description}

        code_value = params.get("code", "")
        if not code_value:
            return bad("invalid_request", "Missing required parameter: code")
        with self._lock:
            code = self._codes.get(code_value)
            if code is None:
                return bad("invalid_grant", "Malformed auth code.")
            if code.used or code.expires_at < self.now() or code.client_id != client_id:
                return bad("invalid_grant")
            redirect_uri = params.get("redirect_uri", "")
            if not redirect_uri:
                return bad("invalid_request", "Missing parameter: redirect_uri")
            if redirect_uri != code.redirect_uri:
                return bad("redirect_uri_mismatch")
            verifier = params.get("code_verifier", "")
            if not verifier:
                return bad("invalid_grant", "Missing code verifier.")
            computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
            if not _VERIFIER.match(verifier) or computed.rstrip(b"=").decode() != code.code_challenge:
                return bad("invalid_grant", "Invalid code verifier.")
            code.used = True
            return 200, self._issue(
                client_id, self.account(code.sub), code.scopes, code.issue_refresh_token, code.nonce
            )

    def _issue(
        self,
        client_id: str,
        account: FakeAccount,
        scopes: list[str],
        offline: bool,
        nonce: str | None,
    ) -> dict[str, Any]:
        with self._lock:
            grant = Grant(
                id=secrets.token_hex(8),
                client_id=client_id,
                sub=account.sub,
                scopes=list(scopes),
                refresh_token=("1//0" + secrets.token_urlsafe(72)) if offline else None,
                created_at=self.now(),
            )
            self._grants[grant.id] = grant
            if grant.refresh_token:
                self._refresh_tokens[grant.refresh_token] = grant
            access = self._mint_access_token(grant, grant.scopes)
            body: dict[str, Any] = {
                "access_token": access.token,
                "expires_in": self.config.access_token_lifetime,
            }
            if grant.refresh_token:
                body["refresh_token"] = grant.refresh_token
            body["scope"] = self._scope_string(grant.scopes)
            body["token_type"] = "Bearer"
            if sc.OPENID in grant.scopes:
                body["id_token"] = self.id_token(account, client_id, grant.scopes, nonce, access.token)
            return body

    def _mint_access_token(self, grant: Grant, scopes: list[str]) -> AccessToken:
        token = AccessToken(
            token="ya29.a0" + secrets.token_urlsafe(96),
            grant_id=grant.id,
            client_id=grant.client_id,
            sub=grant.sub,
            scopes=list(scopes),
            expires_at=self.now() + self.config.access_token_lifetime,
        )
        self._access_tokens[token.token] = token
        grant.access_tokens.append(token.token)
        return token

    def _refresh(self, client_id: str, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        value = params.get("refresh_token", "")
        if not value:
            return 400, {
                "error": "invalid_request",
                "error_description": "Missing required parameter: refresh_token",
            }
        with self._lock:
            grant = self._refresh_tokens.get(value)
            if grant is None or grant.revoked:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                }
            if grant.client_id != client_id:
                return 401, {"error": "unauthorized_client", "error_description": "Unauthorized"}
            scopes = list(grant.scopes)
            if params.get("scope"):
                asked = sc.normalized(params["scope"].split())
                if not set(asked) <= set(grant.scopes):
                    return 400, {"error": "invalid_scope", "error_description": "Bad Request"}
                scopes = asked
            access = self._mint_access_token(grant, scopes)
            body: dict[str, Any] = {
                "access_token": access.token,
                "expires_in": self.config.access_token_lifetime,
            }
            if self.config.rotate_refresh_tokens:
                del self._refresh_tokens[value]
                grant.refresh_token = "1//0" + secrets.token_urlsafe(72)
                self._refresh_tokens[grant.refresh_token] = grant
                body["refresh_token"] = grant.refresh_token
            body["scope"] = self._scope_string(scopes)
            body["token_type"] = "Bearer"
            if sc.OPENID in scopes:
                body["id_token"] = self.id_token(
                    self.account(grant.sub), client_id, scopes, None, access.token
                )
            return 200, body

    def id_token(
        self,
        account: FakeAccount,
        client_id: str,
        scopes: Iterable[str],
        nonce: str | None = None,
        access_token: str | None = None,
    ) -> str:
        """An RS256 ID token as Google issues it (email claims with the email scope, profile
        claims with the profile scope)."""
        granted = set(sc.normalized(scopes))
        now = int(self.now())
        claims: dict[str, Any] = {"iss": self.issuer, "azp": client_id, "aud": client_id, "sub": account.sub}
        if account.hd:
            claims["hd"] = account.hd
        if sc.USERINFO_EMAIL in granted:
            claims["email"] = account.email
            claims["email_verified"] = True
        if access_token:
            claims["at_hash"] = at_hash(access_token)
        if nonce:
            claims["nonce"] = nonce
        if sc.USERINFO_PROFILE in granted:
            claims.update(
                name=account.name,
                picture=account.picture,
                given_name=account.given_name,
                family_name=account.family_name,
            )
        claims["iat"] = now
        claims["exp"] = now + self.config.id_token_lifetime
        with self._lock:
            return self.keys.sign(claims)

    def issue_tokens(
        self,
        email: str,
        scopes: Iterable[str],
        client_id: str | None = None,
        *,
        offline: bool = True,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Mint tokens as if the user had consented (no browser, no code): Google's token response
        body. Records the consent too."""
        account = self.account(email)
        client = client_id or next(iter(self.config.clients), "fake-client")
        granted = sc.normalized(scopes)
        with self._lock:
            key = (client, account.sub)
            previous = self._consents.get(key, [])
            self._consents[key] = previous + [s for s in granted if s not in previous]
            return self._issue(client, account, granted, offline, nonce)

    # ---- OAuth: revocation -----------------------------------------------------------------
    def _revoke_grant(self, grant: Grant) -> None:
        grant.revoked = True
        for token in grant.access_tokens:
            if token in self._access_tokens:
                self._access_tokens[token].revoked = True

    def revoke_token(
        self, token: str, token_type_hint: str | None = None
    ) -> tuple[int, dict[str, Any] | None]:
        """POST /revoke without HTTP (RFC 7009 as Google does it): (status, JSON body or None)."""
        with self._lock:
            grant: Grant | None = None
            kind: str | None = None
            if token in self._refresh_tokens:
                grant, kind = self._refresh_tokens[token], "refresh_token"
            elif token in self._access_tokens:
                access = self._access_tokens[token]
                grant, kind = self._grants.get(access.grant_id), "access_token"
                if access.revoked:
                    grant = None
            record = Revocation(token, token_type_hint, "invalid_token", kind, timestamp=self.now())
            if grant is not None:
                record.email = self.account(grant.sub).email
                record.client_id = grant.client_id
            if grant is None or grant.revoked:
                self._revocations.append(record)
                return 400, {"error": "invalid_token", "error_description": "Token expired or revoked"}
            if self.config.revoke_whole_client_grant:
                for other in self._grants.values():
                    if other.sub == grant.sub and other.client_id == grant.client_id:
                        self._revoke_grant(other)
                self._consents.pop((grant.client_id, grant.sub), None)
            else:
                self._revoke_grant(grant)
            record.outcome = "revoked"
            self._revocations.append(record)
            return 200, None

    def record_revocation(self, record: Revocation) -> None:
        with self._lock:
            self._revocations.append(record)

    # ---- APIs ------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> AccessToken | str:
        """The access token of an `Authorization: Bearer` header, or "missing" / "invalid"."""
        if not authorization:
            return "missing"
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "invalid"
        with self._lock:
            token = self._access_tokens.get(value.strip())
            if token is None or token.revoked or token.expires_at <= self.now():
                return "invalid"
            return token

    def send_message(self, email: str, raw: bytes, thread_id: str | None = None) -> StoredMessage:
        """Gmail's messages.send: fix up From/Date/Message-ID like Gmail, store it as SENT and
        deliver a copy to every recipient that is an account of this fake."""
        account = self.account(email)
        parsed = parse_message(raw)
        if not recipients_of(parsed):
            raise MailboxError(400, "Recipient address required", "invalidArgument")
        allowed = {account.email.lower(), *(alias.lower() for alias in account.send_as)}
        senders = [addr.lower() for _, addr in getaddresses([str(parsed.get("From", ""))]) if addr]
        changed = False
        if not senders or senders[0] not in allowed:
            del parsed["From"]
            parsed["From"] = formataddr((account.name, account.email))
            changed = True
        if parsed.get("Date") is None:
            parsed["Date"] = format_datetime(datetime.fromtimestamp(self.now(), UTC))
            changed = True
        if parsed.get("Message-ID") is None:
            parsed["Message-ID"] = make_msgid(domain="mail.gmail.com")
            changed = True
        data = parsed.as_bytes(policy=policy.SMTP) if changed else raw
        data = re.sub(rb"(?<!\r)\n", b"\r\n", data)  # Gmail stores messages with CRLF line ends
        recipients = recipients_of(parsed)
        with self._lock:
            labels = ["SENT"]
            if account.email.lower() in recipients:
                labels = ["UNREAD", "SENT", "INBOX"]
            stored = self.mailbox(email).add(data, labels, thread_id, internal_date=int(self.now() * 1000))
            for address in dict.fromkeys(recipients):
                target = self._account_or_none(address)
                if target is not None and target.email.lower() != account.email.lower():
                    self.mailbox(target.email).add(
                        data, ["INBOX", "UNREAD"], internal_date=stored.internal_date
                    )
            return stored

    # ---- serving ---------------------------------------------------------------------------
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> FakeGoogleServer:
        """Serve the app on host:port (0 = any free port) in a daemon thread. When the config has
        no base_url, the served address becomes the base URL (issuer, discovery URLs)."""
        from .server import FakeGoogleServer

        server = FakeGoogleServer.start(self.app, host, port)
        if self.config.base_url is None:
            self._served_base_url = server.base_url
        server.on_stop = self._forget_served(server.base_url)
        return server

    def _forget_served(self, base_url: str) -> Callable[[], None]:
        def forget() -> None:
            if self._served_base_url == base_url:
                self._served_base_url = None

        return forget

    def http_client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client that reaches this app in-process (WSGI), at `base_url`."""
        import httpx
        from werkzeug.exceptions import NotFound
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        prefix = urlsplit(self.base_url).path.rstrip("/")
        app: Any = self.app if not prefix else DispatcherMiddleware(NotFound(), {prefix: self.app})
        return httpx.Client(transport=httpx.WSGITransport(app=app), base_url=self.base_url, **kwargs)
