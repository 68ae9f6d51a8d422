"""Path safety: a proxied request goes to the provider's API base URL + a path under one of its
`path_prefixes`, on one of its `hosts`, and nowhere else.

The path is checked twice, as the caller sent it (API Gateway's `rawPath`, percent-encoding kept)
and as API Gateway decoded it (`pathParameters.path`), because either may be the one a server
down the line interprets. Refused with 400 `invalid_path`:

- dot segments (`.`, `..`), empty segments (`a//b`, a leading `/`: a scheme-relative `//host`),
  backslashes, `;` (path parameters: `..;/` escapes on some servers), control characters;
- percent-encoded `.`, `/`, `\\`, `;`, `?`, `#`, `%` (so any double or deeper encoding:
  `%252e`, `%253F`, `%252523`), controls, and any malformed escape;
- `?` and `#` in the decoded path (raw or percent-encoded): data in the path to one reader, the
  start of the query or fragment to another, they could make the method whose scope is checked
  differ from the path that is forwarded;
- an absolute URL (`https:...`, any `scheme:` in the first segment) and `@` (raw or `%40`) in the
  first segment, where it could be read as userinfo. Later segments may carry `@`: Gmail's own
  paths do (`settings/sendAs/{sendAsEmail}`);
- a path outside the provider's `path_prefixes` (Google: `gmail/v1/`, `upload/gmail/v1/`,
  `v1/`), so `batch/...` (which would bypass the per-method scope check) is refused too.

The final URL is then parsed back and its scheme, host and port must be the base URL's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from oauth_broker.errors import InvalidPath

if TYPE_CHECKING:
    from oauth_broker.providers.catalog import ApiSurface

__all__ = ["ProxyTarget", "check_path", "raw_subpath"]

# Characters that must not appear percent-encoded: . / \ ; ? # %  (and C0 controls, DEL: see below).
# `%` itself makes every double (or deeper) encoding of them, `%253F`, `%252e`, refused too.
_FORBIDDEN_ESCAPED = frozenset(b"./\\;?#%")
_ESCAPE_RE = re.compile(r"%(.{0,2})", re.DOTALL)
_HEX2_RE = re.compile(r"[0-9A-Fa-f]{2}")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_MAX_PATH_CHARS = 2048


@dataclass(frozen=True, slots=True)
class ProxyTarget:
    """Where a proxied request goes: `path` as sent (raw), `decoded` for matching, the full `url`."""

    path: str
    decoded: str
    url: str


def _refuse(detail: str) -> InvalidPath:
    return InvalidPath(f"the proxy path is refused: {detail}")


def _check_escapes(raw: str) -> None:
    for match in _ESCAPE_RE.finditer(raw):
        digits = match.group(1)
        if not _HEX2_RE.fullmatch(digits):
            raise _refuse("malformed percent-encoding")
        byte = int(digits, 16)
        if byte in _FORBIDDEN_ESCAPED:
            raise _refuse(f"percent-encoded {chr(byte)!r} is not accepted")
        if byte < 0x20 or byte == 0x7F:
            raise _refuse("percent-encoded control characters are not accepted")


def _check_segments(path: str, *, what: str) -> None:
    if not path:
        raise _refuse(f"the {what} path is empty")
    if len(path) > _MAX_PATH_CHARS:
        raise _refuse(f"the {what} path is longer than {_MAX_PATH_CHARS} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise _refuse("control characters are not accepted")
    if "\\" in path:
        raise _refuse("backslashes are not accepted")
    if ";" in path:
        raise _refuse("';' is not accepted in a path")
    if "?" in path or "#" in path:
        raise _refuse("'?' and '#' are not accepted in a path (send the query as the query)")
    if _SCHEME_RE.match(path) or "://" in path:
        raise _refuse("an absolute URL is not a path")
    segments = path.split("/")
    if "@" in segments[0]:
        raise _refuse("'@' is not accepted before the API path")
    # A trailing slash (an empty last segment) is harmless; any other empty segment is not (a path
    # of one segment is not empty: refused above).
    for segment in segments[:-1]:
        if segment == "":
            raise _refuse("empty path segments ('//', a leading '/') are not accepted")
    for segment in segments:
        if segment in (".", ".."):
            raise _refuse("'.' and '..' segments are not accepted")


def raw_subpath(raw_path: str | None, connection_id: str) -> str | None:
    """The part of API Gateway's `rawPath` after `/connections/{id}/proxy/` (None when absent)."""
    if not raw_path:
        return None
    marker = f"/connections/{connection_id}/proxy/"
    index = raw_path.find(marker)
    if index < 0:
        return None
    return raw_path[index + len(marker) :]


def check_path(api: ApiSurface, raw: str | None, decoded: str | None = None) -> ProxyTarget:
    """The target of a proxied request, or `InvalidPath`.

    `raw` is the path relative to the API base URL as the caller sent it; `decoded` is API
    Gateway's decoded `{path+}`. At least one must be given; both are checked when both are.
    """
    if raw is None and decoded is None:
        raise _refuse("no path")
    if raw is None:
        raw = quote(str(decoded), safe="/:@!$&'()*+,=-._~")
    _check_escapes(raw)
    _check_segments(raw, what="raw")
    plain = unquote(raw)
    _check_segments(plain, what="decoded")
    if decoded is not None and decoded != plain:
        _check_escapes(decoded)
        _check_segments(decoded, what="decoded")
    if not api.allows_path(plain) or (decoded is not None and not api.allows_path(decoded)):
        prefixes = ", ".join(api.path_prefixes)  # never "": that prefix allows every path
        raise _refuse(f"the path must start with one of: {prefixes}")
    url = api.url_for(raw)
    _check_same_origin(api, url)
    return ProxyTarget(path=raw, decoded=plain, url=url)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _check_same_origin(api: ApiSurface, url: str) -> None:
    try:
        target, base = _origin(url), _origin(api.base_url)
    except ValueError:
        raise _refuse("not a valid URL") from None
    if target != base or not urlsplit(url).path.startswith(urlsplit(api.base_url).path):
        raise _refuse("the path leaves the provider's API")
