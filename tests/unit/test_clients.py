import httpx

from oauth_broker.clients import http_client


def test_given_a_provider_that_sets_a_cookie_when_the_next_request_goes_out_then_it_carries_no_cookie():
    seen: list[str | None] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "session=alice-secret; Path=/"})

    client = http_client(httpx.MockTransport(upstream))
    client.get("https://gmail.googleapis.com/gmail/v1/users/me/profile")
    client.get("https://gmail.googleapis.com/gmail/v1/users/me/profile")
    assert seen == [None, None]
    assert len(client.cookies.jar) == 0


def test_given_the_shared_client_when_created_then_it_never_follows_redirects():
    assert http_client().follow_redirects is False
