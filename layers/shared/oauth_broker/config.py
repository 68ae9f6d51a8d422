"""Configuration, parsed once per cold start from the function's environment.

A missing or malformed variable raises `ConfigurationError` with a message naming it, so the
cold start fails loudly instead of the first request failing obscurely.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oauth_broker.errors import ConfigurationError

# environment variable -> field name
_ENV = {
    "TABLE_NAME": "table_name",
    "KMS_KEY_ID": "kms_key_id",
    "EVENT_BUS_NAME": "event_bus_name",
    "JWT_ISSUER": "jwt_issuer",
    "JWT_AUDIENCE": "jwt_audience",
    "JWKS_URL": "jwks_url",
    "TENANT_CLAIM": "tenant_claim",
    "ADMIN_CLAIM": "admin_claim",
    "ADMIN_GROUP": "admin_group",
    "PUBLIC_BASE_URL": "public_base_url",
    "BROKER_PROVIDERS_FILE": "providers_file",
    "ALLOW_LOOPBACK_URLS": "allow_loopback_urls",
    "REFRESH_AHEAD_SECONDS": "refresh_ahead_seconds",
    "SWEEP_INTERVAL_SECONDS": "sweep_interval_seconds",
    "ACTIVE_WITHIN_HOURS": "active_within_hours",
    "REFRESH_FUNCTION_NAME": "refresh_function_name",
    "REFRESH_QUEUE_URL": "refresh_queue_url",
    "AUDIT_RETENTION_DAYS": "audit_retention_days",
}
_FIELD_TO_ENV = {v: k for k, v in _ENV.items()}


class BrokerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    table_name: str = Field(min_length=3)
    kms_key_id: str = Field(min_length=1)
    event_bus_name: str = Field(min_length=1)
    jwt_issuer: str = Field(min_length=1)
    jwt_audience: str = Field(min_length=1)
    jwks_url: str = Field(min_length=1)
    tenant_claim: str = "tenant"
    admin_claim: str = "groups"
    admin_group: str = "broker-admin"
    public_base_url: str | None = None
    providers_file: str | None = None
    allow_loopback_urls: bool = False
    refresh_ahead_seconds: int = Field(default=300, ge=0, le=3000)
    sweep_interval_seconds: int = Field(default=600, ge=60, le=86400)
    # a connection used within this many hours has its token refreshed ahead of expiry; an idle
    # one gets a token on demand and a liveness refresh (store.schedule)
    active_within_hours: int = Field(default=24, ge=1, le=720)
    refresh_function_name: str | None = None
    # the SQS queue the sweep and bulk jobs fan out through (None: everything runs in-process)
    refresh_queue_url: str | None = None
    # days an audit record is kept (its `ttl`: oauth_broker.audit)
    audit_retention_days: int = Field(default=400, ge=1, le=3650)

    @field_validator("jwks_url", "jwt_issuer")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BrokerConfig:
        env = os.environ if environ is None else environ
        values = {field: env[name] for name, field in _ENV.items() if env.get(name, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                field = str(err["loc"][0]) if err["loc"] else "?"
                name = _FIELD_TO_ENV.get(field, field)
                reason = "is required but not set" if err["type"] == "missing" else err["msg"]
                problems.append(f"{name} {reason}")
            raise ConfigurationError("bad environment: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def load_config() -> BrokerConfig:
    """The process-wide configuration (parsed at the first call: the cold start)."""
    return BrokerConfig.from_env()
