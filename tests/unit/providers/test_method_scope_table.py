"""The per-method scope table: matching concrete Gmail and People paths to methods and scopes."""

from __future__ import annotations

import pytest

from oauth_broker.providers.catalog import ProviderCatalog
from oauth_broker.providers.scopes import MatchedMethod, MethodScopeTable

AUTH = "https://www.googleapis.com/auth/"


@pytest.fixture(scope="module")
def table() -> MethodScopeTable:
    return MethodScopeTable.load()


@pytest.mark.parametrize(
    ("http_method", "path", "method_id"),
    [
        ("GET", "gmail/v1/users/me/messages", "gmail.users.messages.list"),
        ("GET", "gmail/v1/users/me/messages/18c2f0a9b1d3e4f5", "gmail.users.messages.get"),
        ("POST", "gmail/v1/users/me/messages/send", "gmail.users.messages.send"),
        ("POST", "gmail/v1/users/me/messages/18c2f0a9b1d3e4f5/modify", "gmail.users.messages.modify"),
        ("DELETE", "gmail/v1/users/me/messages/18c2f0a9b1d3e4f5", "gmail.users.messages.delete"),
        ("GET", "gmail/v1/users/me/settings/sendAs", "gmail.users.settings.sendAs.list"),
        ("GET", "gmail/v1/users/me/drafts", "gmail.users.drafts.list"),
        ("POST", "gmail/v1/users/me/drafts", "gmail.users.drafts.create"),
        ("GET", "gmail/v1/users/me/drafts/r-123", "gmail.users.drafts.get"),
        ("POST", "gmail/v1/users/me/drafts/send", "gmail.users.drafts.send"),
        ("GET", "gmail/v1/users/me/messages/m1/attachments/a1", "gmail.users.messages.attachments.get"),
        ("GET", "v1/people/me/connections", "people.people.connections.list"),
        ("GET", "v1/people/me", "people.people.get"),
        ("GET", "v1/people:batchGet", "people.people.getBatchGet"),
    ],
)
def test_given_a_concrete_path_when_matching_then_the_method_is_found(
    table: MethodScopeTable, http_method: str, path: str, method_id: str
) -> None:
    matched = table.match(path, http_method)
    assert matched is not None
    assert matched.id == method_id


def test_given_messages_send_when_matching_then_its_scopes_are_googles(table: MethodScopeTable) -> None:
    matched = table.match("gmail/v1/users/me/messages/send", "POST")
    assert matched is not None
    assert matched.scopes == {
        "https://mail.google.com/",
        AUTH + "gmail.addons.current.action.compose",
        AUTH + "gmail.compose",
        AUTH + "gmail.modify",
        AUTH + "gmail.send",
    }


def test_given_the_users_segment_when_matching_then_user_id_is_captured_as_me(
    table: MethodScopeTable,
) -> None:
    matched = table.match("gmail/v1/users/me/messages/abc", "GET")
    assert matched is not None
    assert matched.params == {"userId": "me", "id": "abc"}


def test_given_the_media_upload_path_when_matching_then_it_is_messages_send_as_an_upload(
    table: MethodScopeTable,
) -> None:
    matched = table.match("upload/gmail/v1/users/me/messages/send", "POST")
    assert matched is not None
    assert (matched.id, matched.upload, matched.template) == (
        "gmail.users.messages.send",
        True,
        "upload/gmail/v1/users/{userId}/messages/send",
    )


def test_given_a_leading_slash_and_a_query_when_matching_then_both_are_ignored(
    table: MethodScopeTable,
) -> None:
    matched = table.match("/v1/people/me?personFields=names,emailAddresses", "get")
    assert matched is not None
    assert (matched.id, matched.params) == ("people.people.get", {"peopleId": "me"})


def test_given_a_people_path_with_a_custom_verb_when_matching_then_the_parameter_excludes_the_verb(
    table: MethodScopeTable,
) -> None:
    matched = table.match("v1/people/c42:updateContact", "PATCH")
    assert matched is not None
    assert (matched.id, matched.params) == ("people.people.updateContact", {"peopleId": "c42"})


@pytest.mark.parametrize(
    ("http_method", "path"),
    [
        ("GET", "gmail/v1/users/me/nothing-here"),
        ("GET", "gmail/v1/users/me/messages/"),
        ("GET", "gmail/v1/users//messages"),
        ("PATCH", "gmail/v1/users/me/messages/abc"),
        ("GET", "gmail/v2/users/me/messages"),
        ("GET", ""),
        ("TRACE", "gmail/v1/users/me/messages"),
    ],
)
def test_given_an_unknown_path_or_method_when_matching_then_it_is_none(
    table: MethodScopeTable, http_method: str, path: str
) -> None:
    assert table.match(path, http_method) is None


def test_given_an_api_filter_when_matching_another_apis_path_then_it_is_none(table: MethodScopeTable) -> None:
    assert table.match("v1/people/me", "GET", api="gmail") is None
    assert table.match("v1/people/me", "GET", api="people") is not None


def test_given_a_matched_method_then_one_granted_scope_authorizes_it(table: MethodScopeTable) -> None:
    matched = table.match("gmail/v1/users/me/messages", "GET")
    assert matched is not None
    assert matched.authorized_by(["openid", AUTH + "gmail.readonly"]) is True
    assert matched.authorized_by(["openid", AUTH + "gmail.send"]) is False


def test_given_a_literal_and_a_parameter_template_when_matching_then_the_literal_wins() -> None:
    table = MethodScopeTable.from_rows(
        [
            {"api": "x", "id": "x.get", "http_method": "POST", "path": "v1/items/{id}", "scopes": ["a"]},
            {"api": "x", "id": "x.send", "http_method": "POST", "path": "v1/items/send", "scopes": ["b"]},
        ]
    )
    send = table.match("v1/items/send", "POST")
    other = table.match("v1/items/sendX", "POST")
    assert send is not None and other is not None
    assert (send.id, other.id) == ("x.send", "x.get")


def test_given_a_parameter_with_a_verb_and_a_bare_parameter_when_matching_then_the_verb_template_wins() -> (
    None
):
    table = MethodScopeTable.from_rows(
        [
            {"api": "x", "id": "x.get", "http_method": "GET", "path": "v1/{name}", "scopes": []},
            {"api": "x", "id": "x.export", "http_method": "GET", "path": "v1/{name}:export", "scopes": []},
        ]
    )
    exported = table.match("v1/doc:export", "GET")
    plain = table.match("v1/doc", "GET")
    assert exported is not None and plain is not None
    assert (exported.id, exported.params, plain.id) == ("x.export", {"name": "doc"}, "x.get")


def test_given_a_reserved_expansion_template_when_matching_then_it_spans_segments() -> None:
    table = MethodScopeTable.from_rows(
        [
            {
                "api": "x",
                "id": "x.get",
                "http_method": "GET",
                "path": "v1/{+resourceName}/members",
                "scopes": [],
            }
        ]
    )
    matched = table.match("v1/contactGroups/g1/members", "GET")
    assert matched is not None
    assert matched.params == {"resourceName": "contactGroups/g1"}


def test_given_two_methods_on_the_same_template_when_building_then_it_is_an_error() -> None:
    rows = [
        {"api": "x", "id": "x.a", "http_method": "GET", "path": "v1/{a}", "scopes": []},
        {"api": "x", "id": "x.b", "http_method": "GET", "path": "v1/{b}", "scopes": []},
    ]
    with pytest.raises(ValueError, match=r"x\.b and x\.a"):
        MethodScopeTable.from_rows(rows)


def test_given_the_catalog_then_every_method_scope_is_a_scope_of_its_provider(
    table: MethodScopeTable,
) -> None:
    catalog = ProviderCatalog.load()
    by_table = {p.api.scope_table: p for p in catalog.connectable() if p.api is not None}
    assert set(by_table) == table.apis
    for template in table:
        provider = by_table[template.api]
        unknown = [scope for scope in template.scopes if provider.scope_info(scope) is None]
        assert not unknown, (template.id, unknown)


# -- each matching rule pinned on a small table of its own --


def one_api(*templates: str, method: str = "GET") -> MethodScopeTable:
    return MethodScopeTable.from_rows(
        [
            {"api": "x", "id": f"x.m{i}", "http_method": method, "path": path, "scopes": [f"s{i}"]}
            for i, path in enumerate(templates)
        ]
    )


def test_given_a_row_when_loaded_then_every_field_of_the_match_comes_from_it() -> None:
    table = MethodScopeTable.from_rows(
        [
            {
                "api": "x",
                "id": "x.up",
                "http_method": "post",
                "path": "v1/up",
                "scopes": ["a", "b"],
                "upload": 1,
            },
            {"api": "x", "id": "x.bare", "http_method": "GET", "path": "v1/bare"},
        ]
    )
    up, bare = table.match("v1/up", "POST"), table.match("v1/bare", "get")

    assert up == MatchedMethod("x", "x.up", "POST", "v1/up", {}, frozenset({"a", "b"}), True)
    assert bare == MatchedMethod("x", "x.bare", "GET", "v1/bare", {}, frozenset(), False)


def test_given_a_query_or_fragment_with_repeated_delimiters_when_matching_then_only_the_path_counts() -> None:
    table = one_api("Xapi/v1/items")

    for path in ("Xapi/v1/items?a=1?b=2", "Xapi/v1/items#a#b", "/Xapi/v1/items?a#b"):
        assert (matched := table.match(path, "GET")) is not None and matched.id == "x.m0", path


@pytest.mark.parametrize("path", ["v1/things/:enable", "v1/things/abc:disable", "v1/things/abc"])
def test_given_a_parameter_with_a_verb_when_the_segment_lacks_text_for_either_then_it_does_not_match(
    path,
) -> None:
    assert one_api("v1/things/{id}:enable").match(path, "GET") is None


def test_given_a_single_segment_parameter_when_the_path_has_more_segments_there_then_it_does_not_match() -> (
    None
):
    assert one_api("v1/users/{userId}/x").match("v1/users/a/b/x", "GET") is None


def test_given_reserved_expansions_with_and_without_a_verb_when_matching_then_the_verb_template_wins() -> (
    None
):
    table = one_api("v1/{+name}", "v1/{+name}:cancel")

    cancel, plain = table.match("v1/a/b:cancel", "GET"), table.match("v1/a/b", "GET")
    assert cancel is not None and plain is not None
    assert (cancel.id, cancel.params, plain.id, plain.params) == (
        "x.m1",
        {"name": "a/b"},
        "x.m0",
        {"name": "a/b"},
    )


@pytest.mark.parametrize(
    "path", ["v1/abcdefghij", "v1/:cancel", "v1/a/:cancel", "v1/a//b:cancel", "v1//b:cancel"]
)
def test_given_a_reserved_expansion_with_a_verb_when_the_span_is_empty_or_verbless_then_it_does_not_match(
    path,
) -> None:
    assert one_api("v1/{+name}:cancel").match(path, "GET") is None


def test_given_a_reserved_expansion_when_only_a_shorter_span_ends_with_the_verb_then_that_span_is_taken() -> (
    None
):
    matched = one_api("v1/{+name}:cancel/items").match("v1/a:cancel/items", "GET")

    assert matched is not None and matched.params == {"name": "a"}


def test_given_a_reserved_expansion_when_the_longest_span_ends_in_a_slash_then_a_shorter_one_is_tried() -> (
    None
):
    matched = one_api("v1/{+name}:cancel/{x}").match("v1/b:cancel/:cancel", "GET")

    assert matched is not None and matched.params == {"name": "b", "x": ":cancel"}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("v1/{a}{b}", "x.m0: more than one parameter in segment '{a}{b}'"),
        ("v1/pre{+name}", "x.m0: literal text before {+name}"),
    ],
)
def test_given_a_template_the_matcher_cannot_express_when_building_then_it_is_an_error(path, message) -> None:
    with pytest.raises(ValueError) as caught:
        one_api(path)

    assert str(caught.value) == message
