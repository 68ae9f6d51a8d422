"""Path safety of the proxy: only the provider's API base URL + a path under its prefixes."""

from __future__ import annotations

import pytest

from oauth_broker.errors import InvalidPath
from oauth_broker.providers.catalog import ApiSurface, ProviderCatalog
from oauth_broker.proxy.paths import check_path, raw_subpath


@pytest.fixture(scope="module")
def gmail() -> ApiSurface:
    api = ProviderCatalog.load().get("google-mail").api
    assert api is not None
    return api


@pytest.fixture(scope="module")
def people() -> ApiSurface:
    api = ProviderCatalog.load().get("google-contacts").api
    assert api is not None
    return api


def test_given_a_gmail_path_when_checked_then_the_target_is_the_api_base_url_plus_the_path(gmail):
    target = check_path(gmail, "gmail/v1/users/me/messages/18c2ab")

    assert target.url == "https://gmail.googleapis.com/gmail/v1/users/me/messages/18c2ab"
    assert target.decoded == "gmail/v1/users/me/messages/18c2ab"


def test_given_an_upload_path_when_checked_then_it_is_accepted(gmail):
    target = check_path(gmail, "upload/gmail/v1/users/me/messages/send")

    assert target.url == "https://gmail.googleapis.com/upload/gmail/v1/users/me/messages/send"


def test_given_a_people_path_with_a_colon_method_when_checked_then_it_is_accepted(people):
    target = check_path(people, "v1/people:batchGet")

    assert target.url == "https://people.googleapis.com/v1/people:batchGet"


@pytest.mark.parametrize(
    "path",
    [
        "gmail/v1/users/me/settings/sendAs/alias@example.com",
        "gmail/v1/users/me/settings/sendAs/alias%40example.com",
    ],
)
def test_given_an_address_in_a_later_segment_when_checked_then_it_is_accepted(gmail, path):
    target = check_path(gmail, path)

    assert target.decoded.endswith("sendAs/alias@example.com")
    assert target.url.startswith("https://gmail.googleapis.com/gmail/v1/users/me/settings/sendAs/alias")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("gmail/v1/users/me/../../../oauth2/v1/tokeninfo", "'.' and '..'"),
        ("gmail/v1/./users/me/messages", "'.' and '..'"),
        ("gmail/v1/users/me/messages/%2e%2e/%2e%2e", "percent-encoded '.'"),
        ("gmail/v1/users/me/messages/%2E%2E", "percent-encoded '.'"),
        ("gmail/v1/users/me%2fmessages", "percent-encoded '/'"),
        ("gmail/v1/users/me%2Fmessages", "percent-encoded '/'"),
        ("gmail/v1/users/me%5cmessages", "percent-encoded '\\\\'"),
        ("gmail/v1/users/me/messages/%252e%252e", "percent-encoded '%'"),
        ("gmail/v1/users/me/messages%252f..", "percent-encoded '%'"),
        ("gmail\\v1\\users\\me", "backslashes"),
        ("gmail/v1/users/me/messages;x=1", "';'"),
        ("gmail/v1/..;/x", "';'"),
        ("gmail/v1/users/me/%3b", "percent-encoded ';'"),
        ("https://evil.example.com/gmail/v1/users/me", "absolute URL"),
        ("http:/evil.example.com/x", "absolute URL"),
        ("https:%2f%2fevil.example.com", "percent-encoded '/'"),
        ("/evil.example.com/gmail/v1/users/me", "empty path segments"),
        ("//evil.example.com/gmail/v1", "empty path segments"),
        ("gmail//v1/users/me", "empty path segments"),
        ("@evil.example.com/gmail/v1/users/me", "'@'"),
        ("gmail@evil.example.com/v1/users/me", "'@'"),
        ("%40evil.example.com/gmail/v1/users/me", "'@'"),
        ("gmail/v1/users/me/messages/%00", "control characters"),
        ("gmail/v1/users/me/messages/%0d%0aHost:evil", "control characters"),
        ("gmail/v1/users/me/messages/%zz", "malformed"),
        ("gmail/v1/users/me/messages/%2", "malformed"),
        ("batch/gmail/v1", "must start with one of"),
        ("oauth2/v1/tokeninfo", "must start with one of"),
        ("gmail/v2/users/me", "must start with one of"),
    ],
)
def test_given_an_unsafe_path_when_checked_then_it_is_refused_as_invalid_path(gmail, path, reason):
    with pytest.raises(InvalidPath) as caught:
        check_path(gmail, path)

    assert caught.value.code == "invalid_path" and caught.value.status == 400
    assert reason in caught.value.detail


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("gmail/v1/users/me/messages/x%3F/send", "percent-encoded '?'"),
        ("gmail/v1/users/me/messages/x%3f/send", "percent-encoded '?'"),
        ("gmail/v1/users/me/messages/x%23/send", "percent-encoded '#'"),
        ("gmail/v1/users/me/messages%3Fq=x", "percent-encoded '?'"),
        ("gmail/v1/users/me/messages/x%253F/send", "percent-encoded '%'"),
        ("gmail/v1/users/me/messages/x%253f/send", "percent-encoded '%'"),
        ("gmail/v1/users/me/messages/x%2523/send", "percent-encoded '%'"),
        ("gmail/v1/users/me/messages/x%25253F/send", "percent-encoded '%'"),
        ("gmail/v1/users/me/messages/x%2525252523/send", "percent-encoded '%'"),
        ("gmail/v1/users/me/messages/x?/send", "'?' and '#'"),
        ("gmail/v1/users/me/messages/x#/send", "'?' and '#'"),
    ],
)
def test_given_an_encoded_query_or_fragment_delimiter_when_checked_then_it_is_refused_as_invalid_path(
    gmail, path, reason
):
    with pytest.raises(InvalidPath) as caught:
        check_path(gmail, path)

    assert caught.value.code == "invalid_path" and caught.value.status == 400
    assert reason in caught.value.detail


@pytest.mark.parametrize(
    "decoded", ["gmail/v1/users/me/messages/x?/send", "gmail/v1/users/me/messages/x#/send"]
)
def test_given_a_decoded_path_with_a_query_or_fragment_delimiter_when_checked_then_it_is_refused(
    gmail, decoded
):
    with pytest.raises(InvalidPath) as with_raw:
        check_path(gmail, "gmail/v1/users/me/messages/x/send", decoded)
    with pytest.raises(InvalidPath) as decoded_only:
        check_path(gmail, None, decoded)

    assert "'?' and '#'" in with_raw.value.detail
    assert "percent-encoded" in decoded_only.value.detail


def test_given_a_safe_raw_path_but_a_decoded_path_with_dot_segments_when_checked_then_it_is_refused(gmail):
    with pytest.raises(InvalidPath):
        check_path(gmail, "gmail/v1/users/me/messages", "gmail/v1/../../oauth2/v1/tokeninfo")


def test_given_a_decoded_path_that_leaves_the_prefixes_when_checked_then_it_is_refused(gmail):
    with pytest.raises(InvalidPath):
        check_path(gmail, "gmail/v1/users/me", "batch/gmail/v1/users/me")


def test_given_only_the_decoded_path_when_checked_then_it_is_encoded_and_checked(gmail):
    target = check_path(gmail, None, "gmail/v1/users/me/settings/sendAs/a b@example.com")

    assert target.path == "gmail/v1/users/me/settings/sendAs/a%20b@example.com"
    with pytest.raises(InvalidPath):
        check_path(gmail, None, "gmail/v1/../x")


def test_given_a_trailing_slash_when_checked_then_it_is_not_a_path_escape(gmail):
    assert check_path(gmail, "gmail/v1/users/me/").decoded == "gmail/v1/users/me/"


def test_given_an_api_gateway_raw_path_when_the_subpath_is_taken_then_it_keeps_its_encoding():
    raw = "/v1/connections/con_1/proxy/gmail/v1/users/me/settings/sendAs/a%40b.com"

    assert raw_subpath(raw, "con_1") == "gmail/v1/users/me/settings/sendAs/a%40b.com"
    assert raw_subpath("/v1/connections/con_2/proxy/x", "con_1") is None
    assert raw_subpath(None, "con_1") is None


# -- each guard by its own message: a bad input refused by a later guard does not pin an earlier one --

REFUSED = "the proxy path is refused: "
LONGEST = 2048


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("", "the raw path is empty"),
        ("gmail/v1/" + "a" * (LONGEST - 8), f"the raw path is longer than {LONGEST} characters"),
        ("gmail/v1/users/me/messages/%zz", "malformed percent-encoding"),
        ("gmail/v1/users/me/messages/%1f", "percent-encoded control characters are not accepted"),
        ("gmail/v1/users/me/messages/%7F", "percent-encoded control characters are not accepted"),
        ("gmail/v1/users/me/messages/\x00", "control characters are not accepted"),
        ("gmail/v1/users/me/messages/\x7f", "control characters are not accepted"),
        ("gmail\\v1\\users\\me", "backslashes are not accepted"),
        ("gmail/v1/users/me/messages;x=1", "';' is not accepted in a path"),
        (
            "gmail/v1/users/me/messages/x?/send",
            "'?' and '#' are not accepted in a path (send the query as the query)",
        ),
        ("https:evil.example.com", "an absolute URL is not a path"),
        ("gmail/v1/users/me/https://evil.example.com", "an absolute URL is not a path"),
        ("gmail@evil.example.com/v1/users/me", "'@' is not accepted before the API path"),
        ("gmail//v1/users/me", "empty path segments ('//', a leading '/') are not accepted"),
        ("gmail/v1/users/me//", "empty path segments ('//', a leading '/') are not accepted"),
        ("gmail/v1/users/me/..", "'.' and '..' segments are not accepted"),
        ("batch/gmail/v1", "the path must start with one of: gmail/v1/, upload/gmail/v1/"),
    ],
)
def test_given_a_path_that_one_guard_refuses_when_checked_then_the_detail_is_that_guards_own(
    gmail, raw, detail
):
    with pytest.raises(InvalidPath) as caught:
        check_path(gmail, raw)

    assert caught.value.detail == REFUSED + detail


def test_given_a_path_of_the_longest_accepted_length_when_checked_then_it_is_accepted(gmail):
    raw = "gmail/v1/" + "a" * (LONGEST - 9)

    assert len(raw) == LONGEST
    assert check_path(gmail, raw).path == raw


def test_given_no_path_at_all_when_checked_then_it_is_refused_as_no_path(gmail):
    with pytest.raises(InvalidPath) as caught:
        check_path(gmail, None, None)

    assert caught.value.detail == REFUSED + "no path"


@pytest.mark.parametrize(
    ("decoded", "detail"),
    [
        ("gmail/v1/" + "a" * (LONGEST - 8), f"the decoded path is longer than {LONGEST} characters"),
        ("gmail/v1/users/me/%2e%2e", "percent-encoded '.' is not accepted"),
        ("gmail/v1/users/me/../x", "'.' and '..' segments are not accepted"),
    ],
)
def test_given_a_safe_raw_path_and_an_unsafe_decoded_one_when_checked_then_the_decoded_is_refused_by_name(
    gmail, decoded, detail
):
    with pytest.raises(InvalidPath) as caught:
        check_path(gmail, "gmail/v1/users/me/messages", decoded)

    assert caught.value.detail == REFUSED + detail


class _MisroutingApi:
    """An API surface whose URL building misbehaves: only the final same-origin re-check stands."""

    base_url = "https://gmail.googleapis.com/gmail/"
    path_prefixes = ("v1/",)

    def __init__(self, url: str) -> None:
        self.url = url

    def allows_path(self, path: str) -> bool:
        return True

    def url_for(self, path: str) -> str:
        return self.url


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("https://evil.example.com/gmail/v1/x", "the path leaves the provider's API"),
        ("http://gmail.googleapis.com/gmail/v1/x", "the path leaves the provider's API"),
        ("https://gmail.googleapis.com:8443/gmail/v1/x", "the path leaves the provider's API"),
        ("https://gmail.googleapis.com/oauth2/v1/x", "the path leaves the provider's API"),
        ("https://gmail.googleapis.com:99999/gmail/v1/x", "not a valid URL"),
    ],
)
def test_given_a_built_url_off_the_base_url_when_checked_then_the_same_origin_recheck_refuses_it(url, detail):
    with pytest.raises(InvalidPath) as caught:
        check_path(_MisroutingApi(url), "v1/x")  # type: ignore[arg-type]

    assert caught.value.detail == REFUSED + detail


def test_given_a_built_url_on_the_base_url_in_other_case_when_checked_then_it_is_the_same_origin():
    target = check_path(_MisroutingApi("HTTPS://GMAIL.googleapis.com/gmail/v1/x"), "v1/x")  # type: ignore[arg-type]

    assert target.url == "HTTPS://GMAIL.googleapis.com/gmail/v1/x"


def test_given_a_raw_path_that_repeats_the_proxy_marker_when_the_subpath_is_taken_then_the_first_one_counts():
    raw = "/v1/connections/con_1/proxy/gmail/v1/connections/con_1/proxy/x"

    assert raw_subpath(raw, "con_1") == "gmail/v1/connections/con_1/proxy/x"
    assert raw_subpath("/connections/con_1/proxy/gmail/v1/x", "con_1") == "gmail/v1/x"
