"""JWKS fetched over HTTPS, cached per container, refetched once on an unknown `kid`."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from joserfc.jwk import KeySet


class JwksError(Exception):
    pass


class JwksCache:
    def __init__(
        self,
        url: str,
        http: httpx.Client,
        *,
        ttl_seconds: float = 600.0,
        min_refetch_seconds: float = 30.0,
    ):
        self.url = url
        self._http = http
        self._ttl = ttl_seconds
        self._min_refetch = min_refetch_seconds
        self._keys: KeySet | None = None
        self._kids: set[str] = set()
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0

    def key_set(self, kid: str | None = None) -> KeySet:
        """The key set; refetched when stale, or when `kid` is unknown (at most every 30 s)."""
        with self._lock:
            now = time.monotonic()
            stale = self._keys is None or now - self._fetched_at > self._ttl
            unknown = kid is not None and kid not in self._kids and now - self._fetched_at > self._min_refetch
            if stale or unknown:
                self._fetch(now)
            assert self._keys is not None
            return self._keys

    def _fetch(self, now: float) -> None:
        from joserfc.jwk import KeySet

        try:
            resp = self._http.get(self.url, timeout=5.0)
            resp.raise_for_status()
            data: dict[str, Any] = resp.json()
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except Exception as exc:
            if self._keys is not None:
                return  # keep serving the last good set through a JWKS outage
            raise JwksError(f"cannot load JWKS from {self.url}: {type(exc).__name__}") from None
        self._keys = keys
        self._kids = {str(k.get("kid")) for k in data.get("keys", []) if k.get("kid")}
        self._fetched_at = now
        self.fetches += 1
