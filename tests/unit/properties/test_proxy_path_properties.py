"""Properties of proxy path safety: for ANY path a caller sends, the request that leaves the broker
goes to the provider's API base URL + one of its path prefixes, or nothing leaves at all.

Two levels: `check_path` for several API surfaces (Google's, and custom ones with and without a
base path), and `ProxyService.forward` end to end, where the URL is the one httpx actually puts on
the wire (an `httpx.MockTransport` records it; no socket is opened).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from oauth_broker.errors import BadRequest, Forbidden, InvalidPath
from oauth_broker.providers.catalog import ApiSurface, ProviderCatalog, ProviderDefinition
from oauth_broker.providers.scopes import MethodScopeTable
from oauth_broker.proxy.paths import check_path
from oauth_broker.proxy.service import ProxyRequest, ProxyService
from oauth_broker.store.models import ConnectionRecord

PROFILE = settings.get_profile("broker-properties")

_CATALOG = ProviderCatalog.load()
GMAIL = _CATALOG.get("google-mail")
PEOPLE = _CATALOG.get("google-contacts")
CUSTOM_WITH_BASE_PATH = ProviderDefinition.validate_definition(
    {
        "key": "acme-api",
        "display_name": "Acme",
        "auth": {
            "authorization_url": "https://auth.acme.example/authorize",
            "token_url": "https://auth.acme.example/token",
        },
        "api": {"base_url": "https://api.acme.example/base/v2/", "path_prefixes": ["items/", "files/"]},
    }
)
CUSTOM_WHOLE_HOST = ProviderDefinition.validate_definition(
    {
        "key": "bare-api",
        "display_name": "Bare",
        "auth": {
            "authorization_url": "https://auth.bare.example/authorize",
            "token_url": "https://auth.bare.example/token",
        },
        "api": {"base_url": "https://bare.example:8443/"},  # path_prefixes: [""]: any path
    }
)
PROVIDERS = (GMAIL, PEOPLE, CUSTOM_WITH_BASE_PATH, CUSTOM_WHOLE_HOST)


def _api(provider: ProviderDefinition) -> ApiSurface:
    assert provider.api is not None
    return provider.api


# -- strategies -------------------------------------------------------------------------------------

# Pieces that matter to a URL parser or a server, then anything at all.
_TRICKY = [
    *("gmail/v1/", "upload/gmail/v1/", "v1/", "users/", "me/", "messages/", "people/", "items/", "files/"),
    *(".", "..", "/", "//", "./", "../", "/..", "...", ".%2e", "%2e.", "%2e", "%2E", "%2f", "%2F"),
    *("%5c", "%5C", "%25", "%252e", "%252f", "%25252e", "%", "%4", "%zz", "%%", "%u002e", "%C0%AE"),
    *("?", "#", "%3F", "%3f", "%23", "%253F", "@", "%40", "\\", ";", "%3b", "%3B", ":", "%3a"),
    *("https:", "http://", "//evil.example", "evil.example", "javascript:", "user:pw@", "a@b"),
    *("~", "+", " ", "%20", "\t", "\r\n", "\x00", "%00", "%0a", "\x7f", "%7f", "\x85", "[", "]"),
    *("\u2024", "\uff0e", "\u3002", "\u2215", "\uff0f", "\u2044", "\ufe68", "\uff3c", "é", "%C3%A9"),
    *("{", "}", "|", "^", "`", "'", '"', "<", ">", "*", "$", "&", "=", ",", "!", "(", ")"),
]
# What each of `paths.py`'s guards refuses, one piece each: spliced into plausible paths often.
_GUARDED = [
    *("..", ".", "%2e", "%2E", "%2f", "%5c", "\\", "//", "/", ";", "%3b", "?", "#", "%3F", "%23"),
    *("%25", "%", "%zz", "%00", "\x00", "@", "%40", "https:", "http://", "\t", "%C0%AE"),
]
_piece = st.one_of(st.sampled_from(_TRICKY), st.text(max_size=4))
_pieced = st.lists(_piece, max_size=14).map("".join)
_encoded = st.builds(quote, st.text(max_size=20), safe=st.sampled_from(["", "/", "/%", ":@/", "/.", "/?#"]))
_prefixed = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["gmail/v1/users/me/", "upload/gmail/v1/users/me/", "v1/people/", "items/", "files/"]),
    _pieced,
)


# Where plausible paths start, per provider (Gmail's and People's are real method paths).
_STARTS = {
    "google-mail": [
        "gmail/v1/users/me/messages/",
        "gmail/v1/users/me/settings/sendAs/",
        "upload/gmail/v1/users/me/",
    ],
    "google-contacts": ["v1/people/", "v1/", "v1/contactGroups/"],
    "acme-api": ["items/", "files/"],
    "bare-api": [""],
}


@st.composite
def _one_flaw(draw: st.DrawFn, provider: ProviderDefinition) -> str:
    """A plausible path of the provider (a start, then plain segments) with one or two tricky
    pieces spliced in anywhere: each guard gets examples where it alone could refuse."""
    start = draw(st.sampled_from(_STARTS[provider.key]))
    segments = draw(st.lists(st.text("abcXYZ019_-", min_size=1, max_size=6), min_size=1, max_size=3))
    path = start + "/".join(segments)
    for _ in range(draw(st.integers(1, 2))):
        at = draw(st.integers(0, len(path)))
        path = path[:at] + draw(st.one_of(st.sampled_from(_GUARDED), st.sampled_from(_TRICKY))) + path[at:]
    return path


_anything = st.one_of(_pieced, _prefixed, _encoded, st.text(max_size=40))


@st.composite
def cases(draw: st.DrawFn) -> tuple[ProviderDefinition, str | None, str | None]:
    """(provider, raw path, API Gateway's decoded path): the raw or the decoded path alone, or both
    (decoded as API Gateway decodes, or something else entirely)."""
    provider = draw(st.sampled_from(PROVIDERS))
    paths = st.one_of(_one_flaw(provider), _one_flaw(provider), _anything)
    raw = draw(paths)
    shape = draw(st.sampled_from(["raw", "decoded", "gateway", "independent"]))
    if shape == "raw":
        return provider, raw, None
    if shape == "decoded":
        return provider, None, raw
    if shape == "gateway":
        return provider, raw, unquote(raw)
    return provider, raw, draw(paths)


# -- the property -----------------------------------------------------------------------------------


def _fully_decoded(text: str) -> str:
    for _ in range(8):
        once = unquote(text)
        if once == text:
            return text
        text = once
    return text


def assert_inside(api: ApiSurface, url: httpx.URL, *, query: str = "") -> str:
    """The URL on the wire stays on the API's origin, under its base path and one of its prefixes,
    with no dot segment, no empty segment and no encoded separator a server could decode; returns
    the path relative to the base URL."""
    base = urlsplit(api.base_url)
    assert url.scheme == base.scheme
    assert url.host == base.hostname
    assert url.port == base.port
    assert url.userinfo == b""
    assert url.fragment == ""
    raw_path, _, sent_query = url.raw_path.decode("ascii").partition("?")
    assert sent_query == query
    assert raw_path.startswith(base.path)
    relative = raw_path[len(base.path) :]
    assert any(relative.startswith(prefix) for prefix in api.path_prefixes), relative
    assert any(unquote(relative).startswith(prefix) for prefix in api.path_prefixes), relative
    segments = relative.split("/")
    assert "" not in segments[:-1], relative  # no '//' (a trailing '/' is harmless)
    for segment in segments:
        plain = _fully_decoded(segment)
        assert plain not in (".", ".."), relative
        assert "/" not in plain and "\\" not in plain, relative
    return relative


@settings(PROFILE, max_examples=1000)
@given(case=cases())
@example(case=(GMAIL, "gmail/v1/users/me/messages/%2e%2e/%2e%2e/oauth2", None))
@example(case=(GMAIL, "gmail/v1/users/me/x%3F/..", "gmail/v1/users/me/x?/.."))
@example(case=(CUSTOM_WITH_BASE_PATH, "items/..%2f..%2fadmin", None))
@example(case=(CUSTOM_WHOLE_HOST, "@evil.example/x", None))
@example(case=(CUSTOM_WHOLE_HOST, None, "//evil.example/x"))
def test_given_any_path_when_checked_then_the_url_stays_under_the_api_or_the_path_is_refused(
    case: tuple[ProviderDefinition, str | None, str | None],
):
    provider, raw, decoded = case
    api = _api(provider)
    try:
        target = check_path(api, raw, decoded)
    except InvalidPath as refused:
        assert refused.code == "invalid_path"
        event("refused")
        return
    event("accepted")

    relative = assert_inside(api, httpx.URL(target.url))
    # The path whose method and scopes are checked is the path the provider receives.
    assert unquote(relative) == target.decoded
    if decoded is not None:
        assert any(decoded.startswith(prefix) for prefix in api.path_prefixes)


# -- the same through the service: what httpx puts on the wire -----------------------------------


@dataclasses.dataclass
class _Token:
    token: str = "ya29.property-test"
    expires_at: int = 2_000_000_000
    scopes: tuple[str, ...] = ()


class _Tokens:
    def get_fresh_token(self, conn, *, force=False, deadline=None, note_use=True):
        return _Token()


def _connection(provider: ProviderDefinition) -> ConnectionRecord:
    return ConnectionRecord(
        id="con_property",
        tenant="acme",
        owner="alice",
        name="Work",
        provider=provider.key,
        oauth_client_id="ocl_1",
        scopes_granted=[info.scope for info in provider.all_scopes],
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )


@pytest.fixture(scope="module")
def wire() -> Iterator[tuple[ProxyService, list[httpx.Request]]]:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"ok": True})

    # No Services: nothing in `forward` reads the table for a connection without a concurrency level.
    http = httpx.Client(transport=httpx.MockTransport(answer))
    service = ProxyService(
        None,  # type: ignore[arg-type]
        refresher=_Tokens(),
        semaphore=object(),  # type: ignore[arg-type]
        method_table=MethodScopeTable.load(),
        http=http,
    )
    yield service, sent
    http.close()


@settings(PROFILE, max_examples=600)
@given(case=cases(), method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]))
@example(case=(GMAIL, "gmail/v1/users/me/messages/abc", None), method="GET")
@example(case=(PEOPLE, "v1/people/me", "v1/people/me"), method="GET")
@example(case=(CUSTOM_WITH_BASE_PATH, "items/a%20b", "items/a b"), method="GET")
def test_given_any_path_when_forwarded_then_the_request_on_the_wire_stays_under_the_api_or_nothing_is_sent(
    wire, case: tuple[ProviderDefinition, str | None, str | None], method: str
):
    service, sent = wire
    sent.clear()
    provider, raw, decoded = case
    request = ProxyRequest(method=method, path=raw, decoded_path=decoded, query="alt=json&q=a%20b")
    conn = _connection(provider)
    try:
        response = service.forward(conn, provider, request, deadline=time.monotonic() + 30)
    except (BadRequest, Forbidden) as refused:  # invalid_path, unknown_method, me rule
        assert refused.status in (400, 403)
        assert sent == []
        event(f"refused: {refused.code}")
        return
    event("sent")

    assert len(sent) == 1
    on_wire = sent[0]
    assert on_wire.method == method
    relative = assert_inside(_api(provider), on_wire.url, query="alt=json&q=a%20b")
    api = _api(provider)
    if api.scope_table:
        # The method (and so the scopes) checked is the method of the path the provider receives.
        matched = MethodScopeTable.load().match(unquote(relative), method, api=api.scope_table)
        assert matched is not None
        assert matched.id == response.method_id
