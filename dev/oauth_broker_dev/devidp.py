"""A development identity provider: a local signing key, its JWKS, and `dev-token`.

Tokens it mints are accepted only by a broker whose JWT_ISSUER/JWKS_URL point at it (the
local runtime); a deployed stack never does unless its parameters are set to this issuer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from oauth_broker_dev.template import REPO_ROOT

DEV_ISSUER = "https://dev-idp.oauth-broker.invalid"
DEV_AUDIENCE = "oauth-broker-local"
DEV_KID = "dev-idp-1"


def state_dir() -> Path:
    path = Path(os.environ.get("BROKER_STATE_DIR") or REPO_ROOT / ".local")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _key() -> Any:
    from joserfc.jwk import ECKey

    path = state_dir() / "dev-idp-key.json"
    if path.exists():
        return ECKey.import_key(json.loads(path.read_text()))
    key = ECKey.generate_key("P-256", parameters={"kid": DEV_KID, "alg": "ES256", "use": "sig"})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(key.as_dict(private=True)))
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


def jwks() -> dict[str, Any]:
    return {"keys": [_key().as_dict(private=False)]}


def mint(
    tenant: str,
    user: str,
    *,
    admin: bool = False,
    ttl_seconds: int = 12 * 3600,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
    extra: dict[str, Any] | None = None,
) -> str:
    from joserfc import jwt

    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": user,
        "tenant": tenant,
        "groups": ["broker-admin"] if admin else [],
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl_seconds,
        **(extra or {}),
    }
    return jwt.encode({"alg": "ES256", "kid": DEV_KID}, claims, _key())
