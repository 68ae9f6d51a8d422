"""The provider catalog: providers are data (`catalog.yaml`, plus an optional extra file), validated here.

`ProviderCatalog.load()` reads the built-in catalog (parsed once per process), merges an extra YAML or
JSON file in the same schema, resolves `extends` and validates every provider. Any problem raises
`ProviderCatalogError`, whose message names the file and the field path::

    providers.yaml: providers.google-mail.auth.token_url: URL must be https

A tenant's custom provider (`POST /v1/providers`) is validated by `ProviderDefinition.from_custom` or
`ProviderCatalog.validate_custom`, which raise `ProviderValidationError` listing the bad fields.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "BUILTIN_CATALOG_PATH",
    "LOOPBACK_HOSTS",
    "PREVALIDATED_CATALOG_PATH",
    "ApiSurface",
    "AuthEndpoints",
    "CatalogIssue",
    "FieldIssue",
    "MeRule",
    "ProfileEndpoint",
    "ProviderCatalog",
    "ProviderCatalogError",
    "ProviderDefinition",
    "ProviderError",
    "ProviderValidationError",
    "RefreshTokenPolicy",
    "RiscSettings",
    "ScopeComparison",
    "ScopeInfo",
    "Sensitivity",
    "TokenEndpointAuthMethod",
    "UnknownProvider",
    "UnknownScope",
    "endpoint_claims",
    "prevalidated_catalog",
]

BUILTIN_CATALOG_PATH = Path(__file__).with_name("catalog.yaml")
# The built-in catalog pre-validated: generated from catalog.yaml (scripts/gen_catalog_json.py)
PREVALIDATED_CATALOG_PATH = Path(__file__).with_name("catalog.json")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
CATALOG_VERSION = 1

_ALLOW_LOOPBACK = "allow_loopback"  # key of the pydantic validation context


# -- errors ------------------------------------------------------------------------------------------


class ProviderError(Exception):
    """Base of this module's errors (domain-neutral: the HTTP layer maps them to problems)."""


class UnknownProvider(ProviderError, LookupError):
    """No provider with this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"unknown provider {key!r}")
        self.key = key

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownScope(ProviderError, ValueError):
    """Scopes (full strings or short names) that the provider's catalog does not list; names them all."""

    def __init__(self, scopes: Sequence[str], *, provider: str | None = None) -> None:
        self.scopes: tuple[str, ...] = tuple(scopes)
        self.provider = provider
        where = f" for provider {provider!r}" if provider else ""
        super().__init__(
            f"unknown scope{'s' if len(self.scopes) != 1 else ''}{where}: " + ", ".join(self.scopes)
        )


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One problem with one field; `location` is a path such as `auth.token_url` or `scopes[2].scope`."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ProviderValidationError(ProviderError):
    """A provider definition (e.g. a custom provider's JSON) is invalid; `issues` lists every bad field."""

    def __init__(self, issues: Sequence[FieldIssue]) -> None:
        self.issues: tuple[FieldIssue, ...] = tuple(issues)
        super().__init__("; ".join(str(issue) for issue in self.issues) or "invalid provider definition")

    def errors(self) -> list[dict[str, str]]:
        """`[{"field": ..., "message": ...}]`, the shape a 422 problem document lists."""
        return [{"field": issue.location, "message": issue.message} for issue in self.issues]


@dataclass(frozen=True, slots=True)
class CatalogIssue:
    """One problem in a catalog file: `source` is the file, `location` the field path in it."""

    source: str
    location: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.location, self.message) if part)


class ProviderCatalogError(ProviderError):
    """The built-in catalog or an extra providers file is unreadable or invalid (fails the cold start)."""

    def __init__(self, issues: Sequence[CatalogIssue]) -> None:
        self.issues: tuple[CatalogIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues) or "invalid provider catalog")


# -- field types -------------------------------------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    return host.lower().strip("[]") in LOOPBACK_HOSTS


def _allow_loopback(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(_ALLOW_LOOPBACK))


def _check_url(value: str, info: ValidationInfo) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError("not a valid URL") from None
    if not parts.scheme or not parts.hostname:
        raise ValueError("must be an absolute URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("URL must not contain credentials")
    if parts.fragment or value.endswith("#"):
        raise ValueError("URL must not have a fragment")
    if any(ch.isspace() for ch in value):
        raise ValueError("URL must not contain whitespace")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        if _allow_loopback(info):
            return value
        raise ValueError("URL must be https (http on a loopback host only with loopback URLs allowed)")
    raise ValueError("URL must be https")


def _check_scope(value: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise ValueError("a scope must be non-empty and contain no whitespace")
    return value


def _check_relative_path(value: str) -> str:
    if value.startswith("/") or "://" in value or "\\" in value:
        raise ValueError("must be a path relative to the API base URL (no leading '/', no scheme)")
    if any(segment in (".", "..") for segment in value.split("?", 1)[0].split("/")):
        raise ValueError("must not contain '.' or '..' segments")
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    return value


def _check_segment(value: str) -> str:
    if not value or "/" in value or any(ch.isspace() for ch in value):
        raise ValueError("must be one non-empty path segment")
    return value


_HOST_RE = re.compile(
    r"^(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)(?::\d{1,5})?$"
)


def _check_host(value: str) -> str:
    host = value.lower()
    if not _HOST_RE.match(host):
        raise ValueError("must be a host name, optionally with ':port'")
    return host


HttpsUrl = Annotated[str, AfterValidator(_check_url)]
ScopeString = Annotated[str, AfterValidator(_check_scope)]
RelativePath = Annotated[str, AfterValidator(_check_relative_path)]
PathSegment = Annotated[str, AfterValidator(_check_segment)]
HostName = Annotated[str, AfterValidator(_check_host)]
ProviderKey = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


def _netloc_key(url: str) -> str:
    """`host` or `host:port` (explicit port only) of an URL, lower-cased: what `ApiSurface.hosts` lists."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port is not None else host


# -- models ------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sensitivity(StrEnum):
    """Google's classification of a scope (it decides the verification an app needs)."""

    NON_SENSITIVE = "non_sensitive"
    SENSITIVE = "sensitive"
    RESTRICTED = "restricted"


class TokenEndpointAuthMethod(StrEnum):
    CLIENT_SECRET_POST = "client_secret_post"
    CLIENT_SECRET_BASIC = "client_secret_basic"
    NONE = "none"


class ScopeInfo(_Model):
    """One scope of a provider's catalog. A plain string is accepted as `{"scope": string}`.

    `aliases` are other strings the provider uses for the same grant (Google answers `email` with
    `https://www.googleapis.com/auth/userinfo.email`); they count as the scope when comparing grants.
    """

    scope: ScopeString
    short_name: ScopeString | None = None
    sensitivity: Sensitivity = Sensitivity.NON_SENSITIVE
    description: str = Field(default="", max_length=500)
    aliases: tuple[ScopeString, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"scope": data} if isinstance(data, str) else data


class RefreshTokenPolicy(_Model):
    rotates: bool = False
    testing_mode_expiry_days: int | None = Field(default=None, ge=1)
    # An idle connection's refresh token is exercised this often (a "liveness refresh"): a dead
    # grant is found early (connection.needs_reauth) and the token stays in use (store.schedule).
    liveness_interval_hours: int = Field(default=24, ge=1, le=24 * 180)
    notes: str = ""


GOOGLE_ISSUER = "https://accounts.google.com"

# Parameters the broker itself sets on the authorization request: never defaults of a provider.
RESERVED_AUTHORIZATION_PARAMS = frozenset(
    {
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }
)


class AuthEndpoints(_Model):
    authorization_url: HttpsUrl | None = None
    token_url: HttpsUrl | None = None
    revocation_url: HttpsUrl | None = None
    userinfo_url: HttpsUrl | None = None
    issuer: HttpsUrl | None = None
    jwks_url: HttpsUrl | None = None
    oidc: bool = False
    default_params: dict[str, str] = Field(default_factory=dict)
    scope_separator: str = Field(default=" ", min_length=1, max_length=3)
    pkce_required: bool = True
    token_endpoint_auth_method: TokenEndpointAuthMethod = TokenEndpointAuthMethod.CLIENT_SECRET_POST
    refresh_token_policy: RefreshTokenPolicy = Field(default_factory=RefreshTokenPolicy)
    # True where revoking any one token (RFC 7009) revokes the whole grant of the (OAuth client,
    # account) pair: every refresh and access token of it, including other connections' (Google).
    # Unset, it follows the issuer: Google's own issuer means Google's semantics (a custom
    # provider defined on Google's endpoints without `extends: google`).
    revocation_revokes_grant: bool = False
    # True where the provider puts `iss` in every authorization response (RFC 9207; Google does):
    # a callback without it is then refused. A custom OIDC provider takes it from its discovery
    # document's `authorization_response_iss_parameter_supported`.
    authorization_response_iss: bool = False

    @model_validator(mode="before")
    @classmethod
    def _google_issuer_revokes_grant(cls, data: Any) -> Any:
        if (
            isinstance(data, Mapping)
            and "revocation_revokes_grant" not in data
            and data.get("issuer") == GOOGLE_ISSUER
        ):
            return {**data, "revocation_revokes_grant": True}
        return data

    @field_validator("default_params")
    @classmethod
    def _no_reserved_params(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(RESERVED_AUTHORIZATION_PARAMS.intersection(value))
        if reserved:
            raise ValueError(f"set by the broker, not by a provider: {', '.join(reserved)}")
        return value

    @property
    def needs_discovery(self) -> bool:
        """True when endpoints must come from the issuer's OIDC discovery document."""
        if not (self.oidc and self.issuer):
            return False
        return self.authorization_url is None or self.token_url is None or self.jwks_url is None

    @property
    def discovery_url(self) -> str | None:
        """`{issuer}/.well-known/openid-configuration` (OIDC Discovery 1.0 §4), or None without an issuer."""
        if not self.issuer:
            return None
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


class RiscSettings(_Model):
    """Google Cross-Account Protection (RISC, `oauth_broker.risc`): the transmitter's configuration
    document (its `jwks_uri` names the keys that sign security event tokens) and the `iss` those
    tokens carry. Data, so a providers file can point both at a local transmitter."""

    configuration_url: HttpsUrl
    issuer: HttpsUrl


class GmailPushSettings(_Model):
    """Gmail push notifications (`oauth_broker.gmail_push`): what verifies the OIDC token a Cloud
    Pub/Sub push subscription sends with each push (Google's signing keys and the `iss` values its
    ID tokens carry). Data, so a providers file can point them at a local fake."""

    jwks_url: HttpsUrl
    issuers: tuple[Annotated[str, Field(min_length=1, max_length=2048)], ...] = Field(min_length=1)


class MeRule(_Model):
    """The path segment right after a segment equal to `after` must be `value` (delegated access only)."""

    after: PathSegment
    value: PathSegment = "me"


class ApiSurface(_Model):
    """Where the proxy may send a connection's requests: `base_url` + a path under one of `path_prefixes`."""

    base_url: HttpsUrl
    hosts: tuple[HostName, ...] = ()
    path_prefixes: tuple[RelativePath, ...] = ("",)
    me_rules: tuple[MeRule, ...] = ()
    scope_table: str | None = None  # the API's name in google_methods.json (per-method scopes)

    @model_validator(mode="before")
    @classmethod
    def _default_hosts(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("hosts") and isinstance(data.get("base_url"), str):
            try:
                return {**data, "hosts": [_netloc_key(data["base_url"])]}
            except ValueError:
                return data
        return data

    @field_validator("base_url")
    @classmethod
    def _base_url_shape(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.query:
            raise ValueError("base URL must not have a query")
        if not value.endswith("/"):
            raise ValueError("base URL must end with '/'")
        return value

    @model_validator(mode="after")
    def _base_url_on_hosts(self) -> ApiSurface:
        host = _netloc_key(self.base_url)
        if host not in self.hosts:
            raise ValueError(f"the host of base_url ({host}) must be listed in hosts")
        return self

    def allows_path(self, path: str) -> bool:
        """Whether a path relative to `base_url` lies under one of `path_prefixes`."""
        return any(path.startswith(prefix) for prefix in self.path_prefixes)

    def me_rule_violation(self, path: str) -> MeRule | None:
        """The first `MeRule` the path breaks (e.g. `gmail/v1/users/someone@x/...`), or None."""
        if not self.me_rules:
            return None
        segments = path.split("?", 1)[0].split("/")
        for index, segment in enumerate(segments[:-1]):
            for rule in self.me_rules:
                if segment == rule.after and segments[index + 1] != rule.value:
                    return rule
        return None

    def url_for(self, path: str) -> str:
        return self.base_url + path


class ProfileEndpoint(_Model):
    """The endpoint `POST .../test` calls; `email_field` is a dotted path (`emailAddresses.0.value`)."""

    path: RelativePath
    email_field: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")

    def email_from(self, body: Any) -> str | None:
        """The account's email address in the profile response, or None when it is not there."""
        node: Any = body
        for part in self.email_field.split("."):
            if isinstance(node, Mapping):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node if isinstance(node, str) and node else None


@dataclass(frozen=True, slots=True)
class ScopeComparison:
    """`granted`: the scopes a connection is credited with: those the provider granted (deduplicated,
    spelled as reported) that were requested or are the provider's base (identity) scopes;
    `missing`: requested, not granted; `uncredited`: granted but not requested (what the grant
    carries from earlier consents, e.g. Google's `include_granted_scopes`), never credited."""

    granted: tuple[str, ...]
    missing: tuple[str, ...]
    uncredited: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing


class _ScopeIndex:
    """Lookups over a provider's scopes: input names -> full scope, any spelling -> equivalence class.

    An alias that is another entry's full scope joins the two entries into one grant (Google
    Contacts lists `.../userinfo.email`, an alias of the base scope `email`), transitively: a
    class is named by its first scope in catalog order (base scopes first).
    """

    __slots__ = ("canonical", "infos", "lookup")

    def __init__(self, infos: Iterable[ScopeInfo]) -> None:
        self.infos: dict[str, ScopeInfo] = {}
        self.lookup: dict[str, str] = {}
        self.canonical: dict[str, str] = {}
        aliased: dict[str, str] = {}
        for info in infos:
            self.infos.setdefault(info.scope, info)
            for alias in info.aliases:
                aliased.setdefault(alias, info.scope)
        for info in self.infos.values():
            self.lookup.setdefault(info.scope, info.scope)
        for info in self.infos.values():
            if info.short_name:
                self.lookup.setdefault(info.short_name, info.scope)
        for alias, scope in aliased.items():
            self.lookup.setdefault(alias, scope)
        order = {scope: rank for rank, scope in enumerate(self.infos)}
        parent = {scope: scope for scope in self.infos}

        def root(scope: str) -> str:
            while parent[scope] != scope:
                scope = parent[scope]
            return scope

        for alias, scope in aliased.items():
            if alias in parent:
                first, second = sorted((root(alias), root(scope)), key=order.__getitem__)
                parent[second] = first
        for scope in self.infos:
            self.canonical[scope] = root(scope)

    def canon(self, scope: str) -> str:
        full = self.lookup.get(scope, scope)
        return self.canonical.get(full, full)


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


class ProviderDefinition(_Model):
    """One provider, resolved (its `extends` base already merged in)."""

    key: ProviderKey
    display_name: str = Field(min_length=1, max_length=100)
    extends: ProviderKey | None = None
    abstract: bool = False
    auth: AuthEndpoints = Field(default_factory=AuthEndpoints)
    api: ApiSurface | None = None
    risc: RiscSettings | None = None
    gmail_push: GmailPushSettings | None = None
    profile: ProfileEndpoint | None = None
    base_scopes: tuple[ScopeInfo, ...] = ()
    scopes: tuple[ScopeInfo, ...] = ()
    default_scopes: tuple[ScopeString, ...] = ()

    _index: _ScopeIndex = PrivateAttr()

    @field_validator("default_scopes")
    @classmethod
    def _default_scopes_known(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if "scopes" not in info.data or "base_scopes" not in info.data:
            return value  # those failed already; their errors are reported
        index = _ScopeIndex((*info.data["base_scopes"], *info.data["scopes"]))
        unknown = [scope for scope in value if scope not in index.lookup]
        if unknown:
            raise ValueError("not in the provider's scopes: " + ", ".join(unknown))
        return tuple(_dedupe(index.lookup[scope] for scope in value))

    @model_validator(mode="after")
    def _consistent(self) -> ProviderDefinition:
        issues = [*self._scope_issues(), *self._endpoint_issues()]
        if issues:
            # Not a ValueError: pydantic lets it through, so each issue keeps its own field path.
            raise ProviderValidationError(issues)
        return self

    def _scope_issues(self) -> Iterator[FieldIssue]:
        seen: dict[str, str] = {}
        entries = [("base_scopes", i, s) for i, s in enumerate(self.base_scopes)]
        entries += [("scopes", i, s) for i, s in enumerate(self.scopes)]
        for group, i, info in entries:
            if info.scope in seen:
                yield FieldIssue(f"{group}[{i}].scope", f"scope {info.scope!r} is listed twice")
            seen.setdefault(info.scope, f"{group}[{i}]")
        aliases: set[str] = set()
        short_names: set[str] = set()
        # Every entry's short name, whatever its place: an alias may not be one (in either order).
        all_short_names = {info.short_name for _, _, info in entries if info.short_name is not None}
        for group, i, info in entries:
            if info.short_name is not None:
                if info.short_name in short_names or (
                    info.short_name in seen and info.short_name != info.scope
                ):
                    yield FieldIssue(
                        f"{group}[{i}].short_name", f"short name {info.short_name!r} is already used"
                    )
                short_names.add(info.short_name)
            for alias in info.aliases:
                if alias in aliases or alias == info.scope or alias in all_short_names:
                    yield FieldIssue(f"{group}[{i}].aliases", f"alias {alias!r} is already used")
                aliases.add(alias)

    def _endpoint_issues(self) -> Iterator[FieldIssue]:
        auth = self.auth
        if auth.oidc and not auth.issuer and not self.abstract:
            yield FieldIssue("auth.issuer", "required when auth.oidc is true")
        if not self.abstract and not auth.needs_discovery:
            for name in ("authorization_url", "token_url"):
                if getattr(auth, name) is None:
                    yield FieldIssue(
                        f"auth.{name}", "required (or auth.issuer with auth.oidc true for OIDC discovery)"
                    )
        if self.profile is not None and self.api is None:
            yield FieldIssue("profile", "needs api.base_url: the profile path is relative to it")

    def model_post_init(self, context: Any, /) -> None:
        self._index = _ScopeIndex(self.all_scopes)

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def validate_definition(
        cls, data: Mapping[str, Any], *, allow_loopback: bool = False
    ) -> ProviderDefinition:
        """Validate a resolved definition; raises `ProviderValidationError` listing every bad field."""
        try:
            return cls.model_validate(data, context={_ALLOW_LOOPBACK: allow_loopback})
        except ValidationError as exc:
            raise ProviderValidationError(_issues_from_pydantic(exc)) from None

    @classmethod
    def from_custom(
        cls,
        data: Mapping[str, Any],
        *,
        base: ProviderDefinition | None = None,
        allow_loopback: bool = False,
    ) -> ProviderDefinition:
        """A tenant's custom provider, given as JSON by an admin (`POST /v1/providers`).

        Same schema as the catalog. Either explicit `auth` URLs, or `auth.issuer` with `auth.oidc` true
        for discovery (see `needs_discovery` and `with_discovery`). A custom provider is connectable
        (`abstract` must be false); `extends` needs the named `base` (see `ProviderCatalog.validate_custom`).
        """
        if not isinstance(data, Mapping):
            raise ProviderValidationError([FieldIssue("", "a provider definition must be a JSON object")])
        if data.get("abstract"):
            raise ProviderValidationError([FieldIssue("abstract", "a custom provider must be connectable")])
        extends = data.get("extends")
        if extends is not None:
            if base is None or base.key != extends:
                raise ProviderValidationError([FieldIssue("extends", f"unknown base provider {extends!r}")])
            inherited = base.model_dump(
                mode="json", exclude={"key", "abstract", "extends"}, exclude_none=True
            )
            data = _deep_merge(inherited, data)
        return cls.validate_definition(data, allow_loopback=allow_loopback)

    def with_discovery(
        self, metadata: Mapping[str, Any], *, allow_loopback: bool = False
    ) -> ProviderDefinition:
        """A copy whose missing endpoints come from the issuer's OIDC discovery document.

        The document's `issuer` must equal `auth.issuer` exactly (OIDC Discovery §4.3); explicit
        endpoints of the definition win over discovered ones. A document that says
        `authorization_response_iss_parameter_supported: true` sets `auth.authorization_response_iss`
        (a definition cannot switch it off then).
        """
        if metadata.get("issuer") != self.auth.issuer:
            raise ProviderValidationError(
                [FieldIssue("auth.issuer", "the discovery document's issuer does not match")]
            )
        discovered = {
            "authorization_url": metadata.get("authorization_endpoint"),
            "token_url": metadata.get("token_endpoint"),
            "jwks_url": metadata.get("jwks_uri"),
            "userinfo_url": metadata.get("userinfo_endpoint"),
            "revocation_url": metadata.get("revocation_endpoint"),
        }
        auth = self.auth.model_dump(mode="json")
        for name, url in discovered.items():
            if auth.get(name) is None and isinstance(url, str):
                auth[name] = url
        # RFC 9207 §3: the issuer that says it sends `iss` must always be held to it.
        if metadata.get("authorization_response_iss_parameter_supported") is True:
            auth["authorization_response_iss"] = True
        data = self.model_dump(mode="json")
        data["auth"] = auth
        return self.validate_definition(data, allow_loopback=allow_loopback)

    # -- scopes --------------------------------------------------------------------------------------
    @property
    def connectable(self) -> bool:
        return not self.abstract

    @property
    def all_scopes(self) -> tuple[ScopeInfo, ...]:
        """Base scopes, then the provider's own."""
        return (*self.base_scopes, *self.scopes)

    def scope_info(self, scope: str) -> ScopeInfo | None:
        """The catalog entry for a full scope string, a short name or an alias."""
        full = self._index.lookup.get(scope)
        return self._index.infos.get(full) if full is not None else None

    def normalize_scopes(self, scopes: Iterable[str], *, include_base: bool = True) -> list[str]:
        """Full scope strings for `scopes` (full strings, short names or aliases), deduplicated in order.

        The base scopes come first when `include_base`. Raises `UnknownScope` naming every scope the
        catalog does not list.
        """
        requested = list(scopes)
        unknown = [scope for scope in requested if scope not in self._index.lookup]
        if unknown:
            raise UnknownScope(_dedupe(unknown), provider=self.key)
        names = [info.scope for info in self.base_scopes] if include_base else []
        names += requested
        return _dedupe(self._index.canon(name) for name in names)

    def split_scope(self, value: str) -> list[str]:
        """A token response's `scope` string as a list (split on the separator and on whitespace)."""
        return [part for part in value.replace(self.auth.scope_separator, " ").split() if part]

    def join_scopes(self, scopes: Iterable[str]) -> str:
        return self.auth.scope_separator.join(scopes)

    def compare_scopes(
        self, requested: Iterable[str], granted: Iterable[str] | str | None
    ) -> ScopeComparison:
        """What a connection is credited with, and which requested scopes are missing.

        Only exact matches and declared aliases count (`email` is granted by `.../userinfo.email`);
        no scope implies another (`https://mail.google.com/` does not grant `gmail.readonly`).
        Only requested scopes and the base (identity) scopes are credited: a grant that carries
        scopes of earlier consents (`include_granted_scopes`) does not widen the connection.
        `granted` may be the token response's `scope` string; None means the response had no
        `scope`, which RFC 6749 §5.1 defines as "exactly what was requested".
        """
        wanted = list(requested)
        if granted is None:
            got = _dedupe(wanted)
        elif isinstance(granted, str):
            got = _dedupe(self.split_scope(granted))
        else:
            got = _dedupe(granted)
        canon = self._index.canon
        creditable = {canon(scope) for scope in wanted} | {canon(info.scope) for info in self.base_scopes}
        have = {canon(scope) for scope in got}
        missing = _dedupe(scope for scope in wanted if canon(scope) not in have)
        return ScopeComparison(
            granted=tuple(scope for scope in got if canon(scope) in creditable),
            missing=tuple(missing),
            uncredited=tuple(scope for scope in got if canon(scope) not in creditable),
        )

    def grants_any(self, granted: Iterable[str], acceptable: Iterable[str]) -> bool:
        """Whether one of `acceptable` (e.g. a method's scopes) is among `granted` (exact or alias)."""
        have = {self._index.canon(scope) for scope in granted}
        return any(self._index.canon(scope) in have for scope in acceptable)


# -- endpoint claims ---------------------------------------------------------------------------------

# The fields that say which authorization server a provider is (RFC 9207's mix-up defence rests on them).
CLAIMED_AUTH_FIELDS = ("issuer", "authorization_url", "token_url")
_CLAIM_LABELS = {
    "issuer": "issuer",
    "authorization_url": "authorization endpoint",
    "token_url": "token endpoint",
}


def _endpoint_key(url: str) -> str:
    """An URL as an endpoint: scheme, host (lower case), port (default dropped) and path (decoded,
    without a trailing '/'); the query does not make another endpoint."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port == {"https": 443, "http": 80}.get(scheme):
        port = None
    path = unquote(parts.path).rstrip("/")
    return f"{scheme}://{host}{f':{port}' if port is not None else ''}{path}"


def _authorization_server(provider: ProviderDefinition) -> tuple[str | None, ...]:
    return tuple(getattr(provider.auth, name) for name in CLAIMED_AUTH_FIELDS)


def endpoint_claims(
    definition: ProviderDefinition,
    others: Iterable[ProviderDefinition],
    *,
    base: ProviderDefinition | None = None,
) -> list[FieldIssue]:
    """The fields of a custom provider that name the issuer, authorization endpoint or token
    endpoint of one of `others` (the built-in providers and the tenant's other custom ones).

    A provider that `extends` `base` and keeps the base's issuer and both endpoints unchanged is
    that authorization server, not a claim on it (a Google API added as a custom provider); changing
    any of them while keeping another is a claim.
    """
    server = _authorization_server(base) if base is not None else None
    inherited = server is not None and _authorization_server(definition) == server
    owners: dict[str, tuple[str, str]] = {}
    for other in others:
        if other.key == definition.key or (inherited and _authorization_server(other) == server):
            continue
        for name in CLAIMED_AUTH_FIELDS:
            url = getattr(other.auth, name)
            if url:
                owners.setdefault(_endpoint_key(url), (other.key, _CLAIM_LABELS[name]))
    issues = []
    for name in CLAIMED_AUTH_FIELDS:
        url = getattr(definition.auth, name)
        owner = owners.get(_endpoint_key(url)) if url else None
        if owner is not None:
            key, label = owner
            issues.append(
                FieldIssue(f"auth.{name}", f"is the {label} of provider {key!r}; a provider may not claim it")
            )
    return issues


# -- pydantic errors -> issues -----------------------------------------------------------------------


def _format_location(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _issue_message(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def _issue_locations(error: Mapping[str, Any]) -> tuple[str | int, ...]:
    # Drop the tags pydantic adds for function validators and unions (e.g. 'function-after[...]').
    return tuple(part for part in error.get("loc", ()) if not (isinstance(part, str) and "[" in part))


def _issues_from_pydantic(exc: ValidationError) -> list[FieldIssue]:
    issues = []
    for error in exc.errors(include_url=False):
        issues.append(FieldIssue(_format_location(_issue_locations(error)), _issue_message(error)))
    return _dedupe_issues(issues)


def _dedupe_issues(issues: Iterable[FieldIssue]) -> list[FieldIssue]:
    return list(dict.fromkeys(issues))


# -- documents, merging, extends ---------------------------------------------------------------------


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) in `override` replaces. Pure."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _cannot_parse(source: str, exc: Exception) -> ProviderCatalogError:
    detail = " ".join(str(exc).replace('in "<unicode string>", ', "").split())
    return ProviderCatalogError([CatalogIssue(source, "", f"cannot parse: {detail}")])


def _load_text(source: str, text: str, *, as_json: bool) -> Any:
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _cannot_parse(source, exc) from None
    # PyYAML only for a YAML file: the built-in catalog ships pre-parsed (catalog.json)
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader (CSafeLoader/SafeLoader)
    except yaml.YAMLError as exc:
        raise _cannot_parse(source, exc) from None


def _read_document(path: Path) -> Any:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ProviderCatalogError([CatalogIssue(source, "", f"cannot read: {reason}")]) from None
    return _load_text(source, text, as_json=path.suffix.lower() == ".json")


@cache
def _builtin_document() -> Any:
    """The built-in catalog, parsed once per process (never mutated: merging copies): from
    catalog.json when it was generated from this catalog.yaml, else from the YAML itself."""
    prevalidated = _prevalidated()
    if prevalidated is not None:
        return prevalidated["document"]
    return _read_document(BUILTIN_CATALOG_PATH)


def prevalidated_catalog(yaml_bytes: bytes) -> dict[str, Any]:
    """What catalog.json holds for the catalog file's bytes: their SHA-256, the parsed document
    (merging an extra file starts from it) and every provider resolved, validated and dumped as
    JSON. `scripts/gen_catalog_json.py` writes it; a unit test checks it is current."""
    source = str(BUILTIN_CATALOG_PATH)
    document = _load_text(source, yaml_bytes.decode("utf-8"), as_json=False)
    catalog = ProviderCatalog.from_documents([(source, document)])
    return {
        "generated_from": BUILTIN_CATALOG_PATH.name,
        "yaml_sha256": hashlib.sha256(yaml_bytes).hexdigest(),
        "document": document,
        "providers": [provider.model_dump(mode="json") for provider in catalog],
    }


@cache
def _prevalidated() -> dict[str, Any] | None:
    """catalog.json, when it is there and was generated from the catalog.yaml beside it (a stale
    one, as in a checkout whose YAML was edited without regenerating it, is ignored)."""
    try:
        yaml_bytes = BUILTIN_CATALOG_PATH.read_bytes()
        data: dict[str, Any] = json.loads(PREVALIDATED_CATALOG_PATH.read_bytes())
    except (OSError, ValueError):
        return None
    if data.get("yaml_sha256") != hashlib.sha256(yaml_bytes).hexdigest():
        return None
    return data


@dataclass(frozen=True, slots=True)
class _Layer:
    source: str
    key: str
    data: Mapping[str, Any]


def _document_providers(source: str, document: Any) -> dict[str, Mapping[str, Any]]:
    """The `providers` mapping of a catalog document, after checking the document's shape."""
    issues: list[CatalogIssue] = []
    if not isinstance(document, Mapping):
        raise ProviderCatalogError([CatalogIssue(source, "", "must be a mapping with a 'providers' key")])
    for name in document:
        if name not in ("version", "providers"):
            issues.append(CatalogIssue(source, str(name), "unknown field"))
    version = document.get("version", CATALOG_VERSION)
    if version != CATALOG_VERSION:
        issues.append(CatalogIssue(source, "version", f"unsupported version (expected {CATALOG_VERSION})"))
    providers = document.get("providers")
    if not isinstance(providers, Mapping):
        issues.append(CatalogIssue(source, "providers", "must be a mapping of provider key to definition"))
        raise ProviderCatalogError(issues)
    result: dict[str, Mapping[str, Any]] = {}
    for key, data in providers.items():
        where = f"providers.{key}"
        if not isinstance(key, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", key):
            issues.append(CatalogIssue(source, where, "a key is lower-case letters, digits and dashes"))
        elif not isinstance(data, Mapping):
            issues.append(CatalogIssue(source, where, "must be a mapping"))
        elif "key" in data and data["key"] != key:
            issues.append(CatalogIssue(source, f"{where}.key", f"must match the mapping key {key!r}"))
        else:
            result[key] = data
    if issues:
        raise ProviderCatalogError(issues)
    return result


def _has_path(data: Any, loc: Sequence[str | int]) -> bool:
    node = data
    for part in loc:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return False
            node = node[part]
        else:
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
    return True


class _Resolver:
    """Merges the documents' layers per key and resolves `extends`, remembering where each value came from."""

    def __init__(self, documents: Sequence[tuple[str, Any]]) -> None:
        self.layers: dict[str, list[_Layer]] = {}
        for source, document in documents:
            for key, data in _document_providers(source, document).items():
                self.layers.setdefault(key, []).append(_Layer(source, key, data))
        self.merged: dict[str, dict[str, Any]] = {}
        for key, layers in self.layers.items():
            merged: dict[str, Any] = {}
            for layer in layers:
                merged = _deep_merge(merged, layer.data)
            self.merged[key] = merged
        self.resolved: dict[str, dict[str, Any]] = {}
        self.origins: dict[str, list[_Layer]] = {}
        self.issues: list[CatalogIssue] = []
        self.failed: set[str] = set()
        for key in self.layers:
            self._resolve(key, ())

    def _resolve(self, key: str, chain: tuple[str, ...]) -> bool:
        if key in self.resolved:
            return True
        if key in self.failed:
            return False
        own = self.merged[key]
        base = own.get("extends")
        if base is None:
            self.resolved[key] = {**own, "key": key}
            self.origins[key] = list(self.layers[key])
            return True
        if not isinstance(base, str) or base not in self.merged:
            self._fail(key, ("extends",), f"unknown base provider {base!r}")
            return False
        if base == key or base in chain:
            start = chain[chain.index(base) :] if base in chain else ()
            cycle = " -> ".join((*start, key, base))
            self._fail(key, ("extends",), f"extends cycle: {cycle}")
            return False
        if not self._resolve(base, (*chain, key)):
            self.failed.add(key)
            return False
        inherited = {name: value for name, value in self.resolved[base].items() if name != "abstract"}
        self.resolved[key] = {**_deep_merge(inherited, own), "key": key}
        self.origins[key] = [*self.origins[base], *self.layers[key]]
        return True

    def _fail(self, key: str, loc: tuple[str | int, ...], message: str) -> None:
        layer = self.origin(self.layers[key], loc)
        self.issues.append(CatalogIssue(layer.source, _catalog_location(layer.key, loc), message))
        self.failed.add(key)

    @staticmethod
    def origin(layers: Sequence[_Layer], loc: Sequence[str | int]) -> _Layer:
        """The last layer that sets the value at `loc`, else the provider's own last layer."""
        for layer in reversed(layers):
            if loc and _has_path(layer.data, loc):
                return layer
        return layers[-1]


def _catalog_location(key: str, loc: Sequence[str | int]) -> str:
    rest = _format_location(loc)
    if not rest:
        return f"providers.{key}"
    return f"providers.{key}{rest}" if rest.startswith("[") else f"providers.{key}.{rest}"


def _parse_location(location: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", location):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return tuple(parts)


# -- the catalog -------------------------------------------------------------------------------------


class ProviderCatalog:
    """The providers this deployment knows: built-in, plus an extra file's additions and overrides."""

    BUILTIN_SOURCE: ClassVar[Path] = BUILTIN_CATALOG_PATH

    def __init__(self, providers: Iterable[ProviderDefinition], *, allow_loopback: bool = False) -> None:
        self._providers: dict[str, ProviderDefinition] = {p.key: p for p in providers}
        self._allow_loopback = allow_loopback

    @classmethod
    def load(cls, extra_file: str | Path | None = None, *, allow_loopback: bool = False) -> ProviderCatalog:
        """The built-in catalog, merged with `extra_file` (YAML, or JSON by its `.json` suffix).

        A provider of the extra file with an existing key overrides it field by field (mappings merge
        deeply, lists are replaced); a new key adds a provider. `allow_loopback` lets URLs use http on
        127.0.0.1, ::1 and localhost (local runtime). Raises `ProviderCatalogError`.
        """
        # Several files may be given separated by os.pathsep (the local runtime stacks its fake-Google
        # overrides under the user's file); later files override earlier ones.
        names = str(extra_file).split(os.pathsep) if extra_file is not None else []
        prevalidated = _prevalidated()
        if prevalidated is not None and not any(names):
            # The built-in catalog alone: its providers were resolved and validated when
            # catalog.json was generated; their JSON dumps validate again in a fraction of a
            # millisecond, with no YAML parsed and no `extends` resolved.
            providers = [
                ProviderDefinition.validate_definition(data, allow_loopback=allow_loopback)
                for data in prevalidated["providers"]
            ]
            return cls(providers, allow_loopback=allow_loopback)
        documents: list[tuple[str, Any]] = [(str(BUILTIN_CATALOG_PATH), _builtin_document())]
        for name in (n for n in names if n):
            documents.append((name, _read_document(Path(name))))
        return cls.from_documents(documents, allow_loopback=allow_loopback)

    @classmethod
    def from_documents(
        cls, documents: Sequence[tuple[str, Any]], *, allow_loopback: bool = False
    ) -> ProviderCatalog:
        """A catalog from parsed documents `(source name, document)`, later ones overriding earlier ones."""
        resolver = _Resolver(documents)
        issues = list(resolver.issues)
        providers: list[ProviderDefinition] = []
        for key in resolver.layers:
            if key not in resolver.resolved:
                continue
            try:
                providers.append(
                    ProviderDefinition.validate_definition(
                        resolver.resolved[key], allow_loopback=allow_loopback
                    )
                )
            except ProviderValidationError as exc:
                layers = resolver.origins[key]
                for issue in exc.issues:
                    loc = _parse_location(issue.location)
                    layer = _Resolver.origin(layers, loc)
                    message = issue.message
                    if layer.key != key:
                        message += f" (inherited by providers.{key})"
                    issues.append(CatalogIssue(layer.source, _catalog_location(layer.key, loc), message))
        if issues:
            raise ProviderCatalogError(list(dict.fromkeys(issues)))
        return cls(providers, allow_loopback=allow_loopback)

    # -- lookups -------------------------------------------------------------------------------------
    @property
    def allow_loopback(self) -> bool:
        return self._allow_loopback

    def get(self, key: str) -> ProviderDefinition:
        try:
            return self._providers[key]
        except KeyError:
            raise UnknownProvider(key) from None

    def __contains__(self, key: object) -> bool:
        return key in self._providers

    def __iter__(self) -> Iterator[ProviderDefinition]:
        return iter(self._providers.values())

    def __len__(self) -> int:
        return len(self._providers)

    def keys(self) -> list[str]:
        return list(self._providers)

    def all(self) -> list[ProviderDefinition]:
        """Every provider, abstract bases included, in catalog order."""
        return list(self._providers.values())

    def connectable(self) -> list[ProviderDefinition]:
        """The providers a connection can use (abstract bases excluded), in catalog order."""
        return [p for p in self._providers.values() if p.connectable]

    def _provider(self, provider: str | ProviderDefinition) -> ProviderDefinition:
        return provider if isinstance(provider, ProviderDefinition) else self.get(provider)

    # -- scopes --------------------------------------------------------------------------------------
    def normalize_scopes(self, provider: str | ProviderDefinition, scopes: Iterable[str]) -> list[str]:
        """See `ProviderDefinition.normalize_scopes` (base scopes included)."""
        return self._provider(provider).normalize_scopes(scopes)

    def compare_scopes(
        self,
        provider: str | ProviderDefinition,
        requested: Iterable[str],
        granted: Iterable[str] | str | None,
    ) -> ScopeComparison:
        """See `ProviderDefinition.compare_scopes`."""
        return self._provider(provider).compare_scopes(requested, granted)

    # -- custom providers ----------------------------------------------------------------------------
    def validate_custom(self, data: Mapping[str, Any]) -> ProviderDefinition:
        """A tenant's custom provider, validated; may `extends` a provider of this catalog.

        Its key must not be one of the catalog's. Raises `ProviderValidationError`.
        """
        if not isinstance(data, Mapping):
            raise ProviderValidationError([FieldIssue("", "a provider definition must be a JSON object")])
        key = data.get("key")
        if isinstance(key, str) and key in self._providers:
            raise ProviderValidationError([FieldIssue("key", f"{key!r} is a built-in provider")])
        extends = data.get("extends")
        base = self._providers.get(extends) if isinstance(extends, str) else None
        return ProviderDefinition.from_custom(data, base=base, allow_loopback=self._allow_loopback)
