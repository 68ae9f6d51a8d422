"""What the provider granted, against what the session asked for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from oauth_broker.providers.catalog import ProviderDefinition
from oauth_broker.store.models import ConnectionStatus


@dataclass(frozen=True)
class ScopeOutcome:
    """`granted`: what the connection is credited with (`scopes_granted`): the requested and the
    identity (base) scopes the provider granted, as it reported them; `missing`: requested scopes
    it did not grant, named as requested (full scope strings), any of which makes the connection
    `partial`; `uncredited`: granted, not requested (earlier consents carried by the grant)."""

    granted: tuple[str, ...]
    missing: tuple[str, ...]
    uncredited: tuple[str, ...] = ()

    @property
    def status(self) -> ConnectionStatus:
        return ConnectionStatus.PARTIAL if self.missing else ConnectionStatus.ACTIVE

    @property
    def status_reason(self) -> str | None:
        return "scopes_not_granted" if self.missing else None


def scope_outcome(
    provider: ProviderDefinition, requested: Iterable[str], token_scope: str | None
) -> ScopeOutcome:
    """Compares the token response's `scope` (None: RFC 6749 §5.1, exactly what was requested)
    with the requested scopes; aliases count (`email` is granted by `.../userinfo.email`), no scope
    implies another, and nothing that was not requested is credited (API.md, "The callback").
    The rule is `ProviderDefinition.compare_scopes`, which the refresher applies as well."""
    comparison = provider.compare_scopes(list(requested), token_scope)
    return ScopeOutcome(
        granted=comparison.granted, missing=comparison.missing, uncredited=comparison.uncredited
    )
