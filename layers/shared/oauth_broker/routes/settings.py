"""GET/PATCH /v1/settings: a tenant's settings (admin only)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oauth_broker import audit
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.http.audited import audited
from oauth_broker.http.resolver import current_principal, new_router, require_admin, require_admin_write
from oauth_broker.ids import hint
from oauth_broker.services import get_services
from oauth_broker.store.models import GmailPushConfig, TenantSettings
from oauth_broker.weburl import origin_of

router = new_router()

MAX_ORIGINS = 50
# Pub/Sub's resource names: a project id (6-30 characters: lowercase letters, digits, hyphens; a
# letter first; optionally domain-scoped) and a topic id (3-255 characters, a letter first, not
# `goog`-prefixed)
_TOPIC_RE = re.compile(
    r"^projects/(?:[a-z0-9.-]{1,63}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/"
    r"(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}$"
)
_SERVICE_ACCOUNT_RE = re.compile(
    r"^[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.gserviceaccount\.com$"
)


class GmailPushSettings(BaseModel):
    """The tenant's Gmail push settings (API.md "Gmail push notifications")."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(
        max_length=512, description="the Pub/Sub topic Gmail publishes to: projects/<project>/topics/<topic>"
    )
    push_audience: str = Field(
        min_length=1,
        max_length=2048,
        description="the audience the push subscription's OIDC token carries (its `aud`)",
    )
    push_service_account: str = Field(
        max_length=254,
        description="the service account the push subscription authenticates as (the token's `email`)",
    )

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not _TOPIC_RE.match(value):
            raise ValueError("must be a Pub/Sub topic name: projects/<project>/topics/<topic>")
        return value

    @field_validator("push_service_account")
    @classmethod
    def _service_account(cls, value: str) -> str:
        email = value.strip().lower()
        if not _SERVICE_ACCOUNT_RE.match(email):
            raise ValueError("must be a service account's email (…@….gserviceaccount.com)")
        return email

    @field_validator("push_audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        if value != value.strip() or any(ord(c) < 0x21 for c in value):
            raise ValueError("must not contain spaces or control characters")
        return value


class SettingsOut(BaseModel):
    allowed_return_origins: list[str]
    webhook_url: str | None
    webhook_secret_hint: str | None = Field(
        description="the last characters of the write-only webhook secret"
    )
    expose_access_tokens: bool
    gmail_push: GmailPushSettings | None = Field(
        default=None, description="Gmail push notifications: the tenant's Pub/Sub topic and push subscription"
    )
    updated_at: str | None

    @classmethod
    def of(cls, s: TenantSettings) -> SettingsOut:
        return cls(
            allowed_return_origins=s.allowed_return_origins,
            webhook_url=s.webhook_url,
            webhook_secret_hint=s.webhook_secret_hint,
            expose_access_tokens=s.expose_access_tokens,
            gmail_push=(
                GmailPushSettings.model_construct(**s.gmail_push.model_dump()) if s.gmail_push else None
            ),
            updated_at=s.updated_at,
        )


class SettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_return_origins: list[str] | None = Field(default=None, max_length=MAX_ORIGINS)
    webhook_url: str | None = Field(default=None, max_length=2048)
    webhook_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="write-only; HMAC-SHA256 key for webhook signatures",
    )
    expose_access_tokens: bool | None = None
    gmail_push: GmailPushSettings | None = Field(default=None, description="null removes them")

    @field_validator("allowed_return_origins")
    @classmethod
    def _origins(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        origins = []
        for v in values:
            origin = origin_of(v)
            if origin != v.rstrip("/").lower() and origin != v.rstrip("/"):
                raise ValueError(f"{v!r} is not an origin (scheme://host[:port], no path)")
            origins.append(origin)
        return list(dict.fromkeys(origins))

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        # the URL's shape here; its host's addresses once the caller is known to be an admin
        if value is None:
            return None
        return get_services().outbound.check_url(value, resolve=False)


@router.get("/v1/settings", summary="Read the tenant's settings", tags=["settings"])
def read_settings() -> SettingsOut:
    principal = require_admin(current_principal(router))
    return SettingsOut.of(get_services().settings.get(principal.tenant))


@router.patch(
    "/v1/settings",
    summary="Change the tenant's settings",
    tags=["settings"],
    middlewares=[audited("settings.updated", resource="settings")],
)
def patch_settings(body: SettingsPatch) -> SettingsOut:
    # the names of the fields changed, never their values (a webhook secret is one)
    audit.note(fields=sorted(body.model_fields_set))
    principal = require_admin_write(router)
    audit.note(resource_id=principal.tenant)
    if body.expose_access_tokens is not None:
        audit.note(expose_access_tokens=body.expose_access_tokens)
    services = get_services()
    if body.webhook_url is not None:
        _check_webhook_target(services, body.webhook_url)
    changes: dict[str, Any] = {}
    for field in body.model_fields_set:
        value = getattr(body, field)
        if field == "webhook_secret":
            if value is None:
                changes.update(enc_webhook_secret=None, webhook_secret_hint=None)
            else:
                ctx = EncryptionContext(principal.tenant, "settings", "webhook_secret")
                changes.update(
                    enc_webhook_secret=services.envelope.encrypt(value.encode(), ctx),
                    webhook_secret_hint=hint(value),
                )
        elif field == "allowed_return_origins":
            changes[field] = value or []
        elif field == "expose_access_tokens":
            changes[field] = bool(value)
        elif field == "gmail_push":
            changes[field] = GmailPushConfig(**value.model_dump()) if value is not None else None
        else:
            changes[field] = value
    return SettingsOut.of(services.settings.update(principal.tenant, changes))


def _check_webhook_target(services: Any, url: str) -> None:
    """422 naming `webhook_url` when its host resolves to an address the broker may not call
    (the webhook function's client checks the address it connects to again)."""
    from oauth_broker.errors import ValidationFailed
    from oauth_broker.outbound import OutboundUrlRefused

    try:
        services.outbound.check_url(url)
    except OutboundUrlRefused as exc:
        raise ValidationFailed(
            "invalid: webhook_url",
            errors=[{"loc": ["body", "webhook_url"], "msg": f"not allowed: {exc}", "type": "value_error"}],
        ) from None
