import pytest

from oauth_broker.errors import Forbidden, Unauthorized, ValidationFailed
from oauth_broker.http.principal import principal_from_event


def event(via: str, headers: dict | None = None, admin: bool = True) -> dict:
    ctx = {"tenant": "acme", "user": "apikey:key_1", "is_admin": admin, "via": via, "key_id": "key_1"}
    return {"headers": headers or {}, "requestContext": {"authorizer": {"lambda": ctx}}}


def test_given_an_api_key_with_x_on_behalf_of_when_read_then_it_acts_as_that_user_without_admin_rights():
    p = principal_from_event(event("api_key", {"X-On-Behalf-Of": "user-42"}))
    assert (p.tenant, p.user, p.is_admin, p.via) == ("acme", "user-42", False, "api_key")


def test_given_a_jwt_with_x_on_behalf_of_when_read_then_it_is_forbidden():
    with pytest.raises(Forbidden):
        principal_from_event(event("jwt", {"x-on-behalf-of": "user-42"}, admin=False))


def test_given_a_malformed_on_behalf_of_user_when_read_then_it_is_a_validation_error():
    with pytest.raises(ValidationFailed):
        principal_from_event(event("api_key", {"x-on-behalf-of": "a b\nc"}))


def test_given_no_authorizer_context_when_read_then_it_is_unauthorized():
    with pytest.raises(Unauthorized):
        principal_from_event({"headers": {}, "requestContext": {}})


def test_given_the_string_false_for_admin_when_read_then_the_caller_is_not_admin():
    assert principal_from_event(event("jwt", admin="false")).is_admin is False  # type: ignore[arg-type]
