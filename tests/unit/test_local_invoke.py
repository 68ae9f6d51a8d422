"""`oauth-broker invoke`'s event handling: the token placeholder, `--replace`, and event file errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oauth_broker_dev.invoke import (
    TOKEN_PLACEHOLDER,
    InvokeError,
    Principal,
    has_placeholder,
    is_authorized_http_event,
    load_event,
    parse_replacements,
    route_path,
    substitute,
)
from oauth_broker_dev.template import REPO_ROOT

EVENTS = REPO_ROOT / "events"


def test_given_the_saved_authorizer_event_when_the_token_is_filled_then_header_and_identity_source_carry_it():
    event = load_event(str(EVENTS / "authorizer.json"))

    filled = substitute(event, {TOKEN_PLACEHOLDER: "tok"})

    assert has_placeholder(event) and not has_placeholder(filled)
    assert filled["headers"]["authorization"] == "Bearer tok"
    assert filled["identitySource"] == ["Bearer tok"]
    assert event["headers"]["authorization"] == f"Bearer {TOKEN_PLACEHOLDER}"  # the original is untouched


def test_given_the_proxy_event_when_its_connection_id_is_replaced_then_path_and_parameters_all_change():
    event = load_event(str(EVENTS / "proxy.json"))

    filled = substitute(event, parse_replacements(["con_x=con_abc"]))

    assert filled["rawPath"] == "/v1/connections/con_abc/gmail/messages"
    assert filled["requestContext"]["http"]["path"] == filled["rawPath"]
    assert filled["pathParameters"] == {"id": "con_abc"}
    assert "con_x" not in json.dumps(filled)


@pytest.mark.parametrize("pair", ["con_x", "=con_abc"])
def test_given_a_replacement_without_old_and_new_when_parsed_then_it_is_a_usage_error(pair: str) -> None:
    with pytest.raises(InvokeError, match="OLD=NEW"):
        parse_replacements([pair])


def test_given_a_missing_event_file_when_loaded_then_the_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvokeError, match=r"event file .*nope\.json not found"):
        load_event(str(tmp_path / "nope.json"))


def test_given_an_event_file_that_is_not_json_when_loaded_then_the_error_says_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"version": "2.0",\n  oops}')

    with pytest.raises(InvokeError, match=r"not valid JSON: .*line 2 column 3"):
        load_event(str(path))


def test_given_an_event_file_holding_a_list_when_loaded_then_it_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]")

    with pytest.raises(InvokeError, match="not an object"):
        load_event(str(path))


@pytest.mark.parametrize(
    ("name", "authorized"),
    [("api-settings.json", True), ("proxy.json", True), ("api.json", False), ("authorizer.json", False)],
)
def test_given_a_saved_event_when_checked_then_only_authorized_route_requests_get_the_authorizer_run_first(
    name: str, authorized: bool
) -> None:
    assert is_authorized_http_event(load_event(str(EVENTS / name))) is authorized


def test_given_the_proxy_event_when_its_route_is_read_then_it_is_the_templates_route_path():
    assert route_path(load_event(str(EVENTS / "proxy.json"))) == "/v1/connections/{id}/gmail/messages"


@pytest.mark.parametrize(
    ("principal", "is_admin"),
    [
        (Principal(), True),  # the `make dev` banner's token: demo / admin@demo, admin
        (Principal(user="bob@demo"), False),
        (Principal(user="bob@demo", admin=True), True),
        (Principal(admin=False), False),
    ],
)
def test_given_a_principal_when_its_admin_flag_is_defaulted_then_only_the_default_admin_user_is_admin(
    principal: Principal, is_admin: bool
) -> None:
    assert principal.is_admin is is_admin
