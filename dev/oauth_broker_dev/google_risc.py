"""Google's RISC API (Cross-Account Protection, v1beta), as `oauth-broker google risc-*` calls it.

Authorization is Google's for this API: a JWT the service account signs itself (google-auth's
`jwt.Credentials`: `iss` = `sub` = the account's email, `aud` = the RISC management service, one
hour), sent as `Authorization: Bearer`. The account needs the RISC Configuration Admin role
(`roles/riscconfigs.admin`) in the project that owns the OAuth clients.

    api = RiscApi(load_service_account("key.json"))
    api.register("https://<api>/v1/google/risc", EVENT_TYPES.values())   # stream:update, then stream
    api.status()                                                         # stream and stream/status
    api.verify("state")                                                  # stream:verify
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

RISC_API = "https://risc.googleapis.com/v1beta"
RISC_AUDIENCE = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
PUSH_DELIVERY = "https://schemas.openid.net/secevent/risc/delivery-method/push"
_RISC = "https://schemas.openid.net/secevent/risc/event-type/"
_OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
# short name -> event type URI: every type the broker's receiver handles (API.md)
EVENT_TYPES: dict[str, str] = {
    "tokens-revoked": _OAUTH + "tokens-revoked",
    "token-revoked": _OAUTH + "token-revoked",
    "account-purged": _RISC + "account-purged",
    "account-disabled": _RISC + "account-disabled",
    "account-enabled": _RISC + "account-enabled",
    "sessions-revoked": _RISC + "sessions-revoked",
    "account-credential-change-required": _RISC + "account-credential-change-required",
    "verification": _RISC + "verification",
}
TIMEOUT = 30.0


class RiscApiError(Exception):
    """One line for the user: a key file that cannot be used, a refused token, an API error."""


def load_service_account(path: str | Path) -> dict[str, Any]:
    """The service account key file (JSON, as the Cloud console downloads it), checked."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RiscApiError(f"service account key file {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RiscApiError(f"cannot read the service account key file {file}: {exc}") from None
    try:
        info = json.loads(text)
    except ValueError:
        raise RiscApiError(f"{file} is not JSON: download the service account's key as JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise RiscApiError(f'{file} is not a service account key file (its "type" must be "service_account")')
    missing = [k for k in ("client_email", "private_key", "private_key_id") if not info.get(k)]
    if missing:
        raise RiscApiError(
            f"{file} lacks {', '.join(missing)}: download a new JSON key for the service account"
        )
    return info


def bearer_token(info: dict[str, Any]) -> str:
    """The self-signed JWT the RISC API accepts (valid one hour)."""
    from google.auth import jwt as google_jwt  # here: `oauth-broker dev` never needs it

    try:
        credentials = google_jwt.Credentials.from_service_account_info(info, audience=RISC_AUDIENCE)
        credentials.refresh(None)
    except (ValueError, TypeError) as exc:  # a private key that does not parse
        raise RiscApiError(f"the service account's private key cannot sign: {exc}") from None
    token = credentials.token
    return token.decode("ascii") if isinstance(token, bytes) else str(token)


def event_uris(names: Iterable[str] | None) -> list[str]:
    """Event type URIs from short names (`tokens-revoked`) or URIs; None: every type."""
    if names is None:
        return list(EVENT_TYPES.values())
    uris = []
    for name in names:
        if name in EVENT_TYPES:
            uris.append(EVENT_TYPES[name])
        elif name in EVENT_TYPES.values():
            uris.append(name)
        else:
            raise RiscApiError(f"unknown event type {name!r}; one of: {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(uris))


class RiscApi:
    def __init__(
        self, service_account: dict[str, Any], api_base: str = RISC_API, client: httpx.Client | None = None
    ) -> None:
        self.service_account = service_account
        self.api_base = api_base.rstrip("/")
        self._client = client
        self._token: str | None = None

    @property
    def account(self) -> str:
        return str(self.service_account["client_email"])

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._token is None:
            self._token = bearer_token(self.service_account)
        url = f"{self.api_base}/{path}"
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            if self._client is not None:
                resp = self._client.request(method, url, json=body, headers=headers)
            else:
                with httpx.Client(timeout=TIMEOUT) as http:
                    resp = http.request(method, url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RiscApiError(f"cannot reach the RISC API at {url}: {type(exc).__name__}: {exc}") from None
        if resp.status_code == 401:
            raise RiscApiError(
                f"the RISC API refused the service account's token ({self.account}): 401 "
                f"{_message(resp)}; check that the key is current and the machine's clock is right"
            )
        if resp.status_code >= 400:
            hint = ""
            if resp.status_code == 403:
                hint = (
                    "; the service account needs the RISC Configuration Admin role and the RISC API enabled"
                )
            raise RiscApiError(f"RISC API {method} {path}: {resp.status_code} {_message(resp)}{hint}")
        if not resp.content:
            return {}
        try:
            data = resp.json()
        except ValueError:
            raise RiscApiError(
                f"RISC API {method} {path}: {resp.status_code} with a body that is not JSON"
            ) from None
        return data if isinstance(data, dict) else {}

    def register(self, endpoint: str, events: Iterable[str]) -> dict[str, Any]:
        """`stream:update` with the push delivery to `endpoint`, then the stream as Google keeps it."""
        self._call(
            "POST",
            "stream:update",
            {
                "delivery": {"delivery_method": PUSH_DELIVERY, "url": endpoint},
                "events_requested": list(events),
            },
        )
        return self._call("GET", "stream")

    def status(self) -> dict[str, Any]:
        """The stream configuration and whether it is enabled."""
        stream = self._call("GET", "stream")
        status = self._call("GET", "stream/status")
        return {"status": status.get("status"), "stream": stream}

    def set_status(self, status: str) -> dict[str, Any]:
        return self._call("POST", "stream/status:update", {"status": status})

    def verify(self, state: str) -> dict[str, Any]:
        """Asks Google to send a verification event carrying `state` to the registered receiver."""
        return self._call("POST", "stream:verify", {"state": state})


def _message(resp: httpx.Response) -> str:
    """Google's error message (`{"error": {"message", "status"}}`), or the body's start."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip().splitlines()[0][:200] if resp.text.strip() else resp.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        status = f"{error.get('status')}: " if error.get("status") else ""
        return f"{status}{error.get('message', '')}".strip()
    return str(data)[:200]
