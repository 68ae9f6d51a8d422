"""RFC 9207: the `iss` of an authorization response, against the provider the state was made for.

- a present `iss` must equal that provider's issuer exactly (RFC 9207 §2.4: simple string
  comparison); a provider without an issuer refuses any `iss`;
- a provider known to send `iss` (the catalog's `auth.authorization_response_iss`: Google, or a
  custom OIDC provider whose discovery metadata says `authorization_response_iss_parameter_supported`)
  refuses a response without it.

It runs before the code is exchanged and before anything is written (API.md, "The callback").
"""

from __future__ import annotations

from oauth_broker.providers.catalog import ProviderDefinition

__all__ = ["ISSUER_MISMATCH", "ISSUER_MISSING", "authorization_response_issuer_error"]

ISSUER_MISMATCH = "issuer_mismatch"
ISSUER_MISSING = "issuer_missing"


def authorization_response_issuer_error(provider: ProviderDefinition, iss: str | None) -> str | None:
    """None when the response's `iss` is acceptable for `provider`, else the flow's error code
    (`issuer_mismatch` or `issuer_missing`)."""
    expected = provider.auth.issuer
    if iss is None:
        return ISSUER_MISSING if provider.auth.authorization_response_iss else None
    if expected is None or iss != expected:
        return ISSUER_MISMATCH
    return None
