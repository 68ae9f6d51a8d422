"""Item shapes, as pydantic models. Key attributes (pk, sk, GSI keys) are added by the stores."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

KEY_ATTRIBUTES = frozenset(
    {"pk", "sk", "owner_pk", "owner_sk", "tenant_pk", "tenant_sk", "due_pk", "due_at", "ttl"}
)


class Item(BaseModel):
    # Schemas are built at first use: a function builds only the item models its requests use.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Any:
        return cls.model_validate({k: v for k, v in item.items() if k not in KEY_ATTRIBUTES})

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class GmailPushConfig(BaseModel):
    """A tenant's Gmail push: its Pub/Sub topic, and the `aud` and `email` its push subscription's
    OIDC token carries (API.md "Gmail push notifications")."""

    model_config = ConfigDict(extra="ignore")

    topic: str
    push_audience: str
    push_service_account: str


class TenantSettings(Item):
    tenant: str
    allowed_return_origins: list[str] = Field(default_factory=list)
    webhook_url: str | None = None
    enc_webhook_secret: str | None = None
    webhook_secret_hint: str | None = None
    expose_access_tokens: bool = False
    gmail_push: GmailPushConfig | None = None
    updated_at: str | None = None
    version: int = 0


class ApiKeyRecord(Item):
    id: str
    tenant: str
    name: str
    key_hash: str
    key_hint: str
    created_at: str
    created_by: str


class ConnectionStatus(StrEnum):
    PENDING = "pending"  # awaiting confirmation by the user who started the connect flow
    ACTIVE = "active"
    PARTIAL = "partial"
    NEEDS_REAUTH = "needs_reauth"
    REVOKED = "revoked"


class ConnectionRecord(Item):
    """A user's grant at a provider. Tokens are only ever held as `enc_*` envelope blobs."""

    id: str
    tenant: str
    owner: str
    name: str
    provider: str
    oauth_client_id: str
    # the OAuth client's own id at the provider (Google's `….apps.googleusercontent.com`): with
    # `account_sub`, what names the grant there (`ConnectionStore.by_account`)
    provider_client_id: str | None = None
    account_email: str | None = None
    account_sub: str | None = None
    account_hd: str | None = None
    scopes_requested: list[str] = Field(default_factory=list)
    scopes_granted: list[str] = Field(default_factory=list)
    status: ConnectionStatus = ConnectionStatus.ACTIVE
    status_reason: str | None = None
    concurrency_level: int | None = None
    borrow_concurrency_from: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    updated_at: str
    last_refreshed_at: str | None = None
    # epoch seconds of the last recorded use of its token (proxy, typed routes, test, token read),
    # written at most once an hour (`ConnectionStore.record_use`); None: never used
    last_used_at: int | None = None
    # epoch seconds at which the current access token expires
    expires_at: int | None = None
    version: int = 1
    enc_access_token: str | None = None
    enc_refresh_token: str | None = None
    # SHA-256 digests of the current refresh token's identifiers (`crypto.token_identifiers`:
    # prefix, hash_base64_sha512_sha512), indexed by `TOKID#` items; never the prefix itself.
    # Only for providers whose security events name tokens (the catalog's `risc`).
    rt_digests: list[str] | None = None
    token_type: str | None = None
    refresh_failures: int = 0
    # The last failed refresh's error code (`http_503`, `timeout`, `invalid_client`, ...): a
    # code, never a provider's message or a token. Cleared by the next successful refresh.
    last_refresh_error: str | None = None
    # Set while an admin has the provider disabled (status `revoked`, reason `provider_disabled`):
    # what re-enabling the provider restores.
    status_before_disable: ConnectionStatus | None = None
    status_reason_before_disable: str | None = None


class OAuthClientRecord(Item):
    """A tenant's OAuth app at a provider. The secret is held only as an envelope blob."""

    id: str
    tenant: str
    name: str
    provider: str
    client_id: str
    enc_client_secret: str
    secret_hint: str
    created_at: str
    updated_at: str
    version: int = 1


class GmailWatchRecord(Item):
    """A connection's Gmail push watch (`oauth_broker.gmail_push`): one item per watched connection,
    under its mailbox, so a push finds every watching connection of the mailbox with one Query.
    `history_id`: the mailbox history id up to which changes were read and announced (advanced
    with a compare-and-set)."""

    tenant: str
    connection_id: str
    owner: str
    mailbox: str
    # the OAuth client's id at Google: Google keeps one watch per mailbox and Cloud project
    provider_client_id: str | None = None
    topic: str
    label_ids: list[str] = Field(default_factory=list)
    label_filter_behavior: str = "include"
    history_id: int
    # the mailbox's history id when the watch (last) started
    start_history_id: int | None = None
    # epoch seconds at which Google's watch ends unless renewed
    expires_at: int
    renewed_at: int
    last_notification_at: str | None = None
    created_at: str
    updated_at: str
    version: int = 1
