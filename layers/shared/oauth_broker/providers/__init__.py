"""Providers are data: the catalog (`catalog.yaml`) and the Google per-method scope table.

Names are exported lazily, so `from oauth_broker.providers.scopes import MethodScopeTable` (the
proxy's warm path) does not import pydantic or PyYAML.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oauth_broker.providers.catalog import (
        ApiSurface,
        AuthEndpoints,
        CatalogIssue,
        FieldIssue,
        MeRule,
        ProfileEndpoint,
        ProviderCatalog,
        ProviderCatalogError,
        ProviderDefinition,
        ProviderError,
        ProviderValidationError,
        RefreshTokenPolicy,
        ScopeComparison,
        ScopeInfo,
        Sensitivity,
        TokenEndpointAuthMethod,
        UnknownProvider,
        UnknownScope,
    )
    from oauth_broker.providers.scopes import MatchedMethod, MethodScopeTable, MethodTemplate

_EXPORTS = {
    "ApiSurface": "catalog",
    "AuthEndpoints": "catalog",
    "CatalogIssue": "catalog",
    "FieldIssue": "catalog",
    "MeRule": "catalog",
    "ProfileEndpoint": "catalog",
    "ProviderCatalog": "catalog",
    "ProviderCatalogError": "catalog",
    "ProviderDefinition": "catalog",
    "ProviderError": "catalog",
    "ProviderValidationError": "catalog",
    "RefreshTokenPolicy": "catalog",
    "ScopeComparison": "catalog",
    "ScopeInfo": "catalog",
    "Sensitivity": "catalog",
    "TokenEndpointAuthMethod": "catalog",
    "UnknownProvider": "catalog",
    "UnknownScope": "catalog",
    "MatchedMethod": "scopes",
    "MethodScopeTable": "scopes",
    "MethodTemplate": "scopes",
}

__all__ = [
    "ApiSurface",
    "AuthEndpoints",
    "CatalogIssue",
    "FieldIssue",
    "MatchedMethod",
    "MeRule",
    "MethodScopeTable",
    "MethodTemplate",
    "ProfileEndpoint",
    "ProviderCatalog",
    "ProviderCatalogError",
    "ProviderDefinition",
    "ProviderError",
    "ProviderValidationError",
    "RefreshTokenPolicy",
    "ScopeComparison",
    "ScopeInfo",
    "Sensitivity",
    "TokenEndpointAuthMethod",
    "UnknownProvider",
    "UnknownScope",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
