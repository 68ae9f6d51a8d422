"""The process's services, built once from the configuration; tests and the local runtime inject.

Handlers call `get_services()`; nothing patches module globals: a test builds `Services(config,
dynamodb=..., http=...)` and installs it with `configure(...)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from oauth_broker.config import BrokerConfig, load_config

if TYPE_CHECKING:
    import httpx

    from oauth_broker.auth.jwks import JwksCache
    from oauth_broker.auth.jwt import JwtVerifier
    from oauth_broker.crypto.envelope import Envelope
    from oauth_broker.events.publisher import EventPublisher
    from oauth_broker.outbound import OutboundGuard, Resolver
    from oauth_broker.providers.catalog import ProviderCatalog
    from oauth_broker.store.api_keys import ApiKeyStore
    from oauth_broker.store.connections import ConnectionStore
    from oauth_broker.store.oauth_clients import OAuthClientStore
    from oauth_broker.store.settings import SettingsStore
    from oauth_broker.store.table import Table

T = TypeVar("T")


class Services:
    def __init__(
        self,
        config: BrokerConfig,
        *,
        dynamodb: Any = None,
        kms: Any = None,
        events: Any = None,
        lambda_client: Any = None,
        sqs: Any = None,
        http: httpx.Client | None = None,
        invoke_refresh: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        event_listeners: list[Callable[[dict[str, Any]], None]] | None = None,
        resolver: Resolver | None = None,
    ):
        self.config = config
        self._dynamodb = dynamodb
        self._kms = kms
        self._events = events
        self._lambda = lambda_client
        self._sqs = sqs
        self._http = http
        self._invoke_refresh = invoke_refresh
        self._resolver = resolver  # DNS for the outbound guard (tests inject a fake)
        # In-process consumers of published events (the local runtime delivers webhooks this way;
        # in AWS an EventBridge rule invokes the webhook function).
        self.event_listeners = event_listeners if event_listeners is not None else []
        self._singletons: dict[str, Any] = {}
        self._singleton_lock = threading.RLock()

    def singleton(self, name: str, factory: Callable[[], T]) -> T:
        """One `factory()` result per Services: how domain modules hang their objects here
        without this module importing them (e.g. `tokens.refresher(services)`)."""
        with self._singleton_lock:
            if name not in self._singletons:
                self._singletons[name] = factory()
            return self._singletons[name]  # type: ignore[no-any-return]

    # -- clients (created on first use) ------------------------------------------------------
    @cached_property
    def dynamodb(self) -> Any:
        from oauth_broker.clients import aws_client

        return self._dynamodb or aws_client("dynamodb")

    @cached_property
    def kms(self) -> Any:
        from oauth_broker.clients import aws_client

        return self._kms or aws_client("kms")

    @cached_property
    def events(self) -> Any:
        from oauth_broker.clients import aws_client

        return self._events or aws_client("events")

    @cached_property
    def lambda_client(self) -> Any:
        from oauth_broker.clients import aws_client

        return self._lambda or aws_client("lambda")

    @cached_property
    def sqs(self) -> Any:
        from oauth_broker.clients import aws_client

        return self._sqs or aws_client("sqs")

    @cached_property
    def outbound(self) -> OutboundGuard:
        """The outbound URL guard (SSRF): loopback only where the deployment allows it."""
        from oauth_broker.outbound import OutboundGuard

        return OutboundGuard(allow_loopback=self.config.allow_loopback_urls, resolver=self._resolver)

    @cached_property
    def http(self) -> httpx.Client:
        from oauth_broker.clients import http_client

        return self._http or http_client(guard=self.outbound)

    def invoke_refresh(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Run the `refresh` function synchronously (the api function holds no decrypt rights)."""
        if self._invoke_refresh is not None:
            return self._invoke_refresh(payload)
        import json

        if not self.config.refresh_function_name:
            from oauth_broker.errors import ConfigurationError

            raise ConfigurationError("REFRESH_FUNCTION_NAME is required by this function")
        resp = self.lambda_client.invoke(
            FunctionName=self.config.refresh_function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        result: dict[str, Any] = json.loads(resp["Payload"].read() or b"{}")
        if resp.get("FunctionError"):
            from oauth_broker.errors import UpstreamError

            raise UpstreamError("the refresh function failed")
        return result

    # -- data access ---------------------------------------------------------------------------
    @cached_property
    def table(self) -> Table:
        from oauth_broker.store.table import Table

        return Table(self.config.table_name, self.dynamodb)

    @cached_property
    def envelope(self) -> Envelope:
        from oauth_broker.crypto.envelope import DataKeyCache, Envelope

        # Bounded data key reuse (5 min, 1000 uses): a burst of writes costs one GenerateDataKey.
        return Envelope(self.kms, self.config.kms_key_id, cache=DataKeyCache())

    @cached_property
    def settings(self) -> SettingsStore:
        from oauth_broker.store.settings import SettingsStore

        return SettingsStore(self.table)

    @cached_property
    def api_keys(self) -> ApiKeyStore:
        from oauth_broker.store.api_keys import ApiKeyStore

        return ApiKeyStore(self.table)

    @cached_property
    def connections(self) -> ConnectionStore:
        from oauth_broker.store.connections import ConnectionStore
        from oauth_broker.store.schedule import RefreshSchedule

        schedule = RefreshSchedule(
            refresh_ahead=self.config.refresh_ahead_seconds,
            active_within=self.config.active_within_hours * 3600,
            liveness_for=self.liveness_seconds,
        )
        return ConnectionStore(
            self.table, refresh_ahead_seconds=self.config.refresh_ahead_seconds, schedule=schedule
        )

    def liveness_seconds(self, provider: str) -> int:
        """Seconds between an idle connection's liveness refreshes: the built-in catalog's
        `auth.refresh_token_policy.liveness_interval_hours` (a tenant's custom provider: 24 h).
        The catalog is loaded only when an idle connection's due time is computed."""
        from oauth_broker.store.schedule import DEFAULT_LIVENESS_SECONDS

        catalog = self.catalog
        if provider in catalog:
            return catalog.get(provider).auth.refresh_token_policy.liveness_interval_hours * 3600
        return DEFAULT_LIVENESS_SECONDS

    @cached_property
    def publisher(self) -> EventPublisher:
        from oauth_broker.events.publisher import EventPublisher

        return EventPublisher(self.events, self.config.event_bus_name, listeners=self.event_listeners)

    @cached_property
    def oauth_clients(self) -> OAuthClientStore:
        from oauth_broker.store.oauth_clients import OAuthClientStore

        return OAuthClientStore(self.table)

    @cached_property
    def catalog(self) -> ProviderCatalog:
        """Built-in providers merged with BROKER_PROVIDERS_FILE (parsed once per process)."""
        from oauth_broker.providers.catalog import ProviderCatalog

        return ProviderCatalog.load(
            self.config.providers_file, allow_loopback=self.config.allow_loopback_urls
        )

    # -- identity ------------------------------------------------------------------------------
    @cached_property
    def jwks(self) -> JwksCache:
        from oauth_broker.auth.jwks import JwksCache

        return JwksCache(self.config.jwks_url, self.http)

    @cached_property
    def jwt_verifier(self) -> JwtVerifier:
        from oauth_broker.auth.jwt import JwtVerifier

        return JwtVerifier(issuer=self.config.jwt_issuer, audience=self.config.jwt_audience, jwks=self.jwks)


_lock = threading.Lock()
_current: Services | None = None


def get_services() -> Services:
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = Services(load_config())
    return _current


def configure(services: Services | None) -> None:
    """Install the services this process uses (tests, the local runtime); None resets."""
    global _current
    with _lock:
        _current = services
