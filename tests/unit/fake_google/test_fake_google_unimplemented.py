"""What the fake Google does not implement is said plainly: JSON 501 in Google's error shape,
naming the request, so that a user blames the fake and not the broker (issue 10: it was Werkzeug's
HTML 405 for `POST .../labels`). Google's own 404s (an unknown message id) stay as they are."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from oauth_broker_dev.fake_google import FakeGoogle
from oauth_broker_dev.fake_google.scopes import GMAIL_READONLY, MAIL

Bearer = Callable[..., dict[str, str]]


def assert_not_implemented(resp: httpx.Response, method: str, path: str) -> None:
    assert resp.status_code == 501, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("application/json")
    error = resp.json()["error"]
    assert error["code"] == 501 and error["status"] == "UNIMPLEMENTED"
    assert error["message"] == f"not implemented by the fake Google: {method} {path}"
    assert error["errors"][0]["reason"] == "notImplemented"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/gmail/v1/users/me/labels", id="labels.create: a method on a served path"),
        pytest.param("PUT", "/gmail/v1/users/me/messages/abc", id="a method on a served message path"),
        pytest.param("GET", "/gmail/v1/users/me/threads", id="threads.list: a path it does not serve"),
        pytest.param("POST", "/gmail/v1/users/me/drafts", id="drafts.create"),
        pytest.param("POST", "/upload/gmail/v1/users/me/drafts", id="a drafts upload"),
        pytest.param("GET", "/people/v1/otherContacts", id="People: otherContacts.list"),
        pytest.param("PATCH", "/people/v1/people/me", id="People: a method on a served path"),
    ],
)
def test_given_an_api_method_the_fake_lacks_when_called_then_it_is_json_501_naming_the_request(
    client: httpx.Client, bearer: Bearer, method: str, path: str
) -> None:
    resp = client.request(method, path, headers=bearer("alice@example.com", (MAIL,)), json={"name": "x"})

    assert_not_implemented(resp, method, path)


def test_given_no_credentials_when_an_unimplemented_method_is_called_then_it_is_still_501_not_401(
    client: httpx.Client,
) -> None:
    assert_not_implemented(client.post("/gmail/v1/users/me/labels"), "POST", "/gmail/v1/users/me/labels")


def test_given_an_unknown_method_on_an_oauth_endpoint_when_called_then_it_is_501_too(
    client: httpx.Client,
) -> None:
    assert_not_implemented(client.delete("/token"), "DELETE", "/token")


def test_given_an_unimplemented_call_when_made_then_the_fake_records_it_with_its_501(
    fake: FakeGoogle, client: httpx.Client
) -> None:
    client.post("/gmail/v1/users/me/labels")

    recorded = fake.requests[-1]
    assert (recorded.method, recorded.path, recorded.endpoint) == (
        "POST",
        "/gmail/v1/users/me/labels",
        "gmail",
    )
    assert recorded.status == 501


def test_given_an_unknown_message_id_when_read_then_it_is_googles_own_404_not_a_501(
    client: httpx.Client, bearer: Bearer
) -> None:
    resp = client.get(
        "/gmail/v1/users/me/messages/0000000000000000", headers=bearer("alice@example.com", (GMAIL_READONLY,))
    )

    assert resp.status_code == 404
    assert resp.json()["error"]["status"] == "NOT_FOUND"


def test_given_a_path_outside_the_apis_when_requested_then_it_stays_a_plain_404(client: httpx.Client) -> None:
    resp = client.get("/no-such-page")

    assert resp.status_code == 404
    assert not resp.headers["Content-Type"].startswith("application/json")
